package shim

import (
	"context"
	"encoding/json"
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

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/namespaces"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/guest"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/testguest"
)

// Create starts berth-guest: build it once for the package's tests.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-guest-")
	if err != nil {
		panic(err)
	}
	bin := filepath.Join(dir, guest.Binary)
	build := exec.Command("go", "build", "-o", bin, "github.com/berth-dev/berth/cmd/berth-guest")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building berth-guest:", err)
		os.Exit(1)
	}
	os.Setenv("BERTH_GUEST_BINARY", bin)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const cGuest = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
	if (argc > 1 && !strcmp(argv[1], "spin")) { printf("spinning\n"); fflush(stdout); volatile unsigned long x = 0; for (;;) x++; }
	if (argc > 1 && !strcmp(argv[1], "alloc")) { static char *volatile keep[4096]; for (int i = 0; i < 4096; i++) { char *p = malloc(1 << 20); if (!p) { printf("malloc failed after %d MiB\n", i); return 9; } memset(p, i, 1 << 20); keep[i] = p; } return keep[1][7]; }
	if (argc > 2 && !strcmp(argv[1], "lines")) { int n = atoi(argv[2]); for (int i = 0; i < n; i++) printf("line %d\n", i); fprintf(stderr, "done"); return 5; }
	if (argc > 1 && !strcmp(argv[1], "cat")) { char b[256]; while (fgets(b, sizeof b, stdin)) printf("got %s", b); return 7; }
	printf("hello out\n"); fprintf(stderr, "hello err\n");
	return argc > 1 ? atoi(argv[1]) : 0;
}
`

// recorder is an events publisher that keeps the topics it was given, in order.
type recorder struct {
	mu     sync.Mutex
	topics []string
}

func (r *recorder) Publish(ctx context.Context, topic string, ev events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.topics = append(r.topics, topic)
	return nil
}
func (r *recorder) Close() error { return nil }
func (r *recorder) got() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.topics, " ")
}

// settled returns the topics once no event has come for 100 ms (events are forwarded
// by a goroutine of their own, see eventQueue), within 5 s.
func (r *recorder) settled() string {
	last, since := r.got(), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if g := r.got(); g != last {
			last, since = g, time.Now()
		} else if time.Since(since) >= 100*time.Millisecond {
			break
		}
	}
	return last
}

type fixture struct {
	t    *testing.T
	ctx  context.Context
	svc  *Service
	ev   *recorder
	wasm string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	t.Setenv("BERTH_ROOT", t.TempDir())
	ctx := namespaces.WithNamespace(context.Background(), "test")
	ev := &recorder{}
	s, err := New(ctx, "x", ev, func() {})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.(*Service).spawner.close)
	return &fixture{t: t, ctx: ctx, svc: s.(*Service), ev: ev, wasm: testguest.C(t, cGuest)}
}

// bundle writes a bundle whose rootfs holds the guest at /app.wasm.
func (f *fixture) bundle(args []string, annotations map[string]string) string {
	return f.bundleSpec(args, annotations, nil)
}

func (f *fixture) bundleSpec(args []string, annotations map[string]string, linux *specs.Linux) string {
	f.t.Helper()
	dir := f.t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	os.MkdirAll(rootfs, 0o755)
	os.WriteFile(filepath.Join(rootfs, "app.wasm"), testguest.Read(f.t, f.wasm), 0o755)
	b, _ := json.Marshal(specs.Spec{
		Version:     specs.Version,
		Process:     &specs.Process{Args: args, Cwd: "/"},
		Root:        &specs.Root{Path: "rootfs"},
		Annotations: annotations,
		Linux:       linux,
	})
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	return dir
}

func (f *fixture) create(id string, args []string, out string) *taskAPI.CreateTaskResponse {
	f.t.Helper()
	resp, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: id, Bundle: f.bundle(args, nil), Stdout: out, Stderr: out})
	if err != nil {
		f.t.Fatalf("Create: %v", err)
	}
	return resp
}

func (f *fixture) wait(id string) uint32 {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
	defer cancel()
	w, err := f.svc.Wait(ctx, &taskAPI.WaitRequest{ID: id})
	if err != nil {
		f.t.Fatalf("Wait: %v", err)
	}
	return w.ExitStatus
}

func TestRunToCompletion(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		args []string
		code uint32
	}{
		{[]string{"/app.wasm"}, 0},
		{[]string{"/app.wasm", "3"}, 3},
	} {
		id := "c" + tc.args[len(tc.args)-1][1:]
		out := filepath.Join(t.TempDir(), "out.log")
		f.create(id, tc.args, "file://"+out)
		if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		if code := f.wait(id); code != tc.code {
			t.Errorf("%v: exit status %d, want %d", tc.args, code, tc.code)
		}
		b, _ := os.ReadFile(out)
		if !strings.Contains(string(b), "hello out\n") || !strings.Contains(string(b), "hello err\n") {
			t.Errorf("%v: log = %q", tc.args, b)
		}
		st, err := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: id})
		if err != nil || st.Status != task.Status_STOPPED || st.ExitStatus != tc.code {
			t.Errorf("State = %v, %v", st, err)
		}
		if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	want := strings.Repeat("/tasks/create /tasks/start /tasks/exit /tasks/delete ", 2)
	if got := f.ev.settled() + " "; got != want {
		t.Errorf("events = %q, want %q", got, want)
	}
}

// A guest in a tight loop: the shim answers, and any signal stops it with 128+signal.
func TestKillSpinningGuest(t *testing.T) {
	f := newFixture(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL, syscall.SIGUSR1} {
		id := "spin" + sig.String()[:3]
		resp := f.create(id, []string{"/app.wasm", "spin"}, "")
		if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
		st, err := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: id})
		if err != nil || st.Status != task.Status_RUNNING || st.Pid != resp.Pid {
			t.Fatalf("State = %v, %v", st, err)
		}
		if _, err := f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: id, Signal: uint32(sig)}); err != nil {
			t.Fatal(err)
		}
		if code := f.wait(id); code != 128+uint32(sig) {
			t.Errorf("%v: exit status %d, want %d", sig, code, 128+sig)
		}
		if _, err := f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: id, Signal: 9}); err == nil || !strings.Contains(err.Error(), "already finished") {
			t.Errorf("Kill after exit = %v, want 'process already finished'", err)
		}
		if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: id}); err != nil {
			t.Fatal(err)
		}
		if syscall.Kill(int(resp.Pid), 0) == nil {
			t.Errorf("process %d still exists after Delete", resp.Pid)
		}
	}
}

// Stdin from a FIFO reaches the guest; CloseIO ends it.
func TestStdinAndCloseIO(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	if err := syscall.Mkfifo(in, 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.log")
	// The client side opens its writer, as containerd's cio does.
	w, err := os.OpenFile(in, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "cat", Bundle: f.bundle([]string{"/app.wasm", "cat"}, nil),
		Stdin: in, Stdout: "file://" + out, Stderr: "file://" + out}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "cat"}); err != nil {
		t.Fatal(err)
	}
	w.WriteString("one\ntwo\n")
	time.Sleep(100 * time.Millisecond)
	if _, err := f.svc.CloseIO(f.ctx, &taskAPI.CloseIORequest{ID: "cat", Stdin: true}); err != nil {
		t.Fatal(err)
	}
	if code := f.wait("cat"); code != 7 {
		t.Errorf("exit status %d, want 7", code)
	}
	if b, _ := os.ReadFile(out); string(b) != "got one\ngot two\n" {
		t.Errorf("output %q", b)
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "cat"})
}

// What a Wasm container cannot do fails at once, with a message that says so.
func TestErrors(t *testing.T) {
	f := newFixture(t)
	_, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "missing", Bundle: f.bundle([]string{"/nope.wasm"}, nil)})
	if err == nil || !strings.Contains(err.Error(), "/nope.wasm is not in the container's file system") {
		t.Errorf("Create with a missing module = %v", err)
	}
	if _, err := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: "missing"}); err == nil {
		t.Error("a failed Create left its container behind")
	}
	_, err = f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "tty", Bundle: f.bundle([]string{"/app.wasm"}, nil), Terminal: true})
	if err == nil || !strings.Contains(err.Error(), "not supported by Wasm containers") {
		t.Errorf("Create with a terminal = %v", err)
	}
	f.create("c", []string{"/app.wasm"}, "")
	for name, call := range map[string]func() error{
		"exec": func() error {
			_, err := f.svc.Exec(f.ctx, &taskAPI.ExecProcessRequest{ID: "c", ExecID: "e"})
			return err
		},
		"pause":      func() error { _, err := f.svc.Pause(f.ctx, &taskAPI.PauseRequest{ID: "c"}); return err },
		"resume":     func() error { _, err := f.svc.Resume(f.ctx, &taskAPI.ResumeRequest{ID: "c"}); return err },
		"checkpoint": func() error { _, err := f.svc.Checkpoint(f.ctx, &taskAPI.CheckpointTaskRequest{ID: "c"}); return err },
		"update":     func() error { _, err := f.svc.Update(f.ctx, &taskAPI.UpdateTaskRequest{ID: "c"}); return err },
	} {
		err := call()
		if err == nil || !strings.Contains(err.Error(), "berth: ") || !strings.Contains(err.Error(), "not supported by Wasm containers") {
			t.Errorf("%s = %v, want an error naming berth and saying Wasm containers do not support it", name, err)
		}
		if name == "exec" && !strings.Contains(fmt.Sprint(err), "Wasm containers have no exec") {
			t.Errorf("exec = %v, want it to say Wasm containers have no exec", err)
		}
	}
	// Deleted before it started: the waiting process goes away.
	st, _ := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: "c"})
	if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "c"}); err != nil {
		t.Fatal(err)
	}
	if syscall.Kill(int(st.Pid), 0) == nil {
		t.Errorf("process %d of a deleted, never started container still exists", st.Pid)
	}
}

// A CRI sandbox is held by a process that runs no module and waits to be killed.
func TestSandbox(t *testing.T) {
	f := newFixture(t)
	b := f.bundle(nil, map[string]string{annotationContainerType: containerTypeSandbox})
	resp, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "pod", Bundle: b})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "pod"}); err != nil {
		t.Fatal(err)
	}
	cmdline, _ := os.ReadFile("/proc/" + strconv.Itoa(int(resp.Pid)) + "/cmdline")
	if !strings.Contains(string(cmdline), guest.ModeSandbox) {
		t.Errorf("sandbox pid %d runs %q", resp.Pid, cmdline)
	}
	f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: "pod", Signal: 9})
	if code := f.wait("pod"); code != 137 {
		t.Errorf("exit status %d, want 137", code)
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "pod"})
}

// binary:// runs a logging program, as containerd's runc shim does: the guest's stdout
// and stderr reach it on fds 3 and 4, and it says it is ready by closing fd 5.
func TestBinaryLogger(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	logger := filepath.Join(dir, "logger")
	script := "#!/bin/sh\nexec 5>&-\ncat <&3 > " + dir + "/out &\ncat <&4 > " + dir + "/err &\nwait\n"
	if err := os.WriteFile(logger, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	uri := "binary://" + logger
	if _, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "logged", Bundle: f.bundle([]string{"/app.wasm", "4"}, nil), Stdout: uri, Stderr: uri}); err != nil {
		t.Fatal(err)
	}
	f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "logged"})
	if code := f.wait("logged"); code != 4 {
		t.Errorf("exit status %d, want 4", code)
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "logged"})
	var out, errb []byte
	for i := 0; i < 100; i++ { // the logger drains the pipes after the guest exits
		out, _ = os.ReadFile(filepath.Join(dir, "out"))
		errb, _ = os.ReadFile(filepath.Join(dir, "err"))
		if len(out) > 0 && len(errb) > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if string(out) != "hello out\n" || string(errb) != "hello err\n" {
		t.Errorf("logger got stdout %q, stderr %q", out, errb)
	}
}

// Without berth-guest the shim cannot run a container, and says what to install.
func TestNoGuestBinary(t *testing.T) {
	f := newFixture(t)
	t.Setenv("BERTH_GUEST_BINARY", "")
	t.Setenv("PATH", t.TempDir())
	f.svc.self = filepath.Join(t.TempDir(), "containerd-shim-berth-v1")
	_, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "c", Bundle: f.bundle([]string{"/app.wasm"}, nil)})
	if err == nil || !strings.Contains(err.Error(), "berth-guest, which runs each Wasm container, is neither next to") {
		t.Errorf("Create = %v", err)
	}
}

// A guest killed at its cgroup's memory limit exits 137 and the shim reports the OOM
// (/tasks/oom), from which CRI reports the container OOMKilled.
func TestOOMKilled(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a cgroup")
	}
	f := newFixture(t)
	limit := int64(24 << 20)
	swap := limit
	cg := fmt.Sprintf("/berth-test-oom-%d", os.Getpid())
	b := f.bundleSpec([]string{"/app.wasm", "alloc"}, nil, &specs.Linux{CgroupsPath: cg,
		Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &swap}}})
	out := filepath.Join(t.TempDir(), "out")
	if _, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "oom", Bundle: b, Stdout: "file://" + out, Stderr: "file://" + out}); err != nil {
		t.Fatal(err)
	}
	f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "oom"})
	code := f.wait("oom")
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "oom"})
	log, _ := os.ReadFile(out)
	if events := f.ev.settled(); code != 137 || !strings.Contains(events, "/tasks/oom /tasks/exit") {
		t.Errorf("exit status %d, events %q; want 137 with /tasks/oom before /tasks/exit (guest said %q)", code, events, log)
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup/memory", cg)); err == nil {
		t.Errorf("cgroup %s left behind", cg)
	}
}

// json-file:// makes the shim write docker's json-file log itself, rotated by the URI's
// max-size and max-file; the exit is reported once the output is in the file.
func TestJSONFileLog(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	path := filepath.Join(dir, logs.FileName("jl"))
	uri := logs.URI(path, logs.Options{MaxSize: 20_000, MaxFile: 3})
	if _, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "jl", Bundle: f.bundle([]string{"/app.wasm", "lines", "3000"}, nil), Stdout: uri, Stderr: uri}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "jl"}); err != nil {
		t.Fatal(err)
	}
	if code := f.wait("jl"); code != 5 {
		t.Errorf("exit status %d, want 5", code)
	}
	var got []logs.Entry
	if err := logs.Read(f.ctx, path, logs.ReadOptions{Tail: -1, Stdout: true, Stderr: true}, func(e logs.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(path + "*")
	if len(files) != 3 {
		t.Errorf("%d log files %v, want 3 (max-file)", len(files), files)
	}
	// The files keep the last lines, in order, then stderr's unfinished "done".
	if n := len(got); n < 100 || got[n-1].Stream != "stderr" || got[n-1].Log != "done" || !got[n-1].Partial() {
		t.Fatalf("%d entries, last %+v", n, got[len(got)-1])
	}
	first, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(got[0].Log, "line "), "\n"))
	for i, e := range got[:len(got)-1] {
		if want := fmt.Sprintf("line %d\n", first+i); e.Log != want || e.Stream != "stdout" {
			t.Fatalf("entry %d = %s %q, want stdout %q", i, e.Stream, e.Log, want)
		}
	}
	if first+len(got)-1 != 3000 {
		t.Errorf("lines end at %d, want 2999", first+len(got)-2)
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "jl"})
}

// A log that cannot be written (a full disk) does not block the guest: the shim keeps
// reading its output.
func TestJSONFileLogWriteError(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	f := newFixture(t)
	uri := logs.URI("/dev/full", logs.Options{})
	if _, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "full", Bundle: f.bundle([]string{"/app.wasm", "lines", "50000"}, nil), Stdout: uri, Stderr: uri}); err != nil {
		t.Fatal(err)
	}
	f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "full"})
	if code := f.wait("full"); code != 5 {
		t.Errorf("exit status %d, want 5", code)
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "full"})
}

// A guest loads its module only once the shim has put it in the container's cgroup
// (guest.Placed): what loading takes is charged to the cgroup and counted against the
// container's memory limit. Only the Go runtime's start (~1 MB) is charged outside.
func TestLoadChargedToCgroup(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a cgroup")
	}
	f := newFixture(t)
	limit := int64(512 << 20)
	cg := fmt.Sprintf("/berth-test-charge-%d", os.Getpid())
	b := f.bundleSpec([]string{"/app.wasm"}, nil, &specs.Linux{CgroupsPath: cg,
		Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}})
	r, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "charge", Bundle: b})
	if err != nil {
		t.Fatal(err)
	}
	defer f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "charge"})
	// The guest was born in its cgroup (cgroup.Birth); the shim's forking thread went
	// back: no thread of this process is left in the container's cgroup.
	if own, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", r.Pid)); !strings.Contains(string(own), cg) {
		t.Errorf("the guest's /proc/%d/cgroup names no %s:\n%s", r.Pid, cg, own)
	}
	threads, _ := filepath.Glob("/proc/self/task/*/cgroup")
	for _, th := range threads {
		if b, _ := os.ReadFile(th); strings.Contains(string(b), cg) {
			t.Errorf("%s: a shim thread is still in the container's cgroup:\n%s", th, b)
		}
	}
	usage := func() (int64, error) {
		for _, p := range []string{filepath.Join("/sys/fs/cgroup/memory", cg, "memory.usage_in_bytes"), filepath.Join("/sys/fs/cgroup", cg, "memory.current")} {
			if b, err := os.ReadFile(p); err == nil {
				return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
			}
		}
		return 0, fmt.Errorf("no memory controller file for cgroup %s", cg)
	}
	charged, err := usage()
	if err != nil {
		t.Skip(err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", r.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var anonKB int64
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "RssAnon:"); ok {
			anonKB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	t.Logf("guest %d: RssAnon %d KiB, charged to its cgroup %d KiB", r.Pid, anonKB, charged>>10)
	if anon := anonKB << 10; charged < anon-(1<<20) {
		t.Errorf("cgroup %s is charged %d KiB, the guest holds %d KiB of anonymous memory: more than 1 MiB of it was touched before the guest was placed", cg, charged>>10, anonKB)
	}
	f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: "charge", Signal: 9})
}

// TestSandboxThatCannotHold: a sandbox whose process cannot join the pod's namespace is
// created (its process is not waited for, see holdLater) and ends; a container of the
// pod is then refused with the sandbox's reason rather than started in the shim's own
// network namespace.
func TestSandboxThatCannotHold(t *testing.T) {
	f := newFixture(t)
	missing := filepath.Join(t.TempDir(), "no-such-netns")
	podNet := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: missing}}}
	resp, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "pod",
		Bundle: f.bundleSpec(nil, map[string]string{annotationContainerType: containerTypeSandbox}, podNet)})
	if err != nil {
		t.Fatalf("sandbox Create: %v (its process is not waited for)", err)
	}
	ctrNet := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/%d/ns/net", resp.Pid)}}}
	_, err = f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "ctr",
		Bundle: f.bundleSpec([]string{"/app.wasm"}, map[string]string{annotationSandboxID: "pod"}, ctrNet)})
	if err == nil || !strings.Contains(err.Error(), "pod sandbox pod") || !strings.Contains(err.Error(), "no-such-netns") {
		t.Fatalf("container Create: %v; want the sandbox's failure to join %s", err, missing)
	}
	if code := f.wait("pod"); code == 0 {
		t.Errorf("the sandbox's process exited 0")
	}
	if _, err := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: "ctr"}); err == nil {
		t.Error("the refused container is still known to the shim")
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "pod"})
}
