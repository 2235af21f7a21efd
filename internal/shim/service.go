package shim

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/protobuf"
	cdruntime "github.com/containerd/containerd/runtime"
	"github.com/containerd/containerd/runtime/v2/shim"
	"github.com/containerd/log"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/berth-dev/berth/internal/cgroup"
	"github.com/berth-dev/berth/internal/guest"
	"github.com/berth-dev/berth/internal/restart"
)

// RuntimeName is the runtime type containerd, Docker and CRI name berth by.
const RuntimeName = "io.containerd.berth.v1"

// Annotations by which containerd's CRI plugin marks pod sandboxes.
const (
	annotationContainerType = "io.kubernetes.cri.container-type"
	containerTypeSandbox    = "sandbox"
	annotationSandboxID     = "io.kubernetes.cri.sandbox-id"
)

// pidFile is where, in the bundle, the shim records its container process, so that the
// `delete` action can stop it after the shim itself died.
const pidFile = "berth-guest.pid"

// ErrNotSupported is returned (wrapped in containerd's NotImplemented) for task calls a
// Wasm container has no meaning for: exec, pause/resume, checkpoint, update, a terminal.
var ErrNotSupported = errors.New("not supported by Wasm containers")

// notSupported is the error of a task call a Wasm container cannot honour, naming
// berth (the message reaches users through containerd, Docker and kubectl, which do not
// say which runtime refused) and, when given, why.
func notSupported(what string, why ...string) error {
	reason := ""
	if len(why) > 0 {
		reason = " (" + strings.Join(why, "; ") + ")"
	}
	return errdefs.ToGRPC(fmt.Errorf("berth: %s is %w%s: %w", what, ErrNotSupported, reason, errdefs.ErrNotImplemented))
}

// execReason is why Exec is refused; `kubectl exec` and `docker exec` show it.
const execReason = "Wasm containers have no exec: a container runs its one module, with no shell or other program beside it to start"

// Service is containerd's task API v2 for the containers of one shim: usually one, or the
// containers of one pod when CRI groups them by sandbox id.
type Service struct {
	ctx       context.Context // carries containerd's namespace, for events
	publisher shim.Publisher
	events    *eventQueue // publishes through publisher
	shutdown  func()
	self      string // this binary
	guest     string // the container process's binary (berth-guest)

	// spawner forks every container process (see spawner for why one thread).
	spawner spawner

	mu         sync.Mutex
	containers map[string]*container
}

// container is one task: a berth-guest process running the module (or holding a
// sandbox), and what the shim holds for it. With a restart policy (restart.Annotation),
// one task is several runs, each a berth-guest process of its own.
type container struct {
	id, bundle string
	req        *taskAPI.CreateTaskRequest
	sandbox    bool
	rootfs     string // where containerd's rootfs mounts were mounted; "" when none
	cg         *cgroup.Cgroup
	spawner    *spawner // the Service's
	bin        string   // berth-guest
	args       []string // its arguments
	start      *os.File // write end of the start pipe, nil once started
	// netns holds the network namespace the first run made (guest.NewNetns) for a
	// container with a restart policy: later runs join it, so what Docker or CNI set
	// up in it stays the container's. Set once under mu after the first run is ready.
	netns *os.File
	// held is closed (by setHeld) once a pod sandbox's process holds the pod's
	// namespaces, or could not (heldErr, set before); nil for other containers. Set
	// under mu in Create, before the process has a pid.
	held     chan struct{}
	heldErr  error
	heldOnce sync.Once

	exited chan struct{} // closed when the task has ended for good (after its last run)
	// noRestart is closed by the first Kill: the task's runs end with the current one.
	noRestart chan struct{}
	policy    restart.Policy // from restart.Annotation; the zero value restarts nothing
	stateMu   sync.Mutex     // orders writes of the restart state file

	mu         sync.Mutex
	cmd        *exec.Cmd // the current (or last) run's process
	io         stdio     // the current run's streams
	created    bool      // Create succeeded: containerd knows the task, so its exit is published
	status     task.Status
	pid        int            // the current run's process; 0 during a back-off
	signal     syscall.Signal // the signal a Kill asked for; the process gets SIGKILL
	exitStatus uint32
	exitedAt   time.Time
	runStart   time.Time       // when the current run was started
	restarts   int             // runs started by the policy (docker's RestartCount)
	backoff    restart.Backoff // the delay before the next restart
	restarting bool            // in a back-off: the last run ended, the next is not started
	nextStart  time.Time       // when restarting: when the next run starts
}

