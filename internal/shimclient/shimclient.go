package shimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultNamespace is the containerd namespace berth's shims run in.
const DefaultNamespace = "berth"

// The files a shim and its client keep in the bundle, with containerd's names.
const (
	AddressFile    = "address"          // the shim's socket address, written by the shim
	BinaryPathFile = "shim-binary-path" // the shim binary, written by Start
	LogFile        = "log"              // the shim's own log
)

// socketDirEnv is internal/shim.SocketDirEnv (not imported: this package is the
// client side and does not link the shim).
const socketDirEnv = "BERTH_SHIM_SOCKET_DIR"

// Options say which shim serves which container.
type Options struct {
	// ShimBinary is containerd-shim-berth-v1: a path, or a name looked up on PATH.
	ShimBinary string
	// Bundle is the container's OCI bundle directory (config.json, rootfs/): absolute.
	Bundle string
	// ID is the container's id.
	ID string
	// Namespace is the containerd namespace the shim runs in; "" is DefaultNamespace.
	Namespace string
	// StateDir names the berth state directory the shim belongs to: it is the shim's
	// -address (part of its socket's name). "" is "berth".
	StateDir string
	// SocketDir is where the shim creates its socket; "" is the shim library's
	// /run/containerd/s, which only root can create. The path of a socket in it must fit
	// in 106 bytes: the directory may have at most 73.
	SocketDir string
	// Debug starts the shim with -debug: its log gets debug lines (create timings).
	Debug bool
	// Env is added to the shim's environment (after berth's own; later entries win).
	Env []string
}

func (o *Options) check() error {
	var missing []string
	if o.ShimBinary == "" {
		missing = append(missing, "ShimBinary")
	}
	if o.Bundle == "" {
		missing = append(missing, "Bundle")
	}
	if o.ID == "" {
		missing = append(missing, "ID")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s not set", ErrBadOptions, strings.Join(missing, ", "))
	}
	if !filepath.IsAbs(o.Bundle) {
		return fmt.Errorf("%w: bundle %q must be an absolute path", ErrBadOptions, o.Bundle)
	}
	if o.SocketDir != "" && !filepath.IsAbs(o.SocketDir) {
		return fmt.Errorf("%w: socket directory %q must be an absolute path", ErrBadOptions, o.SocketDir)
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	return nil
}

// command is the shim binary run with containerd's flags and environment for action
// ("start" or "delete"), in the bundle.
func (o *Options) command(ctx context.Context, action string) (*exec.Cmd, error) {
	bin := o.ShimBinary
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			return nil, fmt.Errorf("%w: shim %s is not on PATH: install it (berth shim install) or name its path: %w", ErrBadOptions, bin, err)
		}
		bin = p
	}
	address := o.StateDir
	if address == "" {
		address = "berth"
	}
	args := []string{"-namespace", o.Namespace, "-address", address, "-id", o.ID}
	if action == "delete" {
		args = append(args, "-bundle", o.Bundle)
	}
	if o.Debug {
		args = append(args, "-debug")
	}
	args = append(args, action)
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = o.Bundle
	env := make([]string, 0, len(os.Environ())+8+len(o.Env))
	for _, e := range os.Environ() {
		// containerd's variables are set below; an inherited TTRPC_ADDRESS would make the
		// shim publish to a containerd that is not waiting for berth's events.
		switch k, _, _ := strings.Cut(e, "="); k {
		case "TTRPC_ADDRESS", "GRPC_ADDRESS", "NAMESPACE", "MAX_SHIM_VERSION", socketDirEnv:
			continue
		}
		env = append(env, e)
	}
	env = append(env,
		"GOMAXPROCS=2", // as containerd: the shim needs no more
		"MAX_SHIM_VERSION=2",
		"GRPC_ADDRESS="+address,
		"NAMESPACE="+o.Namespace,
	)
	if o.SocketDir != "" {
		env = append(env, socketDirEnv+"="+o.SocketDir)
	}
	cmd.Env = append(env, o.Env...)
	// Its own session (containerd, a daemon with no terminal, only gives it its own
	// process group): the shim it starts has no controlling terminal, so neither a ^C
	// at berth's terminal nor the SIGHUP of closing it reaches the shim, which must
	// outlive berth.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	return cmd, nil
}

// Shim is a connection to the shim that serves one container.
type Shim struct {
	id, bundle, address string
	pid                 int
	conn                *conn
	ns                  string
}

// taskService is the task API's ttrpc service name.
const taskService = "containerd.task.v2.Task"

// namespaceHeader is the ttrpc metadata key of the containerd namespace
// (containerd's namespaces.TTRPCHeader).
const namespaceHeader = "containerd-namespace-ttrpc"

