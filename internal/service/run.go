package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/guest"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/restart"
	"github.com/berth-dev/berth/internal/runtime"
)

// RunOptions are the flags of `berth run`.
type RunOptions struct {
	Image      string // image reference, or the path of a local .wasm file
	Args       []string
	Entrypoint *string
	Env        []string // "KEY=VALUE", resolved by the caller
	WorkingDir string
	Volumes    []bundle.Mount
	Memory     int64
	Name       string
	Remove     bool
	// Restart is the --restart policy of a detached container (RunDetached), carried out
	// by its shim; the zero value is "no". A foreground run refuses any other.
	Restart restart.Policy
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	// Network is -p, -P, --network, --allow-host and --deny-host.
	Network NetworkOptions
	// Started, when set, is called with the container (its ID set) just before its record
	// is written (the CLI uses it to clean up on a signal).
	Started func(*container.Container)

	detached  bool                 // set by RunDetached: the record says so, and has a log
	logConfig *container.LogConfig // set by RunDetached
	// unlock, set by RunDetached, has the record created locked (container.Store.CreateLocked)
	// and receives the function that releases the lock: nobody may act on the container
	// (start, rm, prune) while its bundle is written and its shim started.
	unlock *func()
}

// IsLocalModule reports whether a run argument names a local module file rather than an
// image: a regular file whose name ends in ".wasm", or any regular file named by a path
// that starts with "/", "./" or "../", which no image reference does.
//
// # Notes
//
//   - The second form is for tools that name the module they run without a suffix: Go's
//     `go test -exec` hands its runner a test binary such as /tmp/go-build…/os.test.
func IsLocalModule(ref string) bool {
	if !strings.HasSuffix(ref, ".wasm") && !strings.HasPrefix(ref, "/") &&
		!strings.HasPrefix(ref, "./") && !strings.HasPrefix(ref, "../") {
		return false
	}
	fi, err := os.Stat(ref)
	return err == nil && fi.Mode().IsRegular()
}

// Run creates a container from an image (or a local .wasm file) and runs it in the
// foreground, in this process. It returns the module's exit code; a trap returns
// engine.TrapExitCode with the *engine.TrapError.
func (s *Service) Run(ctx context.Context, o RunOptions) (*container.Container, int, error) {
	if o.Restart.Mode != "" && o.Restart.Mode != restart.No {
		return nil, 0, fmt.Errorf("%w: --restart %s: a restart policy is carried out by the shim of a detached container, and a foreground run has none; use run -d", ErrBadOption, o.Restart)
	}
	c, prepared, spec, ls, err := s.create(ctx, o, true)
	if err != nil {
		return nil, 0, err
	}
	durable := !o.Remove
	code, runErr := s.runner.Run(ctx, s.containers.Dir(c), runtime.Options{Stdin: o.Stdin, Stdout: o.Stdout, Stderr: o.Stderr,
		Trace: s.phase, Prepared: prepared, Spec: spec, Listeners: ls})
	t2 := time.Now()
	if o.Remove {
		if err := s.containers.Discard(ctx, c); err != nil {
			return c, code, errors.Join(runErr, err)
		}
		s.phase("cleanup", time.Since(t2))
		return c, code, runErr
	}
	now := time.Now().UTC()
	err = s.containers.Update(ctx, c.ID, durable, func(c *container.Container) error {
		c.State = container.State{Status: container.StatusExited, ExitCode: code, StartedAt: c.State.StartedAt, FinishedAt: now}
		var trap *engine.TrapError
		if runErr != nil && !errors.As(runErr, &trap) {
			c.State.ExitCode = exitCodeFor(runErr)
			c.State.Error = runErr.Error()
		}
		return nil
	})
	return c, code, errors.Join(runErr, err)
}

// exitCodeFor maps an error that stopped a container before its module ran to Docker's
// codes: 127 when the module is missing, 126 when it cannot be run.
func exitCodeFor(err error) int {
	if errors.Is(err, runtime.ErrModuleNotFound) {
		return 127
	}
	return 126
}

// ExitCode is the exit status `berth run` reports for an error from Run: 125 when berth
// itself failed (bad flags, unknown image), 126 when the module cannot run (malformed,
// unknown imports), 127 when it is missing, engine.TrapExitCode on a trap.
func ExitCode(err error) int {
	var trap *engine.TrapError
	switch {
	case errors.As(err, &trap):
		return engine.TrapExitCode
	case errors.Is(err, runtime.ErrModuleNotFound):
		return 127
	case errors.Is(err, engine.ErrInvalidModule), errors.Is(err, engine.ErrUnknownImport),
		errors.Is(err, engine.ErrNotCommand), errors.Is(err, engine.ErrMemoryLimit):
		return 126
	}
	return 125
}

