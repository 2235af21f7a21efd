package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/restart"
	"github.com/berth-dev/berth/internal/shimclient"
)

// Detached containers (`run -d`) are run by a containerd-shim-berth-v1 each, which
// berth starts and speaks the task API to (internal/shimclient), as containerd would.
//
// Where their state lives:
//
//   - ROOT/containers/ID: the record (container.json), the bundle (config.json,
//     rootfs/), the json-file log (ID-json.log, rotated .1, .2, …), and the files the
//     shim and containerd's protocol keep in a bundle (address, shim-binary-path, log,
//     berth-guest.pid, and berth-guest.lock, which a live guest holds). All of it outlives berth and the shim; after a reboot `address`
//     names a socket that is gone, which reads as a dead shim.
//   - STATE/s (the root's directory in the state directory, a tmpfs on a standard host):
//     the shims' sockets, which a reboot clears.
//
// The record is the truth only while nothing runs. While it says running and the
// guest's lock is held (guest.LockFile), it runs: ps asks no shim of it. Otherwise the
// shim is asked (State, with a short timeout): a task that stopped is deleted and its shim shut
// down by whichever berth command notices first (ps, logs -f, wait, stop, rm), and the
// record is updated with the exit; a shim that does not answer (killed, crashed, the host
// rebooted) is cleaned up with `shim delete` and the container recorded as exited 137, as
// containerd reports a container whose shim died.
//
// A restart policy (--restart) is carried out by the shim, not here: berth writes it into
// config.json (restart.Annotation) and records it as docker's HostConfig.RestartPolicy; the
// shim's task stays running across the restarts and ends after the last run. What the shim
// says of it (RestartCount, a back-off in progress, the current run's pid) is read from
// restart.StateFile in the bundle and shown, not stored, until the exit is recorded.

// ShimConnectTimeout bounds how long a berth command waits for a detached container's
// shim to answer before reading it as gone or wedged.
const ShimConnectTimeout = 2 * time.Second

// DetachOptions are what `run -d` needs beyond RunOptions.
type DetachOptions struct {
	// ShimBinary is containerd-shim-berth-v1's path (berth-guest must be beside it, on
	// PATH or named by $BERTH_GUEST_BINARY).
	ShimBinary string
	// Log is the rotation of the container's json-file log (--log-opt).
	Log logs.Options
	// Debug starts the shim with -debug.
	Debug bool
}

// ErrNotRunning is returned (wrapped) when a command needs a running container.
var ErrNotRunning = errors.New("container is not running")

// RunDetached creates a container as Run does (the same record, root and config.json,
// in the data root) and has a new shim run it; it returns once the module runs. The
// container outlives this process: the shim is in a session of its own.
func (s *Service) RunDetached(ctx context.Context, o RunOptions, d DetachOptions) (*container.Container, error) {
	if o.Remove {
		return nil, fmt.Errorf("%w: run -d --rm is not available yet (no process would remove the container when it exits); drop --rm and remove it with berth rm", ErrBadOption)
	}
	if o.Stdin != nil {
		return nil, fmt.Errorf("%w: run -d -i is not available yet (a detached container's stdin is /dev/null)", ErrBadOption)
	}
	if d.ShimBinary == "" {
		return nil, fmt.Errorf("%w: no shim binary given for run -d", ErrBadOption)
	}
	lc := logConfig(d.Log)
	o.logConfig = lc
	o.detached = true
	// Created locked: no other berth process can start, remove or prune the container
	// before its shim runs it.
	var unlock func()
	o.unlock = &unlock
	c, _, _, ls, err := s.create(ctx, o, false)
	if unlock != nil {
		defer unlock()
	}
	if err != nil {
		return nil, err
	}
	if ls != nil {
		// The ports are free and chosen: berth-guest opens them again (publish.go).
		ls.Close()
	}
	if err := s.startShim(ctx, c, d); err != nil {
		return c, err
	}
	return c, nil
}

// getLocked finds the container ref names (a name, an id or an id prefix) and takes its
// lock (lockContainer); release it with the returned function.
func (s *Service) getLocked(ctx context.Context, ref string) (*container.Container, func(), error) {
	c, err := s.containers.Get(ctx, ref)
	if err != nil {
		return nil, nil, err
	}
	unlock, err := s.lockContainer(ctx, c)
	if err != nil {
		return nil, nil, err
	}
	return c, unlock, nil
}

