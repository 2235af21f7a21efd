package cgroup

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// The test binary doubles as the process put into cgroups: with BERTH_CGROUP_HELPER set
// it waits for a line on stdin (sent once it is in the cgroup, so its memory is charged
// there), allocates and touches BERTH_CGROUP_ALLOC_MB MiB, burns 200 ms of CPU, says
// "ready", and waits for stdin to close.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_CGROUP_HELPER") == "1" {
		helper()
		return
	}
	os.Exit(m.Run())
}

var sink []byte

func helper() {
	in := bufio.NewReader(os.Stdin)
	if _, err := in.ReadString('\n'); err != nil {
		os.Exit(2)
	}
	mb, _ := strconv.Atoi(os.Getenv("BERTH_CGROUP_ALLOC_MB"))
	sink = make([]byte, mb<<20)
	for i := 0; i < len(sink); i += 4096 {
		sink[i] = 1
	}
	// Burn 200 ms of CPU time (not wall time: the machine may be busy).
	start := cpuTime()
	x := 0
	for cpuTime()-start < 200*time.Millisecond {
		for range 100000 {
			x++
		}
	}
	fmt.Println("ready", x)
	_, _ = io.Copy(io.Discard, in)
}

func cpuTime() time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		os.Exit(3)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type helperProc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startHelper starts the helper process, stopped before its work. It is killed and
// waited for at cleanup if the test has not done so.
func startHelper(t *testing.T, allocMB int) *helperProc {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "BERTH_CGROUP_HELPER=1", "BERTH_CGROUP_ALLOC_MB="+strconv.Itoa(allocMB))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helperProc{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
	t.Cleanup(func() { h.stop() })
	return h
}

// work lets the helper allocate and spin, and waits for it to say it is done.
func (h *helperProc) work(t *testing.T) {
	t.Helper()
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	line, err := h.out.ReadString('\n')
	if !strings.HasPrefix(line, "ready") {
		t.Fatalf("helper said %q, %v", line, err)
	}
}

// stop kills the helper and reaps it; safe to call twice.
func (h *helperProc) stop() error {
	if h.cmd.ProcessState != nil {
		return nil
	}
	_ = h.cmd.Process.Kill()
	_ = h.stdin.Close()
	return h.cmd.Wait()
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: creates cgroups under the real cgroupfs")
	}
	if Mode() == "none" {
		t.Skip("no cgroup hierarchy mounted")
	}
}

// testName returns a fresh test-only cgroup name, berth-test-<random>.
func testName(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return "berth-test-" + hex.EncodeToString(b[:])
}

// removeTopAtCleanup removes top (a path as New takes it, before any relative
// resolution) from every hierarchy at cleanup, parents New made included.
func removeTopAtCleanup(t *testing.T, top string) {
	t.Helper()
	h, err := detectHost()
	if err != nil {
		t.Fatal(err)
	}
	sp, err := parseCgroupsPath(top)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i, hi := range h.hierarchies {
			dir, _, err := locate(hi, h.own[i], sp)
			if err != nil {
				t.Error(err)
				continue
			}
			if err := removeDirs(dir); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
	})
}

// procCgroup returns /proc/PID/cgroup as controller list → path ("" for the unified line).
func procCgroup(t *testing.T, pid int) map[string]string {
	t.Helper()
	return cgroupFile(t, fmt.Sprintf("/proc/%d/cgroup", pid))
}

// cgroupFile parses a /proc/…/cgroup file into controllers (joined by ",") → path.
func cgroupFile(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines, err := parseProcCgroup(f)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, l := range lines {
		out[strings.Join(l.controllers, ",")] = l.path
	}
	return out
}

