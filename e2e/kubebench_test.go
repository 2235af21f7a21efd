package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
)

// envBenchPods is the density benchmark's pod count per side (default 100).
const envBenchPods = "BERTH_BENCH_PODS"

// idleSrc is the density benchmark's program, built both as a wasm32-wasi guest and as
// a static native binary: it prints one line and sleeps. Natively, as PID 1 of its
// container, it ends on SIGTERM (a Wasm guest is killed by any signal).
const idleSrc = `#include <stdio.h>
#include <unistd.h>
#ifndef __wasi__
#include <signal.h>
static void done(int sig) { (void)sig; _exit(0); }
#endif

int main(void) {
#ifndef __wasi__
	signal(SIGINT, done);
	signal(SIGTERM, done);
#endif
	printf("idle\n");
	fflush(stdout);
	for (;;)
		sleep(3600);
}
`

const (
	imgIdle       = "docker.io/library/e2e-idle:1"        // idleSrc as a Wasm image
	imgIdleNative = "docker.io/library/e2e-idle-native:1" // idleSrc, gcc -static, linux
)

// buildIdleImages builds the two idle images (the Wasm one with berth build and save,
// then as an index that also lists it for linux/<arch>, as the other CRI images) and
// returns their archives.
func buildIdleImages(t *testing.T) (wasm, native string) {
	t.Helper()
	dir := t.TempDir()
	berth := berthBin(t)
	env := []string{"BERTH_ROOT=" + filepath.Join(dir, "root"), "BERTH_STATE=" + filepath.Join(dir, "state"), "SOURCE_DATE_EPOCH=0"}
	ctx := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(testguest.C(t, idleSrc), filepath.Join(ctx, "idle.wasm")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY idle.wasm /idle.wasm\nENTRYPOINT [\"/idle.wasm\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tag := strings.TrimPrefix(imgIdle, "docker.io/library/")
	must(t, runCmd(t, cmdOpts{env: env, timeout: 2 * time.Minute}, berth, "build", "-q", "-t", tag, ctx))
	saved := filepath.Join(dir, "idle.tar")
	must(t, runCmd(t, cmdOpts{env: env, timeout: time.Minute}, berth, "save", "-o", saved, tag))
	wasm = filepath.Join(dir, "idle-cri.tar")
	if err := withHostPlatform(saved, wasm); err != nil {
		t.Fatal(err)
	}

	gcc := hostTool(t, "gcc", "gcc")
	src, exe := filepath.Join(dir, "idle.c"), filepath.Join(dir, "idle")
	if err := os.WriteFile(src, []byte(idleSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	must(t, runCmd(t, cmdOpts{timeout: 2 * time.Minute}, gcc, "-static", "-O2", "-o", exe, src))
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	native = filepath.Join(dir, "idle-native.tar")
	if err := writeNativeImage(native, imgIdleNative, "/idle", b); err != nil {
		t.Fatal(err)
	}
	return wasm, native
}

// podWatch follows `kubectl get pods --watch` and notes when each pod is first seen
// Running, and any pod whose container fails.
type podWatch struct {
	mu      sync.Mutex
	running map[string]time.Time
	failed  map[string]string
	cmd     *exec.Cmd
	cond    *sync.Cond
}

// watchPods starts the watch inside the namespace; the cleanup kills it by PID.
func (k *kube) watchPods(t *testing.T) *podWatch {
	t.Helper()
	w := &podWatch{running: map[string]time.Time{}, failed: map[string]string{}}
	w.cond = sync.NewCond(&w.mu)
	argv := k.e.inside(filepath.Join(k.bin, "kubectl"), "--kubeconfig", k.kubeconfig,
		"--cache-dir", filepath.Join(k.dir, "kubectl-cache"), "get", "pods", "--watch", "--no-headers",
		"-o", "custom-columns=N:.metadata.name,P:.status.phase,W:.status.containerStatuses[0].state.waiting.reason,T:.status.containerStatuses[0].state.terminated.reason")
	w.cmd = exec.Command(argv[0], argv[1:]...)
	w.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		syscall.Kill(-w.cmd.Process.Pid, syscall.SIGKILL)
		w.cmd.Wait()
	})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			now := time.Now()
			f := strings.Fields(sc.Text())
			if len(f) < 4 {
				continue
			}
			w.mu.Lock()
			switch {
			case f[1] == "Running":
				if _, ok := w.running[f[0]]; !ok {
					w.running[f[0]] = now
				}
			case f[1] == "Failed" || f[2] == "CreateContainerError" || f[2] == "RunContainerError" ||
				f[2] == "CrashLoopBackOff" || f[2] == "ErrImageNeverPull" || f[3] == "StartError":
				w.failed[f[0]] = strings.Join(f[1:], " ")
			}
			w.cond.Broadcast()
			w.mu.Unlock()
		}
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	}()
	return w
}

