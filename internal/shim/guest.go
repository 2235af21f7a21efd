package shim

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/paths"
	"github.com/berth-dev/berth/internal/runtime"
)

// GuestArg is the first argument with which the shim re-executes its own binary as a
// container's process (see GuestMain). containerd never passes it.
const GuestArg = "berth-guest"

// Modes of the re-executed process.
const (
	modeGuest   = "guest"   // runs the container's module
	modeSandbox = "sandbox" // holds a pod sandbox: joins its namespaces, waits to be killed
)

// File descriptors the shim passes to its re-executed process, after stdio.
const (
	fdStart  = 3 // read end: one byte means "start", EOF means "never start"
	fdStatus = 4 // write end: one line, "ok" or "error: <message>", once created
)

// IsGuest reports whether args (os.Args) start the re-executed container process. The
// main package calls it from an init function, to lock the main goroutine to the main
// thread before anything else runs: see GuestMain.
func IsGuest(args []string) bool { return len(args) > 1 && args[1] == GuestArg }

// GuestMain is the container's process: the shim starts its own binary with GuestArg
// in the bundle directory, with the container's stdio as fds 0–2 and two pipes (fdStart,
// fdStatus). It joins the network namespace config.json names, loads the module (from
// berth's compile cache, $BERTH_ROOT), reports "ok" on fdStatus, waits for the start
// byte and runs the module. Its exit status is the module's exit code (134 for a trap).
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
func GuestMain(ctx context.Context, args []string) int {
	mode := modeGuest
	if len(args) > 2 {
		mode = args[2]
	}
	status := os.NewFile(fdStatus, "status")
	start := os.NewFile(fdStart, "start")
	fail := func(err error) int {
		fmt.Fprintf(status, "error: %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
		status.Close()
		return 125
	}
	dir, err := os.Getwd()
	if err != nil {
		return fail(err)
	}
	spec, err := readSpec(dir)
	if err != nil {
		return fail(err)
	}
	if err := joinNetns(spec); err != nil {
		return fail(err)
	}
	if mode == modeSandbox {
		// Die of the signals a pause process dies of; keep nothing else alive.
		signal.Ignore(syscall.SIGHUP)
		fmt.Fprintln(status, "ok")
		status.Close()
		select {} // until killed
	}

	root := paths.DefaultRoot(os.Getenv, os.Getuid())
	eng, err := engine.New(ctx, paths.CompileCache(root))
	if err != nil {
		return fail(fmt.Errorf("opening the compile cache under %s: %w", root, err))
	}
	c, err := runtime.New(eng).Load(ctx, dir)
	if err != nil {
		return fail(err)
	}
	fmt.Fprintln(status, "ok")
	status.Close()

	var b [1]byte
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

// readSpec reads the parts of config.json the shim and its guest process use.
func readSpec(dir string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle's config.json: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, "config.json"), err)
	}
	return &s, nil
}

// netnsPath is the network namespace config.json names, "" for none (the shim's own).
func netnsPath(s *specs.Spec) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

// joinNetns moves the calling thread into the spec's network namespace, if it names one
// by path. A network namespace without a path asks for a new, empty one: the guest gets
// no network, which it has anyway (no sockets but preopened ones) until the networking
// work; it stays in the shim's namespace.
func joinNetns(s *specs.Spec) error {
	p := netnsPath(s)
	if p == "" {
		return nil
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the network namespace %s: %w", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining the network namespace %s: %w", p, err)
	}
	return nil
}

// readStatus reads the process's one status line.
func readStatus(r io.Reader) error {
	line, err := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == "ok":
		return nil
	case strings.HasPrefix(line, "error: "):
		return errors.New(strings.TrimPrefix(line, "error: "))
	case err != nil:
		return fmt.Errorf("the container process ended before it was created: %w", err)
	default:
		return fmt.Errorf("the container process said %q", line)
	}
}
