// Package run is the body of berth-guest, a Wasm container's process (see package
// guest for its protocol with the shim). It is apart from package guest so that the
// shim, which speaks the protocol, does not link the engine.
package run

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/guest"
	"github.com/berth-dev/berth/internal/paths"
	"github.com/berth-dev/berth/internal/runtime"
)

// Main is the container's process, run in the bundle directory with the container's
// stdio as fds 0–2 and the two pipes FdStart and FdStatus; args are os.Args, whose
// args[1] is the mode and args[2], if any, the network namespace (guest.Netns). It
// joins (or makes) that namespace, waits for guest.Placed on FdStart, loads the module
// (from berth's compile cache, $BERTH_ROOT; on the WASI host $BERTH_WASI names),
// reports "ok" on FdStatus, waits for the start byte and runs the module. Its exit
// status is the module's exit code (134 for a trap).
//
// # Notes
//
//   - A process per container, because wazero's compiled code cannot be preempted: a
//     guest in a tight loop would stall every goroutine of a shared process at the next
//     GC, including the shim's ttrpc server. Stopping is a signal the kernel delivers.
//   - The network namespace is joined by the main thread, to which the caller's init has
//     locked the main goroutine; wazero runs the guest and its host calls on the calling
//     goroutine, so every socket the guest opens is opened in that namespace, and
//     /proc/PID/ns/net shows it. Other threads stay in the shim's namespace but open no
//     sockets. setns(CLONE_NEWNET) is allowed in a multi-threaded process.
//   - Other namespaces of the spec (pid, ipc, uts, mount) mean nothing to a Wasm guest,
//     which has no processes, no IPC, no hostname call and sees only its preopens.
//
// The main package must lock the main goroutine to the main thread in an init function
// (runtime.LockOSThread) before calling Main.
func Main(ctx context.Context, args []string) int {
	mode := guest.ModeGuest
	if len(args) > 1 {
		mode = args[1]
	}
	status := os.NewFile(guest.FdStatus, "status")
	start := os.NewFile(guest.FdStart, "start")
	fail := func(err error) int {
		fmt.Fprintf(status, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		status.Close()
		return 125
	}
	dir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	netns := ""
	if len(args) > 2 {
		netns = args[2]
	}
	if err := guest.JoinNetns(netns); err != nil {
		return fail(err)
	}
	if mode == guest.ModeSandbox {
		// Hold the namespaces until stopped, as a pause process does: the shim kills
		// with SIGKILL; SIGTERM and SIGINT from elsewhere end it too.
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		signal.Ignore(syscall.SIGHUP)
		fmt.Fprintln(status, "ok")
		status.Close()
		return 128 + int((<-sig).(syscall.Signal))
	}

	// Nothing is loaded before the shim has put this process in the container's cgroup
	// (guest.Placed), so that the module's memory is charged there.
	var b [1]byte
	if n, _ := start.Read(b[:]); n == 0 {
		return 0 // deleted before it was placed
	}

	// Held until the process ends, so that berth sees a running guest without asking
	// the shim (guest.LockFile).
	lock, err := guest.Hold(dir)
	if err != nil {
		return fail(err)
	}
	defer lock.Close()

	root := paths.DefaultRoot(os.Getenv, os.Getuid())
	host, err := engine.ParseHost(os.Getenv(engine.HostEnv))
	if err != nil {
		return fail(err)
	}
	details, err := engine.ParseBacktraceDetails(os.Getenv(engine.BacktraceEnv))
	if err != nil {
		return fail(err)
	}
	eng, err := engine.New(ctx, paths.CompileCache(root), engine.WithHost(host), engine.WithBacktraceDetails(details))
	if err != nil {
		return fail(fmt.Errorf("opening the compile cache under %s: %w", root, err))
	}
	c, err := runtime.New(eng).Load(ctx, dir)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(status, "ok")
	status.Close()

	if n, _ := start.Read(b[:]); n == 0 {
		c.Close(ctx)
		return 0 // deleted before it started
	}
	start.Close()
	code, err := c.Run(ctx, runtime.Options{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr})
	if err != nil {
		fmt.Fprintf(os.Stderr, "berth: %v\n", err)
		if code <= 0 {
			code = 126
		}
	}
	return code
}
