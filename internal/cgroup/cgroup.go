// Package cgroup places a container's process into the cgroup its OCI spec names
// (linux.cgroupsPath), applies the spec's linux.resources there, and reads the cgroup's
// statistics in the protobuf form containerd's Stats call carries.
//
// The shim runs each Wasm guest in a process of its own; putting that process into the
// cgroup Kubernetes or Docker chose is what makes their memory, CPU and pids limits hold,
// and what `kubectl top`, `docker stats` and `ctr task metrics` read.
//
// # Notes
//
//   - cgroupfs only, no systemd. A "slice:prefix:name" path (the systemd driver's form) is
//     converted to the directory runc's systemd driver would end up with
//     (`system.slice:docker:ID` → `/system.slice/docker-ID.scope`) and managed by writing
//     cgroupfs directly. The limit: no transient unit is created over D-Bus, so on a host
//     that does run systemd, systemd does not know the scope, will not show it in
//     `systemctl`, and may move or prune it when it reorganises the slice. berth's machines
//     have no systemd (PID 1 is not systemd) and kubelet runs with cgroupDriver: cgroupfs
//     there; the systemd form is accepted so that a spec written for the systemd driver
//     still lands where that driver would put it. Missing parent slices are created as
//     plain directories.
//   - Both cgroup v1 (including "hybrid": v1 controllers plus an empty v2 hierarchy, where
//     the process also joins the v2 path as systemd-era runc does) and v2 are handled. On v2
//     the controllers berth uses (cpu, cpuset, io, memory, pids) are enabled in every
//     ancestor's cgroup.subtree_control on the way down, as runc does.
//   - Resources applied: memory limit, memory+swap, reservation, swappiness, OOM-killer
//     switch; CPU shares/weight, quota, period, burst, idle, realtime (v1), cpuset cpus and
//     mems; pids limit; and linux.resources.unified on v2. Not applied: devices (a Wasm
//     guest opens no device nodes: its only files are the WASI preopens), block I/O,
//     hugetlb, network classes and RDMA. Requesting them is not an error (CRI sends a
//     device list with every container); they are dropped with a debug log.
//   - The containerd/cgroups/v3 managers (cgroup1, cgroup2) are not used, only their stats
//     protobufs and cgroups.Mode: the managers import D-Bus, go-systemd and eBPF modules that
//     berth's go.sum does not carry and the shim does not otherwise need; they take only
//     absolute paths (no relative or systemd forms, no hybrid v2 join); and cgroup2's
//     ToResources writes the OCI memory+swap total into memory.swap.max unconverted, where
//     runc writes total minus memory. The cgroupfs writes here follow runc's.
//   - A process can be forked into its cgroup (Cgroup.Start, Birth) rather than moved
//     there (Add): moving a process waits for an RCU grace period after an idle moment
//     (4–20 ms here), forking into it does not. See Birth.
//   - Delete removes the container's own directory (child cgroups below it first), not the
//     parents New created: a pod's or a slice's directory is shared and belongs to kubelet
//     or whoever made it.
package cgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"

	cgroups "github.com/containerd/cgroups/v3"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

var (
	// ErrInvalidPath is returned for a linux.cgroupsPath that names no valid cgroup, such
	// as a systemd "slice:prefix:name" whose slice is not a slice name.
	ErrInvalidPath = errors.New("invalid cgroups path")
	// ErrUnavailable is returned when no cgroup hierarchy is mounted.
	ErrUnavailable = errors.New("no cgroup hierarchy mounted")
	// ErrNoCgroup is returned by Metrics on a nil *Cgroup (no cgroup was requested).
	ErrNoCgroup = errors.New("no cgroup")
	// ErrControllerMissing is returned when a resource needs a controller that is not
	// mounted (v1) or not enabled for the cgroup (v2).
	ErrControllerMissing = errors.New("cgroup controller missing")
)

// Cgroup is one container's cgroup, in every mounted hierarchy. It is safe for concurrent
// use: it holds only paths.
//
// A nil *Cgroup stands for "no cgroup requested" (see New): its Add and Delete do nothing,
// Path returns "", and Metrics returns ErrNoCgroup.
type Cgroup struct {
	v2    bool
	path  string   // as /proc/PID/cgroup shows it: memory hierarchy on v1, unified on v2
	dirs  []place  // v1: one per hierarchy (and the unified one on hybrid); v2: one
	homes []string // per dirs: the creating process's own cgroup directory ("" if unknown)
	owned []string
}

