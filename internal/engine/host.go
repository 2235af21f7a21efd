package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/berth-dev/berth/internal/wasi"
)

// Host chooses the WASI preview1 implementation guests run on.
type Host int

const (
	// HostWazero is wazero's built-in wasi_snapshot_preview1.
	HostWazero Host = iota
	// HostBerth is berth's own WASI host (internal/wasi): files through os.Root,
	// interruptible waits, real poll_oneoff readiness and sockets.
	HostBerth
)

func (h Host) String() string {
	if h == HostBerth {
		return "berth"
	}
	return "wazero"
}

// HostEnv is the environment variable that chooses the WASI host of berth's commands
// (berth, berth-guest): "wazero" or "berth"; unset or empty means DefaultHost. The
// commands read it once and pass the choice down with WithHost.
const HostEnv = "BERTH_WASI"

// DefaultHost is the WASI host used when none is chosen.
const DefaultHost = HostBerth

// ErrUnknownHost is returned (wrapped) by ParseHost for a name that is no WASI host.
var ErrUnknownHost = errors.New("unknown WASI host")

// ParseHost returns the Host a name chooses: "wazero" or "berth", "" for DefaultHost.
//
// # Notes
//
//   - An environment variable rather than a flag: a WASI host is a property of the
//     installation, not of one run, and conformance runners (go test -exec scripts,
//     wasi-testsuite adapters) call `berth run` with a user's flags only.
func ParseHost(name string) (Host, error) {
	switch name {
	case "":
		return DefaultHost, nil
	case "wazero":
		return HostWazero, nil
	case "berth":
		return HostBerth, nil
	}
	return 0, fmt.Errorf("%w %q in %s: use wazero (wazero's built-in WASI) or berth (berth's own)", ErrUnknownHost, name, HostEnv)
}

// BacktraceEnv is the environment variable that asks berth's commands (berth,
// berth-guest) for source positions in the stack trace of a trap: "1" or "true". They
// read it once and pass the choice down with WithBacktraceDetails.
const BacktraceEnv = "BERTH_BACKTRACE_DETAILS"

// ParseBacktraceDetails reads BacktraceEnv's value: "1" or "true" for on; "", "0" or
// "false" for off.
func ParseBacktraceDetails(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false":
		return false, nil
	case "1", "true":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: use 1 (source positions in trap stack traces) or 0", BacktraceEnv, v)
}

// WithBacktraceDetails makes runs read the DWARF debug information a module carries, so
// that a trap's stack trace gives source files and lines; without it a frame gives the
// function only, and the trace ends with a note naming BacktraceEnv.
//
// # Notes
//
//   - Off by default, as in wasmtime (WASMTIME_BACKTRACE_DETAILS): reading the DWARF
//     costs every run, trap or not. wazero parses it when it loads a module, and code
//     compiled for it carries a source map that wazero reads back from its cache entry
//     by entry. For a 42 KB C module linked against Debian's wasi-libc (37 KB of DWARF)
//     that was ~2 ms of a ~9 ms `berth run`; see docs/rationale.md.
//   - Modules without DWARF (Go's, stripped ones) are unaffected. Code compiled for
//     details is cached beside the default code (dwarfDir): a run with details compiles
//     once, then reads its own cache.
func WithBacktraceDetails(on bool) Option { return func(e *Engine) { e.details = on } }

// Host is the WASI implementation the Engine's runs use.
func (e *Engine) Host() Host { return e.host }

// Option configures an Engine.
type Option func(*Engine)

// WithHost sets the WASI implementation of the Engine's runs.
func WithHost(h Host) Option { return func(e *Engine) { e.host = h } }

// binding connects the host functions registered in one runtime to the System of the
// run that uses that runtime. load registers the functions (with a nil System) while
// the module compiles; Run sets the System just before the guest starts.
type binding struct{ sys *wasi.System }

// hostFuncs lists berth's WASI functions once per Engine.
func (e *Engine) hostFuncs() []wasi.Func {
	e.hostOnce.Do(func() { e.funcs = wasi.Funcs() })
	return e.funcs
}

