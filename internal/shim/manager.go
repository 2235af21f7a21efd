package shim

import (
	"context"
	"encoding/json"
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
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
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
	shim.Run(RuntimeName, New, func(c *shim.Config) {
		// The shim waits for its container processes itself (exec.Cmd.Wait): they are its
		// children and start none of their own, so the library's global reaper, which
		// would race exec.Cmd for their exit status, is not used.
		c.NoReaper = true
		c.NoSubreaper = true
	})
}

// groupAnnotations choose the shim of a container: containers whose spec carries the same
// value share one shim (one per pod under CRI); otherwise each has its own.
var groupAnnotations = []string{"dev.berth.shim.group", annotationSandboxID}

// StartShim is the `start` action: it starts the long-lived shim process for a
// container, or finds the one of its group, and returns its socket address.
//
// # Notes
//
//   - The started shim gets /dev/null as stdout: containerd reads `start`'s stdout to
//     its end, so a child holding that pipe would hang containerd.
//   - The listening socket is passed as fd 3 and must not be unlinked when this process
//     closes its copy (SetUnlinkOnClose(false)).
func (s *Service) StartShim(ctx context.Context, opts shim.StartOpts) (_ string, retErr error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return "", err
	}
	group := opts.ID
	if spec, err := guest.ReadSpec("."); err == nil {
		for _, a := range groupAnnotations {
			if v := spec.Annotations[a]; v != "" {
				group = v
				break
			}
		}
	}
	address, err := shim.SocketAddress(ctx, opts.Address, group)
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
// shim is gone: it stops the container's process if it still runs, unmounts the rootfs
// and removes the cgroup.
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