// New is the shim library's Init: it returns the task service of a shim process.
func New(ctx context.Context, id string, publisher shim.Publisher, shutdown func()) (shim.Shim, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return &Service{ctx: ctx, publisher: publisher, events: newEventQueue(ctx, publisher), shutdown: shutdown, self: self, containers: map[string]*container{}}, nil
}

// guestBinary finds berth-guest: $BERTH_GUEST_BINARY, else next to the shim, else on PATH.
func (s *Service) guestBinary() (string, error) {
	if s.guest != "" {
		return s.guest, nil
	}
	if p := os.Getenv("BERTH_GUEST_BINARY"); p != "" {
		s.guest = p
		return p, nil
	}
	next := filepath.Join(filepath.Dir(s.self), guest.Binary)
	if _, err := os.Stat(next); err == nil {
		s.guest = next
		return next, nil
	}
	p, err := exec.LookPath(guest.Binary)
	if err != nil {
		return "", fmt.Errorf("%s, which runs each Wasm container, is neither next to %s nor on PATH: install it beside the shim (make shim; berth shim install): %w",
			guest.Binary, s.self, errdefs.ErrNotFound)
	}
	s.guest = p
	return p, nil
}

func (s *Service) get(id string) (*container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.containers[id]
	if !ok {
		return nil, errdefs.ToGRPCf(errdefs.ErrNotFound, "container %s", id)
	}
	return c, nil
}

// getInit is get for calls that name a process: only the init process exists.
func (s *Service) getInit(id, execID string) (*container, error) {
	if execID != "" && execID != id {
		return nil, errdefs.ToGRPCf(errdefs.ErrNotFound, "process %s of container %s (exec is not supported by Wasm containers)", execID, id)
	}
	return s.get(id)
}

func (s *Service) publish(topic string, ev interface{}) {
	s.events.publish(topic, ev)
}