// place is the cgroup's directory in one hierarchy.
type place struct {
	hierarchy
	dir string
}

// New loads or creates the cgroup named by an OCI spec's linux.cgroupsPath, and applies
// res to it (res may be nil: nothing is changed).
//
// An empty cgroupsPath returns (nil, nil): no cgroup was requested, and the process stays
// where it is. The nil *Cgroup may be used as is (see Cgroup).
//
// See the package's Notes for the path forms and the resources applied. If applying res
// fails, a directory New made is removed again. Errors name the path and what failed.
func New(ctx context.Context, cgroupsPath string, res *specs.LinuxResources) (*Cgroup, error) {
	if cgroupsPath == "" {
		return nil, nil
	}
	sp, err := parseCgroupsPath(cgroupsPath)
	if err != nil {
		return nil, err
	}
	h, err := detectHost()
	if err != nil {
		return nil, err
	}
	return h.create(ctx, sp, res)
}

// host is what New needs to know about the machine: which hierarchies are mounted where,
// and where the calling process sits in each.
type host struct {
	v2          bool
	hierarchies []hierarchy // v1 and (hybrid) the unified one; v2: the unified one
	own         []string    // the calling process's path, per hierarchy
}

func detectHost() (*host, error) {
	mode := cgroups.Mode()
	if mode == cgroups.Unavailable {
		return nil, ErrUnavailable
	}
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	defer mi.Close()
	mounts, err := parseMountinfo(mi)
	if err != nil {
		return nil, fmt.Errorf("cgroup: reading /proc/self/mountinfo: %w", err)
	}
	pc, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroup: %w", err)
	}
	defer pc.Close()
	self, err := parseProcCgroup(pc)
	if err != nil {
		return nil, fmt.Errorf("cgroup: reading /proc/self/cgroup: %w", err)
	}
	h := &host{v2: mode == cgroups.Unified}
	for _, m := range mounts {
		if h.v2 != m.v2 && !(mode == cgroups.Hybrid && m.v2) {
			continue
		}
		if h.v2 && m.mount != "/sys/fs/cgroup" {
			continue // the unified mount cgroups.Mode looked at
		}
		m, s, ok := matchSelf(m, self)
		if !ok {
			continue // a hierarchy the process is not in (another namespace's)
		}
		h.hierarchies = append(h.hierarchies, m)
		h.own = append(h.own, s.path)
	}
	if len(h.hierarchies) == 0 {
		return nil, fmt.Errorf("%w: %s mode, but no usable mount in /proc/self/mountinfo", ErrUnavailable, Mode())
	}
	return h, nil
}

func (h *host) create(ctx context.Context, sp spec, res *specs.LinuxResources) (_ *Cgroup, err error) {
	c := &Cgroup{v2: h.v2}
	for i, hi := range h.hierarchies {
		dir, shown, err := locate(hi, h.own[i], sp)
		if err != nil {
			return nil, err
		}
		c.dirs = append(c.dirs, place{hierarchy: hi, dir: dir})
		home := ""
		if rel, err := filepath.Rel(hi.root, h.own[i]); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
			home = filepath.Join(hi.mount, rel)
		}
		c.homes = append(c.homes, home)
		if c.path == "" || slices.Contains(hi.controllers, "memory") || (h.v2 && hi.v2) {
			c.path = shown
		}
	}
	defer func() {
		if err != nil {
			c.removeOwned()
		}
	}()
	if c.v2 {
		err = c.createV2(ctx, res)
	} else {
		err = c.createV1(ctx, res)
	}
	if err != nil {
		return nil, err
	}
	slog.DebugContext(ctx, "cgroup ready", "path", c.path, "v2", c.v2, "systemd", sp.systemd)
	return c, nil
}

