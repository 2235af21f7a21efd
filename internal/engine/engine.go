package engine

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/gofrs/flock"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/berth-dev/berth/internal/wasi"
)

const (
	wasiModuleName = wasi_snapshot_preview1.ModuleName
	wazeroPath     = "github.com/tetratelabs/wazero"
	pageSize       = 65536
	maxPages       = 65536 // wasm32: 4 GiB
)

// Engine compiles, caches and runs WASI preview1 command modules. It is safe for
// concurrent use. Close it when done.
type Engine struct {
	dir string // absolute cache directory

	// dirMu orders compilations (readers) against the removal of cache directories
	// (writers), so a compile never writes into a directory being deleted.
	dirMu sync.RWMutex

	mu     sync.Mutex
	caches map[string]*cacheEntry // by module digest hex; guarded by mu
	closed bool                   // guarded by mu

	wasiOnce  sync.Once
	wasiFuncs map[string]struct{} // names of the WASI functions wazero provides

	versionOnce sync.Once
	version     string

	host     Host // the WASI implementation of runs
	details  bool // WithBacktraceDetails
	hostOnce sync.Once
	funcs    []wasi.Func // berth's host functions, when host is HostBerth

	subdirOnce sync.Once
	subdir     string // wazero's per-version directory name inside a digest directory
	subdirErr  error
}