// Create mounts the rootfs, starts the container's process, which loads the module
// (compiled code from the cache) and waits, and puts it in the spec's cgroup.
func (s *Service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (_ *taskAPI.CreateTaskResponse, retErr error) {
	if r.Terminal {
		return nil, notSupported("a terminal (tty)")
	}
	if r.Checkpoint != "" || r.ParentCheckpoint != "" {
		return nil, notSupported("restoring a checkpoint")
	}
	s.mu.Lock()
	if _, ok := s.containers[r.ID]; ok {
		s.mu.Unlock()
		return nil, errdefs.ToGRPCf(errdefs.ErrAlreadyExists, "container %s", r.ID)
	}
	c := &container{id: r.ID, bundle: r.Bundle, req: r, spawner: &s.spawner, exited: make(chan struct{}), noRestart: make(chan struct{}), status: task.Status_CREATED}
	s.containers[r.ID] = c
	s.mu.Unlock()
	defer func() {
		if retErr != nil {
			c.setHeld(retErr) // a container waiting for this sandbox fails too
			c.cleanup(ctx)
			s.mu.Lock()
			delete(s.containers, r.ID)
			s.mu.Unlock()
			retErr = errdefs.ToGRPC(retErr)
		}
	}()

	t0 := time.Now()
	spec, err := guest.ReadSpec(r.Bundle)
	if err != nil {
		return nil, err
	}
	c.mu.Lock() // awaitSandbox reads them from other Creates
	c.sandbox = spec.Annotations[annotationContainerType] == containerTypeSandbox
	if c.sandbox {
		c.held = make(chan struct{})
	}
	c.mu.Unlock()
	// A sandbox's process runs no module: its image (pause) is not mounted.
	if len(r.Rootfs) > 0 && !c.sandbox {
		c.rootfs = filepath.Join(r.Bundle, "rootfs")
		if err := os.MkdirAll(c.rootfs, 0o711); err != nil {
			return nil, err
		}
		ms := make([]mount.Mount, 0, len(r.Rootfs))
		for _, m := range r.Rootfs {
			ms = append(ms, mount.Mount{Type: m.Type, Source: m.Source, Options: m.Options})
		}
		if err := mount.All(ms, c.rootfs); err != nil {
			c.rootfs = ""
			return nil, fmt.Errorf("mounting the rootfs: %w", err)
		}
	}

	bin, err := s.guestBinary()
	if err != nil {
		return nil, err
	}
	tMount := time.Now()
	mode := guest.ModeGuest
	if c.sandbox {
		mode = guest.ModeSandbox
	}
	c.bin, c.args = bin, []string{mode}
	if ns := guest.Netns(spec); ns != "" {
		if !c.sandbox {
			if err := s.awaitSandbox(ctx, ns); err != nil {
				return nil, err
			}
		}
		c.args = append(c.args, ns)
	}
	if v, ok := spec.Annotations[restart.Annotation]; ok && !c.sandbox {
		p, err := restart.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("annotation %s of container %s: %w", restart.Annotation, r.ID, err)
		}
		if p.Mode != restart.No && r.Stdin != "" {
			return nil, fmt.Errorf("container %s: a restart policy (annotation %s) with a stdin is not supported: a restarted run would find the client's stdin already read; drop one of them: %w",
				r.ID, restart.Annotation, errdefs.ErrInvalidArgument)
		}
		c.policy = p
	}
	// The cgroup first: the process is born in it (see cgroup.Birth).
	if spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		cg, err := cgroup.New(ctx, spec.Linux.CgroupsPath, spec.Linux.Resources)
		if err != nil {
			return nil, err
		}
		c.cg = cg
	}
	tCgroup := time.Now()
	cmd, born, startW, statusR, err := c.spawn(ctx, &c.io)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cmd, c.start, c.pid = cmd, startW, cmd.Process.Pid
	c.mu.Unlock()
	go c.wait(s)
	tSpawn := time.Now()
	if c.sandbox {
		err = c.holdLater(ctx, c.pid, born, startW, statusR)
	} else {
		err = c.ready(c.pid, born, startW, statusR)
	}
	if err != nil {
		return nil, err
	}
	if err := c.holdNetns(); err != nil {
		return nil, err
	}
	// Where create time goes, for `containerd --log-level debug` and bench/.
	log.G(ctx).WithFields(log.Fields{
		"id": r.ID, "mount": tMount.Sub(t0), "cgroup": tCgroup.Sub(tMount),
		"spawn": tSpawn.Sub(tCgroup), "born": born, "load": time.Since(tSpawn),
	}).Debug("created")
	if err := os.WriteFile(filepath.Join(r.Bundle, pidFile), []byte(strconv.Itoa(c.pid)), 0o644); err != nil {
		return nil, err
	}

	c.mu.Lock()
	c.created = true
	c.mu.Unlock()
	s.publish(cdruntime.TaskCreateEventTopic, &eventstypes.TaskCreate{
		ContainerID: r.ID,
		Bundle:      r.Bundle,
		Rootfs:      r.Rootfs,
		IO:          &eventstypes.TaskIO{Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Terminal: r.Terminal},
		Checkpoint:  r.Checkpoint,
		Pid:         uint32(c.pid),
	})
	return &taskAPI.CreateTaskResponse{Pid: uint32(c.pid)}, nil
}

// spawn starts a berth-guest process for one run of the container, with its streams
// set up in io, born in the container's cgroup where it could be (born). The process
// loads the module, says so on status (ready reads it) and waits for a byte on start.
// On error nothing is left running or open.
func (c *container) spawn(ctx context.Context, io *stdio) (cmd *exec.Cmd, born bool, start, status *os.File, err error) {
	args := c.args
	c.mu.Lock()
	if c.netns != nil {
		// The namespace the first run made, through the shim's descriptor.
		args = []string{c.args[0], fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), c.netns.Fd())}
	}
	c.mu.Unlock()
	cmd = exec.Command(c.bin, args...)
	cmd.Dir = c.bundle
	cmd.Env = os.Environ()
	// The process dies with the shim: containerd then runs `shim delete`, which reports
	// it killed; nothing is left running that nobody manages.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if !c.sandbox {
		if err := io.setup(ctx, c.id, cmd, c.req.Stdin, c.req.Stdout, c.req.Stderr); err != nil {
			io.close()
			return nil, false, nil, nil, err
		}
	}
	startR, startW, err := os.Pipe()
	if err != nil {
		io.close()
		return nil, false, nil, nil, err
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		startR.Close()
		startW.Close()
		io.close()
		return nil, false, nil, nil, err
	}
	cmd.ExtraFiles = []*os.File{startR, statusW}
	born, err = c.spawner.start(cmd, c.cg)
	startR.Close()
	statusW.Close()
	io.started()
	if err != nil {
		startW.Close()
		statusR.Close()
		io.close()
		return nil, false, nil, nil, fmt.Errorf("starting the container process: %w", err)
	}
	return cmd, born, startW, statusR, nil
}

