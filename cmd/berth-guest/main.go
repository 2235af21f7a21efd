// Command berth-guest is a Wasm container's process, started by containerd-shim-berth-v1
// for each container (see internal/guest). It is not meant to be run by hand.
package main

import (
	"context"
	"os"
	"runtime"

	"github.com/berth-dev/berth/internal/guest/run"
)

func init() {
	// Keep the main goroutine on the main thread: the process joins the container's
	// network namespace on it and runs the guest there (see run.Main).
	runtime.LockOSThread()
}

func main() {
	os.Exit(run.Main(context.Background(), os.Args))
}
