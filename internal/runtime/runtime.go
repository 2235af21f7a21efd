// Package runtime runs a Wasm container from its OCI bundle (config.json + rootfs), the
// way runc runs a Linux container from one. berth's foreground `run` and the containerd
// shim both come here, so a container behaves the same whichever front door started it.
//
// # Notes
//
//   - The module is process.args[0], a path inside the rootfs. It is read through an
//     os.Root on the rootfs, so a symlinked module path cannot make berth read a host file.
//   - The rootfs is preopened at "/"; bind mounts in config.json become further preopens
//     (read-only when their options say "ro"), a bind at "/" replacing the rootfs;
//     Linux pseudo file systems are skipped.
//   - The working directory is passed to the guest as PWD. WASI preview1 has no working
//     directory; Go's wasip1 port reads PWD to resolve relative paths, and wasi-libc
//     resolves them against "/". This is how `-w` and WORKDIR take effect in Wasm.
//   - The memory limit is linux.resources.memory.limit, where Docker and containerd put
//     --memory, applied to the module's linear memory.
//   - Network: a spec berth wrote carries its network options as annotations
//     (network.AnnotationMode and the rest). The published host ports are opened when
//     the container is loaded, so a port another program took is an error of Load
//     (the shim's Create, which `run -d` reports), not of the running guest; the
//     guest runs under network.Policy of those options. A guest whose environment has
//     LISTEN_FDS (systemd's socket-activation variable; the guest opts in) gets the
//     opened sockets as preopened listeners, after the directories (Go's
//     net.FileListener); any other guest binds its port itself (the WasmEdge socket
//     ABI), and the sockets are closed just before it starts so that the policy can
//     map its bind onto the published host port. A spec without the annotations
//     (containerd, Docker, Kubernetes) gets no policy: its guest's sockets are those
//     of the network namespace the spec names.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/wasi"
)

// Options are a run's standard streams and hooks. A nil Stdin reads as empty.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Trace, when set, is told how long each step of a run took.
	Trace func(phase string, d time.Duration)
	// Prepared, when set, is the bundle's module already being compiled (engine.Prepare)
	// for the digest in its dev.berth.module.digest annotation; the module file is then
	// not read again. Run takes ownership of it.
	Prepared *engine.Prepared
	// Spec, when set, is the bundle's config.json as its writer has just written it, so
	// Run does not read it back. Load always reads config.json.
	Spec *specs.Spec
	// Listeners, when set, are the host sockets of the spec's published ports
	// (network.AnnotationPublish), opened by the caller before it created the
	// container; otherwise Run opens them. Run takes ownership of them.
	Listeners *network.Listeners
}

// Runner runs bundles on an engine.
type Runner struct {
	eng *engine.Engine
}

// New returns a Runner that runs modules on eng.
func New(eng *engine.Engine) *Runner { return &Runner{eng: eng} }

// Run runs the container of bundle dir to completion and returns its exit code. A trap
// is returned as an error (*engine.TrapError) with engine.TrapExitCode.
func (r *Runner) Run(ctx context.Context, dir string, stdio Options) (int, error) {
	trace := stdio.Trace
	if trace == nil {
		trace = func(string, time.Duration) {}
	}
	t0 := time.Now()
	c, err := r.load(ctx, dir, stdio.Spec, stdio.Prepared, stdio.Listeners)
	if err != nil {
		return 0, err
	}
	trace("bundle", time.Since(t0))
	return c.Run(ctx, stdio)
}

// Load reads the container of bundle dir and compiles its module (from the cache when
// it is there), without running it: the "create" half of create/start, as runc splits
// them. Errors a module would meet at start (not found, invalid, unknown imports, a
// memory limit below its initial memory) are returned here. The Container must be run
// or closed.
func (r *Runner) Load(ctx context.Context, dir string) (*Container, error) {
	c, err := r.load(ctx, dir, nil, nil, nil)
	if err != nil {
		return nil, err
	}
	if err := c.prepared.Wait(); err != nil {
		c.Close(ctx)
		return nil, fmt.Errorf("loading %s: %w", c.args[0], err)
	}
	return c, nil
}