// holdNetns keeps the network namespace the first run made (guest.NewNetns), for a
// container whose restart policy may start more runs: each would make a new, empty
// one, without the interfaces that Docker (or CNI) configured in the first between
// Create and Start.
func (c *container) holdNetns() error {
	if len(c.args) < 2 || c.args[1] != guest.NewNetns || c.policy.Mode == "" || c.policy.Mode == restart.No {
		return nil
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", c.pid))
	if err != nil {
		return fmt.Errorf("container %s: holding its network namespace for restarts: %w", c.id, err)
	}
	c.mu.Lock()
	c.netns = f
	c.mu.Unlock()
	return nil
}

// ready puts a run's process pid into the container's cgroup, if it has one and the
// process was not born there (born, see cgroup.Birth), tells it so with the first byte
// on its start pipe (guest.FdStart: it loads nothing before that byte, so that the
// module's memory is charged to the container's cgroup and limited by it), and waits
// for it to say it has loaded the module (or why it could not). It closes status.
func (c *container) ready(pid int, born bool, start, status *os.File) error {
	defer status.Close()
	if err := c.place(pid, born, start, status); err != nil {
		return err
	}
	if err := guest.ReadStatus(status); err != nil {
		return fmt.Errorf("creating container %s: %w", c.id, err)
	}
	return nil
}

// place is ready but for the wait: it puts pid into the container's cgroup unless it
// was born there, and writes guest.Placed. status, which it reads only to say why the
// process ended, stays open.
func (c *container) place(pid int, born bool, start, status *os.File) error {
	why := func(err error) error {
		// The process ended at once (ESRCH, EPIPE); its status line says why.
		if serr := guest.ReadStatus(status); serr != nil {
			return fmt.Errorf("creating container %s: %w", c.id, serr)
		}
		return err
	}
	if c.cg != nil && !born {
		if err := c.cg.Add(pid); err != nil {
			if errors.Is(err, syscall.ESRCH) {
				return why(err)
			}
			return err
		}
	}
	if _, err := start.Write([]byte{guest.Placed}); err != nil {
		return why(fmt.Errorf("container %s: telling its process it is placed: %w", c.id, err))
	}
	return nil
}

// holdLater is ready for a pod sandbox's process: it is placed now, and its word that it
// holds the pod's namespaces is awaited by a goroutine, which closes c.held after
// setting c.heldErr. It closes status.
//
// # Notes
//
//   - Nothing needs that word before the pod's first container: CRI has set up the pod's
//     network (CNI) in its own namespace before it creates the sandbox, and then creates
//     the containers with /proc/<sandbox pid>/ns/net, which awaitSandbox checks. So
//     RunPodSandbox does not wait for a process start (~7–12 ms on the Kubernetes
//     benchmark's node); by the pod's first container the sandbox is long ready.
//   - A sandbox whose process fails ends like any task (TaskExit, and CRI marks the
//     sandbox not ready); its reason is logged and given to the containers that wait.
func (c *container) holdLater(ctx context.Context, pid int, born bool, start, status *os.File) error {
	if err := c.place(pid, born, start, status); err != nil {
		status.Close()
		return err
	}
	go func() {
		defer status.Close()
		err := guest.ReadStatus(status)
		if err != nil {
			log.G(ctx).WithError(err).WithField("id", c.id).Warn("the pod sandbox's process did not start")
		}
		c.setHeld(err)
	}()
	return nil
}

// setHeld says, once, whether a pod sandbox's process holds the pod's namespaces.
func (c *container) setHeld(err error) {
	if c.held == nil {
		return
	}
	c.heldOnce.Do(func() {
		if err != nil {
			c.heldErr = fmt.Errorf("pod sandbox %s: %w", c.id, err)
		}
		close(c.held)
	})
}

// awaitSandbox waits, when netns is /proc/PID/ns/net and PID the process of a pod
// sandbox of this shim (see holdLater), until that process holds the pod's namespace,
// and fails with its reason if it could not: a container must never join the
// namespace of a process that has not yet left the shim's.
func (s *Service) awaitSandbox(ctx context.Context, netns string) error {
	rest, ok := strings.CutPrefix(netns, "/proc/")
	digits, ok2 := strings.CutSuffix(rest, "/ns/net")
	pid, err := strconv.Atoi(digits)
	if !ok || !ok2 || err != nil {
		return nil
	}
	s.mu.Lock()
	var held chan struct{}
	var sandbox *container
	for _, c := range s.containers {
		c.mu.Lock()
		if c.sandbox && c.pid == pid {
			held, sandbox = c.held, c
		}
		c.mu.Unlock()
	}
	s.mu.Unlock()
	if held == nil {
		return nil
	}
	select {
	case <-held:
		return sandbox.heldErr
	case <-ctx.Done():
		return fmt.Errorf("waiting for pod sandbox %s to hold the pod's network namespace: %w", sandbox.id, ctx.Err())
	}
}

// exitCode is how a reaped process ended: its exit status, or 128+signal.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return 255
}