// New returns an engine whose compiled-code cache lives under cacheDir, which is created
// if missing. cacheDir/<module sha256 hex>/ holds the code of one module; wazero adds a
// wazero-<version>-<arch>-<os>/ directory inside it, so the cache is keyed by module
// digest and engine version.
func New(ctx context.Context, cacheDir string, opts ...Option) (*Engine, error) {
	if cacheDir == "" {
		return nil, errors.New("engine: no compilation cache directory given")
	}
	dir, err := filepath.Abs(cacheDir)
	if err != nil {
		return nil, fmt.Errorf("engine: compilation cache directory %s: %w", cacheDir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("engine: creating compilation cache directory: %w", err)
	}
	e := &Engine{dir: dir, caches: map[string]*cacheEntry{}}
	for _, o := range opts {
		o(e)
	}
	return e, nil
}

// Close releases the in-memory compilation caches. Runs still in progress finish
// normally; later calls fail. Close does not touch the cache on disk.
func (e *Engine) Close(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	var errs []error
	for h := range e.caches {
		errs = append(errs, e.dropLocked(ctx, h))
	}
	return errors.Join(errs...)
}

// Version names the Wasm engine, such as "wazero v1.12.0" ("wazero (devel)" when the
// binary carries no module version for wazero).
func (e *Engine) Version() string {
	e.versionOnce.Do(func() {
		v := "(devel)"
		if info, ok := debug.ReadBuildInfo(); ok {
			for _, d := range info.Deps {
				if d.Path == wazeroPath && d.Version != "" {
					v = d.Version
				}
			}
		}
		e.version = "wazero " + v
	})
	return e.version
}

// Digest returns the digest of a module's bytes, "sha256:<hex>".
func Digest(wasm []byte) string {
	sum := sha256.Sum256(wasm)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// digestHex checks a "sha256:<hex>" digest and returns its hex part, which names a
// directory, so it is checked strictly.
func digestHex(digest string) (string, error) {
	h, ok := strings.CutPrefix(digest, "sha256:")
	if !ok || !isDigestHex(h) {
		return "", fmt.Errorf("engine: %q is not a module digest (want sha256: and 64 lowercase hex digits)", digest)
	}
	return h, nil
}

func isDigestHex(h string) bool {
	if len(h) != 64 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Precompile validates a module and compiles it into the cache: the bytes must be a valid
// module, import only WASI functions berth provides and export _start. It returns the
// module's digest, also on error, so callers can name the module. Precompiling a cached
// module only loads it from the cache. A module that fails validation leaves no cache
// entry.
func (e *Engine) Precompile(ctx context.Context, wasm []byte) (digest string, err error) {
	digest = Digest(wasm)
	return digest, e.PrecompileAs(ctx, wasm, digest)
}

// PrecompileAs is Precompile for a caller that has computed the module's digest,
// Digest(wasm), itself.
//
// # Notes
//
//   - It lets a caller record the digest (a pull stores it in the image's snapshot)
//     while the compile runs, without hashing the module twice. The digest only
//     chooses the cache directory (see Spec.Digest): a wrong one misfiles the entry
//     but never runs other code.
func (e *Engine) PrecompileAs(ctx context.Context, wasm []byte, digest string) (err error) {
	defer recoverPanic(&err)
	h, err := digestHex(digest)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	l, err := e.load(ctx, h, wasm, 0, false, false) // the code runs use by default
	if err != nil {
		e.discardIfBad(ctx, h, err)
		return err
	}
	l.close(ctx)
	return nil
}

// Spec describes one run of a module.
type Spec struct {
	// Module is the module's bytes. Run neither copies nor keeps them.
	Module []byte
	// Digest is Module's "sha256:<hex>" digest when known, which saves hashing it; ""
	// means Run computes it. It only chooses the cache directory: wazero keys the code
	// inside by its own hash of Module, so a wrong digest misfiles the cache but never
	// runs other code.
	Digest string
	// Args are the guest's arguments; Args[0] is the program name it sees.
	Args []string
	// Env holds the guest's environment, as "KEY=VALUE".
	Env []string
	// Stdin is the guest's standard input; nil reads as empty.
	Stdin io.Reader
	// Stdout and Stderr receive the guest's output; nil discards it.
	Stdout, Stderr io.Writer
	// Mounts are the host directories the guest sees.
	Mounts []Mount
	// Listeners are listening sockets the guest can accept on (WASI sock_accept; Go's
	// net.FileListener), preopened after the mounts: fd 3+len(Mounts), in order. Only
	// berth's WASI host (HostBerth) has them; Run duplicates them, the caller keeps its
	// files.
	Listeners []*os.File
	// SocketPolicy, when set, decides every socket operation of the guest (see
	// wasi.SocketPolicy; internal/network builds the policy of a container's network
	// flags). nil allows everything. Only berth's WASI host (HostBerth) has sockets a
	// guest can open; with wazero's (HostWazero), which opens none, it is ignored.
	SocketPolicy wasi.SocketPolicy
	// MemoryLimit caps the guest's linear memory, in bytes, rounded down to 64 KiB pages.
	// 0 means no limit beyond wasm32's 4 GiB. A module whose initial memory exceeds it
	// fails with ErrMemoryLimit; a guest growing past it sees memory.grow fail (malloc
	// returns NULL, Go's runtime reports out of memory), as in a container at its limit.
	MemoryLimit uint64
	// Prepared, when set, is the module compiled ahead by Prepare or PrepareNow; Run uses it when its
	// digest and memory limit match, and takes ownership of it either way.
	Prepared *Prepared
	// Trace, when set, is told how long each step took: "compile" (scan, then compile or
	// load from the cache), "instantiate" and "execute". For `berth --debug` and bench/.
	Trace func(phase string, d time.Duration)
}

// Run compiles the module (from the cache when it is there), instantiates it and runs its
// _start function to completion. It returns the guest's exit code: 0 when _start returns,
// the proc_exit code otherwise. On error the code is -1; errors include ErrInvalidModule,
// ErrNotCommand, *ImportError (ErrUnknownImport), ErrMemoryLimit and, when the guest
// crashes, *TrapError (the CLI then exits with TrapExitCode).
//
// If ctx is done before the guest starts, Run returns ctx.Err(). Once started, the guest
// runs to completion whatever ctx does: stop a guest by signalling its process (see the
// package documentation).
func (e *Engine) Run(ctx context.Context, spec Spec) (exitCode int, err error) {
	defer func() {
		if err != nil {
			exitCode = -1
		}
	}()
	defer recoverPanic(&err)
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	mc, err := e.moduleConfig(&spec)
	if err != nil {
		spec.Prepared.Close(ctx)
		return -1, err
	}

	trace := spec.Trace
	if trace == nil {
		trace = func(string, time.Duration) {}
	}
	t := time.Now()
	step := func(name string) { now := time.Now(); trace(name, now.Sub(t)); t = now }
	p := spec.Prepared
	if !p.Matches(spec.Digest, spec.MemoryLimit) {
		p.Close(ctx)
		p = e.PrepareNow(ctx, spec.Module, spec.Digest, spec.MemoryLimit)
	}
	l, err := p.wait()
	if err != nil {
		return -1, err
	}
	defer l.close(ctx)
	step("compile")
	defer step("execute")

	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if l.bind != nil {
		s, err := berthSystem(ctx, &spec)
		if err != nil {
			return -1, err
		}
		defer s.Close()
		l.bind.sys = s
	}
	l.ent.codeMu.Lock()
	// The linear memory is one mapping, never copied as it grows (memory.go).
	mod, err := l.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, linearMemory), l.cm, mc)
	l.ent.codeMu.Unlock()
	if err != nil {
		return -1, instantiateError(spec.Module, err)
	}
	step("instantiate")
	start := mod.ExportedFunction("_start") // present: load checked it
	if err := ctx.Err(); err != nil {
		return -1, err
	}
	if _, err := start.Call(ctx); err != nil {
		var exit *sys.ExitError
		if errors.As(err, &exit) {
			return int(exit.ExitCode()), nil
		}
		t := parseTrap(err.Error())
		if l.dwarfSkipped {
			t.Note = "the module carries DWARF debug information: set " + BacktraceEnv + "=1 for source positions in this trace"
		}
		return -1, t
	}
	return 0, nil
}

// Prepared is a module being compiled (or loaded from the cache) ahead of its Run, so
// that the compilation overlaps the caller's other work: berth writes the container's
// bundle while the compiled code loads on another core. Pass it as Spec.Prepared; a
// Prepared that Run did not take must be closed.
type Prepared struct {
	digest string
	limit  uint64
	done   chan struct{}
	l      *loaded
	err    error
}

// Prepare starts compiling wasm (whose digest is digest, "" = computed) for a run with
// memoryLimit, in a goroutine, and returns at once.
func (e *Engine) Prepare(ctx context.Context, wasm []byte, digest string, memoryLimit uint64) *Prepared {
	p := newPrepared(wasm, digest, memoryLimit)
	go p.load(ctx, e, wasm)
	return p
}

// PrepareNow is Prepare done in the calling goroutine: it returns when the module is
// compiled (or loaded from the cache), or has failed; Wait then returns at once.
//
// # Notes
//
//   - A caller with other work to overlap with the load should run that work in a new
//     goroutine and the load in its own, not the other way round: a new goroutine
//     starts on an idle CPU only once that CPU has woken up, which took 0.1–0.6 ms on
//     the 2-vCPU machine of docs/benchmarks.md, so the longer task, the load, should
//     not be the one waiting for it.
func (e *Engine) PrepareNow(ctx context.Context, wasm []byte, digest string, memoryLimit uint64) *Prepared {
	p := newPrepared(wasm, digest, memoryLimit)
	p.load(ctx, e, wasm)
	return p
}

func newPrepared(wasm []byte, digest string, memoryLimit uint64) *Prepared {
	p := &Prepared{digest: digest, limit: memoryLimit, done: make(chan struct{})}
	if p.digest == "" {
		p.digest = Digest(wasm)
	}
	return p
}

// load compiles the module into p and marks p done.
func (p *Prepared) load(ctx context.Context, e *Engine, wasm []byte) {
	defer close(p.done)
	p.l, p.err = e.loadChecked(ctx, p.digest, wasm, p.limit)
}

// loadChecked is load with the digest and limit as Spec gives them.
func (e *Engine) loadChecked(ctx context.Context, digest string, wasm []byte, memoryLimit uint64) (*loaded, error) {
	h, err := digestHex(digest)
	if err != nil {
		return nil, err
	}
	var limit uint32
	limited := memoryLimit != 0
	if limited {
		limit = uint32(min(memoryLimit/pageSize, maxPages))
	}
	l, err := e.load(ctx, h, wasm, limit, limited, e.details)
	if err != nil {
		e.discardIfBad(ctx, h, err)
		return nil, err
	}
	return l, nil
}

// Matches reports whether p was prepared for a run with digest ("" = any) and limit.
func (p *Prepared) Matches(digest string, limit uint64) bool {
	return p != nil && (digest == "" || digest == p.digest) && limit == p.limit
}

func (p *Prepared) wait() (*loaded, error) {
	<-p.done
	return p.l, p.err
}

// Digest is the digest of the module being prepared, "sha256:<hex>"; "" on nil.
func (p *Prepared) Digest() string {
	if p == nil {
		return ""
	}
	return p.digest
}

// Wait waits until the module is compiled (or loaded from the cache) and returns what
// went wrong, if anything: the errors Run would return for a module it cannot start
// (ErrInvalidModule, ErrNotCommand, *ImportError, ErrMemoryLimit).
//
// # Notes
//
//   - The containerd shim waits in its Create, so a bad module fails `ctr run` at
//     create time with a clear error instead of a task that dies at start.
func (p *Prepared) Wait() error {
	_, err := p.wait()
	return err
}

// Close releases a Prepared that was not passed to Run. It is safe on nil.
func (p *Prepared) Close(ctx context.Context) {
	if p == nil {
		return
	}
	if l, err := p.wait(); err == nil {
		l.close(ctx)
	}
}

// moduleConfig translates the parts of spec that the guest sees. With berth's own host
// they are in the run's wasi.System instead (berthSystem), and only the start function
// choice is wazero's.
func (e *Engine) moduleConfig(spec *Spec) (wazero.ModuleConfig, error) {
	if e.host == HostBerth {
		return wazero.NewModuleConfig().WithStartFunctions(), nil
	}
	if len(spec.Listeners) > 0 {
		return nil, fmt.Errorf("engine: listeners need berth's WASI host: create the engine WithHost(HostBerth)")
	}
	mc := wazero.NewModuleConfig().
		WithArgs(spec.Args...).
		WithSysWalltime().
		WithSysNanotime().
		WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStartFunctions() // _start is called by Run, to tell exit from trap
	for _, kv := range spec.Env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("engine: environment variable %q: want KEY=VALUE", kv)
		}
		mc = mc.WithEnv(k, v)
	}
	if spec.Stdin != nil {
		mc = mc.WithStdin(spec.Stdin)
	}
	if spec.Stdout != nil {
		mc = mc.WithStdout(spec.Stdout)
	}
	if spec.Stderr != nil {
		mc = mc.WithStderr(spec.Stderr)
	}
	if len(spec.Mounts) > 0 {
		fsc, err := fsConfig(spec.Mounts)
		if err != nil {
			return nil, fmt.Errorf("engine: %w", err)
		}
		mc = mc.WithFSConfig(fsc)
	}
	return mc, nil
}

