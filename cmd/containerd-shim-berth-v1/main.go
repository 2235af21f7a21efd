// Command containerd-shim-berth-v1 is berth's containerd runtime v2 shim (runtime type
// io.containerd.berth.v1): containerd, Docker Engine and Kubernetes (CRI) run Wasm
// containers through it. Put it on containerd's PATH.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"

	"github.com/berth-dev/berth/internal/shim"
)

func init() {
	if shim.IsGuest(os.Args) {
		// Keep the main goroutine on the main thread: the container process joins the
		// pod's network namespace on it and runs the guest there (see shim.GuestMain).
		runtime.LockOSThread()
	}
}

func main() {
	if shim.IsGuest(os.Args) {
		os.Exit(shim.GuestMain(context.Background(), os.Args))
	}
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