// wait reaps each run's process and records how it ended. When the container's restart
// policy asks for another run (and no Kill came), it waits the back-off and starts it;
// otherwise the task ends: its status becomes stopped, its exit is published and Wait
// returns. So, for containerd's task API, a container the policy restarts is one task
// that runs until its last run ends; during a back-off it is running with pid 0.
func (c *container) wait(s *Service) {
	for {
		c.mu.Lock()
		cmd := c.cmd
		c.mu.Unlock()
		code := exitCode(cmd.Wait())
		c.mu.Lock()
		runIO := c.io
		c.io = stdio{}
		c.mu.Unlock()
		runIO.close()

		now := time.Now()
		c.mu.Lock()
		asked, created := c.signal, c.created
		if asked != 0 && code == 128+int(syscall.SIGKILL) {
			// A Wasm module cannot handle signals: any signal stops it, and it is reported
			// as killed by the signal that was asked for (143 for SIGTERM, as docker stop).
			code = 128 + int(asked)
		}
		c.exitStatus, c.exitedAt = uint32(code), now
		again := created && c.status == task.Status_RUNNING && c.policy.ShouldRestart(code, asked != 0, c.restarts)
		if again {
			c.restarts++
			delay := c.backoff.Next(now.Sub(c.runStart))
			c.restarting, c.pid, c.nextStart = true, 0, now.Add(delay)
			n := c.restarts
			c.mu.Unlock()
			c.saveState(s.ctx)
			log.G(s.ctx).WithFields(log.Fields{"id": c.id, "exit": code, "restart": n, "delay": delay}).Info("restarting the container (restart policy " + c.policy.String() + ")")
			if !c.sleep(delay) {
				c.mu.Lock() // stopped during the back-off: the last run's exit is the task's
			} else if err := c.rerun(s); err != nil {
				if !errors.Is(err, errStopped) {
					log.G(s.ctx).WithError(err).WithField("id", c.id).Error("restarting the container failed; it stays exited")
				}
				c.mu.Lock()
			} else {
				continue
			}
		}
		c.status = task.Status_STOPPED
		c.restarting, c.nextStart = false, time.Time{}
		code, exitedAt := int(c.exitStatus), c.exitedAt
		c.mu.Unlock()
		c.saveState(s.ctx)
		if !created {
			close(c.exited) // a failed Create: containerd never knew the task
			return
		}
		if asked == 0 && code == 128+int(syscall.SIGKILL) && c.cg.OOMKills() > 0 {
			// Killed at its cgroup's memory limit: CRI reports the container OOMKilled.
			s.publish(cdruntime.TaskOOMEventTopic, &eventstypes.TaskOOM{ContainerID: c.id})
		}
		// The exit event goes out before Wait returns, so containerd sees exit before delete.
		s.publish(cdruntime.TaskExitEventTopic, &eventstypes.TaskExit{
			ContainerID: c.id,
			ID:          c.id,
			Pid:         uint32(cmd.Process.Pid),
			ExitStatus:  uint32(code),
			ExitedAt:    protobuf.ToTimestamp(exitedAt),
		})
		close(c.exited)
		return
	}
}