// await waits until every pod in names is Running (returning when each became so) or
// one fails or timeout passes (returning an error naming it).
func (w *podWatch) await(names []string, timeout time.Duration) (map[string]time.Time, error) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { w.mu.Lock(); w.cond.Broadcast(); w.mu.Unlock() })
	defer timer.Stop()
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		got := map[string]time.Time{}
		for _, n := range names {
			if why, ok := w.failed[n]; ok {
				return got, fmt.Errorf("pod %s failed: %s", n, why)
			}
			if at, ok := w.running[n]; ok {
				got[n] = at
			}
		}
		if len(got) == len(names) {
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%d of %d pods Running after %v", len(got), len(names), timeout)
		}
		w.cond.Wait()
	}
}

// benchPod is the manifest of an idle pod: runtimeClass "" is runc.
func benchPod(name, runtimeClass, image, label string) string {
	rc := ""
	if runtimeClass != "" {
		rc = "\n  runtimeClassName: " + runtimeClass
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
  labels: {bench: %s}
spec:%s
  restartPolicy: Never
  terminationGracePeriodSeconds: 2
  automountServiceAccountToken: false
  enableServiceLinks: false
  dnsPolicy: Default
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
`, name, label, rc, image)
}

// memAvailable is /proc/meminfo's MemAvailable in kB.
func memAvailable(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "MemAvailable:" {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			return v
		}
	}
	t.Fatal("no MemAvailable in /proc/meminfo")
	return 0
}

// kubepodsMemory is memory.current (cgroup v2) or memory.usage_in_bytes (v1) of the
// kubelet's kubepods cgroup, in kB: every pod's processes and the kernel memory charged
// to them.
func (k *kube) kubepodsMemory(t *testing.T) int64 {
	t.Helper()
	for _, f := range []string{
		filepath.Join("/sys/fs/cgroup", k.cgroupRoot, "kubepods", "memory.current"),
		filepath.Join("/sys/fs/cgroup/memory", k.cgroupRoot, "kubepods", "memory.usage_in_bytes"),
	} {
		if b, err := os.ReadFile(f); err == nil {
			v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			return v / 1024
		}
	}
	t.Fatalf("no memory usage file for %s/kubepods", k.cgroupRoot)
	return 0
}

// meminfo is /proc/meminfo in kB, by field.
func meminfo(t *testing.T) map[string]int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int64{}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			m[strings.TrimSuffix(f[0], ":")] = v
		}
	}
	return m
}

// meminfoDelta describes how the fields that account for a pod's memory changed
// between two readings, per pod.
func meminfoDelta(before, after map[string]int64, pods int) string {
	var parts []string
	for _, f := range []string{"MemAvailable", "MemFree", "AnonPages", "Shmem", "Cached", "Slab", "KernelStack", "PageTables"} {
		parts = append(parts, fmt.Sprintf("%s %+.2f MB", f, float64(after[f]-before[f])/1024/float64(max(pods, 1))))
	}
	return strings.Join(parts, ", ")
}

// podCgroupMemory is a pod's cgroup memory usage (cgroup v2 memory.current, v1
// memory.usage_in_bytes) and the PSS of the processes in it and below, by the pod's UID;
// zeros when the cgroup is not found.
func (k *kube) podCgroupMemory(t *testing.T, uid string) (usage int64, procs memUse) {
	t.Helper()
	for _, h := range []struct{ root, file string }{
		{"/sys/fs/cgroup", "memory.current"},
		{"/sys/fs/cgroup/memory", "memory.usage_in_bytes"},
	} {
		dirs, _ := filepath.Glob(filepath.Join(h.root, k.cgroupRoot, "kubepods", "*", "pod"+uid))
		more, _ := filepath.Glob(filepath.Join(h.root, k.cgroupRoot, "kubepods", "pod"+uid))
		dirs = append(dirs, more...)
		if len(dirs) == 0 {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dirs[0], h.file))
		if err != nil {
			continue
		}
		usage, _ = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		var pids []int
		filepath.WalkDir(dirs[0], func(p string, d os.DirEntry, err error) error {
			if err == nil && d.Name() == "cgroup.procs" {
				b, _ := os.ReadFile(p)
				for _, f := range strings.Fields(string(b)) {
					if pid, err := strconv.Atoi(f); err == nil {
						pids = append(pids, pid)
					}
				}
			}
			return nil
		})
		return usage / 1024, memOf(t, pids)
	}
	return 0, memUse{}
}

// TestBenchKube measures, on the single-node cluster of newKube (kubelet 1.37.2,
// containerd 2.4.2), Wasm pods (runtimeClassName: berth) against runc pods running the
// same C program compiled natively, side by side in one run:
//
//   - start latency: apply → Running, one pod at a time, BERTH_BENCH_N pods per side,
//     alternating sides; the clock starts before `kubectl apply` and stops when a
//     `kubectl get pods --watch` started beforehand sees the pod Running (also given
//     from the moment apply returned, the pod object created);
//   - density: BERTH_BENCH_PODS idle pods per side (the kubelet's maxPods raised to
//     fit), created in batches of 10, how long until all are Running, whether any
//     failed, and the memory they add: PSS of their processes (berth: the shims and
//     berth-guest processes; runc: the runc shims and their children, pause and the
//     program), the kubepods cgroup's usage, and the host's MemAvailable drop (noisy:
//     the machine runs other work);
//   - the Go guest's first start on the node, which compiles the module into berth's
//     cache, against the next ones.
func TestBenchKube(t *testing.T) {
	requireBench(t)
	kubeBins(t)
	shim := shimBin(t)
	n := benchInt(t, envBenchN, 30)
	pods := benchInt(t, envBenchPods, 100)
	wasmArchive, nativeArchive := buildIdleImages(t)
	k := newKubeOpts(t, kubeOpts{containerd: containerdOpts{shimDir: filepath.Dir(shim)}, maxPods: pods + 20}, imgSleep)
	k.cri.c.importImage(t, "k8s.io", wasmArchive)
	k.cri.c.importImage(t, "k8s.io", nativeArchive)
	k.apply(t, "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: berth\nhandler: berth\n")
	w := k.watchPods(t)
	t.Cleanup(func() {
		k.kubectl(t, cmdOpts{timeout: 10 * time.Minute}, "delete", "pods", "--all", "--grace-period=0", "--force", "--wait=true")
	})

	type side struct{ name, rc, image string }
	sides := []side{{"berth", "berth", imgIdle}, {"runc", "", imgIdleNative}}

	// Warm-up, one pod each: the Wasm module's first run compiles it (see below).
	for _, s := range sides {
		name := "warm-" + s.name
		k.apply(t, benchPod(name, s.rc, s.image, "warm"))
		if _, err := w.await([]string{name}, 2*time.Minute); err != nil {
			t.Fatalf("warm-up: %v\n%s", err, k.kubectl(t, cmdOpts{}, "describe", "pod", name))
		}
		must(t, k.kubectl(t, cmdOpts{timeout: 2 * time.Minute}, "delete", "pod", name, "--wait=true"))
	}

	// Start latency.
	lat := map[string][]time.Duration{}
	created := map[string][]time.Duration{}
	for i := range n {
		order := sides
		if i%2 == 1 {
			order = []side{sides[1], sides[0]}
		}
		for _, s := range order {
			name := fmt.Sprintf("lat-%s-%d", s.name, i)
			t0 := time.Now()
			k.apply(t, benchPod(name, s.rc, s.image, "latency"))
			t1 := time.Now()
			at, err := w.await([]string{name}, 2*time.Minute)
			if err != nil {
				t.Fatalf("%v\n%s", err, k.kubectl(t, cmdOpts{}, "describe", "pod", name))
			}
			lat[s.name] = append(lat[s.name], at[name].Sub(t0))
			created[s.name] = append(created[s.name], at[name].Sub(t1))
			must(t, k.kubectl(t, cmdOpts{timeout: 2 * time.Minute}, "delete", "pod", name, "--wait=true"))
		}
	}

	// Density.
	type dens struct {
		ready, failed  int
		took           time.Duration
		err            error
		procs          memUse
		kubepods, host int64
	}
	density := map[string]dens{}
	for _, s := range sides {
		label := "density-" + s.name
		settle()
		host0, kp0, mi0 := memAvailable(t), k.kubepodsMemory(t), meminfo(t)
		var names []string
		start := time.Now()
		for b := 0; b < pods; b += 10 {
			var docs []string
			for i := b; i < min(b+10, pods); i++ {
				name := fmt.Sprintf("%s-%d", label, i)
				names = append(names, name)
				docs = append(docs, benchPod(name, s.rc, s.image, label))
			}
			k.apply(t, strings.Join(docs, "---\n"))
		}
		got, err := w.await(names, 15*time.Minute)
		d := dens{ready: len(got), took: time.Since(start), err: err}
		w.mu.Lock()
		for _, nm := range names {
			if _, ok := w.failed[nm]; ok {
				d.failed++
			}
		}
		w.mu.Unlock()
		settle()
		d.kubepods, d.host = k.kubepodsMemory(t)-kp0, host0-memAvailable(t)
		if s.name == "berth" {
			sh, g := berthMem(t, shim)
			d.procs = sh.add(g)
		} else {
			sp := procsByExe(k.e, "containerd-shim-runc-v2")
			d.procs = memOf(t, sp).add(memOf(t, childrenOf(sp)))
		}
		density[s.name] = d
		t.Logf("density, %s: host /proc/meminfo change per pod: %s", s.name, meminfoDelta(mi0, meminfo(t), d.ready))
		if uid := strings.TrimSpace(k.kubectl(t, cmdOpts{}, "get", "pod", names[0], "-o", "jsonpath={.metadata.uid}").stdout); uid != "" {
			usage, in := k.podCgroupMemory(t, uid)
			t.Logf("density, %s: pod %s: its cgroup's memory usage %s; the %d processes in it: RSS %s, PSS %s, anonymous %s",
				s.name, names[0], mb(usage), in.procs, mb(in.rss), mb(in.pss), mb(in.anon))
		}
		if err != nil {
			t.Errorf("density, %s: %v", s.name, err)
		}
		must(t, k.kubectl(t, cmdOpts{timeout: 15 * time.Minute}, "delete", "pods", "-l", "bench="+label, "--wait=true"))
		if s.name == "berth" && !eventually(time.Minute, func() bool { return len(shimProcs(shim)) == 0 }) {
			t.Errorf("berth shim processes left a minute after the density pods were deleted: %d", len(shimProcs(shim)))
		}
	}

	// The Go guest (imgSleep, 2 MB of Wasm): its first pod compiles it; the next ones
	// load the compiled code from berth's cache on the node.
	var goStarts []time.Duration
	for i := range 3 {
		name := fmt.Sprintf("go-%d", i)
		t0 := time.Now()
		k.apply(t, benchPod(name, "berth", imgSleep, "go"))
		at, err := w.await([]string{name}, 2*time.Minute)
		if err != nil {
			t.Fatalf("%v\n%s", err, k.kubectl(t, cmdOpts{}, "describe", "pod", name))
		}
		goStarts = append(goStarts, at[name].Sub(t0))
		must(t, k.kubectl(t, cmdOpts{timeout: 2 * time.Minute}, "delete", "pod", name, "--wait=true"))
	}

	report(t, "")
	report(t, "### Kubernetes pods: berth against runc (kubelet %s, containerd 2.4.2, one node)", k8sVersion)
	report(t, "")
	report(t, "Start latency, apply → Running, %d pods per side one at a time (idle C program; berth: Wasm, runc: static native):", n)
	report(t, "")
	report(t, "| | berth median | runc median | berth / runc | berth min–max | runc min–max |")
	report(t, "|---|---|---|---|---|---|")
	mm := func(d []time.Duration) string {
		lo, hi := d[0], d[0]
		for _, x := range d {
			lo, hi = min(lo, x), max(hi, x)
		}
		return ms(lo) + " – " + ms(hi)
	}
	report(t, "| apply → Running (kubectl apply included) | %s | %s | %s | %s | %s |", ms(median(lat["berth"])), ms(median(lat["runc"])),
		ratio(median(lat["berth"]), median(lat["runc"])), mm(lat["berth"]), mm(lat["runc"]))
	report(t, "| pod created → Running (after apply returned) | %s | %s | %s | %s | %s |", ms(median(created["berth"])), ms(median(created["runc"])),
		ratio(median(created["berth"]), median(created["runc"])), mm(created["berth"]), mm(created["runc"]))
	report(t, "")
	report(t, "Density, %d idle pods per side (kubelet maxPods %d):", pods, pods+20)
	report(t, "")
	report(t, "| | Running | failed | all Running after | PSS of the pods' processes, per pod | kubepods cgroup, per pod | host MemAvailable drop, per pod |")
	report(t, "|---|---|---|---|---|---|---|")
	for _, s := range sides {
		d := density[s.name]
		per := int64(max(d.ready, 1))
		report(t, "| %s | %d / %d | %d | %.1f s | %s (%d processes) | %s | %s |", s.name, d.ready, pods, d.failed, d.took.Seconds(),
			mb(d.procs.pss/per), d.procs.procs, mb(d.kubepods/per), mb(d.host/per))
	}
	b, r := density["berth"], density["runc"]
	if b.ready > 0 && r.ready > 0 && r.procs.pss > 0 {
		report(t, "")
		report(t, "berth / runc per pod: PSS %.2f×, kubepods cgroup %.2f×.",
			float64(b.procs.pss)/float64(b.ready)/(float64(r.procs.pss)/float64(r.ready)),
			float64(b.kubepods)/float64(b.ready)/(float64(r.kubepods)/float64(r.ready)))
	}
	report(t, "")
	report(t, "Go guest (%s): apply → Running of the node's first pod (compiles the module) %s, then %s and %s (compiled code from berth's cache).",
		imgSleep, ms(goStarts[0]), ms(goStarts[1]), ms(goStarts[2]))
}
