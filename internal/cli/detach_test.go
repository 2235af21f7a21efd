package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
)

// The C guest of the detached tests: "serve N" prints N lines (to stdout, and one to
// stderr) and then sleeps for ever; "exit N" prints a line and exits with N; "late N"
// sleeps a second, prints a line to stdout and one to stderr, and exits with N; "spin"
// computes for ever.
const detachGuest = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc > 2 && !strcmp(argv[1], "exit")) { printf("bye\n"); return atoi(argv[2]); }
	if (argc > 1 && !strcmp(argv[1], "spin")) { printf("spinning\n"); fflush(stdout); volatile unsigned long x = 0; for (;;) x++; }
	if (argc > 2 && !strcmp(argv[1], "late")) { sleep(1); printf("late out\n"); fflush(stdout); fprintf(stderr, "late err\n"); return atoi(argv[2]); }
	int n = argc > 2 ? atoi(argv[2]) : 3;
	for (int i = 0; i < n; i++) printf("line %d\n", i);
	fprintf(stderr, "to stderr\n");
	fflush(stdout);
	for (;;) sleep(1);
}
`

var (
	shimOnce sync.Once
	shimDir  string
	shimErr  error
)

// buildShim builds containerd-shim-berth-v1 and berth-guest once per test binary, into
// a directory TestMain removes (removeShimDir) when the tests are done.
func buildShim(t *testing.T) string {
	t.Helper()
	shimOnce.Do(func() {
		if dir := os.Getenv("BERTH_TEST_SHIM_DIR"); dir != "" {
			shimDir = dir
			return
		}
		shimDir, shimErr = os.MkdirTemp("", "cli-shim-bin-")
		if shimErr != nil {
			return
		}
		for _, name := range []string{"containerd-shim-berth-v1", "berth-guest"} {
			out, err := exec.Command("go", "build", "-o", filepath.Join(shimDir, name), "github.com/berth-dev/berth/cmd/"+name).CombinedOutput()
			if err != nil {
				shimErr = err
				shimDir = string(out)
				return
			}
		}
	})
	if shimErr != nil {
		t.Fatalf("building the shim: %v\n%s", shimErr, shimDir)
	}
	return shimDir
}

// removeShimDir removes the directory buildShim built into, if it did.
func removeShimDir() {
	if shimErr == nil && shimDir != "" && os.Getenv("BERTH_TEST_SHIM_DIR") == "" {
		os.RemoveAll(shimDir)
	}
}

// detachEnv is an env whose berth finds the test's shim, with a guest image built.
func detachEnv(t *testing.T) *env {
	t.Helper()
	dir := buildShim(t)
	t.Setenv("BERTH_SHIM_BINARY", filepath.Join(dir, "containerd-shim-berth-v1"))
	// A short state directory: a shim socket's path has at most 107 bytes.
	state, err := os.MkdirTemp("", "bst")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	e := &env{t: t, root: t.TempDir(), state: state}
	e.buildImage("sleeper:1", testguest.C(t, detachGuest), "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n", nil)
	t.Cleanup(func() { e.checkNoProcesses() })
	return e
}

// processes returns the pids of processes that belong to this env: a shim or guest whose
// command line names the env's root or state, or whose working directory is in them.
func (e *env) processes() []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + d.Name() + "/cmdline")
		cwd, _ := os.Readlink("/proc/" + d.Name() + "/cwd")
		stat, _ := os.ReadFile("/proc/" + d.Name() + "/stat")
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			continue // a zombie: dead, waiting for its parent
		}
		mine := strings.HasPrefix(cwd, e.root) || strings.HasPrefix(cwd, e.state) ||
			bytes.Contains(cmd, []byte(e.root)) || bytes.Contains(cmd, []byte(e.state))
		ours := bytes.Contains(cmd, []byte("containerd-shim-berth-v1")) || bytes.Contains(cmd, []byte("berth-guest"))
		if len(cmd) == 0 {
			// Exiting: the kernel has dropped the process's memory (so cmdline reads
			// empty) but not yet its files, so its locks are still held. Its name and
			// working directory are still there.
			comm, _ := os.ReadFile("/proc/" + d.Name() + "/comm")
			name := string(bytes.TrimSpace(comm))
			ours = name == "berth-guest" || name == "containerd-shim"
		}
		if mine && ours {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killAll kills every shim and guest of the env with SIGKILL and waits until they are
// dead: a guest's lock (guest.LockFile) goes only when its process has exited, a few
// milliseconds after the signal.
func (e *env) killAll() {
	e.t.Helper()
	for _, pid := range e.processes() {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	e.waitGone()
}

// waitGone waits until no shim or guest of the env is alive (a guest dies with its
// shim, by its parent-death signal, shortly after it).
func (e *env) waitGone() {
	e.t.Helper()
	for deadline := time.Now().Add(5 * time.Second); len(e.processes()) > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			e.t.Fatalf("shim or guest processes %v still alive 5 s after SIGKILL", e.processes())
		}
	}
}

// checkNoProcesses fails if a shim or guest of the env still runs, and kills it.
func (e *env) checkNoProcesses() {
	deadline := time.Now().Add(5 * time.Second)
	pids := e.processes()
	for len(pids) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		pids = e.processes()
	}
	for _, pid := range pids {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		e.t.Errorf("process %d (%s) of the test still runs", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

func (e *env) fail(wantCode int, args ...string) string {
	e.t.Helper()
	out, errs, code := e.berth("", args...)
	if code != wantCode {
		e.t.Fatalf("berth %v: exit %d, want %d\n%s%s", args, code, wantCode, out, errs)
	}
	return errs
}

type inspected struct {
	ID, Name, LogPath string
	State             struct {
		Status   string
		Running  bool
		Pid      int
		ExitCode int
	}
}

func (e *env) inspect(ref string) inspected {
	e.t.Helper()
	var got []inspected
	if err := json.Unmarshal([]byte(e.ok("inspect", ref)), &got); err != nil || len(got) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return got[0]
}

// psRow returns the ps line of the container named name ("" when none).
func psRow(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(strings.TrimSpace(l), " "+name) {
			return l
		}
	}
	return ""
}

// The life of a detached container: run -d returns at once with the id, ps shows it Up,
// logs hold its lines, stop ends it (143: SIGTERM), ps -a shows Exited, rm removes it;
// no shim or guest process is left.
func TestDetachedLifecycle(t *testing.T) {
	e := detachEnv(t)
	out := e.ok("run", "-d", "--name", "web", "--log-opt", "max-size=1m", "--log-opt", "max-file=2", "sleeper:1", "serve", "3")
	id := strings.TrimSpace(out)
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("run -d printed %q, want the full id", out)
	}
	c := e.inspect("web")
	if c.ID != id || c.Name != "/web" || !c.State.Running || c.State.Status != "running" || c.State.Pid == 0 {
		t.Fatalf("inspect after run -d = %+v", c)
	}
	// docker's shape, for scripts that read it.
	var raw []map[string]any
	if err := json.Unmarshal([]byte(e.ok("inspect", "web")), &raw); err != nil || len(raw) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	state, _ := raw[0]["State"].(map[string]any)
	hc, _ := raw[0]["HostConfig"].(map[string]any)
	lc, _ := hc["LogConfig"].(map[string]any)
	cfg, _ := raw[0]["Config"].(map[string]any)
	if raw[0]["Id"] != id || state["Running"] != true || state["OOMKilled"] != false || !strings.HasPrefix(state["StartedAt"].(string), "20") ||
		state["FinishedAt"] != "0001-01-01T00:00:00Z" || lc["Type"] != "json-file" || cfg["Image"] != "sleeper:1" {
		t.Errorf("inspect is not in docker's shape: %v", raw[0])
	}
	// inspect --format, a line per object, containers and images alike.
	if got, want := e.ok("inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.Pid}}", "web", id[:7]), fmt.Sprintf("/web running %d\n/web running %d\n", c.State.Pid, c.State.Pid); got != want {
		t.Errorf("inspect -f = %q, want %q", got, want)
	}
	if got := e.ok("inspect", "--format", "{{.Os}}/{{.Architecture}} {{json .Config.Entrypoint}}", "sleeper:1"); got != "wasi/wasm [\"/app.wasm\"]\n" {
		t.Errorf("inspect --format of an image = %q", got)
	}
	if _, errs, code := e.berth("", "inspect", "-f", "{{.State", "web"); code == 0 || !strings.Contains(errs, "--format") {
		t.Errorf("inspect with a broken template: exit %d, %q", code, errs)
	}
	if want := filepath.Join(e.root, "containers", id, id+"-json.log"); c.LogPath != want {
		t.Errorf("LogPath = %s, want %s (in the data root)", c.LogPath, want)
	}
	if head := strings.SplitN(e.ok("ps"), "\n", 2)[0]; !regexp.MustCompile(`^CONTAINER ID +IMAGE +COMMAND +CREATED +STATUS +PORTS +NAMES$`).MatchString(head) {
		t.Errorf("ps header %q, want docker's columns", head)
	}
	if row := psRow(e.ok("ps"), "web"); !regexp.MustCompile(`^` + id[:12] + ` +sleeper:1 +"/app.wasm serve 3" +.* ago +Up (Less than a second|\d+ seconds?) +web$`).MatchString(row) {
		t.Errorf("ps row %q, want the container Up", row)
	}
	// The lines arrive in the log (the guest flushes before it sleeps).
	var stdout, stderr string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		stdout, stderr, _ = e.berth("", "logs", id[:5])
		if strings.Count(stdout, "line") == 3 && stderr == "to stderr\n" {
			break
		}
	}
	if stdout != "line 0\nline 1\nline 2\n" || stderr != "to stderr\n" {
		t.Errorf("logs: stdout %q, stderr %q", stdout, stderr)
	}
	if got := e.ok("logs", "-t", "web"); !regexp.MustCompile(`^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line \d\n){3}$`).MatchString(got) {
		t.Errorf("logs -t = %q", got)
	}
	// The last entry is the stderr line or the last stdout line: the shim reads the two
	// pipes apart.
	if out, errs, _ := e.berth("", "logs", "--tail", "1", "web"); out+errs != "line 2\n" && out+errs != "to stderr\n" {
		t.Errorf("logs --tail 1: stdout %q, stderr %q; want one entry", out, errs)
	}
	if got := e.ok("logs", "--since", "1h", "web"); got != "line 0\nline 1\nline 2\n" {
		t.Errorf("logs --since 1h = %q", got)
	}
	if got := e.ok("logs", "--since", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "web"); got != "" {
		t.Errorf("logs --since an hour ahead = %q, want nothing", got)
	}

	// logs -f ends when the container ends.
	followed := make(chan string, 1)
	go func() {
		out, _, _ := e.berth("", "logs", "-f", "web")
		followed <- out
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if got := e.ok("stop", "-t", "5", "web"); got != "web\n" {
		t.Errorf("stop printed %q", got)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v; the guest ends at SIGTERM", d)
	}
	select {
	case got := <-followed:
		if got != "line 0\nline 1\nline 2\n" {
			t.Errorf("logs -f = %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Error("logs -f did not end when the container stopped")
	}
	if row := psRow(e.ok("ps"), "web"); row != "" {
		t.Errorf("ps lists a stopped container: %q", row)
	}
	if row := psRow(e.ok("ps", "-a"), "web"); !regexp.MustCompile(`Exited \(143\) (Less than a second|\d+ seconds?) ago +web$`).MatchString(row) {
		t.Errorf("ps -a row %q, want Exited (143)", row)
	}
	// --filter status=exited lists it without -a, as docker.
	if got := e.ok("ps", "-q", "--no-trunc", "--filter", "status=exited", "--filter", "ancestor=sleeper:1"); got != id+"\n" {
		t.Errorf("ps --filter status=exited = %q, want the container", got)
	}
	if got := e.ok("ps", "-a", "-q", "--filter", "name=^nomatch$"); got != "" {
		t.Errorf("ps --filter name=^nomatch$ = %q", got)
	}
	if got := e.ok("wait", "web"); got != "143\n" {
		t.Errorf("wait of an exited container = %q", got)
	}
	e.ok("stop", "web") // stopping a stopped container is no error, as docker
	if errs := e.fail(1, "kill", "web"); !strings.Contains(errs, "web") || !strings.Contains(errs, "not running") {
		t.Errorf("kill of a stopped container: %s", errs)
	}
	e.checkNoProcesses()
	e.ok("rm", "web")
	if _, err := os.Stat(filepath.Join(e.root, "containers", id)); !os.IsNotExist(err) {
		t.Errorf("container directory left after rm: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(e.state)); len(left) > 0 {
		var names []string
		filepath.Walk(e.state, func(p string, fi os.FileInfo, err error) error {
			if err == nil && !fi.IsDir() {
				names = append(names, p)
			}
			return nil
		})
		if len(names) > 0 {
			t.Errorf("files left in the state directory: %v", names)
		}
	}
}

// A guest that exits by itself: wait gives its code, ps -a shows it, and the shim that
// ran it is gone once a berth command has noticed.
func TestDetachedExit(t *testing.T) {
	e := detachEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "sleeper:1", "exit", "7"))
	if got := e.ok("wait", id); got != "7\n" {
		t.Errorf("wait = %q, want 7", got)
	}
	if got := e.ok("logs", id); got != "bye\n" {
		t.Errorf("logs = %q", got)
	}
	c := e.inspect(id)
	if c.State.Running || c.State.ExitCode != 7 || c.State.Status != "exited" {
		t.Errorf("state after exit: %+v", c.State)
	}
	e.checkNoProcesses()
	// A second one, noticed by ps rather than wait.
	id2 := strings.TrimSpace(e.ok("run", "-d", "--name", "quick", "sleeper:1", "exit", "3"))
	var row string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if row = psRow(e.ok("ps", "-a"), "quick"); strings.Contains(row, "Exited (3)") {
			break
		}
	}
	if !strings.Contains(row, "Exited (3)") {
		t.Errorf("ps -a row %q, want Exited (3)", row)
	}
	e.checkNoProcesses()
	e.ok("rm", id, id2)
}

// A shim killed with SIGKILL: ps shows the container Exited (137) at once, its record
// says so, and rm cleans up.
func TestDetachedShimKilled(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "victim", "sleeper:1")
	c := e.inspect("victim")
	pids := e.processes()
	if len(pids) != 2 {
		t.Fatalf("want a shim and a guest process, found %v", pids)
	}
	for _, pid := range pids {
		cmd, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if bytes.Contains(cmd, []byte("containerd-shim-berth-v1")) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
		}
	}
	e.waitGone() // the guest dies with its shim
	start := time.Now()
	row := psRow(e.ok("ps", "-a"), "victim")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("ps took %v after the shim died", d)
	}
	if !strings.Contains(row, "Exited (137)") {
		t.Errorf("ps -a row %q, want Exited (137)", row)
	}
	if got := e.inspect("victim"); got.State.Running || got.State.ExitCode != 137 || got.State.Status != "exited" {
		t.Errorf("record after the shim died: %+v", got.State)
	}
	if c.State.Pid > 0 {
		for deadline := time.Now().Add(5 * time.Second); syscall.Kill(c.State.Pid, 0) == nil && time.Now().Before(deadline); {
			time.Sleep(10 * time.Millisecond)
		}
	}
	e.checkNoProcesses()
	e.ok("rm", "victim")
}

// rm of a running container is refused without -f, naming it; with -f it is killed
// and removed. Names are unique; ids accept unique prefixes.
func TestDetachedRemoveAndNames(t *testing.T) {
	e := detachEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "--name", "busy", "sleeper:1"))
	errs := e.fail(1, "rm", "busy")
	for _, want := range []string{`"/busy"`, "container is running", "berth rm -f busy"} {
		if !strings.Contains(errs, want) {
			t.Errorf("rm of a running container: %q lacks %q", errs, want)
		}
	}
	errs = e.fail(125, "run", "-d", "--name", "busy", "sleeper:1")
	for _, want := range []string{`"/busy" is already in use by container "` + id + `"`, "berth rm"} {
		if !strings.Contains(errs, want) {
			t.Errorf("run with a taken name: %q lacks %q", errs, want)
		}
	}
	if errs := e.fail(1, "logs", "nosuch"); !strings.Contains(errs, "no such container") {
		t.Errorf("logs of an unknown container: %s", errs)
	}
	if got := e.ok("rm", "-f", id[:6]); got != id[:6]+"\n" {
		t.Errorf("rm -f printed %q", got)
	}
	e.checkNoProcesses()
	if _, err := os.Stat(filepath.Join(e.root, "containers", id)); !os.IsNotExist(err) {
		t.Errorf("container directory left after rm -f: %v", err)
	}
	// The name is free again.
	e.ok("run", "-d", "--name", "busy", "sleeper:1")
	if got := e.ok("kill", "-s", "TERM", "busy"); got != "busy\n" {
		t.Errorf("kill printed %q", got)
	}
	if c := e.inspect("busy"); c.State.Running || c.State.ExitCode != 143 {
		t.Errorf("after kill -s TERM: %+v", c.State)
	}
	e.ok("rm", "busy")
}

// Bad input to the detached commands gets an error naming what to fix.
func TestDetachedBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "-d", "--log-opt", "max-size=lots", "x:1"}, 125, "max-size"},
		{[]string{"run", "-d", "--log-opt", "nokey", "x:1"}, 125, "KEY=VALUE"},
		{[]string{"run", "--log-opt", "max-size=1m", "x:1"}, 125, "run -d"},
		{[]string{"run", "-d", "--rm", "x:1"}, 125, "--rm"},
		{[]string{"run", "-d", "-i", "x:1"}, 125, "stdin"},
		{[]string{"rename", "x", "bad name"}, 1, "invalid container name"},
		{[]string{"ps", "--filter", "colour=red"}, 1, "--filter"},
		{[]string{"start", "-a", "x", "y"}, 1, "one container"},
		{[]string{"kill", "-s", "NOPE", "x"}, 1, "invalid signal"},
		{[]string{"stop", "-t", "-1", "x"}, 1, "--time"},
		{[]string{"logs", "--since", "yesterday", "x"}, 1, "--since"},
		{[]string{"logs", "--tail", "some", "x"}, 1, "--tail"},
	} {
		_, errs, code := e.berth("", tc.args...)
		if code != tc.code || !strings.Contains(errs, tc.want) {
			t.Errorf("berth %v: exit %d, %q; want exit %d mentioning %q", tc.args, code, errs, tc.code, tc.want)
		}
	}
	t.Setenv("BERTH_SHIM_BINARY", filepath.Join(t.TempDir(), "missing-shim"))
	if _, errs, code := e.berth("", "run", "-d", "x:1"); code != 125 || !strings.Contains(errs, "make shim") {
		t.Errorf("run -d without the shim: exit %d, %q; want 125 and how to build it", code, errs)
	}
}

// As after a reboot: every shim killed and the state directory wiped. ps -a shows every
// container exited (137) with no hang, and rm cleans up.
func TestDetachedAfterReboot(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "one", "sleeper:1")
	e.ok("run", "-d", "--name", "two", "sleeper:1")
	e.killAll()
	ents, _ := os.ReadDir(e.state)
	for _, d := range ents {
		if err := os.RemoveAll(filepath.Join(e.state, d.Name())); err != nil {
			t.Fatal(err)
		}
	}
	start := time.Now()
	out := e.ok("ps", "-a")
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("ps -a took %v", d)
	}
	for _, name := range []string{"one", "two"} {
		if row := psRow(out, name); !strings.Contains(row, "Exited (137)") {
			t.Errorf("ps -a row of %s: %q, want Exited (137)", name, row)
		}
	}
	if got := e.ok("ps", "-q"); got != "" {
		t.Errorf("ps -q lists %q after the reboot", got)
	}
	e.checkNoProcesses()
	e.ok("rm", "one", "two")
}

// berth processes running run -d, ps, stop and rm at once: every container is accounted
// for, and no record, process, socket or directory is left.
func TestDetachedParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	e := detachEnv(t)
	self, _ := os.Executable()
	berth := func(args ...string) (string, error) {
		c := exec.Command(self, args...)
		c.Env = e.environ()
		b, err := c.CombinedOutput()
		return string(b), err
	}
	const workers, rounds = 4, 3
	var wg sync.WaitGroup
	errc := make(chan error, workers*rounds*4)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < rounds; i++ {
				name := "w" + strconv.Itoa(w) + "-" + strconv.Itoa(i)
				if out, err := berth("run", "-d", "--name", name, "sleeper:1"); err != nil {
					errc <- fmt.Errorf("run -d %s: %v %s", name, err, out)
					continue
				}
				if out, err := berth("ps"); err != nil || psRow(out, name) == "" {
					errc <- fmt.Errorf("ps does not list %s: %v\n%s", name, err, out)
				}
				if i%2 == 0 {
					if out, err := berth("stop", "-t", "1", name); err != nil {
						errc <- fmt.Errorf("stop %s: %v %s", name, err, out)
					}
					if out, err := berth("rm", name); err != nil {
						errc <- fmt.Errorf("rm %s: %v %s", name, err, out)
					}
				} else if out, err := berth("rm", "-f", name); err != nil {
					errc <- fmt.Errorf("rm -f %s: %v %s", name, err, out)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if out := e.ok("ps", "-a", "-q"); out != "" {
		t.Errorf("containers left: %q", out)
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	for _, d := range ents {
		if d.Name() == "lock" || d.Name() == "names" {
			continue
		}
		t.Errorf("left in the containers directory: %s", d.Name())
	}
	if names, _ := os.ReadDir(filepath.Join(e.root, "containers", "names")); len(names) > 0 {
		t.Errorf("%d names left reserved", len(names))
	}
	filepath.Walk(e.state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("left in the state directory: %s", p)
		}
		return nil
	})
}

// A berth killed between starting the shim and recording the container running leaves
// a record that says created and a shim that runs: rm stops that shim too.
func TestDetachedRemoveOrphanShim(t *testing.T) {
	e := detachEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "sleeper:1"))
	p := filepath.Join(e.root, "containers", id, "container.json")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var rec map[string]any
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	rec["State"] = map[string]any{"Status": "created", "Running": false, "Pid": 0, "ExitCode": 0}
	b, _ = json.Marshal(rec)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if len(e.processes()) == 0 {
		t.Fatal("the shim is not running before the test's rm")
	}
	e.ok("rm", id)
	e.checkNoProcesses()
}

// start runs an exited container again through a new shim, appending to its log;
// -a attaches and exits with the container's code. restart is stop then start. A
// container whose shim died (as after a reboot) starts again; one last run in the
// foreground starts detached.
func TestDetachedStartRestart(t *testing.T) {
	e := detachEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "--name", "once", "--log-opt", "max-size=10k", "sleeper:1", "exit", "7"))
	if got := e.ok("wait", "once"); got != "7\n" {
		t.Fatalf("wait = %q", got)
	}
	out, errs, code := e.berth("", "start", "-a", "once")
	if code != 7 || out != "bye\n" {
		t.Errorf("start -a: exit %d, %q %q; want 7 and bye", code, out, errs)
	}
	if got := e.ok("logs", id); got != "bye\nbye\n" {
		t.Errorf("logs after a start = %q, want both runs", got)
	}
	var rec struct {
		HostConfig struct {
			LogConfig struct{ Config map[string]string }
		}
	}
	if err := json.Unmarshal([]byte(strings.Trim(e.ok("inspect", id), "[]\n")), &rec); err != nil || rec.HostConfig.LogConfig.Config["max-size"] != "10000" {
		t.Errorf("recorded log options %+v, %v", rec.HostConfig.LogConfig, err)
	}
	e.checkNoProcesses()

	e.ok("run", "-d", "--name", "svc", "sleeper:1")
	e.killAll()
	if row := psRow(e.ok("ps", "-a"), "svc"); !strings.Contains(row, "Exited (137)") {
		t.Fatalf("ps -a row %q, want Exited (137)", row)
	}
	if got := e.ok("start", "svc"); got != "svc\n" {
		t.Errorf("start printed %q", got)
	}
	if row := psRow(e.ok("ps"), "svc"); !strings.Contains(row, "Up ") {
		t.Errorf("ps row after start %q, want Up", row)
	}
	before := e.inspect("svc").State.Pid
	e.ok("restart", "-t", "1", "svc")
	after := e.inspect("svc")
	if !after.State.Running || after.State.Pid == before {
		t.Errorf("after restart: %+v (pid before %d)", after.State, before)
	}
	e.ok("start", "svc") // a running container: nothing to do, as docker
	if got := e.inspect("svc").State.Pid; got != after.State.Pid {
		t.Errorf("start of a running container changed its pid %d → %d", after.State.Pid, got)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Count(e.ok("logs", "svc"), "line 2\n") == 3 {
			break
		}
	}
	if got := strings.Count(e.ok("logs", "svc"), "line 2\n"); got != 3 {
		t.Errorf("logs hold %d runs' lines, want 3", got)
	}
	e.ok("rm", "-f", "svc")

	if _, _, code := e.berth("", "run", "--name", "fg", "sleeper:1", "exit", "3"); code != 3 {
		t.Fatalf("foreground run exited %d", code)
	}
	if errs := e.fail(1, "logs", "fg"); !strings.Contains(errs, "foreground") {
		t.Errorf("logs of a foreground container: %q", errs)
	}
	if out, _, code := e.berth("", "start", "-a", "fg"); code != 3 || out != "bye\n" {
		t.Errorf("start -a of a foreground container: exit %d, %q", code, out)
	}
	if got := e.ok("logs", "fg"); got != "bye\n" {
		t.Errorf("logs after starting a foreground container detached = %q", got)
	}
	e.checkNoProcesses()
	e.ok("rm", "once", "fg")
}

// rename keeps the container and moves its name; container prune removes the stopped
// containers and leaves the running ones; `container ls` is ps.
func TestDetachedRenamePrune(t *testing.T) {
	e := detachEnv(t)
	runID := strings.TrimSpace(e.ok("run", "-d", "--name", "runner", "sleeper:1"))
	exitID := strings.TrimSpace(e.ok("run", "-d", "--name", "quitter", "sleeper:1", "exit", "0"))
	e.ok("wait", "quitter")
	e.ok("rename", "runner", "stayer")
	if c := e.inspect("stayer"); c.ID != runID || !c.State.Running {
		t.Errorf("after rename: %+v", c)
	}
	if errs := e.fail(1, "rename", "stayer", "quitter"); !strings.Contains(errs, "already in use") {
		t.Errorf("rename to a taken name: %q", errs)
	}
	if errs := e.fail(1, "container", "prune"); !strings.Contains(errs, "-f") {
		t.Errorf("prune without -f and no terminal: %q", errs)
	}
	out := e.ok("container", "prune", "-f")
	if !strings.Contains(out, "Deleted Containers:\n"+exitID+"\n") || strings.Contains(out, runID) || !strings.Contains(out, "Total reclaimed space: ") {
		t.Errorf("prune printed %q", out)
	}
	if got := e.ok("container", "ls", "-a", "-q", "--no-trunc"); got != runID+"\n" {
		t.Errorf("container ls -a after prune = %q, want only the running one", got)
	}
	e.ok("container", "rm", "-f", "stayer")
}
