package shimclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
)

// Kinds of failure; every error of this package wraps one of them or is a bad option.
var (
	// ErrShimGone: the shim does not answer (its socket is gone or refuses, or the
	// connection broke): it was killed or crashed, and its container with it. Mark the
	// container exited (137) and run Cleanup.
	ErrShimGone = errors.New("the container's shim is gone")
	// ErrNotFound: the shim does not know the task.
	ErrNotFound = errors.New("no such task in the shim")
	// ErrAlreadyExists: Create of a task the shim already holds.
	ErrAlreadyExists = errors.New("the task already exists")
	// ErrNotRunning: Kill of a task whose process has ended.
	ErrNotRunning = errors.New("the task is not running")
	// ErrFailedPrecondition: the call does not fit the task's state (Start of a started
	// task, Delete of a running one).
	ErrFailedPrecondition = errors.New("the task is not in a state that allows this")
	// ErrNotSupported: what a Wasm container cannot do (exec, a terminal, pause…).
	ErrNotSupported = errors.New("not supported by the shim")
	// ErrBadOptions: Options or arguments are incomplete or wrong.
	ErrBadOptions = errors.New("invalid shim options")
)

// Error is a failed shim operation: which, for which container, the kind (one of the
// Err* sentinels, matched by errors.Is) and the cause.
type Error struct {
	Op   string // "start", "create", "kill", …
	ID   string // the container
	Kind error
	Err  error
}

func (e *Error) Error() string {
	if e.Kind == ErrShimGone {
		return fmt.Sprintf("container %s: %s: %v (%v)", e.ID, e.Op, e.Kind, e.Err)
	}
	return fmt.Sprintf("container %s: %s: %v", e.ID, e.Op, e.Err)
}

// Unwrap gives the kind and the cause.
func (e *Error) Unwrap() []error { return []error{e.Kind, e.Err} }

// gone reports whether err means the shim is not there to answer.
func gone(err error) bool {
	if errors.Is(err, errConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	for _, e := range []syscall.Errno{syscall.ENOENT, syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// gRPC status codes (google.golang.org/grpc/codes) the shim answers with, through
// containerd's errdefs.ToGRPC.
const (
	codeCanceled           = 1
	codeUnknown            = 2
	codeInvalidArgument    = 3
	codeDeadlineExceeded   = 4
	codeNotFound           = 5
	codeAlreadyExists      = 6
	codeFailedPrecondition = 9
	codeUnimplemented      = 12
	codeUnavailable        = 14
)

// rpcError is a call's error status: a google.rpc.Status code and message.
type rpcError struct {
	code    int32
	message string
}

// class is the name of the code's class in containerd's errdefs (what errdefs.FromGRPC
// turns the status into), "" for codes with a Go error of their own.
func (e *rpcError) class() string {
	switch e.code {
	case codeInvalidArgument:
		return "invalid argument"
	case codeAlreadyExists:
		return "already exists"
	case codeNotFound:
		return "not found"
	case codeUnavailable:
		return "unavailable"
	case codeFailedPrecondition:
		return "failed precondition"
	case codeUnimplemented:
		return "not implemented"
	case codeCanceled, codeDeadlineExceeded:
		return ""
	}
	return "unknown"
}

// Error reads as errdefs.FromGRPC's error did: the message, then its class once.
func (e *rpcError) Error() string {
	cls := e.class()
	switch {
	case cls == "":
		return e.message
	case e.message == cls || e.message == "":
		return cls
	}
	return strings.TrimSuffix(e.message, ": "+cls) + ": " + cls
}

// wrap turns an error of a task call into an *Error of the right kind.
func wrap(op, id string, err error) error {
	if err == nil {
		return nil
	}
	if gone(err) {
		return &Error{Op: op, ID: id, Kind: ErrShimGone, Err: err}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("container %s: %s: %w", id, op, err)
	}
	re, ok := errors.AsType[*rpcError](err)
	if !ok {
		return fmt.Errorf("container %s: %s: %w", id, op, err)
	}
	var kind error
	switch re.code {
	case codeNotFound:
		kind = ErrNotFound
		if op == "kill" {
			kind = ErrNotRunning // the shim says "process already finished"
		}
	case codeAlreadyExists:
		kind = ErrAlreadyExists
	case codeFailedPrecondition:
		kind = ErrFailedPrecondition
	case codeUnimplemented:
		kind = ErrNotSupported
	case codeCanceled:
		return fmt.Errorf("container %s: %s: %w", id, op, context.Canceled)
	case codeDeadlineExceeded:
		return fmt.Errorf("container %s: %s: %w", id, op, context.DeadlineExceeded)
	default:
		return fmt.Errorf("container %s: %s: %w", id, op, err)
	}
	return &Error{Op: op, ID: id, Kind: kind, Err: err}
}
