// Command berth runs WebAssembly images like containers, with no daemon.
//
// It builds two ways. By default it is the complete berth, every command in one binary
// (what `go install` gives). With -tags berth_core it is the core build, which `make`
// installs as bin/berth beside the complete one (bin/berth-full): it carries the
// commands of containers and stored images, starts ~0.6 ms sooner because it links no
// registry client, builder or archive formats, and execs berth-full for the rest
// (internal/cli, commands_core.go; docs/rationale.md).
package main

import (
	"context"
	"os"
	"runtime/debug"

	"github.com/berth-dev/berth/internal/cli"
)

func main() {
	app := &cli.App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv, TuneForPull: pullGC, Delegate: delegate}
	os.Exit(app.Main(context.Background(), os.Args[1:]))
}

// pullGC turns the garbage collector off below 256 MiB of memory for `berth pull`, unless
// GOGC or GOMEMLIMIT is set.
//
// A pull is a short process whose heap stays small (~40 MB of RSS for a 10 MB image), but
// it hashes and compiles whole modules in long loops the collector cannot interrupt: each
// of the ~3 collections of a 10 MB pull kept a core spinning while it waited to scan a
// goroutine's stack, ~20 ms of the ~135 ms pull on 2 cores (perf, docs/benchmarks.md).
// Above 256 MiB (an image of ~100 MB and more) the collector runs as the limit nears.
func pullGC() {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetMemoryLimit(256 << 20)
	debug.SetGCPercent(-1)
}