// checkBerthImports verifies that berth's host provides every import of cm, with the
// signature the module expects.
func (e *Engine) checkBerthImports(cm wazero.CompiledModule) error {
	funcs := e.hostFuncs()
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if mod != wasi.ModuleName {
			return &ImportError{Module: mod, Name: name}
		}
		if _, found, ok := wasi.Lookup(funcs, name, valueTypes(f.ParamTypes()), valueTypes(f.ResultTypes())); !ok {
			if found {
				return &ImportError{Module: mod, Name: name, Signature: true}
			}
			return &ImportError{Module: mod, Name: name}
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return &ImportError{Module: mod, Name: name}
	}
	return nil
}

// instantiateBerthHost registers, in rt, the host functions cm imports, bound to b.
//
// # Notes
//
//   - Only the imported functions are registered, each with the signature of its
//     import: that is how the two generations of the WasmEdge socket ABI, which share
//     names, are told apart. It also keeps the host module small, and wazero compiles a
//     trampoline per host function.
func (e *Engine) instantiateBerthHost(ctx context.Context, rt wazero.Runtime, cm wazero.CompiledModule, b *binding) error {
	funcs := e.hostFuncs()
	hb := rt.NewHostModuleBuilder(wasi.ModuleName)
	for _, imp := range cm.ImportedFunctions() {
		_, name, _ := imp.Import()
		f, _, ok := wasi.Lookup(funcs, name, valueTypes(imp.ParamTypes()), valueTypes(imp.ResultTypes()))
		if !ok {
			return fmt.Errorf("engine: no host function %s.%s", wasi.ModuleName, name)
		}
		call := f.Call
		hb.NewFunctionBuilder().
			WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
				call(ctx, b.sys, guestMemory(mod), stack)
			}), apiTypes(f.Params), apiTypes(f.Results)).
			Export(name)
	}
	if _, err := hb.Instantiate(ctx); err != nil {
		return fmt.Errorf("engine: instantiating WASI: %w", err)
	}
	return nil
}

// guestMemory is the guest's whole linear memory, nil if it has none.
func guestMemory(mod api.Module) []byte {
	m := mod.Memory()
	if m == nil {
		return nil
	}
	b, _ := m.Read(0, m.Size())
	return b
}

// exitGuest is proc_exit for wazero: the panic value wazero turns into *sys.ExitError.
func exitGuest(code uint32) { panic(sys.NewExitError(code)) }

func valueTypes(ts []api.ValueType) []wasi.ValueType {
	out := make([]wasi.ValueType, len(ts))
	for i, t := range ts {
		out[i] = wasi.ValueType(t)
	}
	return out
}

func apiTypes(ts []wasi.ValueType) []api.ValueType {
	out := make([]api.ValueType, len(ts))
	for i, t := range ts {
		out[i] = api.ValueType(t)
	}
	return out
}

// berthSystem builds the WASI System of one run from its Spec.
func berthSystem(ctx context.Context, spec *Spec) (*wasi.System, error) {
	mounts := make([]wasi.Mount, len(spec.Mounts))
	for i, m := range spec.Mounts {
		mounts[i] = wasi.Mount{HostPath: m.Source, GuestPath: m.Target, ReadOnly: m.ReadOnly}
	}
	cfg := wasi.NewConfig().
		WithArgs(spec.Args...).
		WithEnv(spec.Env...).
		WithMounts(mounts...).
		WithListeners(spec.Listeners...).
		WithSocketPolicy(spec.SocketPolicy).
		WithExit(exitGuest)
	if spec.Stdin != nil {
		cfg = cfg.WithStdin(spec.Stdin)
	}
	if spec.Stdout != nil {
		cfg = cfg.WithStdout(spec.Stdout)
	}
	if spec.Stderr != nil {
		cfg = cfg.WithStderr(spec.Stderr)
	}
	s, err := wasi.New(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	return s, nil
}