// call makes one task API call: req is the encoded request, the result the encoded
// response.
func (s *Shim) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	return s.conn.call(ctx, taskService, method, req, [][2]string{{namespaceHeader, s.ns}})
}

// ID is the container's id.
func (s *Shim) ID() string { return s.id }

// Address is the shim's socket address (unix://…).
func (s *Shim) Address() string { return s.address }

// Pid is the shim process's pid.
func (s *Shim) Pid() int { return s.pid }

// Start starts the shim for a container's bundle, as containerd does (`shim start` in the
// bundle, whose output is the address of the shim it started), and connects to it. The
// task is not created yet: call Create.
func Start(ctx context.Context, o Options) (_ *Shim, retErr error) {
	if err := o.check(); err != nil {
		return nil, &Error{Op: "start shim", ID: o.ID, Kind: ErrBadOptions, Err: err}
	}
	fail := func(err error) error { return fmt.Errorf("container %s: starting its shim: %w", o.ID, err) }
	if err := resetLog(o.Bundle); err != nil {
		return nil, fail(err)
	}
	if o.SocketDir != "" {
		// Made here, 0700: the shim library would make it 0600, which only root can enter.
		if err := os.MkdirAll(o.SocketDir, 0o700); err != nil {
			return nil, fail(err)
		}
	}
	cmd, err := o.command(ctx, "start")
	if err != nil {
		return nil, fail(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		return nil, fail(fmt.Errorf("%s start: %w: %s", cmd.Path, err, msg))
	}
	address, err := parseStartResponse(bytes.TrimSpace(stdout.Bytes()))
	if err != nil {
		return nil, fail(err)
	}
	if err := os.WriteFile(filepath.Join(o.Bundle, BinaryPathFile), []byte(cmd.Path), 0o600); err != nil {
		return nil, fail(err)
	}
	s, err := connect(ctx, address, o.ID, o.Bundle, o.Namespace)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// resetLog makes the bundle's `log` an empty regular file for the shim's own log (see
// the package's Notes).
func resetLog(bundle string) error {
	p := filepath.Join(bundle, LogFile)
	if fi, err := os.Lstat(p); err == nil && !fi.Mode().IsRegular() {
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	return f.Close()
}

// bootstrapParams is the JSON a version-2 shim may print from `start`.
type bootstrapParams struct {
	Version  int    `json:"version"`
	Address  string `json:"address"`
	Protocol string `json:"protocol"`
}

// parseStartResponse reads what `shim start` printed, as containerd does: JSON bootstrap
// parameters of version 2, else the address itself. Only ttrpc over a unix socket is
// spoken.
func parseStartResponse(out []byte) (string, error) {
	if len(out) == 0 {
		return "", errors.New("the shim's start printed no address")
	}
	var p bootstrapParams
	if err := json.Unmarshal(out, &p); err != nil || p.Version < 2 {
		p = bootstrapParams{Address: string(out), Protocol: "ttrpc"}
	}
	if p.Version > 2 {
		return "", fmt.Errorf("the shim speaks bootstrap protocol version %d; berth knows 2", p.Version)
	}
	if !strings.EqualFold(p.Protocol, "ttrpc") {
		return "", fmt.Errorf("the shim asks for protocol %q; berth speaks ttrpc", p.Protocol)
	}
	if !strings.HasPrefix(p.Address, "unix://") || len(p.Address) == len("unix://") || strings.ContainsAny(p.Address, "\n\x00") {
		return "", fmt.Errorf("the shim's start printed %q, not a unix:// socket address", out)
	}
	return p.Address, nil
}

// Load finds the shim of the container whose bundle is given (from its `address` file),
// as a later berth process does, and connects to it. No address file, or a shim that
// does not answer, is ErrShimGone.
func Load(ctx context.Context, bundle, id string) (*Shim, error) {
	b, err := os.ReadFile(filepath.Join(bundle, AddressFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, &Error{Op: "connect", ID: id, Kind: ErrShimGone, Err: fmt.Errorf("no shim address in %s: %w", bundle, err)}
		}
		return nil, fmt.Errorf("container %s: reading its shim's address: %w", id, err)
	}
	return connect(ctx, strings.TrimSpace(string(b)), id, bundle, DefaultNamespace)
}

// Connect connects to the shim at address (unix://…) serving container id.
func Connect(ctx context.Context, address, id string) (*Shim, error) {
	return connect(ctx, address, id, "", DefaultNamespace)
}

func connect(ctx context.Context, address, id, bundle, ns string) (*Shim, error) {
	path, ok := strings.CutPrefix(address, "unix://")
	if !ok || path == "" {
		return nil, &Error{Op: "connect", ID: id, Kind: ErrBadOptions, Err: fmt.Errorf("shim address %q is not unix://PATH", address)}
	}
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	conn, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		return nil, wrap("connect", id, err)
	}
	s := &Shim{id: id, bundle: bundle, address: address, ns: ns, conn: newConn(conn)}
	var r connectResponse
	if err := s.do(ctx, "connect", "Connect", idRequest(id), r.unmarshal); err != nil {
		s.conn.Close()
		return nil, err
	}
	s.pid = int(r.shimPid)
	return s, nil
}

// do makes the task API call method for op: it checks the request's id, sends req and
// decodes the response with unmarshal (nil: the response is google.protobuf.Empty).
func (s *Shim) do(ctx context.Context, op, method string, req []byte, unmarshal func([]byte) error) error {
	if err := checkStrings("container id", s.id, "namespace", s.ns); err != nil {
		return &Error{Op: op, ID: s.id, Kind: ErrBadOptions, Err: err}
	}
	p, err := s.call(ctx, method, req)
	if err != nil {
		return wrap(op, s.id, err)
	}
	if unmarshal != nil {
		if err := unmarshal(p); err != nil {
			return fmt.Errorf("container %s: %s: the shim's response: %w", s.id, op, err)
		}
	}
	return nil
}

// Close closes the connection; the shim and its task go on.
func (s *Shim) Close() error {
	return s.conn.Close()
}

// Stdio names the task's standard streams, as CreateTaskRequest does: "" is /dev/null;
// FIFO paths, file:// (raw), binary:// (a logging program) and json-file:// (the shim
// writes docker's json-file log: internal/logs.URI, the same URI for Stdout and Stderr).
type Stdio struct {
	Stdin, Stdout, Stderr string
}

// Create creates the task from the bundle: the shim starts the container's process,
// which loads the module and waits for Start. It returns that process's pid.
func (s *Shim) Create(ctx context.Context, io Stdio) (uint32, error) {
	if s.bundle == "" {
		return 0, &Error{Op: "create", ID: s.id, Kind: ErrBadOptions, Err: errors.New("the shim was connected to by address: its bundle is unknown")}
	}
	if err := checkStrings("bundle", s.bundle, "stdin", io.Stdin, "stdout", io.Stdout, "stderr", io.Stderr); err != nil {
		return 0, &Error{Op: "create", ID: s.id, Kind: ErrBadOptions, Err: err}
	}
	var r pidResponse
	if err := s.do(ctx, "create", "Create", createRequest(s.id, s.bundle, io), r.unmarshal); err != nil {
		return 0, err
	}
	return r.pid, nil
}

// Start runs the created task's module.
func (s *Shim) Start(ctx context.Context) (uint32, error) {
	var r pidResponse
	if err := s.do(ctx, "start", "Start", idRequest(s.id), r.unmarshal); err != nil {
		return 0, err
	}
	return r.pid, nil
}

// Status is a task's status, as containerd names it.
type Status string

// Task statuses.
const (
	StatusUnknown Status = "unknown"
	Created       Status = "created"
	Running       Status = "running"
	Stopped       Status = "stopped"
	Paused        Status = "paused"
	Pausing       Status = "pausing"
)

// status names a containerd.v1.types.Status value (api/types/task/task.proto).
func status(s int32) Status {
	switch s {
	case 1:
		return Created
	case 2:
		return Running
	case 3:
		return Stopped
	case 4:
		return Paused
	case 5:
		return Pausing
	}
	return StatusUnknown
}

// State is what the shim says of the task.
type State struct {
	Status     Status
	Pid        uint32
	ExitStatus uint32    // when Stopped
	ExitedAt   time.Time // when Stopped; zero if the shim sent none
	Stdio      Stdio
}

// State asks the task's state.
func (s *Shim) State(ctx context.Context) (State, error) {
	var r stateResponse
	if err := s.do(ctx, "state", "State", idRequest(s.id), r.unmarshal); err != nil {
		return State{}, err
	}
	return State{Status: status(r.status), Pid: r.pid, ExitStatus: r.exitStatus, ExitedAt: r.exitedAt.time(),
		Stdio: Stdio{Stdin: r.stdin, Stdout: r.stdout, Stderr: r.stderr}}, nil
}

// Exit is how a task ended.
type Exit struct {
	Pid    uint32
	Status uint32    // the exit code, or 128+signal
	At     time.Time // in UTC; zero if the shim sent none
}

// Wait waits until the task's process has exited (and, with a json-file log, its output
// is in the file) or ctx ends.
func (s *Shim) Wait(ctx context.Context) (Exit, error) {
	var r exitResponse
	if err := s.do(ctx, "wait", "Wait", idRequest(s.id), func(b []byte) error { return r.unmarshal(b, false) }); err != nil {
		return Exit{}, err
	}
	return Exit{Status: r.exitStatus, At: r.exitedAt.time()}, nil
}

// Kill sends sig to the task. berth's shim kills the Wasm module whatever the signal and
// reports 128+sig as its exit status; signal 0 only checks it runs. A task that has
// already ended is ErrNotRunning.
func (s *Shim) Kill(ctx context.Context, sig syscall.Signal) error {
	if sig < 0 {
		return &Error{Op: "kill", ID: s.id, Kind: ErrBadOptions, Err: fmt.Errorf("signal %d is negative", sig)}
	}
	return s.do(ctx, "kill", "Kill", killRequest(s.id, uint32(sig), false), nil)
}

// Delete removes the stopped (or never started) task and what the shim held for it, and
// returns how it ended. A running task is ErrFailedPrecondition: Kill and Wait first.
func (s *Shim) Delete(ctx context.Context) (Exit, error) {
	var r exitResponse
	if err := s.do(ctx, "delete", "Delete", idRequest(s.id), func(b []byte) error { return r.unmarshal(b, true) }); err != nil {
		return Exit{}, err
	}
	return Exit{Pid: r.pid, Status: r.exitStatus, At: r.exitedAt.time()}, nil
}

// Stats reads the task's cgroup metrics (cgroup v1 or v2, see Metrics). A task without
// a cgroup is ErrNotFound.
func (s *Shim) Stats(ctx context.Context) (*Metrics, error) {
	var r statsResponse
	if err := s.do(ctx, "stats", "Stats", idRequest(s.id), r.unmarshal); err != nil {
		return nil, err
	}
	m, err := parseMetrics(r.stats)
	if err != nil {
		return nil, fmt.Errorf("container %s: stats: %w", s.id, err)
	}
	return m, nil
}

// Shutdown asks the shim to exit, as containerd does after Delete, and waits for its
// process to be gone (at most until ctx ends; 3 s if ctx has no deadline, containerd's
// shim shutdown timeout); then removes the bundle's `address`. The shim stays while it
// holds a task (an error then; the connection stays usable): Delete first.
func (s *Shim) Shutdown(ctx context.Context) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
	}
	err := s.do(ctx, "shutdown", "Shutdown", shutdownRequest(s.id, false), nil)
	if err != nil && !errors.Is(err, ErrShimGone) {
		return err
	}
	if err := waitGone(ctx, s.pid); err != nil {
		// The connection stays open: the caller may still Delete the task it holds.
		return fmt.Errorf("container %s: shutdown: the shim (pid %d) did not exit: does it still hold the task (Delete it first)? %w", s.id, s.pid, err)
	}
	s.Close()
	if s.bundle != "" {
		if err := os.Remove(filepath.Join(s.bundle, AddressFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("container %s: shutdown: %w", s.id, err)
		}
	}
	return nil
}

// Done is closed when the connection to the shim ends (the shim exited, or Close).
func (s *Shim) Done() <-chan struct{} { return s.conn.done }

// waitGone waits until process pid no longer exists or is a zombie (the shim is not
// berth's child: whoever adopted it reaps it).
func waitGone(ctx context.Context, pid int) error {
	if pid <= 0 {
		return nil
	}
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		if !alive(pid) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// pid (comm) S …: the state follows the last ')'.
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] != 'Z'
}