// errStopped is rerun's error when a Kill came while the next run was being started.
var errStopped = errors.New("stopped while restarting")

// sleep waits d, or until a Kill ends the restarts; it reports whether d passed.
func (c *container) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.noRestart:
		return false
	}
}

// rerun starts the next run of a container whose last run ended: a new berth-guest
// process in the same bundle, cgroup and log (a json-file log is appended to). It runs
// in wait's goroutine, the only one that changes c.cmd after Create.
func (c *container) rerun(s *Service) error {
	var io stdio
	cmd, born, startW, statusR, err := c.spawn(s.ctx, &io)
	if err != nil {
		return err
	}
	abandon := func() {
		startW.Close()
		cmd.Process.Kill()
		cmd.Wait()
		io.close()
	}
	if err := c.ready(cmd.Process.Pid, born, startW, statusR); err != nil {
		abandon()
		return err
	}
	c.mu.Lock()
	if c.signal != 0 { // a Kill came while this run was being prepared
		c.mu.Unlock()
		abandon()
		return errStopped
	}
	c.cmd, c.io, c.pid = cmd, io, cmd.Process.Pid
	c.restarting, c.nextStart, c.runStart = false, time.Time{}, time.Now()
	c.mu.Unlock()
	if err := os.WriteFile(filepath.Join(c.bundle, pidFile), []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		log.G(s.ctx).WithError(err).WithField("id", c.id).Warn("recording the restarted process's pid")
	}
	c.saveState(s.ctx)
	// A failed write means the process has already ended: wait reaps it next.
	startW.Write([]byte{1})
	startW.Close()
	return nil
}

// stopRestarts ends the container's restart policy: the current run is its last.
// c.mu must be held.
func (c *container) stopRestarts() {
	select {
	case <-c.noRestart:
	default:
		close(c.noRestart)
	}
}

// saveState writes the restart policy's state (restart.StateFile) for berth to read;
// nothing without a policy.
func (c *container) saveState(ctx context.Context) {
	if c.policy.Mode == "" || c.policy.Mode == restart.No {
		return
	}
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.mu.Lock()
	st := restart.State{Policy: c.policy.String(), RestartCount: c.restarts, Restarting: c.restarting,
		Pid: c.pid, StartedAt: c.runStart, NextStart: c.nextStart}
	if !c.exitedAt.IsZero() {
		st.ExitCode, st.FinishedAt = int(c.exitStatus), c.exitedAt
	}
	c.mu.Unlock()
	if err := restart.WriteState(c.bundle, st); err != nil {
		log.G(ctx).WithError(err).WithField("id", c.id).Warn("writing the restart state")
	}
}

// cleanup undoes Create: stops the process, unmounts the rootfs, removes the cgroup.
func (c *container) cleanup(ctx context.Context) {
	c.mu.Lock()
	c.stopRestarts()
	cmd := c.cmd
	c.mu.Unlock()
	if cmd != nil && cmd.Process != nil {
		select {
		case <-c.exited:
		default:
			cmd.Process.Kill()
			<-c.exited
		}
	}
	if c.start != nil {
		c.start.Close()
		c.start = nil
	}
	c.mu.Lock()
	c.io.close()
	if c.netns != nil {
		c.netns.Close()
		c.netns = nil
	}
	c.mu.Unlock()
	if c.rootfs != "" {
		if err := mount.UnmountAll(c.rootfs, 0); err != nil {
			log.G(ctx).WithError(err).WithField("rootfs", c.rootfs).Warn("unmounting the rootfs")
		}
	}
	if c.cg != nil {
		if err := c.cg.Delete(); err != nil {
			log.G(ctx).WithError(err).Warn("removing the cgroup")
		}
	}
	os.Remove(filepath.Join(c.bundle, pidFile))
}