// Container is a bundle loaded by Load, ready to run.
type Container struct {
	eng      *engine.Engine
	module   []byte
	digest   string
	args     []string
	env      []string
	mounts   []engine.Mount
	limit    uint64
	prepared *engine.Prepared
	// policy is set for a spec with berth's network annotations; listeners are its
	// published ports' host sockets (nil when none are published).
	policy    wasi.SocketPolicy
	listeners *network.Listeners
}

// load reads the bundle of dir (its config.json, unless spec is given), opens its
// published ports unless ls holds them, and starts its module's load, unless prepared
// is that module's. It takes ownership of prepared and ls.
func (r *Runner) load(ctx context.Context, dir string, spec *specs.Spec, prepared *engine.Prepared, ls *network.Listeners) (_ *Container, err error) {
	defer func() {
		if err != nil && ls != nil {
			ls.Close()
		}
	}()
	if spec == nil {
		var err error
		if spec, err = bundle.ReadSpec(dir); err != nil {
			prepared.Close(ctx)
			return nil, err
		}
	}
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		prepared.Close(ctx)
		return nil, fmt.Errorf("%w: config.json has no process.args: nothing names the module to run", ErrModuleNotFound)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		prepared.Close(ctx)
		return nil, fmt.Errorf("%w: root.path is empty", bundle.ErrInvalidSpec)
	}
	netOpts, berthNet, err := network.FromAnnotations(spec.Annotations)
	if err != nil {
		prepared.Close(ctx)
		return nil, err
	}
	var policy wasi.SocketPolicy
	switch {
	case !berthNet && ls != nil:
		ls.Close() // no ports to publish
		ls = nil
	case berthNet:
		if policy, err = network.Policy(netOpts); err != nil {
			prepared.Close(ctx)
			return nil, fmt.Errorf("the container's network: %w", err)
		}
		if ls == nil && len(netOpts.Ports) > 0 && netOpts.Mode == network.ModeDefault {
			if ls, err = network.Open(ctx, netOpts.Ports); err != nil {
				prepared.Close(ctx)
				return nil, err
			}
		}
	}
	rootfs := bundle.RootPath(dir, spec)
	c := &Container{
		eng:    r.eng,
		digest: spec.Annotations[bundle.AnnotationModuleDigest],
		args:   spec.Process.Args,
		limit:  uint64(bundle.MemoryLimit(spec)),
	}
	if c.digest == "" || !prepared.Matches(c.digest, c.limit) {
		prepared.Close(ctx)
		prepared = nil
		var err error
		if c.module, err = readModule(rootfs, spec.Process.Args[0]); err != nil {
			return nil, err
		}
	}
	if prepared == nil {
		prepared = r.eng.PrepareNow(ctx, c.module, c.digest, c.limit)
	}
	c.prepared = prepared
	c.policy, c.listeners = policy, ls
	ls = nil // the Container's now
	var binds []bundle.Mount
	for _, m := range bundle.BindMounts(spec) {
		fi, err := os.Stat(m.Source)
		if err == nil && !fi.IsDir() {
			if runtimeFiles[m.Destination] {
				continue
			}
			c.Close(ctx)
			return nil, fmt.Errorf("%w: %s is a file bound at %s; a Wasm guest sees only directories (WASI preopens): bind the directory that holds it",
				ErrFileMount, m.Source, m.Destination)
		}
		binds = append(binds, m)
	}
	c.mounts = preopens(rootfs, spec.Root.Readonly, binds)
	c.env = spec.Process.Env
	if cwd := spec.Process.Cwd; cwd != "" && cwd != "/" && !bundle.HasEnv(c.env, "PWD") {
		c.env = append(c.env[:len(c.env):len(c.env)], "PWD="+cwd)
	}
	return c, nil
}