// loaded is a module compiled in a runtime of its own, with WASI instantiated.
type loaded struct {
	e   *Engine
	ent *cacheEntry
	rt  wazero.Runtime
	cm  wazero.CompiledModule
	// bind is set with berth's own host: Run gives it the run's System.
	bind *binding
	// dwarfSkipped: the module carries DWARF that was not read (see WithBacktraceDetails).
	dwarfSkipped bool
}

func (l *loaded) close(ctx context.Context) {
	_ = l.rt.Close(ctx) // closes the guest and WASI instances; never fails in wazero
	if l.cm != nil {
		// wazero reference-counts compiled code per cache; dropping our reference frees it
		// once no other run of the module holds it.
		_ = l.cm.Close(ctx)
	}
	l.e.release(ctx, l.ent)
}

// load compiles wasm (digest hex h) through its cache and checks it is a command whose
// imports berth provides. limit, when limited, caps linear memory in pages. details reads
// the module's DWARF, if any, for source positions in trap stack traces (see
// WithBacktraceDetails); that code is cached apart.
func (e *Engine) load(ctx context.Context, h string, wasm []byte, limit uint32, limited, details bool) (*loaded, error) {
	// Screen the bytes before wazero decodes them (see scanModule).
	info, err := scanModule(wasm, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	if limited && info.HasMemory && info.MemoryMin > uint64(limit) {
		return nil, memoryLimitError(info.MemoryMin, limit)
	}

	e.dirMu.RLock()
	defer e.dirMu.RUnlock()
	details = details && info.HasDWARF
	key := h // the cache entry: code compiled with a source map lives in h/dwarf
	if details {
		key = filepath.Join(h, dwarfDir)
	}
	ent, err := e.acquire(key)
	if err != nil {
		return nil, err
	}
	cfg := wazero.NewRuntimeConfigCompiler().WithCompilationCache(ent.cache).WithDebugInfoEnabled(details)
	if limited {
		cfg = cfg.WithMemoryLimitPages(limit)
	}
	l := &loaded{e: e, ent: ent, rt: wazero.NewRuntimeWithConfig(ctx, cfg), dwarfSkipped: info.HasDWARF && !details}
	if e.host == HostWazero {
		if _, err := wasi_snapshot_preview1.Instantiate(ctx, l.rt); err != nil {
			l.close(ctx)
			return nil, fmt.Errorf("engine: instantiating WASI: %w", err)
		}
	}
	var pe *fs.PathError
	ent.codeMu.Lock()
	unlock := lockCompile(filepath.Join(e.dir, h))
	cm, err := compileModule(ctx, l.rt, wasm)
	if err != nil && !errors.As(err, &pe) && ctx.Err() == nil && e.dropUnreadableCode(key) {
		cm, err = compileModule(ctx, l.rt, wasm)
	}
	unlock()
	ent.codeMu.Unlock()
	if err != nil && errors.As(err, &pe) {
		// Another berth process removed the cache directory while we compiled. wazero
		// kept the code it compiled in memory, so after recreating the directory the
		// second attempt is a memory hit (that leaves one extra reference to the code,
		// freed with this cache entry).
		if sub, serr := e.versionSubdir(); serr == nil {
			if os.MkdirAll(filepath.Join(e.dir, key, sub), 0o700) == nil {
				ent.codeMu.Lock()
				cm, err = compileModule(ctx, l.rt, wasm)
				ent.codeMu.Unlock()
			}
		}
	}
	if err != nil {
		l.close(ctx)
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("engine: writing the compilation cache: %w", err)
		}
		return nil, fmt.Errorf("%w: %v", ErrInvalidModule, err)
	}
	l.cm = cm
	if err := e.check(l.rt, cm); err != nil {
		l.close(ctx)
		return nil, err
	}
	if e.host == HostBerth {
		l.bind = &binding{}
		if err := e.instantiateBerthHost(ctx, l.rt, cm, l.bind); err != nil {
			l.close(ctx)
			return nil, err
		}
	}
	return l, nil
}