// Start lets the container's process run the module.
func (s *Service) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	c, err := s.getInit(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.status != task.Status_CREATED || c.start == nil && !c.sandbox {
		st := c.status
		c.mu.Unlock()
		return nil, errdefs.ToGRPCf(errdefs.ErrFailedPrecondition, "container %s is %s, not created", r.ID, st)
	}
	c.status = task.Status_RUNNING
	c.runStart = time.Now()
	c.io.startStdin()
	pid := c.pid
	c.mu.Unlock()
	c.saveState(ctx) // before the module runs: its first exit must find the state written
	if c.start != nil {
		_, err := c.start.Write([]byte{1})
		c.start.Close()
		c.start = nil
		if err != nil {
			return nil, errdefs.ToGRPCf(errdefs.ErrFailedPrecondition, "container %s: its process has ended", r.ID)
		}
	}
	s.publish(cdruntime.TaskStartEventTopic, &eventstypes.TaskStart{ContainerID: r.ID, Pid: uint32(pid)})
	return &taskAPI.StartResponse{Pid: uint32(pid)}, nil
}

// State reports the task's state.
func (s *Service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	c, err := s.getInit(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	resp := &taskAPI.StateResponse{
		ID:         c.id,
		Bundle:     c.bundle,
		Pid:        uint32(c.pid),
		Status:     c.status,
		Stdin:      c.req.Stdin,
		Stdout:     c.req.Stdout,
		Stderr:     c.req.Stderr,
		Terminal:   c.req.Terminal,
		ExitStatus: c.exitStatus,
	}
	if c.status == task.Status_STOPPED {
		resp.ExitedAt = protobuf.ToTimestamp(c.exitedAt)
	}
	return resp, nil
}

// Kill stops the module: whatever the signal, the process is killed (a Wasm module has
// no signal handlers) and its exit status is 128+signal. It also ends the container's
// restart policy, as docker's kill and stop do for a container without a STOPSIGNAL:
// the current run is the last; during a back-off the task ends at once, with the last
// run's exit status.
func (s *Service) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	c, err := s.getInit(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.exited:
		return nil, errdefs.ToGRPCf(errdefs.ErrNotFound, "process already finished")
	default:
	}
	if r.Signal == 0 {
		return &emptypb.Empty{}, nil // a liveness probe, as kill(pid, 0)
	}
	c.mu.Lock()
	if c.signal == 0 {
		c.signal = syscall.Signal(r.Signal)
	}
	c.stopRestarts()
	proc, restarting := c.cmd.Process, c.restarting
	c.mu.Unlock()
	if restarting {
		return &emptypb.Empty{}, nil // no process runs; the back-off ends now
	}
	if err := proc.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return nil, errdefs.ToGRPC(err)
	}
	return &emptypb.Empty{}, nil
}