// create makes the container's record and bundle, and returns them with the bundle's
// spec (what config.json holds). When the module is known it also loads its code
// (engine.PrepareNow) while another goroutine writes the bundle, so that the file-system
// work overlaps the load; the caller passes the returned Prepared and spec to the
// runtime. load false skips the load (a detached container's module is loaded by its
// shim's process, not this one). The published ports are opened before anything of the
// container is written (openNetwork); the caller owns the returned sockets (nil when
// none).
func (s *Service) create(ctx context.Context, o RunOptions, load bool) (c *container.Container, prepared *engine.Prepared, spec *specs.Spec, ls *network.Listeners, err error) {
	defer func() {
		if err != nil {
			prepared.Close(ctx)
			prepared = nil
			if ls != nil {
				ls.Close()
				ls = nil
			}
		}
	}()
	t := time.Now()
	step := func(name string) { now := time.Now(); s.phase(name, now.Sub(t)); t = now }
	// Shared: an image's snapshot is not removed (rmi) or replaced while it is copied.
	unlock, err := s.snapLock(ctx, false)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	defer func() { unlock() }()
	var (
		cfg       image.Config
		snapshot  string
		digest    string
		module    []byte
		modDigest string
		modPath   string
	)
	if IsLocalModule(o.Image) {
		b, err := os.ReadFile(o.Image)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		module = b
		modPath = "/" + filepath.Base(o.Image)
		cfg.Entrypoint = []string{modPath}
	} else {
		r, err := s.resolveImage(ctx, o.Image)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		m, err := s.readSnapshot(r.Digest)
		if err != nil {
			// Not prepared yet, removed by hand, or stale after a reboot: prepare now,
			// without the lock (replacing a stale snapshot takes it exclusively).
			unlock()
			unlock = func() {}
			img, err := s.store.Image(ctx, r.Digest)
			if err != nil {
				return nil, nil, nil, nil, err
			}
			if _, err = s.prepare(ctx, img); err != nil {
				return nil, nil, nil, nil, err
			}
			if unlock, err = s.snapLock(ctx, false); err != nil {
				return nil, nil, nil, nil, err
			}
			if m, err = s.readSnapshot(r.Digest); err != nil {
				return nil, nil, nil, nil, fmt.Errorf("image %s: %w", o.Image, err) // removed meanwhile
			}
		}
		cfg, digest = m.Config, r.Digest.String()
		snapshot = filepath.Join(s.snapshotDir(r.Digest), "rootfs")
		modPath, modDigest = m.Module, m.ModuleDigest
	}
	step("resolve")
	exists := func(p string) bool { return p == modPath }
	if snapshot != "" {
		exists = existsIn(snapshot)
	}
	proc, err := cfg.Process(image.Overrides{Entrypoint: o.Entrypoint, Args: o.Args, Env: o.Env, WorkingDir: o.WorkingDir}, exists)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	netOpts, ls, err := s.openNetwork(ctx, o.Network, cfg, o.Stderr)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	step("network")
	if snapshot != "" && proc.Args[0] == modPath && modDigest != "" {
		if module, err = bundle.ReadRootFile(snapshot, modPath); err != nil {
			return nil, nil, nil, ls, fmt.Errorf("reading module %s of the image: %w", modPath, err)
		}
	}
	c = &container.Container{
		Name: o.Name, Image: o.Image, ImageDigest: digest,
		Path: proc.Args[0], Args: proc.Args[1:], Env: proc.Env, WorkingDir: proc.Cwd,
		HostConfig: container.HostConfig{AutoRemove: o.Remove, Memory: o.Memory},
		// Recorded as running from the start: the module runs in this process as soon as
		// the bundle is written, and a record written once costs one file, not two.
		State: container.State{Status: container.StatusRunning, Running: true, Pid: os.Getpid(), StartedAt: time.Now().UTC()},
	}
	for _, v := range o.Volumes {
		spec := v.Source + ":" + v.Destination
		if v.ReadOnly {
			spec += ":ro"
		}
		c.HostConfig.Binds = append(c.HostConfig.Binds, spec)
	}
	recordNetwork(c, netOpts)
	if o.detached {
		// Created until its shim has started the module (RunDetached).
		c.Detached = true
		c.HostConfig.LogConfig = o.logConfig
		if o.Restart.Mode != "" && o.Restart.Mode != restart.No {
			c.HostConfig.RestartPolicy = &container.RestartPolicy{Name: string(o.Restart.Mode), MaximumRetryCount: o.Restart.MaxRetries}
		}
		c.State = container.State{Status: container.StatusCreated}
	}
	b := bundleJob{c: c, o: o, proc: proc, snapshot: snapshot, modPath: modPath, modDigest: modDigest, module: module, net: netOpts}
	if !load || module == nil || proc.Args[0] != modPath {
		if err := b.write(ctx, s); err != nil {
			return nil, nil, nil, ls, err
		}
		return c, nil, b.spec, ls, nil
	}
	// The bundle is written in a new goroutine while this one loads the module's code,
	// which takes longer (see engine.PrepareNow).
	done := make(chan error, 1)
	go func() { done <- b.write(ctx, s) }()
	t = time.Now()
	prepared = s.eng.PrepareNow(ctx, module, modDigest, uint64(o.Memory))
	loaded := time.Since(t)
	err = <-done
	s.phase("load", loaded)
	if err != nil {
		return nil, prepared, nil, ls, err
	}
	return c, prepared, b.spec, ls, nil
}