// checkMember asserts that pid is in c in every hierarchy c spans.
func checkMember(t *testing.T, c *Cgroup, pid int) {
	t.Helper()
	got := procCgroup(t, pid)
	for _, p := range c.dirs {
		key := strings.Join(p.controllers, ",")
		rel, err := filepath.Rel(p.mount, p.dir)
		if err != nil {
			t.Fatal(err)
		}
		want := filepath.Join(p.root, rel)
		if got[key] != want {
			t.Errorf("/proc/%d/cgroup %q line: %q, want %q", pid, key, got[key], want)
		}
	}
	key := "memory"
	if c.v2 {
		key = ""
	}
	if got[key] != c.Path() {
		t.Errorf("/proc/%d/cgroup %q line: %q, want Path() %q", pid, key, got[key], c.Path())
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func ptr[T any](v T) *T { return &v }

func TestNewAppliesLimits(t *testing.T) {
	requireRoot(t)
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	const limit = 64 << 20
	res := &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](limit), Swap: ptr[int64](limit), Reservation: ptr[int64](limit / 2)},
		CPU:    &specs.LinuxCPU{Shares: ptr[uint64](512), Quota: ptr[int64](50000), Period: ptr[uint64](100000)},
		Pids:   &specs.LinuxPids{Limit: ptr[int64](32)},
	}
	c, err := New(t.Context(), name+"/ctr", res)
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != name+"/ctr" {
		t.Errorf("Path() = %q, want %q", c.Path(), name+"/ctr")
	}
	want := map[string]string{}
	if c.v2 {
		want["memory.max"] = strconv.Itoa(limit)
		want["memory.low"] = strconv.Itoa(limit / 2)
		want["cpu.weight"] = strconv.FormatUint(cpuWeight(512), 10)
		want["cpu.max"] = "50000 100000"
		want["pids.max"] = "32"
		if exists(c.dirs[0].dir, "memory.swap.max") {
			want["memory.swap.max"] = "0"
		}
		for f, v := range want {
			if got := readFile(t, filepath.Join(c.dirs[0].dir, f)); got != v {
				t.Errorf("%s = %q, want %q", f, got, v)
			}
		}
		return
	}
	memDir, _ := c.controllerDir("memory")
	cpuDir, _ := c.controllerDir("cpu")
	pidsDir, _ := c.controllerDir("pids")
	want[filepath.Join(memDir, "memory.limit_in_bytes")] = strconv.Itoa(limit)
	want[filepath.Join(memDir, "memory.soft_limit_in_bytes")] = strconv.Itoa(limit / 2)
	if exists(memDir, "memory.memsw.limit_in_bytes") {
		want[filepath.Join(memDir, "memory.memsw.limit_in_bytes")] = strconv.Itoa(limit)
	}
	want[filepath.Join(cpuDir, "cpu.shares")] = "512"
	want[filepath.Join(cpuDir, "cpu.cfs_quota_us")] = "50000"
	want[filepath.Join(cpuDir, "cpu.cfs_period_us")] = "100000"
	want[filepath.Join(pidsDir, "pids.max")] = "32"
	for f, v := range want {
		if got := readFile(t, f); got != v {
			t.Errorf("%s = %q, want %q", f, got, v)
		}
	}
	// A new nested v1 cpuset directory got its parent's cpus and mems.
	if dir, ok := c.controllerDir("cpuset"); ok {
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if got, parent := readFile(t, filepath.Join(dir, f)), readFile(t, filepath.Join(filepath.Dir(dir), f)); got == "" || got != parent {
				t.Errorf("%s/%s = %q, parent has %q", dir, f, got, parent)
			}
		}
	}

	// New on an existing cgroup loads it and applies the new values (an update), here
	// lowering the limits below the memory+swap limit already set.
	const lower = 32 << 20
	c2, err := New(t.Context(), name+"/ctr", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](lower), Swap: ptr[int64](lower)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(memDir, "memory.limit_in_bytes")); got != strconv.Itoa(lower) {
		t.Errorf("after update memory.limit_in_bytes = %s, want %d", got, lower)
	}
	// And raising both again needs memsw raised first.
	if _, err := New(t.Context(), name+"/ctr", res); err != nil {
		t.Fatalf("raising limits again: %v", err)
	}
	if err := c2.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestAddAndDelete(t *testing.T) {
	requireRoot(t)
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	c, err := New(t.Context(), name+"/pod1/ctr", nil)
	if err != nil {
		t.Fatal(err)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	if err := c.Add(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	checkMember(t, c, sleep.Process.Pid)

	// A cgroup holding a process cannot go.
	if err := c.Delete(); !errors.Is(err, unix.EBUSY) {
		t.Errorf("Delete with a live process = %v, want EBUSY", err)
	}
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	if err := c.Delete(); err != nil {
		t.Fatalf("Delete after exit: %v", err)
	}
	for _, p := range c.dirs {
		if _, err := os.Stat(p.dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there after Delete (%v)", p.dir, err)
		}
		// The parents stay: they may be shared (a pod's, a slice's).
		if _, err := os.Stat(filepath.Dir(p.dir)); err != nil {
			t.Errorf("parent of %s: %v", p.dir, err)
		}
	}
	if err := c.Delete(); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := c.Add(sleep.Process.Pid); err == nil {
		t.Error("Add into a deleted cgroup succeeded")
	}
}

func TestMetrics(t *testing.T) {
	requireRoot(t)
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	c, err := New(t.Context(), name, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](100)}})
	if err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, 48)
	if err := c.Add(h.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	h.work(t)
	msg, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	const minMem = 40 << 20 // of the 48 MiB the helper touched after joining
	switch m := msg.(type) {
	case *v1.Metrics:
		if c.v2 {
			t.Fatal("v1 metrics from a v2 cgroup")
		}
		if m.Memory.Usage.Usage < minMem || m.Memory.TotalRSS < minMem {
			t.Errorf("memory usage %d, rss %d; want ≥ %d", m.Memory.Usage.Usage, m.Memory.TotalRSS, minMem)
		}
		if m.Memory.Usage.Limit == 0 {
			t.Error("memory limit reads 0")
		}
		if u := m.CPU.Usage; u.Total < uint64(100*time.Millisecond) || u.User+u.Kernel == 0 || len(u.PerCPU) == 0 {
			t.Errorf("cpu usage %+v; want ≥ 100ms total", u)
		}
		if m.Pids == nil || m.Pids.Current < 1 || m.Pids.Limit != 100 {
			t.Errorf("pids %+v; want current ≥ 1, limit 100", m.Pids)
		}
	case *v2.Metrics:
		if m.Memory.Usage < minMem || m.Memory.Anon < minMem {
			t.Errorf("memory usage %d, anon %d; want ≥ %d", m.Memory.Usage, m.Memory.Anon, minMem)
		}
		if m.CPU.UsageUsec < 100000 {
			t.Errorf("cpu usage %d µs; want ≥ 100000", m.CPU.UsageUsec)
		}
		if m.Pids.Current < 1 || m.Pids.Limit != 100 {
			t.Errorf("pids %+v; want current ≥ 1, limit 100", m.Pids)
		}
	default:
		t.Fatalf("Metrics returned %T", msg)
	}

	// What the shim sends: typeurl.MarshalAny, decoded on containerd's side by type URL.
	anyMsg, err := typeurl.MarshalAny(msg)
	if err != nil {
		t.Fatal(err)
	}
	back, err := typeurl.UnmarshalAny(anyMsg)
	if err != nil {
		t.Fatalf("UnmarshalAny(%s): %v", anyMsg.GetTypeUrl(), err)
	}
	if !proto.Equal(back.(proto.Message), msg) {
		t.Errorf("metrics changed in a typeurl round trip (%s)", anyMsg.GetTypeUrl())
	}

	_ = h.stop()
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Metrics(); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Metrics after Delete = %v, want ErrNotExist", err)
	}
}