// Wait waits for the task to exit. A container whose restart policy restarts it has not
// exited while a back-off runs (State says running, pid 0): Wait returns once a run ends
// and is not restarted (the policy says no, its count is spent, or a Kill ended it),
// with that run's exit status.
func (s *Service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	c, err := s.getInit(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	select {
	case <-c.exited:
	case <-ctx.Done():
		return nil, errdefs.ToGRPC(ctx.Err())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return &taskAPI.WaitResponse{ExitStatus: c.exitStatus, ExitedAt: protobuf.ToTimestamp(c.exitedAt)}, nil
}

// Delete removes a stopped (or never started) task and everything the shim held for it.
func (s *Service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	c, err := s.getInit(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	running := c.status == task.Status_RUNNING
	c.mu.Unlock()
	if running {
		select {
		case <-c.exited:
		default:
			return nil, errdefs.ToGRPCf(errdefs.ErrFailedPrecondition, "container %s is running: kill it first", r.ID)
		}
	}
	t0 := time.Now()
	c.cleanup(ctx)
	log.G(ctx).WithFields(log.Fields{"id": r.ID, "cleanup": time.Since(t0)}).Debug("deleted")
	c.mu.Lock()
	resp := &taskAPI.DeleteResponse{Pid: uint32(c.pid), ExitStatus: c.exitStatus, ExitedAt: protobuf.ToTimestamp(c.exitedAt)}
	c.mu.Unlock()
	s.publish(cdruntime.TaskDeleteEventTopic, &eventstypes.TaskDelete{
		ContainerID: r.ID, ID: r.ID, Pid: resp.Pid, ExitStatus: resp.ExitStatus, ExitedAt: resp.ExitedAt,
	})
	// Forgotten last: a Shutdown for another container of the group, arriving while this
	// Delete is still answering, must find this one and keep the server up. (Removing it
	// first let 26 of 100 grouped deletes fail with "ttrpc: closed".)
	s.mu.Lock()
	delete(s.containers, r.ID)
	s.mu.Unlock()
	return resp, nil
}

// Pids lists the task's one process.
func (s *Service) Pids(ctx context.Context, r *taskAPI.PidsRequest) (*taskAPI.PidsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	pid := c.pid
	c.mu.Unlock()
	return &taskAPI.PidsResponse{Processes: []*task.ProcessInfo{{Pid: uint32(pid)}}}, nil
}

// Stats reads the task's cgroup: memory and CPU, in containerd's cgroup metrics types.
func (s *Service) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	c, err := s.get(r.ID)
	if err != nil {
		return nil, err
	}
	if c.cg == nil {
		return nil, errdefs.ToGRPCf(errdefs.ErrNotFound, "container %s has no cgroup (its spec names no linux.cgroupsPath)", r.ID)
	}
	m, err := c.cg.Metrics()
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	a, err := protobuf.MarshalAnyToProto(m)
	if err != nil {
		return nil, errdefs.ToGRPC(err)
	}
	return &taskAPI.StatsResponse{Stats: a}, nil
}

// CloseIO ends the task's stdin.
func (s *Service) CloseIO(ctx context.Context, r *taskAPI.CloseIORequest) (*emptypb.Empty, error) {
	c, err := s.getInit(r.ID, r.ExecID)
	if err != nil {
		return nil, err
	}
	if r.Stdin {
		c.mu.Lock()
		c.io.closeStdin()
		c.mu.Unlock()
	}
	return &emptypb.Empty{}, nil
}

// Connect tells containerd the shim's and the task's pids.
func (s *Service) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	resp := &taskAPI.ConnectResponse{ShimPid: uint32(os.Getpid()), Version: "2"}
	if c, err := s.get(r.ID); err == nil {
		c.mu.Lock()
		resp.TaskPid = uint32(c.pid)
		c.mu.Unlock()
	}
	return resp, nil
}

// Shutdown ends the shim once it holds no container.
//
// # Notes
//
//   - The events publisher is closed here: the shim library waits up to 5 s for it
//     after its server stops, so an open one keeps every shim alive 5 s after its task.
func (s *Service) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	s.mu.Lock()
	n := len(s.containers)
	s.mu.Unlock()
	if n > 0 {
		return &emptypb.Empty{}, nil
	}
	s.events.close()
	s.publisher.Close()
	s.spawner.close()
	s.shutdown()
	return &emptypb.Empty{}, nil
}

// Exec is not supported: a Wasm container has one process, its module.
func (s *Service) Exec(ctx context.Context, r *taskAPI.ExecProcessRequest) (*emptypb.Empty, error) {
	return nil, notSupported("exec", execReason)
}

// ResizePty is not supported: Wasm containers have no terminal.
func (s *Service) ResizePty(ctx context.Context, r *taskAPI.ResizePtyRequest) (*emptypb.Empty, error) {
	return nil, notSupported("a terminal (tty)")
}

// Pause is not supported.
func (s *Service) Pause(ctx context.Context, r *taskAPI.PauseRequest) (*emptypb.Empty, error) {
	return nil, notSupported("pause")
}

// Resume is not supported.
func (s *Service) Resume(ctx context.Context, r *taskAPI.ResumeRequest) (*emptypb.Empty, error) {
	return nil, notSupported("resume")
}

// Checkpoint is not supported.
func (s *Service) Checkpoint(ctx context.Context, r *taskAPI.CheckpointTaskRequest) (*emptypb.Empty, error) {
	return nil, notSupported("checkpoint")
}

// Update is not supported: limits are set at create from the spec.
func (s *Service) Update(ctx context.Context, r *taskAPI.UpdateTaskRequest) (*emptypb.Empty, error) {
	return nil, notSupported("updating resources of a running task")
}
