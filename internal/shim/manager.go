package shim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	apitypes "github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/plugin"
	"github.com/containerd/containerd/protobuf"
	"github.com/containerd/containerd/protobuf/proto"
	"github.com/containerd/containerd/runtime/v2/shim"
	"github.com/containerd/log"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/berth-dev/berth/internal/cgroup"
	"github.com/berth-dev/berth/internal/guest"
)

// Version is the shim's version, set at link time.
var Version = "dev"

// Run runs the shim binary's containerd side: `start`, `delete`, or serving the task API
// (the shim library's flags: -namespace, -id, -address, -publish-binary, -debug).
func Run() {
	// The task service is also served as task API v3 (taskV3). The library registers
	// the v2 service itself, on the service newService made before it loads plugins.
	var svc taskAPI.TaskService
	plugin.Register(&plugin.Registration{
		Type: plugin.TTRPCPlugin,
		ID:   "task-v3",
		InitFn: func(*plugin.InitContext) (interface{}, error) {
			if svc == nil {
				return nil, errors.New("berth: the task service was not made before the shim's plugins were loaded")
			}
			return taskV3{svc}, nil
		},
	})
	initService := func(ctx context.Context, id string, publisher shim.Publisher, shutdown func()) (shim.Shim, error) {
		s, err := newService(ctx, id, publisher, shutdown)
		svc = s
		return s, err
	}
	shim.Run(RuntimeName, initService, func(c *shim.Config) {
		// The shim waits for its container processes itself (exec.Cmd.Wait): they are its
		// children and start none of their own, so the library's global reaper, which
		// would race exec.Cmd for their exit status, is not used.
		c.NoReaper = true
		c.NoSubreaper = true
	})
}

// newService is New as the shim binary runs it: without containerd (no TTRPC_ADDRESS,
// which containerd always sets: berth started the shim), events are not published.
//
// # Notes
//
//   - The v1.7 library publishes to TTRPC_ADDRESS only (-publish-binary is ignored).
//     With nothing listening there each event costs time: a socket path that does not
//     exist makes its dialer retry for 5 s (ENOENT is retried every 10 ms until its
//     timeout), so Create, Start, the exit and Delete each took 5 s more; an address
//     that refuses fails at once but queues the event for 5 retries over 15 s, each
//     logged. Nobody would read those events: berth asks the task API (Wait, State).
//     See docs/rationale.md for the measurements.
func newService(ctx context.Context, id string, publisher shim.Publisher, shutdown func()) (shim.Shim, error) {
	if os.Getenv(ttrpcAddressEnv) == "" {
		publisher = discardEvents{publisher}
	}
	return New(ctx, id, publisher, shutdown)
}

// ttrpcAddressEnv is where containerd tells a shim its ttrpc address, for events.
const ttrpcAddressEnv = "TTRPC_ADDRESS"

// SocketDirEnv names the directory in which `start` creates the shim's socket, instead
// of the library's /run/containerd/s: berth sets it (to a directory in its state
// directory, which a user who is not root can write); containerd does not.
const SocketDirEnv = "BERTH_SHIM_SOCKET_DIR"

// discardEvents drops events: no containerd listens for them. Close still closes the
// library's publisher, whose Done the library waits for before the shim exits.
type discardEvents struct{ shim.Publisher }

func (discardEvents) Publish(context.Context, string, events.Event) error { return nil }

// socketAddress is the library's SocketAddress, or, with SocketDirEnv set, a socket of
// that directory named by the first 128 bits of the same hash (the library refuses a
// socket path longer than 106 bytes).
func socketAddress(ctx context.Context, address, group string) (string, error) {
	dir := os.Getenv(SocketDirEnv)
	if dir == "" {
		return shim.SocketAddress(ctx, address, group)
	}
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(dir) {
		return "", fmt.Errorf("%s=%q: the shim socket directory must be an absolute path", SocketDirEnv, dir)
	}
	d := sha256.Sum256([]byte(filepath.Join(address, ns, group)))
	p := filepath.Join(dir, hex.EncodeToString(d[:16]))
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("%s=%q: the shim socket %s is longer than the %d bytes a unix socket path may have: use a shorter state directory", SocketDirEnv, dir, p, maxSocketPath)
	}
	return "unix://" + p, nil
}

// maxSocketPath is the longest unix socket path the library accepts (sun_path less one).
const maxSocketPath = 106

// groupAnnotations choose the shim of a container: containers whose spec carries the same
// value share one shim (one per pod under CRI); otherwise each has its own.
var groupAnnotations = []string{"dev.berth.shim.group", annotationSandboxID}

// readAnnotations reads only the annotations of the bundle's config.json in dir.
//
// # Notes
//
//   - `start` is a process of its own on the path of every pod's start, and the first
//     decode into specs.Spec builds encoding/json's decoders for its whole type graph:
//     1.2–1.6 ms in a fresh process, against 0.12–0.18 ms for the one map read here.
func readAnnotations(dir string) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, err
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, "config.json"), err)
	}
	return spec.Annotations, nil
}

// StartShim is the `start` action: it starts the long-lived shim process for a
// container, or finds the one of its group, and returns its socket address: plain for
// containerd 1.6 to 2.2 and berth, as a BootstrapResult offering task API v3 to
// containerd 2.3+, which sends its version on stdin (see bootstrap.go).
func (s *Service) StartShim(ctx context.Context, opts shim.StartOpts) (string, error) {
	containerd, err := readBootstrap(os.Stdin)
	if err != nil {
		return "", err
	}
	address, err := s.startShim(ctx, opts)
	if err != nil || !speaksTaskV3(containerd) {
		return address, err
	}
	return string(bootstrapResult(address)), nil
}

