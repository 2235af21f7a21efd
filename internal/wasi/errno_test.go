package wasi

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"testing"
)

func TestErrnoOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Errno
	}{
		{"nil", nil, ErrnoSuccess},
		{"bare EAGAIN", syscall.EAGAIN, ErrnoAgain},
		{"bare EPIPE", syscall.EPIPE, ErrnoPipe},
		{"bare errno with no WASI twin", syscall.Errno(4000), ErrnoIo},
		{"EAGAIN in an os.SyscallError", os.NewSyscallError("read", syscall.EAGAIN), ErrnoAgain},
		{"ENOENT in a PathError", &fs.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}, ErrnoNoent},
		{"a WASI errno", ErrnoNotcapable, ErrnoNotcapable},
		{"a wrapped WASI errno", fmt.Errorf("x: %w", ErrnoAcces), ErrnoAcces},
		{"fs.ErrNotExist", fs.ErrNotExist, ErrnoNoent},
		{"os.ErrClosed", os.ErrClosed, ErrnoBadf},
		{"anything else", errors.New("boom"), ErrnoIo},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ErrnoOf(tt.err); got != tt.want {
				t.Errorf("ErrnoOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

// TestErrnoOfBareErrnoNoAllocs: a socket read that finds nothing returns a bare
// EAGAIN, on every such read of a server.
func TestErrnoOfBareErrnoNoAllocs(t *testing.T) {
	var err error = syscall.EAGAIN
	if n := testing.AllocsPerRun(100, func() { _ = ErrnoOf(err) }); n != 0 {
		t.Errorf("%v allocations per ErrnoOf(EAGAIN), want 0", n)
	}
}