// Cleanup is what containerd does when a shim has died: it runs `shim delete` in the
// bundle, which stops the container's process if it still runs, unmounts, removes the
// cgroup and the dead shim's socket, and reports the exit (137, killed). A shim that
// still answers is ErrFailedPrecondition: use Kill, Delete and Shutdown.
func Cleanup(ctx context.Context, o Options) (Exit, error) {
	if err := o.check(); err != nil {
		return Exit{}, &Error{Op: "cleanup", ID: o.ID, Kind: ErrBadOptions, Err: err}
	}
	if b, err := os.ReadFile(filepath.Join(o.Bundle, AddressFile)); err == nil {
		if path, ok := strings.CutPrefix(strings.TrimSpace(string(b)), "unix://"); ok {
			if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
				c.Close()
				return Exit{}, &Error{Op: "cleanup", ID: o.ID, Kind: ErrFailedPrecondition, Err: errors.New("its shim is alive: stop the task through it (kill, delete, shutdown)")}
			}
		}
	}
	cmd, err := o.command(ctx, "delete")
	if err != nil {
		return Exit{}, fmt.Errorf("container %s: cleanup: %w", o.ID, err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Exit{}, fmt.Errorf("container %s: cleanup: %s delete: %w: %s", o.ID, cmd.Path, err, strings.TrimSpace(stderr.String()))
	}
	var r exitResponse
	if err := r.unmarshal(stdout.Bytes(), true); err != nil {
		return Exit{}, fmt.Errorf("container %s: cleanup: reading the shim's delete response: %w", o.ID, err)
	}
	return Exit{Pid: r.pid, Status: r.exitStatus, At: r.exitedAt.time()}, nil
}
