package wasi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mount is a host directory a guest sees at GuestPath, as a WASI preopen.
type Mount struct {
	HostPath  string
	GuestPath string
	ReadOnly  bool
}

// Config describes what one guest sees: its arguments, environment, stdio and files.
// A Config is immutable: each With method returns a changed copy, so one Config can be
// the template of many Systems (wazero's builder style).
type Config struct {
	args, env       []string
	stdin           io.Reader
	stdout, stderr  io.Writer
	mounts          []Mount
	listeners       []*os.File
	exit            func(code uint32)
	interruptedCode uint32

	sockPolicy SocketPolicy // policy.go
}

// NewConfig returns a Config with no arguments, no environment, an empty stdin,
// discarded output and no files.
func NewConfig() Config { return Config{interruptedCode: 128 + uint32(unix.SIGTERM)} }

// WithArgs sets the guest's arguments; args[0] is the program name it sees.
func (c Config) WithArgs(args ...string) Config { c.args = clone(args); return c }

// WithEnv sets the guest's environment, as "KEY=VALUE" strings.
func (c Config) WithEnv(env ...string) Config { c.env = clone(env); return c }

// WithStdin sets the guest's standard input. An *os.File is read directly (and can be
// polled); any other reader is read as it is, and polls as always ready.
func (c Config) WithStdin(r io.Reader) Config { c.stdin = r; return c }

// WithStdout sets the guest's standard output (nil discards it). An *os.File gets the
// guest's writes with one writev per fd_write, straight from guest memory.
func (c Config) WithStdout(w io.Writer) Config { c.stdout = w; return c }

// WithStderr sets the guest's standard error (nil discards it).
func (c Config) WithStderr(w io.Writer) Config { c.stderr = w; return c }

// WithMounts sets the directories the guest sees, preopened as fds 3, 4, … in order.
func (c Config) WithMounts(m ...Mount) Config { c.mounts = clone(m); return c }

// WithListeners adds listening sockets the guest can accept on (sock_accept), preopened
// after the mounts, as wasmtime's --tcplisten does. The System duplicates them: the
// caller keeps ownership of its files.
func (c Config) WithListeners(l ...*os.File) Config { c.listeners = clone(l); return c }

// WithExit sets how proc_exit leaves the guest: the engine's way to unwind a running
// module (wazero: panic(sys.NewExitError(code))). It must not return. Without it,
// proc_exit panics with *ExitError.
func (c Config) WithExit(exit func(code uint32)) Config { c.exit = exit; return c }

// WithInterruptedExitCode sets the exit code a guest ends with when its context is done
// while it waits in a host call (default 143, 128+SIGTERM, as a stopped container).
func (c Config) WithInterruptedExitCode(code uint32) Config { c.interruptedCode = code; return c }

func clone[T any](s []T) []T { return append([]T(nil), s...) }

// ExitError is the panic value of proc_exit when no exit function is configured.
type ExitError struct{ Code uint32 }

func (e *ExitError) Error() string { return fmt.Sprintf("wasi: exit code %d", e.Code) }

// System is the WASI state of one running guest: its fd table, arguments, environment
// and clocks. Host functions receive it (Func.Call).
//
// # Notes
//
//   - One guest, one thread: WASI preview1 modules are single-threaded, and a System
//     serves one module instance, so it takes no locks.
//   - A guest that waits in a host call (read on a pipe, poll_oneoff, accept, sleep)
//     waits in poll(2) on its fds plus an interrupt pipe that becomes readable when the
//     System's context is done; the guest then ends with the interrupted exit code. So an
//     idle guest costs no CPU, and stopping it needs no signal.
type System struct {
	sockPolicy SocketPolicy // nil: allow all (policy.go)

	args, env   []string
	argsBuf     []byte // args, each NUL-terminated, in order
	envBuf      []byte
	fds         fdTable
	exit        func(code uint32)
	interrupted uint32
	start       time.Time
	monoBase    uint64 // host CLOCK_MONOTONIC at start, in ns

	intrR, intrW int // interrupt pipe
	stopIntr     func() bool
	closed       bool
	iovs         [][]byte    // scratch for iovec resolution
	poll         pollScratch // scratch of poll_oneoff and the socket calls (poll.go)
}

// New opens the mounts and sets up the fd table a guest will see. ctx's end interrupts
// the guest's waits (see System).
func New(ctx context.Context, c Config) (*System, error) {
	s := &System{
		args:        c.args,
		env:         c.env,
		exit:        c.exit,
		interrupted: c.interruptedCode,
		sockPolicy:  c.sockPolicy,
		start:       time.Now(),
		intrR:       -1,
		intrW:       -1,
	}
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		s.monoBase = uint64(ts.Nano())
	}
	for _, kv := range c.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("wasi: environment variable %q: want KEY=VALUE", kv)
		}
	}
	s.argsBuf = nulJoin(c.args)
	s.envBuf = nulJoin(c.env)
	if s.exit == nil {
		s.exit = func(code uint32) { panic(&ExitError{Code: code}) }
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		return nil, fmt.Errorf("wasi: interrupt pipe: %w", err)
	}
	s.intrR, s.intrW = p[0], p[1]
	s.stopIntr = context.AfterFunc(ctx, func() { _, _ = unix.Write(s.intrW, []byte{1}) })

	s.fds.insert(stdioEntry(c.stdin, nil, true))
	s.fds.insert(stdioEntry(nil, c.stdout, false))
	s.fds.insert(stdioEntry(nil, c.stderr, false))
	for _, m := range c.mounts {
		e, err := preopenDir(m)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.fds.insert(e)
	}
	for _, l := range c.listeners {
		e, err := listenerEntry(l)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.fds.insert(e)
	}
	return s, nil
}

// Close closes every fd the guest holds (not the caller's stdio) and the interrupt pipe.
// It is safe to call more than once.
func (s *System) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if s.stopIntr != nil {
		s.stopIntr()
	}
	var errs []error
	for fd := range s.fds.e {
		if e := s.fds.e[fd]; e != nil {
			errs = append(errs, e.close())
			s.fds.e[fd] = nil
		}
	}
	if s.intrR >= 0 {
		unix.Close(s.intrR)
		unix.Close(s.intrW)
	}
	return errors.Join(errs...)
}

func nulJoin(ss []string) []byte {
	n := 0
	for _, s := range ss {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for _, s := range ss {
		b = append(append(b, s...), 0)
	}
	return b
}

func preopenDir(m Mount) (*fdEntry, error) {
	if m.GuestPath == "" || m.GuestPath[0] != '/' {
		return nil, fmt.Errorf("wasi: mount of %s: guest path %q must be absolute", m.HostPath, m.GuestPath)
	}
	root, err := os.OpenRoot(m.HostPath)
	if err != nil {
		return nil, fmt.Errorf("wasi: mount of %s at %s: %w", m.HostPath, m.GuestPath, err)
	}
	dir, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("wasi: mount of %s at %s: %w", m.HostPath, m.GuestPath, err)
	}
	return &fdEntry{
		typ:     FiletypeDirectory,
		base:    dirRights,
		inherit: dirRights | fileRights,
		file:    dir,
		hostfd:  int(dir.Fd()),
		root:    root,
		preopen: path.Clean(m.GuestPath),
		ro:      m.ReadOnly,
	}, nil
}