// bundleJob writes a new container's record and bundle (rootfs/, and config.json unless
// the container is a foreground --rm one: see write).
type bundleJob struct {
	c                  *container.Container
	o                  RunOptions
	proc               image.Process
	snapshot           string // the image's root to copy; "" for a local module
	modPath, modDigest string
	module             []byte      // the module, for a local module file
	spec               *specs.Spec // the bundle's spec (config.json's content), once made
	net                network.Options
}

// write writes the record (calling o.Started first), the root and, but for a foreground
// --rm container, config.json. On error it removes what it made.
func (b *bundleJob) write(ctx context.Context, s *Service) error {
	c, o, proc := b.c, b.o, b.proc
	c.ID = container.NewID() // here, not on the path to the load: crypto/rand's first use costs ~0.1 ms
	t := time.Now()
	step := func(name string) { now := time.Now(); s.phase(name, now.Sub(t)); t = now }
	durable := !o.Remove
	if o.Started != nil {
		o.Started(c) // from here on a signal must clean this container up
	}
	if o.detached {
		c.LogPath = filepath.Join(s.containers.Dir(c), logs.FileName(c.ID))
		if !filepath.IsAbs(c.LogPath) {
			abs, err := filepath.Abs(c.LogPath)
			if err != nil {
				return err
			}
			c.LogPath = abs
		}
	}
	if o.unlock != nil {
		unlock, err := s.containers.CreateLocked(ctx, c, durable)
		if err != nil {
			return err
		}
		*o.unlock = unlock
	} else if err := s.containers.Create(ctx, c, durable); err != nil {
		return err
	}
	fail := func(err error) error {
		_ = s.containers.Discard(context.WithoutCancel(ctx), c)
		if o.unlock != nil {
			(*o.unlock)()
			*o.unlock = nil
		}
		return err
	}
	step("record")
	dir := s.containers.Dir(c)
	rootfs := filepath.Join(dir, "rootfs")
	if b.snapshot != "" {
		if err := bundle.CopyTree(ctx, rootfs, b.snapshot); err != nil {
			return fail(fmt.Errorf("creating the container's root: %w", err))
		}
	} else {
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(filepath.Join(rootfs, b.modPath[1:]), b.module, 0o755); err != nil {
			return fail(err)
		}
	}
	step("rootfs")
	env := proc.Env
	if !bundle.HasEnv(env, "HOSTNAME") {
		env = append([]string{"HOSTNAME=" + c.ID[:12]}, env...)
	}
	ann := map[string]string{}
	if proc.Args[0] == b.modPath && b.modDigest != "" {
		ann[bundle.AnnotationModuleDigest] = b.modDigest
	}
	if rp := c.HostConfig.RestartPolicy; rp != nil {
		// For the shim, which carries it out (restart.Annotation).
		ann[restart.Annotation] = restart.Policy{Mode: restart.Mode(rp.Name), MaxRetries: rp.MaximumRetryCount}.String()
	}
	network.Annotate(ann, b.net)
	spec := bundle.NewSpec(bundle.SpecOptions{Args: proc.Args, Env: env, Cwd: proc.Cwd, Hostname: c.ID[:12],
		Mounts: o.Volumes, MemoryLimit: o.Memory, Annotations: ann})
	// config.json is for whoever runs the bundle later: a detached container's shim,
	// `berth start` of an exited one. A foreground --rm container has neither (start
	// refuses it; it is gone when its module exits), and this process's runtime takes
	// the spec from memory: the file would be one more inode to create and remove,
	// 0.3 ms of a C hello's run on an ext4 state directory (docs/benchmarks.md).
	if !o.Remove || o.detached {
		if err := bundle.WriteSpec(dir, spec, durable); err != nil {
			return fail(err)
		}
	}
	step("spec")
	b.spec = spec
	return nil
}