// lockContainer takes container c's lock (container.Store.Lock), waiting for it, and
// updates c to its record as read under the lock. It returns ErrNotFound (wrapped) when
// the container was removed meanwhile.
func (s *Service) lockContainer(ctx context.Context, c *container.Container) (func(), error) {
	r, unlock, err := s.containers.Lock(ctx, c, true)
	if err != nil {
		return nil, err
	}
	*c = *r
	return unlock, nil
}

// logConfig is d.Log as docker records it.
func logConfig(o logs.Options) *container.LogConfig {
	lc := &container.LogConfig{Type: "json-file"}
	if o.MaxSize > 0 {
		lc.Config = map[string]string{"max-size": strconv.FormatInt(o.MaxSize, 10)}
		if o.MaxFile > 0 {
			lc.Config["max-file"] = strconv.Itoa(o.MaxFile)
		}
	}
	return lc
}

// startShim has a new shim run container c, whose record and bundle exist and which no
// shim serves: the task's output is appended to its json-file log. On success the
// record says running (c too); on failure it says created with the error, and the shim
// is gone.
func (s *Service) startShim(ctx context.Context, c *container.Container, d DetachOptions) error {
	if d.ShimBinary == "" {
		return fmt.Errorf("%w: no shim binary given to start container %s", ErrBadOption, c.Name)
	}
	opts, err := s.shimOptions(c)
	if err != nil {
		return err
	}
	opts.ShimBinary, opts.Debug = d.ShimBinary, d.Debug
	logPath := c.LogPath
	if logPath == "" {
		logPath = filepath.Join(opts.Bundle, logs.FileName(c.ID))
	}
	var lo logs.Options
	if lc := c.HostConfig.LogConfig; lc != nil {
		if lo, err = logs.ParseOptions(lc.Config); err != nil {
			return fmt.Errorf("container %s: its recorded log options: %w", c.Name, err)
		}
	}
	uri := logs.URI(logPath, lo)
	failed := func(sh *shimclient.Shim, err error) error {
		ctx := context.WithoutCancel(ctx)
		if sh != nil {
			s.reap(ctx, sh)
		}
		_ = s.containers.Update(ctx, c.ID, true, func(r *container.Container) error {
			r.State = container.State{Status: container.StatusCreated, ExitCode: 125, Error: err.Error()}
			return nil
		})
		return err
	}
	sh, err := shimclient.Start(ctx, opts)
	if err != nil {
		return failed(nil, err)
	}
	defer sh.Close()
	if _, err := sh.Create(ctx, shimclient.Stdio{Stdout: uri, Stderr: uri}); err != nil {
		return failed(sh, err)
	}
	pid, err := sh.Start(ctx)
	if err != nil {
		return failed(sh, err)
	}
	started := time.Now().UTC()
	err = s.containers.Update(ctx, c.ID, true, func(r *container.Container) error {
		r.Detached, r.LogPath = true, logPath
		if r.HostConfig.LogConfig == nil {
			r.HostConfig.LogConfig = logConfig(lo)
		}
		r.State = container.State{Status: container.StatusRunning, Running: true, Pid: int(pid), StartedAt: started}
		r.RestartCount = 0 // counted again from this start, as docker's start does
		*c = *r
		return nil
	})
	if err != nil {
		return failed(sh, err)
	}
	return nil
}