// compileModule is rt.CompileModule, except that a panic in wazero (some malformed
// modules make v1.12.0's validator index out of range) becomes an error.
func compileModule(ctx context.Context, rt wazero.Runtime, wasm []byte) (cm wazero.CompiledModule, err error) {
	defer func() {
		if p := recover(); p != nil {
			cm, err = nil, fmt.Errorf("wazero failed on it: %v", p)
		}
	}()
	return rt.CompileModule(ctx, wasm)
}

// recoverPanic turns a panic in wazero into an error, so that none crosses this package's
// API. Guest traps never get here: wazero returns them as errors.
func recoverPanic(err *error) {
	if p := recover(); p != nil {
		*err = fmt.Errorf("engine: internal error in wazero: %v", p)
	}
}

// check verifies that cm is a command and that berth provides all its imports, so the
// user reads which import is missing instead of wazero's instantiation error.
func (e *Engine) check(rt wazero.Runtime, cm wazero.CompiledModule) error {
	start, ok := cm.ExportedFunctions()["_start"]
	if !ok {
		return fmt.Errorf("%w: the module has no _start export (it is a reactor or a library); berth runs command modules only", ErrNotCommand)
	}
	if len(start.ParamTypes()) != 0 || len(start.ResultTypes()) != 0 {
		return fmt.Errorf("%w: its _start must take no parameters and return no results", ErrNotCommand)
	}
	if e.host == HostBerth {
		return e.checkBerthImports(cm)
	}
	provided := e.wasiExports(rt)
	for _, f := range cm.ImportedFunctions() {
		mod, name, _ := f.Import()
		if _, ok := provided[name]; mod != wasiModuleName || !ok {
			return &ImportError{Module: mod, Name: name}
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return &ImportError{Module: mod, Name: name}
	}
	return nil
}

// wasiExports lists the functions of the WASI module instantiated in rt, once per Engine.
func (e *Engine) wasiExports(rt wazero.Runtime) map[string]struct{} {
	e.wasiOnce.Do(func() {
		m := map[string]struct{}{}
		if w := rt.Module(wasiModuleName); w != nil {
			for name := range w.ExportedFunctionDefinitions() {
				m[name] = struct{}{}
			}
		}
		e.wasiFuncs = m
	})
	return e.wasiFuncs
}

// instantiateError explains a failed instantiation. The function and memory imports were
// checked before; a table or global import (which CompiledModule does not list) is found
// here by reading the import section.
func instantiateError(wasm []byte, err error) error {
	if info, perr := scanModule(wasm, true); perr == nil {
		for _, imp := range info.Imports {
			if imp.Kind != externFunc || imp.Module != wasiModuleName {
				return &ImportError{Module: imp.Module, Name: imp.Name}
			}
		}
	}
	return fmt.Errorf("engine: instantiating the module: %w", err)
}

// discardIfBad drops the cache directory of a module that failed validation, so that
// Cached lists only runnable modules.
func (e *Engine) discardIfBad(ctx context.Context, h string, err error) {
	if !errors.Is(err, ErrInvalidModule) && !errors.Is(err, ErrNotCommand) && !errors.Is(err, ErrUnknownImport) {
		return
	}
	if _, serr := os.Lstat(filepath.Join(e.dir, h)); serr == nil { // refused before compiling: nothing made
		_ = e.remove(ctx, h)
	}
}

// lockCompile takes an exclusive file lock on a module's cache directory for as long as
// the module is compiled or loaded, and returns its release.
//
// # Notes
//
//   - Several processes may start the same new module at once: four containers of a
//     fresh image under containerd, each in its own berth-guest process. Without the
//     lock each compiles it (a second or more for a Go-built module); with it, one
//     compiles and the others load its result from the cache.
//   - Best effort: if the lock file cannot be made (a read-only cache), compiling
//     without it is still correct, only slower.
func lockCompile(dir string) func() {
	l := flock.New(filepath.Join(dir, ".compile.lock"))
	if err := l.Lock(); err != nil {
		return func() {}
	}
	return func() { l.Unlock() }
}
