// Package runtime runs a Wasm container from its OCI bundle (config.json + rootfs), the
// way runc runs a Linux container from one. berth's foreground `run` and the containerd
// shim both come here, so a container behaves the same whichever front door started it.
//
// # Notes
//
//   - The module is process.args[0], a path inside the rootfs. It is read through an
//     os.Root on the rootfs, so a symlinked module path cannot make berth read a host file.
//   - The rootfs is preopened at "/"; bind mounts in config.json become further preopens
//     (read-only when their options say "ro"); Linux pseudo file systems are skipped.
//   - The working directory is passed to the guest as PWD. WASI preview1 has no working
//     directory; Go's wasip1 port reads PWD to resolve relative paths, and wasi-libc
//     resolves them against "/". This is how `-w` and WORKDIR take effect in Wasm.
//   - The memory limit is linux.resources.memory.limit, where Docker and containerd put
//     --memory, applied to the module's linear memory.
package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/engine"
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
	spec, err := bundle.ReadSpec(dir)
	if err != nil {
		stdio.Prepared.Close(ctx)
		return 0, err
	}
	rootfs := bundle.RootPath(dir, spec)
	digest := spec.Annotations[bundle.AnnotationModuleDigest]
	limit := uint64(bundle.MemoryLimit(spec))
	var module []byte
	if digest == "" || !stdio.Prepared.Matches(digest, limit) {
		if module, err = readModule(rootfs, spec.Process.Args[0]); err != nil {
			stdio.Prepared.Close(ctx)
			return 0, err
		}
	}
	mounts := []engine.Mount{{Source: rootfs, Target: "/", ReadOnly: spec.Root.Readonly}}
	for _, m := range bundle.BindMounts(spec) {
		mounts = append(mounts, engine.Mount{Source: m.Source, Target: m.Destination, ReadOnly: m.ReadOnly})
	}
	env := spec.Process.Env
	if cwd := spec.Process.Cwd; cwd != "" && cwd != "/" && !bundle.HasEnv(env, "PWD") {
		env = append(env[:len(env):len(env)], "PWD="+cwd)
	}
	trace("bundle", time.Since(t0))
	code, err := r.eng.Run(ctx, engine.Spec{
		Trace:       trace,
		Module:      module,
		Digest:      digest,
		Prepared:    stdio.Prepared,
		Args:        spec.Process.Args,
		Env:         env,
		Stdin:       stdio.Stdin,
		Stdout:      stdio.Stdout,
		Stderr:      stdio.Stderr,
		Mounts:      mounts,
		MemoryLimit: limit,
	})
	if err != nil {
		if _, ok := err.(*engine.TrapError); ok {
			return engine.TrapExitCode, err
		}
		return code, fmt.Errorf("running %s: %w", spec.Process.Args[0], err)
	}
	return code, nil
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
