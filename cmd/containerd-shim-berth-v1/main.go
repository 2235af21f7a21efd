// Command containerd-shim-berth-v1 is berth's containerd runtime v2 shim (runtime type
// io.containerd.berth.v1): containerd, Docker Engine and Kubernetes (CRI) run Wasm
// containers through it. Put it, and berth-guest beside it, on containerd's PATH.
package main

import (
	"fmt"
	"os"

	"github.com/berth-dev/berth/internal/shim"
)

func main() {
	for _, a := range os.Args[1:] {
		if a == "-info" || a == "--info" {
			if err := shim.Info(os.Stdout); err != nil {
				fmt.Fprintf(os.Stderr, "%s: %v\n", shim.RuntimeName, err)
				os.Exit(1)
			}
			return
		}
	}
	shim.Run()
}