// startShim starts the shim process for a container, or finds the one of its group,
// and returns its socket address.
//
// # Notes
//
//   - The started shim gets /dev/null as stdout: containerd reads `start`'s stdout to
//     its end, so a child holding that pipe would hang containerd.
//   - The listening socket is passed as fd 3 and must not be unlinked when this process
//     closes its copy (SetUnlinkOnClose(false)).
func (s *Service) startShim(ctx context.Context, opts shim.StartOpts) (_ string, retErr error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return "", err
	}
	group := opts.ID
	if annotations, err := readAnnotations("."); err == nil {
		for _, a := range groupAnnotations {
			if v := annotations[a]; v != "" {
				group = v
				break
			}
		}
	}
	address, err := socketAddress(ctx, opts.Address, group)
	if err != nil {
		return "", err
	}
	socket, err := shim.NewSocket(address)
	if err != nil {
		if !shim.SocketEaddrinuse(err) {
			return "", fmt.Errorf("creating the shim socket: %w", err)
		}
		if shim.CanConnect(address) {
			if err := shim.WriteAddress("address", address); err != nil {
				return "", err
			}
			return address, nil // the group's shim serves this container too
		}
		if err := shim.RemoveSocket(address); err != nil {
			return "", fmt.Errorf("removing a stale shim socket: %w", err)
		}
		if socket, err = shim.NewSocket(address); err != nil {
			return "", fmt.Errorf("creating the shim socket: %w", err)
		}
	}
	socket.SetUnlinkOnClose(false)
	defer func() {
		socket.Close()
		if retErr != nil {
			shim.RemoveSocket(address)
		}
	}()
	if err := shim.WriteAddress("address", address); err != nil {
		return "", err
	}
	f, err := socket.File()
	if err != nil {
		return "", err
	}
	defer f.Close()
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	args := []string{"-namespace", ns, "-id", opts.ID, "-address", opts.Address}
	if opts.Debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(s.self, args...)
	cmd.Dir = cwd
	cmd.Env = os.Environ()
	cmd.ExtraFiles = []*os.File{f}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	go cmd.Wait()
	if err := shim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		log.G(ctx).WithError(err).Debug("adjusting the shim's OOM score")
	}
	return address, nil
}

// Cleanup is the `delete` action, run by containerd in the bundle directory when the
// shim is gone: it stops the container's process if it still runs, unmounts the rootfs,
// removes the cgroup and the dead shim's socket.
func (s *Service) Cleanup(ctx context.Context) (*taskAPI.DeleteResponse, error) {
	dir, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	var pid int
	if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil {
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		if pid > 0 && isOurs(pid, dir) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.Remove(filepath.Join(dir, pidFile))
	}
	if err := mount.UnmountAll(filepath.Join(dir, "rootfs"), 0); err != nil {
		log.G(ctx).WithError(err).Warn("unmounting the rootfs")
	}
	if spec, err := guest.ReadSpec(dir); err == nil && spec.Linux != nil && spec.Linux.CgroupsPath != "" {
		if cg, err := cgroup.New(ctx, spec.Linux.CgroupsPath, nil); err == nil {
			for i := 0; i < 50 && cg.Delete() != nil; i++ {
				time.Sleep(10 * time.Millisecond) // the killed process leaves it
			}
		}
	}
	// A shim killed with SIGKILL leaves its socket; remove it once nothing answers there
	// (the shim of a group may still serve other containers).
	if address, err := shim.ReadAddress(filepath.Join(dir, "address")); err == nil && !shim.CanConnect(address) {
		if err := shim.RemoveSocket(address); err != nil && !os.IsNotExist(err) {
			log.G(ctx).WithError(err).Warn("removing the dead shim's socket")
		}
		os.Remove(filepath.Join(dir, "address"))
	}
	return &taskAPI.DeleteResponse{
		Pid:        uint32(pid),
		ExitStatus: 128 + uint32(syscall.SIGKILL),
		ExitedAt:   protobuf.ToTimestamp(time.Now()),
	}, nil
}

// isOurs reports whether pid is a berth-guest process in bundle dir, so
// that a recycled pid is never killed.
func isOurs(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), guest.Binary) {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return err == nil && cwd == dir
}

// Info answers `-info` (containerd 2.x asks it, e.g. before idmapped mounts): the
// runtime's name, version and OCI features, as a protobuf RuntimeInfo on w.
func Info(w io.Writer) error {
	f := features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: "1.3.0",
		Annotations: map[string]string{
			"dev.berth.engine": "wazero",
		},
	}
	b, err := json.Marshal(&f)
	if err != nil {
		return err
	}
	info := &apitypes.RuntimeInfo{
		Name:    RuntimeName,
		Version: &apitypes.RuntimeVersion{Version: Version},
		// containerd registers the OCI features type under this URL, JSON-encoded.
		Features: &anypb.Any{TypeUrl: "types.containerd.io/opencontainers/runtime-spec/1/features/Features", Value: b},
	}
	out, err := proto.Marshal(info)
	if err != nil {
		return err
	}
	_, err = w.Write(out)
	return err
}
