package shim

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"strings"

	"github.com/containerd/containerd/pkg/process"

	"github.com/berth-dev/berth/internal/logs"
	"golang.org/x/sys/unix"
)

// stdio connects a container process to the standard streams containerd asked for.
type stdio struct {
	closers []io.Closer // what the shim holds until the process exits
	// childEnds are the guest's ends of pipes the shim reads (a json-file log): the
	// shim closes its copies once the guest has them, so that it sees their EOF.
	childEnds []*os.File
	stdinW    *os.File // the shim's end of the guest's stdin, closed by CloseIO
	stdinF    *os.File // containerd's stdin FIFO, copied into stdinW from start on
}

// startStdin starts copying the stdin FIFO into the guest's stdin. It waits for Start:
// by then the client has opened (or is opening) its end of the FIFO, so an empty read
// means the client's stdin has ended, not that it is not connected yet.
func (s *stdio) startStdin() {
	if s.stdinF == nil {
		return
	}
	f, w := s.stdinF, s.stdinW
	s.stdinF = nil
	go func() {
		io.Copy(w, f)
		w.Close()
	}()
}

// setup opens the streams and sets them on cmd. Paths are FIFOs (what ctr, Docker and
// CRI pass), file:// URIs (appended to, raw, as containerd's runc shim does),
// binary:// URIs (a logging program, as containerd's runc shim runs it) or, berth's
// own, json-file:// URIs (logs.URIScheme: the shim writes docker's json-file log itself,
// for containers nobody attaches to); "" is /dev/null.
//
// # Notes
//
//   - Stdout and stderr FIFOs are handed to the guest process as they are, so its
//     output reaches containerd with no copy through the shim. They are opened
//     read-write: that never blocks, and the shim's open read side keeps the pipe alive
//     if the reader goes away, as the runc shim's extra reader does.
//   - Stdin is copied from the FIFO into a pipe, so that CloseIO (the client's stdin
//     ended) can end the guest's stdin even while the FIFO stays open.
func (s *stdio) setup(ctx context.Context, id string, cmd *exec.Cmd, stdin, stdout, stderr string) error {
	if stdin != "" {
		// Not containerd/fifo's OpenFifo: it opens a reader with a blocking open(2), which
		// never returns when the client has already written its (empty) stdin and closed
		// the FIFO. A non-blocking open returns at once; then read(2) blocks while a
		// writer is connected, or waiting in its own open(2), and gives EOF once none is.
		fd, err := unix.Open(stdin, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening stdin %s: %w", stdin, err)
		}
		if err := unix.SetNonblock(fd, false); err != nil {
			unix.Close(fd)
			return fmt.Errorf("opening stdin %s: %w", stdin, err)
		}
		f := os.NewFile(uintptr(fd), stdin)
		r, w, err := os.Pipe()
		if err != nil {
			f.Close()
			return err
		}
		s.closers = append(s.closers, f, r)
		s.stdinW = w
		s.stdinF = f
		cmd.Stdin = r
	}
	if strings.HasPrefix(stdout, logs.URIScheme+":") || strings.HasPrefix(stderr, logs.URIScheme+":") {
		if stdout != stderr {
			return fmt.Errorf("stdout %q and stderr %q: a %s:// log must receive both stdout and stderr (give the same URI for both)", stdout, stderr, logs.URIScheme)
		}
		l, outW, errW, err := openJSONLog(ctx, id, stdout)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, l)
		s.childEnds = append(s.childEnds, outW, errW)
		cmd.Stdout, cmd.Stderr = outW, errW
		return nil
	}
	if stdout == stderr && strings.HasPrefix(stdout, "binary://") {
		u, err := url.Parse(stdout)
		if err != nil {
			return fmt.Errorf("stdout %q: %w", stdout, err)
		}
		bio, err := process.NewBinaryIO(ctx, id, u)
		if err != nil {
			return fmt.Errorf("starting the logging binary %s: %w", u.Path, err)
		}
		bio.Set(cmd)
		s.closers = append(s.closers, bio)
		return nil
	}
	out, err := s.open(stdout, "stdout")
	if err != nil {
		return err
	}
	if out != nil {
		cmd.Stdout = out
	}
	if stderr == stdout && out != nil {
		cmd.Stderr = out
		return nil
	}
	errf, err := s.open(stderr, "stderr")
	if err != nil {
		return err
	}
	if errf != nil {
		cmd.Stderr = errf
	}
	return nil
}

func (s *stdio) open(p, name string) (*os.File, error) {
	if p == "" {
		return nil, nil // exec gives /dev/null
	}
	path := p
	flag := os.O_RDWR
	if u, err := url.Parse(p); err == nil && u.Scheme != "" {
		switch u.Scheme {
		case "fifo":
			path = u.Path
		case "file":
			path = u.Path
			flag = os.O_WRONLY | os.O_APPEND | os.O_CREATE
		case "binary":
			return nil, fmt.Errorf("%s %s: a binary:// logger must receive both stdout and stderr", name, p)
		default:
			return nil, fmt.Errorf("%s %s: unsupported scheme %q (use a FIFO path, file://, binary:// or %s://)", name, p, u.Scheme, logs.URIScheme)
		}
	}
	f, err := os.OpenFile(path, flag|unix.O_CLOEXEC, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening %s %s: %w", name, path, err)
	}
	s.closers = append(s.closers, f)
	return f, nil
}

// closeStdin ends the guest's stdin (CloseIO).
func (s *stdio) closeStdin() {
	if s.stdinW != nil {
		s.stdinW.Close()
	}
}

// started closes the shim's copies of the guest's pipe ends, once the guest has them.
func (s *stdio) started() {
	for _, f := range s.childEnds {
		f.Close()
	}
	s.childEnds = nil
}

// close releases what the shim holds once the process has exited; a json-file log is
// closed once the guest's output has been copied to its end.
func (s *stdio) close() {
	s.started()
	s.closeStdin()
	for _, c := range s.closers {
		c.Close()
	}
	s.closers = nil
}