// TestMemoryLimitEnforced is the point of it all: a process over its limit is killed.
func TestMemoryLimitEnforced(t *testing.T) {
	requireRoot(t)
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	const limit = 32 << 20
	c, err := New(t.Context(), name, &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](limit), Swap: ptr[int64](limit)},
	})
	if err != nil {
		t.Fatal(err)
	}
	h := startHelper(t, 128)
	if err := c.Add(h.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(h.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	err = h.cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("helper allocating 128 MiB under a 32 MiB limit: %v, want killed", err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); !ok || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL from the OOM killer", err)
	}
	msg, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	switch m := msg.(type) {
	case *v1.Metrics:
		// The v1 memory controller charges a page before it reclaims or kills, so the
		// high-water mark may pass the limit by a few pages (seen: 4096 bytes).
		const slack = 64 << 10
		if m.MemoryOomControl.OomKill < 1 || m.Memory.Usage.Max > limit+slack || m.Memory.Usage.Max < limit*3/4 {
			t.Errorf("oom_kill %d, max usage %d; want > 0, and near %d (at most %d over)", m.MemoryOomControl.OomKill, m.Memory.Usage.Max, limit, slack)
		}
	case *v2.Metrics:
		if m.MemoryEvents == nil || m.MemoryEvents.OomKill < 1 {
			t.Errorf("memory events %+v; want oom_kill > 0", m.MemoryEvents)
		}
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestRelativePath(t *testing.T) {
	requireRoot(t)
	name := testName(t)
	removeTopAtCleanup(t, name)
	c, err := New(t.Context(), name, nil)
	if err != nil {
		t.Fatal(err)
	}
	self := procCgroup(t, os.Getpid())
	key := "memory"
	if c.v2 {
		key = ""
	}
	own := self[key]
	if c.v2 {
		own = filepath.Dir(own)
	}
	if want := filepath.Join(own, name); c.Path() != want {
		t.Errorf("Path() = %q, want %q (below the test's own cgroup %q)", c.Path(), want, self[key])
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	if err := c.Add(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	checkMember(t, c, sleep.Process.Pid)
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestSystemdForm(t *testing.T) {
	requireRoot(t)
	slice := strings.ReplaceAll(testName(t), "-", "") + ".slice" // berthtest<hex>.slice
	removeTopAtCleanup(t, "/"+slice)
	c, err := New(t.Context(), slice+":cri-containerd:abc123", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "/" + slice + "/cri-containerd-abc123.scope"; c.Path() != want {
		t.Errorf("Path() = %q, want %q", c.Path(), want)
	}
	sleep := exec.Command("sleep", "60")
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sleep.Process.Kill(); _ = sleep.Wait() })
	if err := c.Add(sleep.Process.Pid); err != nil {
		t.Fatal(err)
	}
	checkMember(t, c, sleep.Process.Pid)
	_ = sleep.Process.Kill()
	_ = sleep.Wait()
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
}

func TestEmptyPathMeansNoCgroup(t *testing.T) {
	c, err := New(t.Context(), "", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: ptr[int64](1)}})
	if c != nil || err != nil {
		t.Fatalf("New(\"\") = %v, %v; want nil, nil", c, err)
	}
	if err := c.Add(os.Getpid()); err != nil {
		t.Errorf("nil Add: %v", err)
	}
	if _, err := c.Metrics(); !errors.Is(err, ErrNoCgroup) {
		t.Errorf("nil Metrics: %v, want ErrNoCgroup", err)
	}
	if err := c.Delete(); err != nil || c.Path() != "" {
		t.Errorf("nil Delete: %v, Path %q", err, c.Path())
	}
}

func TestNewErrors(t *testing.T) {
	// Invalid paths fail before touching the host: no root needed.
	if _, err := New(t.Context(), "system:docker:abc", nil); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("bad slice: %v, want ErrInvalidPath", err)
	}
	requireRoot(t)
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	// The kernel refuses a memory+swap limit below the memory limit; the error names the
	// file, and the cgroup New made for it is gone again.
	_, err := New(t.Context(), name+"/ctr", &specs.LinuxResources{
		Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20), Swap: ptr[int64](32 << 20)},
	})
	h, herr := detectHost()
	if herr != nil {
		t.Fatal(herr)
	}
	if h.v2 {
		if err == nil || !strings.Contains(err.Error(), "below the memory limit") {
			t.Errorf("swap below limit: %v", err)
		}
	} else if exists("/sys/fs/cgroup/memory", "memory.memsw.limit_in_bytes") {
		if !errors.Is(err, unix.EINVAL) || !strings.Contains(err.Error(), "memory.memsw.limit_in_bytes") {
			t.Errorf("swap below limit: %v, want EINVAL naming memory.memsw.limit_in_bytes", err)
		}
	}
	if err != nil {
		for i, hi := range h.hierarchies {
			dir, _, _ := locate(hi, h.own[i], spec{inner: name + "/ctr"})
			if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("%s left behind by a failed New", dir)
			}
		}
	}
	if _, err := New(t.Context(), name+"/ctr2", &specs.LinuxResources{CPU: &specs.LinuxCPU{Shares: ptr[uint64](1 << 20)}}); err == nil {
		t.Error("cpu shares above the kernel's maximum accepted")
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := New(ctx, name+"/ctr3", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("New with a canceled context: %v", err)
	}
}

