package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// shimProcs lists the live processes running the binaries this run built in the shim's
// directory (containerd-shim-berth-v1, berth-guest), by PID; shims of other runs on
// the machine do not count.
func shimProcs(shim string) map[int]string {
	dir := filepath.Dir(shim)
	out := map[int]string{}
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil { // gone, or a zombie (PID 1 reaps finished shims)
			continue
		}
		if filepath.Dir(strings.TrimSuffix(p, " (deleted)")) == dir {
			out[pid] = cmdline(pid)
		}
	}
	return out
}

// leftovers is a snapshot of what shims leave behind: shim processes, sockets under
// /run/containerd/s, mounts under containerd's state directory, and task bundles there.
type leftovers struct {
	procs   map[int]string
	sockets []string
	mounts  []string
	bundles []string
}

func snapshotLeftovers(t testing.TB, c *containerd, shim string) leftovers {
	t.Helper()
	bundles, _ := filepath.Glob(filepath.Join(c.state, "io.containerd.runtime.v2.task", "*", "*"))
	return leftovers{procs: shimProcs(shim), sockets: c.shimSockets(), mounts: c.mountsUnder(t, c.state), bundles: bundles}
}

// newSince lists what is in now and not in before.
func (now leftovers) newSince(before leftovers) []string {
	var out []string
	for pid, cl := range now.procs {
		if _, ok := before.procs[pid]; !ok {
			out = append(out, fmt.Sprintf("process %d: %s", pid, cl))
		}
	}
	for _, s := range now.sockets {
		if !slices.Contains(before.sockets, s) {
			out = append(out, "socket /run/containerd/s/"+s)
		}
	}
	for _, m := range now.mounts {
		if !slices.Contains(before.mounts, m) {
			out = append(out, "mount "+m)
		}
	}
	for _, b := range now.bundles {
		if !slices.Contains(before.bundles, b) {
			out = append(out, "bundle "+b)
		}
	}
	slices.Sort(out)
	return out
}

// checkNoLeftovers fails the test if shim processes, sockets or mounts appeared since
// before. Shims exit asynchronously after a task is deleted, so it waits up to 10 s.
func checkNoLeftovers(t testing.TB, c *containerd, shim string, before leftovers) {
	t.Helper()
	var left []string
	if !eventually(10*time.Second, func() bool {
		left = snapshotLeftovers(t, c, shim).newSince(before)
		return len(left) == 0
	}) {
		t.Errorf("left behind after the tests (10s after the last delete):\n  %s", strings.Join(left, "\n  "))
	}
}

// cgroups reads /proc/PID/cgroup as controller list → path.
func cgroups(t testing.TB, pid int) map[string]string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatalf("reading the cgroup of process %d: %v", pid, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(line, ":", 3)
		if len(f) == 3 {
			m[f[1]] = f[2]
		}
	}
	return m
}

// checkCgroup asserts that process pid is in a cgroup other than containerd's, whose
// path contains want (the container id or the cgroups path the spec names), in every
// hierarchy where containerd's own cgroup is not the root.
//
// # Notes
//
// On cgroup v1 each controller is its own hierarchy; the unified v2 line has an empty
// controller list (and on a hybrid host it stays "/"). Named hierarchies (name=systemd)
// are not managed by runc-style runtimes unless asked, so only the cpu and memory
// controllers (v1) or the unified hierarchy (v2) must match.
func checkCgroup(t testing.TB, pid, containerdPID int, want string) {
	t.Helper()
	got, daemon := cgroups(t, pid), cgroups(t, containerdPID)
	v2 := len(got) == 1
	checked := 0
	for ctrl, path := range got {
		if !cgroupChecked(ctrl, v2) {
			continue
		}
		checked++
		if path == daemon[ctrl] {
			t.Errorf("process %d is in containerd's own cgroup %s:%s, want the container's (%s)", pid, ctrl, path, want)
			continue
		}
		if !strings.Contains(path, want) {
			t.Errorf("process %d is in cgroup %s:%s, want a path containing %q", pid, ctrl, path, want)
		}
	}
	if checked == 0 {
		t.Fatalf("process %d: no cpu, memory or unified cgroup line in %v", pid, got)
	}
}

// cgroupChecked says whether a /proc/PID/cgroup line counts: the unified line on a
// cgroup v2 host (on a v1 or hybrid host it is "/" for everyone), cpu and memory on v1.
func cgroupChecked(ctrl string, v2 bool) bool {
	if ctrl == "" {
		return v2
	}
	for _, c := range strings.Split(ctrl, ",") {
		if c == "memory" || c == "cpu" {
			return true
		}
	}
	return false
}

// netns is /proc/PID/ns/net ("net:[inode]").
func netns(t testing.TB, pid int) string {
	t.Helper()
	s, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
	if err != nil {
		t.Fatalf("reading the network namespace of process %d: %v", pid, err)
	}
	return s
}
