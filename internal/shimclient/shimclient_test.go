package shimclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"google.golang.org/protobuf/proto"

	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/testguest"
)

// shimBinary is containerd-shim-berth-v1, built by TestMain with berth-guest beside it.
var shimBinary string

// BERTH_TEST_SHIM_DIR names a directory holding both, built beforehand: for running the
// test binary as a user who cannot build (a rootless check).
func TestMain(m *testing.M) {
	if dir := os.Getenv("BERTH_TEST_SHIM_DIR"); dir != "" {
		shimBinary = filepath.Join(dir, "containerd-shim-berth-v1")
		os.Exit(m.Run())
	}
	dir, err := os.MkdirTemp("", "shimclient-bin-")
	if err != nil {
		panic(err)
	}
	for _, name := range []string{"containerd-shim-berth-v1", "berth-guest"} {
		build := exec.Command("go", "build", "-o", filepath.Join(dir, name), "github.com/berth-dev/berth/cmd/"+name)
		build.Stderr = os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", name, err)
			os.Exit(1)
		}
	}
	shimBinary = filepath.Join(dir, "containerd-shim-berth-v1")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const cGuest = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
int main(int argc, char **argv) {
	if (argc > 1 && !strcmp(argv[1], "spin")) { printf("spinning\n"); fflush(stdout); volatile unsigned long x = 0; for (;;) x++; }
	if (argc > 2 && !strcmp(argv[1], "lines")) { int n = atoi(argv[2]); for (int i = 0; i < n; i++) printf("line %d\n", i); return 0; }
	printf("hello out\n"); fflush(stdout); fprintf(stderr, "hello err\n"); printf("no newline");
	return argc > 1 ? atoi(argv[1]) : 0;
}
`

type env struct {
	t       *testing.T
	ctx     context.Context
	wasm    string
	root    string // BERTH_ROOT for berth-guest's compile cache
	sockets string // the shims' socket directory
}

func newEnv(t *testing.T) *env {
	t.Helper()
	// A short directory: a socket path has at most 106 bytes.
	sockets, err := os.MkdirTemp("", "bsc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockets) })
	return &env{t: t, ctx: context.Background(), wasm: testguest.C(t, cGuest), root: t.TempDir(), sockets: sockets}
}

// bundle writes a bundle whose rootfs holds the guest at /app.wasm.
func (e *env) bundle(linux *specs.Linux, args ...string) string {
	e.t.Helper()
	dir := e.t.TempDir()
	rootfs := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(rootfs, "app.wasm"), testguest.Read(e.t, e.wasm), 0o755); err != nil {
		e.t.Fatal(err)
	}
	b, _ := json.Marshal(specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{Args: append([]string{"/app.wasm"}, args...), Cwd: "/"},
		Root:    &specs.Root{Path: "rootfs"},
		Linux:   linux,
	})
	if err := os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644); err != nil {
		e.t.Fatal(err)
	}
	return dir
}

func (e *env) opts(id, bundle string) Options {
	return Options{ShimBinary: shimBinary, Bundle: bundle, ID: id, Namespace: "test", StateDir: e.sockets,
		SocketDir: e.sockets, Env: []string{"BERTH_ROOT=" + e.root}}
}

// start starts a shim and creates the task, its output going to a json-file log.
func (e *env) start(id, bundle string) (*Shim, string) {
	e.t.Helper()
	s, err := Start(e.ctx, e.opts(id, bundle))
	if err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	e.t.Cleanup(func() { s.Close() })
	log := filepath.Join(bundle, logs.FileName(id))
	uri := logs.URI(log, logs.Options{})
	if _, err := s.Create(e.ctx, Stdio{Stdout: uri, Stderr: uri}); err != nil {
		e.t.Fatalf("Create: %v", err)
	}
	return s, log
}

func (e *env) wait(s *Shim) Exit {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
	defer cancel()
	x, err := s.Wait(ctx)
	if err != nil {
		e.t.Fatalf("Wait: %v", err)
	}
	return x
}

// checkGone fails unless the shim process, its socket and the guest process are gone.
func (e *env) checkGone(s *Shim, guestPid uint32) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for (alive(s.Pid()) || alive(int(guestPid))) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if alive(s.Pid()) {
		e.t.Errorf("shim process %d still runs", s.Pid())
	}
	if guestPid != 0 && alive(int(guestPid)) {
		e.t.Errorf("guest process %d still runs", guestPid)
	}
	sock := strings.TrimPrefix(s.Address(), "unix://")
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		e.t.Errorf("shim socket %s left behind (%v)", sock, err)
	}
	if left, _ := os.ReadDir(e.sockets); len(left) > 0 {
		e.t.Errorf("socket directory holds %d entries, want none", len(left))
	}
}

func readLog(t *testing.T, path string) []logs.Entry {
	t.Helper()
	var got []logs.Entry
	if err := logs.Read(context.Background(), path, logs.ReadOptions{Tail: -1, Stdout: true, Stderr: true}, func(e logs.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

// The whole life of a detached container: start the shim, create, start, the output in
// docker's json-file log, the exit code from Wait, Delete, Shutdown; nothing left.
func TestLifecycle(t *testing.T) {
	e := newEnv(t)
	bundle := e.bundle(nil, "3")
	s, log := e.start("life", bundle)
	if a, err := os.ReadFile(filepath.Join(bundle, AddressFile)); err != nil || string(a) != s.Address() {
		t.Errorf("address file = %q, %v; want %q", a, err, s.Address())
	}
	if !strings.HasPrefix(s.Address(), "unix://"+e.sockets+"/") {
		t.Errorf("socket %s is not in SocketDir %s", s.Address(), e.sockets)
	}
	// The shim is in a session of its own: closing berth's terminal does not reach it.
	if sid, ours := session(t, s.Pid()), session(t, os.Getpid()); sid == ours {
		t.Errorf("the shim is in berth's session %d", sid)
	}
	st, err := s.State(e.ctx)
	if err != nil || st.Status != Created || st.Pid == 0 {
		t.Fatalf("State after Create = %+v, %v", st, err)
	}
	pid, err := s.Start(e.ctx)
	if err != nil || pid != st.Pid {
		t.Fatalf("Start = %d, %v; want pid %d", pid, err, st.Pid)
	}
	if x := e.wait(s); x.Status != 3 || x.At.IsZero() {
		t.Errorf("Wait = %+v, want status 3", x)
	}
	// Wait returns once the output is in the file: no polling needed.
	got := readLog(t, log)
	var lines []string
	for _, en := range got {
		lines = append(lines, en.Stream+":"+en.Log)
	}
	want := []string{"stdout:hello out\n", "stderr:hello err\n", "stdout:no newline"}
	if len(lines) != 3 || !(lines[0] == want[0] || lines[1] == want[0]) || !strings.Contains(strings.Join(lines, "|"), want[1]) || lines[2] != want[2] {
		t.Errorf("log entries %q, want %q (stdout and stderr in either order, the partial line last)", lines, want)
	}
	raw, _ := os.ReadFile(log)
	if !strings.HasPrefix(string(raw), `{"log":"hello `) || !strings.Contains(string(raw), `","stream":"stdout","time":"`) {
		t.Errorf("log file is not docker's json-file format:\n%s", raw)
	}
	st, err = s.State(e.ctx)
	if err != nil || st.Status != Stopped || st.ExitStatus != 3 {
		t.Errorf("State after exit = %+v, %v", st, err)
	}
	x, err := s.Delete(e.ctx)
	if err != nil || x.Status != 3 || x.Pid != pid {
		t.Errorf("Delete = %+v, %v", x, err)
	}
	if err := s.Shutdown(e.ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	e.checkGone(s, pid)
	if _, err := os.Stat(filepath.Join(bundle, AddressFile)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("address file left after Shutdown: %v", err)
	}
	if _, err := Load(e.ctx, bundle, "life"); !errors.Is(err, ErrShimGone) {
		t.Errorf("Load after Shutdown = %v, want ErrShimGone", err)
	}
}