// preopens returns the guest's preopened directories: the rootfs at "/", then the bind
// mounts in order, where a bind at a guest path already taken (the rootfs's "/" too)
// takes that preopen's place.
//
// # Notes
//
//   - A mount over a path shadows what was there, as in a mount table. For "/" this is
//     how `berth run -v DIR:/` gives the guest DIR as its root, which conformance
//     runners rely on (Go's go_wasip1_wasm_exec mounts the host's / as the guest's /,
//     as `wasmtime run --dir=/` does). Two preopens with one name would leave the
//     guest's choice to the order its libc happens to scan them in.
//   - The shadowing preopen keeps the position of the one it replaces, so "/" stays
//     fd 3, where guests (and wasi-libc's cwd resolution) expect the root.
func preopens(rootfs string, rootReadOnly bool, binds []bundle.Mount) []engine.Mount {
	out := []engine.Mount{{Source: rootfs, Target: "/", ReadOnly: rootReadOnly}}
	at := map[string]int{"/": 0}
	for _, m := range binds {
		target := path.Clean("/" + m.Destination)
		pm := engine.Mount{Source: m.Source, Target: target, ReadOnly: m.ReadOnly}
		if i, ok := at[target]; ok {
			out[i] = pm
			continue
		}
		at[target] = len(out)
		out = append(out, pm)
	}
	return out
}

// Run runs the loaded container to completion and returns its exit code, as
// Runner.Run does. stdio.Prepared is ignored: the Container has its own. Run consumes c.
func (c *Container) Run(ctx context.Context, stdio Options) (int, error) {
	p := c.prepared
	c.prepared = nil
	ls := c.listeners
	c.listeners = nil
	var files []*os.File
	if ls != nil {
		if bundle.HasEnv(c.env, "LISTEN_FDS") {
			files = ls.Files()
			defer ls.Close() // Run gives the guest duplicates
		} else {
			// The guest binds its ports itself: free them for its bind, which the
			// policy maps onto them.
			ls.Close()
		}
	}
	code, err := c.eng.Run(ctx, engine.Spec{
		Listeners:    files,
		SocketPolicy: c.policy,
		Trace:        stdio.Trace,
		Module:       c.module,
		Digest:       p.Digest(),
		Prepared:     p,
		Args:         c.args,
		Env:          c.env,
		Stdin:        stdio.Stdin,
		Stdout:       stdio.Stdout,
		Stderr:       stdio.Stderr,
		Mounts:       c.mounts,
		MemoryLimit:  c.limit,
	})
	if err != nil {
		if _, ok := err.(*engine.TrapError); ok {
			return engine.TrapExitCode, err
		}
		return code, fmt.Errorf("running %s: %w", c.args[0], err)
	}
	return code, nil
}

// Close releases a Container that was not run (its compiled module, its published
// ports' sockets). It is safe to call after Run.
func (c *Container) Close(ctx context.Context) {
	c.prepared.Close(ctx)
	c.prepared = nil
	if c.listeners != nil {
		c.listeners.Close()
		c.listeners = nil
	}
}

// ErrFileMount is returned (wrapped) for a bind mount of a single file, other than
// those in runtimeFiles.
var ErrFileMount = errors.New("file bind mounts are not supported by Wasm containers")

// runtimeFiles are the files Docker and Kubernetes bind into every container. WASI
// preopens only directories, and a Wasm guest has no resolver, hostname call or
// termination-message writer that would read them, so they are left out rather than
// refused: refusing them would refuse every container.
var runtimeFiles = map[string]bool{
	"/etc/hostname":        true,
	"/etc/hosts":           true,
	"/etc/resolv.conf":     true,
	"/dev/termination-log": true,
}

// ErrModuleNotFound is returned (wrapped) when process.args[0] names no file in the rootfs.
var ErrModuleNotFound = fmt.Errorf("module not found")

func readModule(rootfs, p string) ([]byte, error) {
	b, err := bundle.ReadRootFile(rootfs, p)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("%w: %s is not in the container's file system (check the image's Entrypoint, or --entrypoint)", ErrModuleNotFound, p)
		}
		return nil, fmt.Errorf("reading module %s: %w", p, err)
	}
	return b, nil
}