// phase logs how long a step of a run took, for `berth --debug run` and bench/.
func (s *Service) phase(name string, d time.Duration) {
	s.log.Debug("phase", "phase", name, "dur", d)
}

// Containers lists the container records, refreshing the state of those whose process
// is gone (a foreground run killed by a signal leaves its record "running").
func (s *Service) Containers(ctx context.Context) ([]*container.Container, error) {
	cs, err := s.containers.List(ctx) // with corrupt records: the rest, and the error
	// A detached container whose guest holds its lock runs; the others that the record
	// says run are asked of their shims, several at once: each question is a connection
	// and two round trips, ~1 ms, which one after the other made `ps` of 100 running
	// containers take 100 ms.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for _, c := range cs {
		if !c.Detached {
			refresh(c)
			continue
		}
		if !c.State.Running {
			continue
		}
		if running, _ := guest.Running(s.containers.Dir(c)); running {
			// Its guest lives (guest.LockFile): what the shim would say, but for the
			// restart count a policy's shim keeps beside the lock.
			showRestart(c, s.restartState(c))
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			s.sync(ctx, c)
		}()
	}
	wg.Wait()
	return cs, err
}

// refresh shows a foreground container whose record says running but whose process is gone (a
// foreground run killed by SIGKILL) as exited with 137, as docker reports a killed one.
func refresh(c *container.Container) {
	if c.State.Running && !alive(c.State.Pid) {
		c.State.Running, c.State.Status, c.State.ExitCode = false, container.StatusExited, 137
	}
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// ErrContainerRunning is returned (wrapped) when removing a running container without force.
var ErrContainerRunning = errors.New("container is running")

// RemoveContainer removes a container; a running one only with force, which kills it first.
func (s *Service) RemoveContainer(ctx context.Context, ref string, force bool) (*container.Container, error) {
	c, err := s.containers.Get(ctx, ref)
	if errors.Is(err, container.ErrCorrupt) && force && len(ref) == 64 {
		// An unreadable record can only be named by its full id; -f removes it.
		return nil, s.containers.Remove(ctx, ref)
	}
	if err != nil {
		return nil, err
	}
	// Under the container's lock, read again: two rm of one container must not both
	// succeed, and a start must not run it while it is being removed.
	unlock, err := s.lockContainer(ctx, c)
	if err != nil {
		return nil, err
	}
	defer unlock()
	running := c.State.Running && alive(c.State.Pid) && c.State.Pid != os.Getpid()
	if c.Detached {
		s.syncLocked(ctx, c)
		running = c.State.Running
	}
	if running {
		if !force {
			// Docker's words, with berth's command.
			return nil, fmt.Errorf("cannot remove container \"/%s\": %w: stop the container before removing or force remove (berth rm -f %s)", c.Name, ErrContainerRunning, c.Name)
		}
		if c.Detached {
			if err := s.killLocked(ctx, c, syscall.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
				return nil, err
			}
		} else {
			_ = syscall.Kill(c.State.Pid, syscall.SIGKILL)
		}
	}
	if c.Detached {
		s.release(ctx, c)
	}
	return c, s.containers.Remove(ctx, c.ID)
}

// RemoveContainerRecord removes a container record by id without checks (used by the
// CLI to honour --rm when interrupted).
func (s *Service) RemoveContainerRecord(ctx context.Context, id string) error {
	return s.containers.Remove(ctx, id)
}

// Container returns a container record by name, id or id prefix.
func (s *Service) Container(ctx context.Context, ref string) (*container.Container, error) {
	c, err := s.containers.Get(ctx, ref)
	if err != nil {
		return nil, err
	}
	if c.Detached {
		s.sync(ctx, c)
	} else {
		refresh(c)
	}
	return c, nil
}

// MarkExited records that a container's process ended with code (used by the CLI when
// a signal ends a foreground run).
func (s *Service) MarkExited(ctx context.Context, id string, code int) error {
	return s.containers.Update(ctx, id, true, func(c *container.Container) error {
		c.State = container.State{Status: container.StatusExited, ExitCode: code, StartedAt: c.State.StartedAt, FinishedAt: time.Now().UTC()}
		return nil
	})
}