// StartContainer starts a container that is not running (exited, or created and never
// started) again, detached, as `docker start`: its shim runs the bundle as it is (the
// root keeps what the last run wrote) and appends to its log. A container that runs is
// left alone. A container last run in the foreground is run detached from now on.
func (s *Service) StartContainer(ctx context.Context, ref string, d DetachOptions) (*container.Container, error) {
	c, unlock, err := s.getLocked(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if c.Detached {
		s.syncLocked(ctx, c)
	} else {
		refresh(c)
	}
	if c.State.Running {
		return c, nil
	}
	if c.HostConfig.AutoRemove {
		return c, fmt.Errorf("%w: container %s was run with --rm and is being removed", ErrBadOption, c.Name)
	}
	s.release(ctx, c) // a shim left from a berth killed mid-start
	return c, s.startShim(ctx, c, d)
}

// ErrBadOption is returned (wrapped) for a combination of flags berth cannot carry out.
var ErrBadOption = errors.New("invalid option")

// shimOptions are the shimclient options of container c (all but the binary).
func (s *Service) shimOptions(c *container.Container) (shimclient.Options, error) {
	root, err := filepath.Abs(s.root)
	if err != nil {
		return shimclient.Options{}, err
	}
	state, err := filepath.Abs(s.state)
	if err != nil {
		return shimclient.Options{}, err
	}
	sockets := filepath.Join(state, "s")
	// A unix socket's path has at most 107 bytes; the shim adds a 33-byte name.
	if len(sockets) > 73 {
		return shimclient.Options{}, fmt.Errorf("%w: the state directory's socket directory %s is %d bytes long, and a shim's socket path in it would not fit in 107; use a shorter --state (BERTH_STATE)",
			ErrBadOption, sockets, len(sockets))
	}
	bundle, err := filepath.Abs(s.containers.Dir(c))
	if err != nil {
		return shimclient.Options{}, err
	}
	return shimclient.Options{Bundle: bundle, ID: c.ID, StateDir: state, SocketDir: sockets,
		Env: []string{"BERTH_ROOT=" + root}}, nil
}

// load connects to the shim of detached container c, within ShimConnectTimeout.
func (s *Service) load(ctx context.Context, c *container.Container) (*shimclient.Shim, error) {
	cctx, cancel := context.WithTimeout(ctx, ShimConnectTimeout)
	defer cancel()
	bundle, err := filepath.Abs(s.containers.Dir(c))
	if err != nil {
		return nil, err
	}
	return shimclient.Load(cctx, bundle, c.ID)
}

// reap deletes sh's task (killing it first if it runs) and shuts sh down, ignoring
// errors: it is the clean-up after a failure, or after the exit is known.
func (s *Service) reap(ctx context.Context, sh *shimclient.Shim) {
	if _, err := sh.Delete(ctx); errors.Is(err, shimclient.ErrFailedPrecondition) {
		_ = sh.Kill(ctx, syscall.SIGKILL)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, _ = sh.Wait(wctx)
		cancel()
		_, _ = sh.Delete(ctx)
	}
	_ = sh.Shutdown(ctx)
	_ = sh.Close()
}

// markExited records that c exited with code at at (now when zero); rs, when not nil,
// is what its shim said of its restart policy (the count, the last run's start).
func (s *Service) markExited(ctx context.Context, c *container.Container, code int, at time.Time, rs *restart.State) error {
	if at.IsZero() || at.Unix() <= 0 {
		at = time.Now()
	}
	err := s.containers.Update(ctx, c.ID, true, func(r *container.Container) error {
		if !r.State.Running { // another berth process recorded the exit first
			*c = *r
			return nil
		}
		started := r.State.StartedAt
		if rs != nil {
			r.RestartCount = rs.RestartCount
			if !rs.StartedAt.IsZero() {
				started = rs.StartedAt.UTC()
			}
		}
		r.State = container.State{Status: container.StatusExited, ExitCode: code, StartedAt: started, FinishedAt: at.UTC()}
		*c = *r
		return nil
	})
	if errors.Is(err, container.ErrNotFound) {
		return nil // removed meanwhile
	}
	return err
}

// finish records the exit of a detached container whose task ended, then deletes the
// task and shuts its shim down.
func (s *Service) finish(ctx context.Context, c *container.Container, sh *shimclient.Shim, x shimclient.Exit) error {
	ctx = context.WithoutCancel(ctx)
	rs := s.restartState(c)
	err := s.markExited(ctx, c, int(x.Status), x.At, rs)
	s.reap(ctx, sh)
	return err
}

// buried cleans up after the shim of c, which is gone: `shim delete` reaps what it
// left, and the container is recorded as exited 137.
func (s *Service) buried(ctx context.Context, c *container.Container) error {
	ctx = context.WithoutCancel(ctx)
	code := 137
	if opts, err := s.shimOptions(c); err == nil {
		if b, err := os.ReadFile(filepath.Join(opts.Bundle, shimclient.BinaryPathFile)); err == nil {
			opts.ShimBinary = strings.TrimSpace(string(b))
			cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			if x, err := shimclient.Cleanup(cctx, opts); err == nil && x.Status != 0 {
				code = int(x.Status)
			} else if err != nil {
				s.log.Warn("cleaning up after a dead shim", "container", c.ID, "err", err)
			}
			cancel()
		}
		_ = os.Remove(filepath.Join(opts.Bundle, shimclient.AddressFile))
	}
	return s.markExited(ctx, c, code, time.Time{}, s.restartState(c))
}

// restartState reads what the shim of c says of its restart policy (restart.StateFile in
// the bundle); nil when c has no policy or the shim wrote nothing yet.
func (s *Service) restartState(c *container.Container) *restart.State {
	if c.HostConfig.RestartPolicy == nil {
		return nil
	}
	st, err := restart.ReadState(s.containers.Dir(c))
	if err != nil {
		if !errors.Is(err, restart.ErrNoState) {
			s.log.Warn("reading a container's restart state", "container", c.ID, "err", err)
		}
		return nil
	}
	return &st
}

// showRestart shows in c (its copy, not its record) what the shim that runs it says of
// its restart policy: the count, and either the current run (pid, start) or, during a
// back-off, docker's "restarting" state with the last run's exit.
func showRestart(c *container.Container, st *restart.State) {
	if st == nil {
		return
	}
	c.RestartCount = st.RestartCount
	if !st.StartedAt.IsZero() {
		c.State.StartedAt = st.StartedAt.UTC()
	}
	if st.Restarting {
		c.State.Status, c.State.Restarting, c.State.Pid = container.StatusRestarting, true, 0
		c.State.ExitCode, c.State.FinishedAt = st.ExitCode, st.FinishedAt.UTC()
		return
	}
	if st.Pid > 0 {
		c.State.Pid = st.Pid
	}
}

// release makes sure no shim is left serving c, whatever its record says (a berth
// killed between starting the shim and recording the container running leaves a
// record that says created and a shim that runs): a shim that answers has its task
// killed and deleted and is shut down; one that is gone is cleaned up after.
func (s *Service) release(ctx context.Context, c *container.Container) {
	ctx = context.WithoutCancel(ctx)
	if _, err := os.Stat(filepath.Join(s.containers.Dir(c), shimclient.AddressFile)); err != nil {
		return
	}
	sh, err := s.load(ctx, c)
	switch {
	case err == nil:
		s.reap(ctx, sh)
	case errors.Is(err, shimclient.ErrShimGone):
		if c.State.Running {
			_ = s.buried(ctx, c)
		} else if opts, err := s.shimOptions(c); err == nil {
			if b, err := os.ReadFile(filepath.Join(opts.Bundle, shimclient.BinaryPathFile)); err == nil {
				opts.ShimBinary = strings.TrimSpace(string(b))
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				_, _ = shimclient.Cleanup(cctx, opts)
				cancel()
			}
		}
	}
}

// sync brings the record of a detached container that says running up to date with its
// shim: see the notes at the top of this file. A shim that does not answer in time is
// left alone (the record keeps saying running), and so is a container another berth
// command holds the lock of (it is stopping, starting or being removed it): sync does
// not wait, so that ps never waits for a stop.
func (s *Service) sync(ctx context.Context, c *container.Container) {
	if !c.Detached || !c.State.Running {
		return
	}
	r, unlock, err := s.containers.Lock(ctx, c, false)
	if err != nil {
		return
	}
	defer unlock()
	*c = *r
	s.syncLocked(ctx, c)
}

// syncLocked is sync for a caller that holds c's lock.
func (s *Service) syncLocked(ctx context.Context, c *container.Container) {
	if !c.Detached || !c.State.Running {
		return
	}
	sh, err := s.load(ctx, c)
	if errors.Is(err, shimclient.ErrShimGone) {
		if err := s.buried(ctx, c); err != nil {
			s.log.Warn("recording a container's exit", "container", c.ID, "err", err)
		}
		return
	}
	if err != nil {
		s.log.Warn("asking a container's shim", "container", c.ID, "err", err)
		return
	}
	cctx, cancel := context.WithTimeout(ctx, ShimConnectTimeout)
	st, err := sh.State(cctx)
	cancel()
	switch {
	case errors.Is(err, shimclient.ErrShimGone), errors.Is(err, shimclient.ErrNotFound):
		sh.Close()
		if err := s.buried(ctx, c); err != nil {
			s.log.Warn("recording a container's exit", "container", c.ID, "err", err)
		}
	case err != nil:
		sh.Close()
		s.log.Warn("asking a container's shim", "container", c.ID, "err", err)
	case st.Status == shimclient.Stopped:
		if err := s.finish(ctx, c, sh, shimclient.Exit{Status: st.ExitStatus, At: st.ExitedAt}); err != nil {
			s.log.Warn("recording a container's exit", "container", c.ID, "err", err)
		}
	default:
		sh.Close()
		showRestart(c, s.restartState(c))
	}
}

// StopContainer stops a running container: SIGTERM, then SIGKILL after timeout, as
// `docker stop`. A container that is not running is left as it is.
func (s *Service) StopContainer(ctx context.Context, ref string, timeout time.Duration) (*container.Container, error) {
	c, unlock, err := s.getLocked(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if !c.Detached {
		return c, s.stopForeground(ctx, c, timeout)
	}
	if !c.State.Running {
		return c, nil
	}
	sh, err := s.load(ctx, c)
	if errors.Is(err, shimclient.ErrShimGone) {
		return c, s.buried(ctx, c)
	}
	if err != nil {
		return c, err
	}
	x, err := s.killWait(ctx, sh, syscall.SIGTERM, timeout)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		sh.Close()
		return c, s.lost(ctx, c, err)
	}
	if err != nil { // did not stop in time
		if x, err = s.killWait(ctx, sh, syscall.SIGKILL, 10*time.Second); err != nil {
			sh.Close()
			return c, s.lost(ctx, c, err)
		}
	}
	return c, s.finish(ctx, c, sh, x)
}

// lost handles an error from a shim call: a shim gone meanwhile is buried, any other
// error is returned naming the container.
func (s *Service) lost(ctx context.Context, c *container.Container, err error) error {
	if errors.Is(err, shimclient.ErrShimGone) {
		return s.buried(ctx, c)
	}
	return fmt.Errorf("container %s: %w", c.Name, err)
}

// killWait sends sig to the task and waits at most timeout for it to end.
func (s *Service) killWait(ctx context.Context, sh *shimclient.Shim, sig syscall.Signal, timeout time.Duration) (shimclient.Exit, error) {
	if err := sh.Kill(ctx, sig); err != nil && !errors.Is(err, shimclient.ErrNotRunning) {
		return shimclient.Exit{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return sh.Wait(wctx)
}

// stopForeground stops a container run in the foreground by another berth process:
// that process gets the signal, records the exit and exits.
func (s *Service) stopForeground(ctx context.Context, c *container.Container, timeout time.Duration) error {
	refresh(c)
	if !c.State.Running || c.State.Pid == os.Getpid() {
		return nil
	}
	pid := c.State.Pid
	_ = syscall.Kill(pid, syscall.SIGTERM)
	if waitPidGone(ctx, pid, timeout) {
		return nil
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
	waitPidGone(ctx, pid, 5*time.Second)
	return s.markExited(ctx, c, 137, time.Time{}, nil)
}

func waitPidGone(ctx context.Context, pid int, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for alive(pid) {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return true
}

// KillContainer sends sig to a running container, as `docker kill`. berth's shim ends a
// Wasm module whatever the signal (0 only checks that it runs), so the exit is then
// recorded and the shim shut down.
func (s *Service) KillContainer(ctx context.Context, ref string, sig syscall.Signal) (*container.Container, error) {
	c, unlock, err := s.getLocked(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return c, s.killLocked(ctx, c, sig)
}

// killLocked is KillContainer for a caller that holds c's lock.
func (s *Service) killLocked(ctx context.Context, c *container.Container, sig syscall.Signal) error {
	s.syncLocked(ctx, c)
	if !c.Detached {
		refresh(c)
	}
	if !c.State.Running {
		return fmt.Errorf("%w: cannot kill container %s: it is not running (berth ps -a shows its state; berth start runs it again)", ErrNotRunning, c.Name)
	}
	if !c.Detached {
		if err := syscall.Kill(c.State.Pid, sig); err != nil {
			return fmt.Errorf("container %s: kill: %w", c.Name, err)
		}
		return nil
	}
	sh, err := s.load(ctx, c)
	if err != nil {
		return s.lost(ctx, c, err)
	}
	if sig == 0 {
		err := sh.Kill(ctx, 0)
		sh.Close()
		return err
	}
	x, err := s.killWait(ctx, sh, sig, 10*time.Second)
	if err != nil {
		sh.Close()
		return s.lost(ctx, c, err)
	}
	return s.finish(ctx, c, sh, x)
}

// WaitContainer waits until a container has exited and returns its exit code.
func (s *Service) WaitContainer(ctx context.Context, ref string) (int, error) {
	c, err := s.containers.Get(ctx, ref)
	if err != nil {
		return 0, err
	}
	if !c.Detached {
		for refresh(c); c.State.Running; refresh(c) {
			if !waitPidGone(ctx, c.State.Pid, time.Hour) && ctx.Err() != nil {
				return 0, ctx.Err()
			}
			// The berth process that ran it has recorded the exit (or died: refresh says 137).
			if c, err = s.containers.Get(ctx, c.ID); err != nil {
				return 0, err
			}
		}
		return c.State.ExitCode, nil
	}
	if !c.State.Running {
		return c.State.ExitCode, nil
	}
	sh, err := s.load(ctx, c)
	if err == nil {
		var x shimclient.Exit
		if x, err = sh.Wait(ctx); err == nil {
			// The exit is recorded under the lock (a stop may be recording it too); the
			// wait for it was not, so that it holds up no other command.
			run := *c
			unlock, err := s.lockContainer(ctx, c)
			if err != nil {
				sh.Close()
				if errors.Is(err, container.ErrNotFound) {
					return int(x.Status), nil // removed meanwhile (rm -f)
				}
				return 0, err
			}
			defer unlock()
			if !c.State.Running || !c.State.StartedAt.Equal(run.State.StartedAt) {
				// Recorded by another command (a stop), or started again since: the
				// exit is not this wait's to record.
				sh.Close()
				if c.State.Running {
					return int(x.Status), nil
				}
				return c.State.ExitCode, nil
			}
			if err := s.finish(ctx, c, sh, x); err != nil {
				return 0, err
			}
			return c.State.ExitCode, nil
		}
		sh.Close()
	}
	run := *c
	unlock, lerr := s.lockContainer(ctx, c)
	if errors.Is(lerr, container.ErrNotFound) {
		return 137, nil // removed meanwhile (rm -f)
	}
	if lerr != nil {
		return 0, lerr
	}
	defer unlock()
	if !c.State.Running {
		return c.State.ExitCode, nil // another command recorded the exit
	}
	if !c.State.StartedAt.Equal(run.State.StartedAt) {
		// Started again meanwhile: the run waited for is over, and what lost would
		// clean up (the shim's socket, the guest) is the new run's.
		return 137, nil
	}
	if err := s.lost(ctx, c, err); err != nil {
		return 0, err
	}
	return c.State.ExitCode, nil
}

// ErrNoLogs is returned (wrapped) by ContainerLogs for a container berth kept no log of.
var ErrNoLogs = errors.New("no logs")

// ContainerLogs hands the entries of a detached container's json-file log to fn, as
// `docker logs` does. With opts.Follow it ends when the container has ended (opts.Done
// is set here).
func (s *Service) ContainerLogs(ctx context.Context, ref string, opts logs.ReadOptions, fn func(logs.Entry) error) error {
	c, err := s.containers.Get(ctx, ref)
	if err != nil {
		return err
	}
	if !c.Detached || c.LogPath == "" {
		return fmt.Errorf("%w: container %s ran in the foreground, where its output went to the terminal; berth keeps logs of detached containers (run -d)", ErrNoLogs, c.Name)
	}
	s.sync(ctx, c)
	if opts.Follow {
		done := make(chan struct{})
		opts.Done = done
		if !c.State.Running {
			close(done)
		} else {
			wctx, cancel := context.WithCancel(ctx)
			defer cancel()
			go func() {
				defer close(done)
				if _, err := s.WaitContainer(wctx, c.ID); err != nil && wctx.Err() == nil {
					s.log.Warn("waiting for a container", "container", c.ID, "err", err)
				}
			}()
		}
	}
	return logs.Read(ctx, c.LogPath, opts, fn)
}

// RenameContainer gives a container a new name, as `docker rename`.
func (s *Service) RenameContainer(ctx context.Context, ref, name string) (*container.Container, error) {
	if err := container.CheckName(name); err != nil {
		return nil, err
	}
	c, unlock, err := s.getLocked(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return s.containers.Rename(ctx, c.ID, name)
}

// PruneContainers removes every container that is not running (asking the shims of
// detached ones first) and returns their ids and the bytes their directories held.
func (s *Service) PruneContainers(ctx context.Context) ([]string, int64, error) {
	cs, err := s.Containers(ctx)
	var removed []string
	var freed int64
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	for _, c := range cs {
		if c.State.Running {
			continue
		}
		size := dirSize(s.containers.Dir(c))
		if _, err := s.RemoveContainer(ctx, c.ID, false); err != nil {
			// Removed, or started, by another berth process since the listing.
			if !errors.Is(err, container.ErrNotFound) && !errors.Is(err, ErrContainerRunning) {
				errs = append(errs, err)
			}
			continue
		}
		removed = append(removed, c.ID)
		freed += size
	}
	return removed, freed, errors.Join(errs...)
}