// Kill stops a guest that computes forever; the exit status is 128+signal.
func TestKill(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		want uint32
	}{{syscall.SIGTERM, 143}, {syscall.SIGKILL, 137}} {
		t.Run(tc.sig.String(), func(t *testing.T) {
			e.t = t
			s, log := e.start("spin", e.bundle(nil, "spin"))
			pid, err := s.Start(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Kill(e.ctx, 0); err != nil {
				t.Errorf("Kill 0 of a running task = %v", err)
			}
			// Killed before it has printed, the guest leaves an empty log: wait for its line.
			for deadline := time.Now().Add(10 * time.Second); len(readLog(t, log)) == 0 && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if err := s.Kill(e.ctx, tc.sig); err != nil {
				t.Fatal(err)
			}
			if x := e.wait(s); x.Status != tc.want {
				t.Errorf("exit status %d, want %d", x.Status, tc.want)
			}
			if err := s.Kill(e.ctx, tc.sig); !errors.Is(err, ErrNotRunning) {
				t.Errorf("Kill after exit = %v, want ErrNotRunning", err)
			}
			if got := readLog(t, log); len(got) != 1 || got[0].Log != "spinning\n" {
				t.Errorf("log = %+v", got)
			}
			if _, err := s.Delete(e.ctx); err != nil {
				t.Fatal(err)
			}
			if err := s.Shutdown(e.ctx); err != nil {
				t.Fatal(err)
			}
			e.checkGone(s, pid)
		})
	}
}

