package build

import (
	"errors"
	"fmt"
)

// Sentinel errors that Build wraps, so callers can tell the kinds of failure
// apart with errors.Is. The messages that reach users are longer and name the
// file, instruction or path at fault.
var (
	// ErrUnsupported marks a Dockerfile feature that a Wasm image cannot use
	// (RUN, a base image other than scratch, shell-form CMD, URLs, ...).
	ErrUnsupported = errors.New("not supported for Wasm images")
	// ErrOutsideContext marks a COPY or ADD source that leaves the build
	// context, by "..", or through a symbolic link.
	ErrOutsideContext = errors.New("path is outside the build context")
	// ErrNotFound marks a COPY or ADD source that is not in the build context.
	ErrNotFound = errors.New("not found in the build context")
	// ErrNotWasm marks a file that should be a WebAssembly module but does not
	// start with the magic bytes "\x00asm".
	ErrNotWasm = errors.New("not a WebAssembly module")
	// ErrNoModule marks an image whose ENTRYPOINT (or CMD) names a module that
	// no COPY or ADD put in the image.
	ErrNoModule = errors.New("entrypoint module is not in the image")
)

// ParseError reports a Dockerfile that cannot be parsed. Line is 1-based.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("Dockerfile:%d: %s", e.Line, e.Msg) }

// InstructionError reports a Dockerfile instruction that parses but cannot be
// built. Line is the 1-based line where the instruction starts, Cmd its
// upper-case name. Err wraps one of the sentinel errors of this package or the
// underlying I/O error.
type InstructionError struct {
	Line int
	Cmd  string
	Err  error
}

func (e *InstructionError) Error() string { return fmt.Sprintf("Dockerfile:%d: %v", e.Line, e.Err) }

// Unwrap returns the underlying error.
func (e *InstructionError) Unwrap() error { return e.Err }

// kindError is an error with a message of its own that still matches a
// sentinel with errors.Is, so that messages read naturally
// ("RUN needs a shell ...") instead of ending in the sentinel's text.
type kindError struct {
	msg  string
	kind error
	err  error // optional cause
}

func (e *kindError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *kindError) Is(target error) bool { return target == e.kind }

func (e *kindError) Unwrap() error { return e.err }

func errorf(kind error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind}
}

func wrapf(kind, cause error, format string, args ...any) error {
	return &kindError{msg: fmt.Sprintf(format, args...), kind: kind, err: cause}
}
