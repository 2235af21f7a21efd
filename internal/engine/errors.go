package engine

import (
	"errors"
	"fmt"
	"strings"
)

// TrapExitCode is the exit status berth's CLI uses when a guest traps (unreachable, out of
// bounds memory access, integer divide by zero, stack overflow, ...). It is 128+SIGABRT, the
// code a native process killed by abort() reports and the one wasmtime uses, so scripts
// cannot mistake a crash for a guest's own proc_exit code. Run itself returns a *TrapError,
// not this code.
const TrapExitCode = 134

var (
	// ErrInvalidModule means the bytes are not a valid WebAssembly module: bad magic
	// number, truncated or malformed sections, failed validation.
	ErrInvalidModule = errors.New("not a valid WebAssembly module")

	// ErrNotCommand means the module has no _start export (it is a WASI reactor or a
	// library, which berth cannot run as a container's process), or one that takes or
	// returns values.
	ErrNotCommand = errors.New("not a WASI command")

	// ErrUnknownImport is matched (errors.Is) by every *ImportError.
	ErrUnknownImport = errors.New("unknown import")

	// ErrMemoryLimit means the module's initial linear memory is larger than
	// Spec.MemoryLimit, so it could not even start.
	ErrMemoryLimit = errors.New("memory limit below the module's initial memory")

	errClosed = errors.New("engine: closed")
)

// ImportError reports the first import of a module that berth cannot satisfy. It matches
// ErrUnknownImport with errors.Is.
type ImportError struct {
	// Module and Name identify the import, as in "env"."foo".
	Module, Name string
	// Signature is set when berth provides a function of that name, but not with the
	// parameter and result types the module imports it with.
	Signature bool
}

// Error names the import and what berth provides instead.
func (e *ImportError) Error() string {
	if e.Signature {
		return fmt.Sprintf("the module imports %s.%s with a signature berth does not provide (a different ABI version?)",
			e.Module, e.Name)
	}
	return fmt.Sprintf("the module imports %s.%s, which berth does not provide (it provides %s)",
		e.Module, e.Name, wasiModuleName)
}

// Is reports whether target is ErrUnknownImport.
func (e *ImportError) Is(target error) bool { return target == ErrUnknownImport }

// TrapError is a WebAssembly trap raised while the guest ran: the guest crashed rather than
// exiting. The CLI reports it and exits with TrapExitCode.
type TrapError struct {
	// Reason is the trap, such as "unreachable" or "out of bounds memory access".
	Reason string
	// Stack is the wasm stack trace, innermost frame first: one entry per function, as
	// "function(params) results", or "module.function(params) results" when the module
	// names itself. Function names come from the module's name section ("$<index>"
	// without one). When the module carries DWARF, a frame is followed by entries that
	// start with a tab and give its source positions (only WithBacktraceDetails).
	Stack []string
	// Note, when set, tells how to learn more, such as the source positions of a module
	// whose DWARF was not read.
	Note string
}

// Error gives the reason and the stack trace, one frame per line.
func (e *TrapError) Error() string {
	var b strings.Builder
	b.WriteString("wasm trap: ")
	b.WriteString(e.Reason)
	if len(e.Stack) > 0 {
		b.WriteString("\nwasm stack trace:")
		for _, l := range e.Stack {
			b.WriteString("\n\t")
			b.WriteString(l)
		}
	}
	if e.Note != "" {
		b.WriteString("\nnote: ")
		b.WriteString(e.Note)
	}
	return b.String()
}

// parseTrap turns the text of an error wazero returned from a guest call into a TrapError.
// wazero formats traps as "wasm error: <reason>\nwasm stack trace:\n\t<frame>\n\t<frame>..."
// (internal/wasmdebug); a Go panic in a host function adds " (recovered by wazero)" to the
// reason and a Go stack after a blank line, which is dropped here.
func parseTrap(msg string) *TrapError {
	reason, trace, _ := strings.Cut(msg, "\nwasm stack trace:\n")
	trace, _, _ = strings.Cut(trace, "\n\nGo runtime stack trace:")
	t := &TrapError{Reason: strings.TrimSpace(strings.TrimPrefix(reason, "wasm error: "))}
	if t.Reason == "" {
		t.Reason = "unknown trap"
	}
	for l := range strings.SplitSeq(trace, "\n") {
		l = strings.TrimPrefix(l, "\t")
		// wazero prefixes frames with the module's name, empty for most modules.
		l = strings.TrimPrefix(l, ".")
		if strings.TrimSpace(l) != "" {
			t.Stack = append(t.Stack, l)
		}
	}
	return t
}

// memoryLimitError explains ErrMemoryLimit with both sizes.
func memoryLimitError(minPages uint64, limitPages uint32) error {
	return fmt.Errorf("%w: the module needs %s of initial memory (%d pages) but the limit is %s (%d pages); raise the memory limit",
		ErrMemoryLimit, pagesToSize(minPages), minPages, pagesToSize(uint64(limitPages)), limitPages)
}

// pagesToSize formats a number of 64 KiB pages as a byte size.
func pagesToSize(pages uint64) string {
	kib := pages * 64
	switch {
	case kib >= 1<<20 && kib%(1<<20) == 0:
		return fmt.Sprintf("%d GiB", kib>>20)
	case kib >= 1<<10 && kib%(1<<10) == 0:
		return fmt.Sprintf("%d MiB", kib>>10)
	}
	return fmt.Sprintf("%d KiB", kib)
}