// A later berth process finds the shim from the bundle and drives the task.
func TestLoadFromAnotherClient(t *testing.T) {
	e := newEnv(t)
	bundle := e.bundle(nil, "spin")
	first, _ := e.start("c2", bundle)
	pid, err := first.Start(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	first.Close() // as `berth run -d` exits

	s, err := Load(e.ctx, bundle, "c2")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if s.Pid() != first.Pid() {
		t.Errorf("Load found shim pid %d, Start had %d", s.Pid(), first.Pid())
	}
	st, err := s.State(e.ctx)
	if err != nil || st.Status != Running || st.Pid != pid {
		t.Fatalf("State = %+v, %v", st, err)
	}
	c, err := Connect(e.ctx, s.Address(), "c2")
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	if st, err := c.State(e.ctx); err != nil || st.Status != Running {
		t.Errorf("State through Connect = %+v, %v", st, err)
	}
	c.Close()
	if _, err := Cleanup(e.ctx, e.opts("c2", bundle)); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("Cleanup of a live shim = %v, want ErrFailedPrecondition", err)
	}
	if _, err := s.Delete(e.ctx); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("Delete of a running task = %v, want ErrFailedPrecondition", err)
	}
	if _, err := s.Start(e.ctx); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("Start of a running task = %v, want ErrFailedPrecondition", err)
	}
	if err := s.Kill(e.ctx, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(s); x.Status != 143 {
		t.Errorf("exit %d, want 143", x.Status)
	}
	if _, err := s.Delete(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.checkGone(s, pid)
}

// A shim killed with SIGKILL: every client sees ErrShimGone at once, and Cleanup reaps
// what it left (the guest died with it) and reports 137.
func TestShimKilled(t *testing.T) {
	e := newEnv(t)
	bundle := e.bundle(nil, "spin")
	s, _ := e.start("dead", bundle)
	pid, err := s.Start(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(e.ctx, 10*time.Second)
	defer cancel()
	waited := make(chan error, 1)
	go func() { _, err := s.Wait(ctx); waited <- err }()
	time.Sleep(20 * time.Millisecond)
	if err := syscall.Kill(s.Pid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, ErrShimGone) {
		t.Errorf("Wait while the shim is killed = %v, want ErrShimGone", err)
	}
	if _, err := s.State(e.ctx); !errors.Is(err, ErrShimGone) {
		t.Errorf("State on the old connection = %v, want ErrShimGone", err)
	}
	t0 := time.Now()
	_, err = Load(e.ctx, bundle, "dead")
	if !errors.Is(err, ErrShimGone) {
		t.Errorf("Load of a killed shim = %v, want ErrShimGone", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("Load took %v to see the shim gone", d)
	}
	var se *Error
	if !errors.As(err, &se) || se.ID != "dead" || !strings.Contains(err.Error(), "container dead") {
		t.Errorf("error %v does not name the container", err)
	}
	x, err := Cleanup(e.ctx, e.opts("dead", bundle))
	if err != nil || x.Status != 137 {
		t.Fatalf("Cleanup = %+v, %v; want status 137", x, err)
	}
	e.checkGone(s, pid)
	for _, f := range []string{AddressFile, "berth-guest.pid"} {
		if _, err := os.Stat(filepath.Join(bundle, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left in the bundle after Cleanup: %v", f, err)
		}
	}
}

// Stats reads the task's cgroup.
func TestStats(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root for a cgroup")
	}
	e := newEnv(t)
	cg := fmt.Sprintf("/berth-shimclient-test-%d", os.Getpid())
	s, _ := e.start("stats", e.bundle(&specs.Linux{CgroupsPath: cg}, "spin"))
	pid, err := s.Start(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	m, err := s.Stats(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if m.CPUTotal == 0 || m.MemoryUsage == 0 || m.MemoryLimit == 0 || m.PidsCurrent == 0 {
		t.Errorf("cgroup v%d metrics without CPU, memory or pids: %+v", m.CgroupVersion, m)
	}
	// The figures are those of the shim's own message, decoded by containerd's types.
	switch m.CgroupVersion {
	case 1:
		var full v1.Metrics
		if m.TypeURL != MetricsV1Type {
			t.Errorf("TypeURL = %q", m.TypeURL)
		}
		if err := proto.Unmarshal(m.Raw, &full); err != nil {
			t.Fatal(err)
		}
		if full.CPU.Usage.Total != m.CPUTotal || full.Memory.Usage.Usage != m.MemoryUsage || full.Pids.Current != m.PidsCurrent {
			t.Errorf("Metrics %+v differ from the shim's message %v", m, &full)
		}
	case 2:
		var full v2.Metrics
		if m.TypeURL != MetricsV2Type {
			t.Errorf("TypeURL = %q", m.TypeURL)
		}
		if err := proto.Unmarshal(m.Raw, &full); err != nil {
			t.Fatal(err)
		}
		if full.CPU.UsageUsec*1000 != m.CPUTotal || full.Memory.Usage != m.MemoryUsage || full.Pids.Current != m.PidsCurrent {
			t.Errorf("Metrics %+v differ from the shim's message %v", m, &full)
		}
	default:
		t.Errorf("CgroupVersion = %d", m.CgroupVersion)
	}
	s.Kill(e.ctx, syscall.SIGKILL)
	e.wait(s)
	if _, err := s.Delete(e.ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.checkGone(s, pid)
}

// Bad input fails with the thing named and the right kind.
func TestErrors(t *testing.T) {
	e := newEnv(t)
	ctx := e.ctx
	for name, o := range map[string]Options{
		"no binary":       {Bundle: "/b", ID: "x"},
		"relative bundle": {ShimBinary: shimBinary, Bundle: "b", ID: "x"},
		"no id":           {ShimBinary: shimBinary, Bundle: "/b"},
		"relative socket": {ShimBinary: shimBinary, Bundle: "/b", ID: "x", SocketDir: "s"},
	} {
		if _, err := Start(ctx, o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: Start = %v, want ErrBadOptions", name, err)
		}
		if _, err := Cleanup(ctx, o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("%s: Cleanup = %v, want ErrBadOptions", name, err)
		}
	}
	o := e.opts("x", e.bundle(nil))
	o.ShimBinary = "no-such-shim-binary"
	if _, err := Start(ctx, o); !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "not on PATH") {
		t.Errorf("Start with a missing shim = %v", err)
	}
	o = e.opts("x", e.bundle(nil))
	o.SocketDir = "/" + strings.Repeat("d", 90)
	if _, err := Start(ctx, o); err == nil || !strings.Contains(err.Error(), "use a shorter state directory") {
		t.Errorf("Start with a too long socket directory = %v", err)
	}
	if _, err := Connect(ctx, "/not/a/uri", "x"); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Connect to a non-URI = %v", err)
	}
	if _, err := Connect(ctx, "unix://"+filepath.Join(e.sockets, "none"), "x"); !errors.Is(err, ErrShimGone) {
		t.Errorf("Connect to no socket = %v, want ErrShimGone", err)
	}

	// A log URI the shim refuses; a second Create; a task call for another id.
	bundle := e.bundle(nil)
	s, err := Start(ctx, e.opts("bad", bundle))
	if err != nil {
		t.Fatal(err)
	}
	uri := "json-file://" + bundle + "/bad-json.log?max-file=3"
	if _, err := s.Create(ctx, Stdio{Stdout: uri, Stderr: uri}); err == nil || !strings.Contains(err.Error(), "needs max-size") {
		t.Errorf("Create with max-file alone = %v", err)
	}
	good := logs.URI(filepath.Join(bundle, "bad-json.log"), logs.Options{})
	if _, err := s.Create(ctx, Stdio{Stdout: good, Stderr: ""}); err == nil || !strings.Contains(err.Error(), "must receive both stdout and stderr") {
		t.Errorf("Create with a json-file stdout only = %v", err)
	}
	pid, err := s.Create(ctx, Stdio{Stdout: good, Stderr: good})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, Stdio{}); !errors.Is(err, ErrAlreadyExists) {
		t.Errorf("second Create = %v, want ErrAlreadyExists", err)
	}
	other := &Shim{id: "other", conn: s.conn, ns: s.ns}
	if _, err := other.State(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("State of an unknown task = %v, want ErrNotFound", err)
	}
	if _, err := s.Stats(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stats without a cgroup = %v, want ErrNotFound", err)
	}
	// A shim that holds a task does not end; the connection stays usable.
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(sctx); err == nil || !strings.Contains(err.Error(), "Delete it first") {
		t.Errorf("Shutdown of a shim holding a task = %v", err)
	}
	// Deleted before it started, then the shim ends.
	if _, err := s.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	e.checkGone(s, pid)
}

func TestParseStartResponse(t *testing.T) {
	for _, tc := range []struct {
		out, addr, err string
	}{
		{"unix:///run/berth/s/abc", "unix:///run/berth/s/abc", ""},
		{`{"version":2,"address":"unix:///s/x","protocol":"ttrpc"}`, "unix:///s/x", ""},
		{`{"version":2,"address":"unix:///s/x","protocol":"grpc"}`, "", `protocol "grpc"`},
		{`{"version":3,"address":"unix:///s/x","protocol":"ttrpc"}`, "", "version 3"},
		{"", "", "printed no address"},
		{"/run/x", "", "not a unix:// socket address"},
		{"unix://", "", "not a unix:// socket address"},
		{"containerd-shim-berth-v1: failed", "", "not a unix:// socket address"},
	} {
		addr, err := parseStartResponse([]byte(tc.out))
		if tc.err == "" && (err != nil || addr != tc.addr) || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseStartResponse(%q) = %q, %v; want %q, %q", tc.out, addr, err, tc.addr, tc.err)
		}
	}
}

func FuzzParseStartResponse(f *testing.F) {
	for _, s := range []string{"unix:///s/x", `{"version":2,"address":"unix:///s/x","protocol":"ttrpc"}`, `{"version":2}`, "{", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, out []byte) {
		addr, err := parseStartResponse(out)
		if err == nil && (!strings.HasPrefix(addr, "unix://") || len(addr) == len("unix://") || strings.ContainsAny(addr, "\n\x00")) {
			t.Fatalf("parseStartResponse(%q) accepted %q", out, addr)
		}
	})
}

// session is the session id of process pid (field 6 of /proc/pid/stat).
func session(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	sid, err := strconv.Atoi(f[3])
	if err != nil {
		t.Fatal(err)
	}
	return sid
}

// Every line a guest writes reaches the json-file log, in order, across rotations.
func TestLogKeepsEveryLine(t *testing.T) {
	e := newEnv(t)
	const n = 100_000
	bundle := e.bundle(nil, "lines", strconv.Itoa(n))
	s, err := Start(e.ctx, e.opts("many", bundle))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := filepath.Join(bundle, logs.FileName("many"))
	uri := logs.URI(log, logs.Options{MaxSize: 1_000_000, MaxFile: 20})
	pid, err := s.Create(e.ctx, Stdio{Stdout: uri, Stderr: uri})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if _, err := s.Start(e.ctx); err != nil {
		t.Fatal(err)
	}
	if x := e.wait(s); x.Status != 0 {
		t.Fatalf("exit %d", x.Status)
	}
	d := time.Since(t0)
	files, _ := filepath.Glob(log + "*")
	i := 0
	err = logs.Read(e.ctx, log, logs.ReadOptions{Tail: -1, Stdout: true}, func(en logs.Entry) error {
		if want := fmt.Sprintf("line %d\n", i); en.Log != want {
			return fmt.Errorf("entry %d = %q, want %q", i, en.Log, want)
		}
		i++
		return nil
	})
	if err != nil || i != n {
		t.Fatalf("read %d of %d lines: %v", i, n, err)
	}
	if len(files) < 5 {
		t.Errorf("%d log files: the test meant to cross rotations", len(files))
	}
	t.Logf("%d lines in %v (%.0f lines/s) through %d files", n, d.Round(time.Millisecond), n/d.Seconds(), len(files))
	s.Delete(e.ctx)
	if err := s.Shutdown(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.checkGone(s, pid)
}