// mkdir creates dir and its missing parents below the hierarchy's mount, calling visit
// for every directory from the mount point down (mount point included, dir last). The
// leaf is remembered for removal if New fails later.
func (c *Cgroup) mkdir(p place, visit func(dir string, created bool) error) error {
	rel, err := filepath.Rel(p.mount, p.dir)
	if err != nil {
		return fmt.Errorf("cgroup: %s is not below %s: %w", p.dir, p.mount, err)
	}
	cur := p.mount
	if visit != nil {
		if err := visit(cur, false); err != nil {
			return err
		}
	}
	if rel == "." || rel == ".." || strings.HasPrefix(rel, "../") {
		return fmt.Errorf("%w: %s is not below the hierarchy root %s", ErrInvalidPath, p.dir, p.mount)
	}
	parts := strings.Split(rel, "/")
	for i, e := range parts {
		cur = filepath.Join(cur, e)
		created := true
		if err := unix.Mkdir(cur, 0o755); err != nil {
			if !errors.Is(err, unix.EEXIST) {
				return fmt.Errorf("cgroup: create %s: %w", cur, err)
			}
			created = false
		}
		if created && i == len(parts)-1 {
			c.owned = append(c.owned, cur)
		}
		if visit != nil {
			if err := visit(cur, created); err != nil {
				return err
			}
		}
	}
	return nil
}

func (c *Cgroup) removeOwned() {
	_ = removeDirs(c.owned...)
}

// Add moves the process pid into the cgroup, in every hierarchy.
func (c *Cgroup) Add(pid int) error {
	if c == nil {
		return nil
	}
	if pid <= 0 {
		return fmt.Errorf("cgroup: add pid %d to %s: invalid pid", pid, c.path)
	}
	for _, p := range c.dirs {
		if err := addProc(p.dir, pid); err != nil {
			return fmt.Errorf("cgroup: add pid %d to %s: %w", pid, filepath.Join(p.dir, "cgroup.procs"), err)
		}
	}
	return nil
}

// Delete removes the cgroup's directory from every hierarchy. Call it after the process
// has exited and been waited for: a cgroup that still holds a process cannot be removed,
// and the error wraps unix.EBUSY. A cgroup that is already gone is not an error.
func (c *Cgroup) Delete() error {
	if c == nil {
		return nil
	}
	dirs := make([]string, len(c.dirs))
	for i, p := range c.dirs {
		dirs[i] = p.dir
	}
	return removeDirs(dirs...)
}

// Path returns the cgroup's path as /proc/PID/cgroup shows it for a process inside
// (for cgroup v1, the memory hierarchy's line): e.g. "/kubepods/besteffort/pod1/ID" or
// "/system.slice/docker-ID.scope".
func (c *Cgroup) Path() string {
	if c == nil {
		return ""
	}
	return c.path
}

// Metrics reads the cgroup's statistics: a *github.com/containerd/cgroups/v3/cgroup1/stats.Metrics
// on cgroup v1 (and hybrid), a *github.com/containerd/cgroups/v3/cgroup2/stats.Metrics on v2,
// the types containerd's `ctr task metrics` and CRI expect inside the typeurl.MarshalAny of
// a Stats response.
func (c *Cgroup) Metrics() (proto.Message, error) {
	if c == nil {
		return nil, ErrNoCgroup
	}
	if c.v2 {
		return c.metricsV2()
	}
	return c.metricsV1()
}

// OOMKills is how many processes of the cgroup the kernel's OOM killer has killed (v1
// memory.oom_control, v2 memory.events); 0 when it cannot tell. The shim asks it when a
// container dies of SIGKILL nobody sent, to report an OOM as containerd's runc shim does.
func (c *Cgroup) OOMKills() uint64 {
	if c == nil {
		return 0
	}
	if c.v2 {
		if m, err := c.metricsV2(); err == nil && m.MemoryEvents != nil {
			return m.MemoryEvents.OomKill
		}
		return 0
	}
	if m, err := c.metricsV1(); err == nil && m.MemoryOomControl != nil {
		return m.MemoryOomControl.OomKill
	}
	return 0
}

// Mode reports the host's cgroup layout for diagnostics: "v1", "v2", "hybrid" (v1
// controllers with a v2 hierarchy beside them), or "none".
func Mode() string {
	switch cgroups.Mode() {
	case cgroups.Legacy:
		return "v1"
	case cgroups.Hybrid:
		return "hybrid"
	case cgroups.Unified:
		return "v2"
	default:
		return "none"
	}
}

// controllerDir returns the directory of the hierarchy holding controller (v1).
func (c *Cgroup) controllerDir(controller string) (string, bool) {
	for _, p := range c.dirs {
		if !p.v2 && slices.Contains(p.controllers, controller) {
			return p.dir, true
		}
	}
	return "", false
}