// TestV2OnUnifiedMount runs the cgroup v2 code path for real where the host only has v1
// controllers: on a hybrid host the v2 hierarchy is mounted too (with no controllers of
// its own), so creating, joining, cpu.stat metrics, unified keys and deleting can be
// exercised; limits that need controllers must fail with ErrControllerMissing.
func TestV2OnUnifiedMount(t *testing.T) {
	requireRoot(t)
	h, err := detectHost()
	if err != nil {
		t.Fatal(err)
	}
	if !h.v2 {
		i := slices.IndexFunc(h.hierarchies, func(x hierarchy) bool { return x.v2 })
		if i < 0 {
			t.Skip("no cgroup v2 hierarchy mounted on this v1 host")
		}
		h = &host{v2: true, hierarchies: h.hierarchies[i : i+1], own: h.own[i : i+1]}
	}
	name := "/" + testName(t)
	sp, _ := parseCgroupsPath(name)
	t.Cleanup(func() {
		dir, _, _ := locate(h.hierarchies[0], h.own[0], sp)
		if err := removeDirs(dir); err != nil {
			t.Error(err)
		}
	})
	ctrls := readFile(t, filepath.Join(h.hierarchies[0].mount, "cgroup.controllers"))
	if !strings.Contains(ctrls, "memory") {
		_, err := h.create(t.Context(), spec{inner: name + "/nomem"}, &specs.LinuxResources{
			Memory: &specs.LinuxMemory{Limit: ptr[int64](64 << 20)},
		})
		if !errors.Is(err, ErrControllerMissing) || !strings.Contains(err.Error(), "memory.max") {
			t.Errorf("memory limit without the memory controller: %v, want ErrControllerMissing naming memory.max", err)
		}
	}
	c, err := h.create(t.Context(), spec{inner: name + "/ctr"}, &specs.LinuxResources{
		Unified: map[string]string{"cgroup.max.descendants": "3"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(c.dirs[0].dir, "cgroup.max.descendants")); got != "3" {
		t.Errorf("cgroup.max.descendants = %q, want 3", got)
	}
	if _, err := h.create(t.Context(), spec{inner: name + "/ctr"}, &specs.LinuxResources{
		Unified: map[string]string{"../cgroup.max.depth": "1"},
	}); err == nil {
		t.Error("a unified key naming another directory was accepted")
	}
	hp := startHelper(t, 8)
	if err := c.Add(hp.cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if got := procCgroup(t, hp.cmd.Process.Pid)[""]; got != c.Path() {
		t.Errorf("/proc/PID/cgroup unified line %q, want %q", got, c.Path())
	}
	hp.work(t)
	msg, err := c.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	m, ok := msg.(*v2.Metrics)
	if !ok {
		t.Fatalf("Metrics returned %T, want *v2.Metrics", msg)
	}
	if m.CPU.UsageUsec < 100000 {
		t.Errorf("cpu usage_usec %d, want ≥ 100000", m.CPU.UsageUsec)
	}
	_ = hp.stop()
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.dirs[0].dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s still there after Delete", c.dirs[0].dir)
	}
}
