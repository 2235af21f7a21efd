package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/cli"
)

// waitLogged waits until the log of ref holds want.
func (e *env) waitLogged(ref, want string) {
	e.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if out, _, _ := e.berth("", "logs", ref); strings.Contains(out, want) {
			return
		}
	}
	e.t.Fatalf("the log of %s does not hold %q", ref, want)
}

// stats --no-stream of running C guests: docker's columns, and numbers that are there
// and plausible: a sleeping guest's memory in MiB under its limit, one that computes
// using a good part of a core; a stopped container shows zeros.
func TestStats(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "idle", "--memory", "64m", "sleeper:1", "serve", "1")
	e.ok("run", "-d", "--name", "busy", "sleeper:1", "spin")
	e.waitLogged("idle", "line 0")
	e.waitLogged("busy", "spinning")

	out := e.ok("stats", "--no-stream")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !regexp.MustCompile(`^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$`).MatchString(lines[0]) || len(lines) != 3 {
		t.Errorf("stats --no-stream:\n%s\nwant docker's header and two rows", out)
	}
	row := regexp.MustCompile(`^([0-9a-f]{12}) +(\S+) +(\d+\.\d\d)% +([\d.]+)(B|KiB|MiB|GiB) / ([\d.]+)(MiB|GiB|TiB) +(\d+\.\d\d)% +-- +\S+ / \S+ +(\d+)$`)
	got := map[string][]string{}
	for _, l := range lines[1:] {
		m := row.FindStringSubmatch(l)
		if m == nil {
			t.Errorf("stats row %q is not docker's shape", l)
			continue
		}
		got[m[2]] = m
	}
	mib := func(v, unit string) float64 {
		f, _ := strconv.ParseFloat(v, 64)
		return f * map[string]float64{"B": 1.0 / (1 << 20), "KiB": 1.0 / 1024, "MiB": 1, "GiB": 1024, "TiB": 1 << 20}[unit]
	}
	if m := got["idle"]; m != nil {
		cpu, _ := strconv.ParseFloat(m[3], 64)
		used, limit := mib(m[4], m[5]), mib(m[6], m[7])
		pids, _ := strconv.Atoi(m[9])
		if cpu > 50 || used < 1 || used > 200 || limit != 64 || pids < 1 {
			t.Errorf("idle guest: CPU %v%%, memory %v MiB of %v MiB, %d threads; want a sleeping process of a few MiB under its 64 MiB limit", cpu, used, limit, pids)
		}
	}
	if m := got["busy"]; m != nil {
		// A shared machine may give it a small share of a core: only "clearly busy".
		cpu, _ := strconv.ParseFloat(m[3], 64)
		idle := 0.0
		if i := got["idle"]; i != nil {
			idle, _ = strconv.ParseFloat(i[3], 64)
		}
		if cpu < 2 || cpu <= idle || cpu > float64(runtime.NumCPU())*100+5 {
			t.Errorf("spinning guest: CPU %v%% (idle guest %v%%), want it clearly busy and at most %d%%", cpu, idle, runtime.NumCPU()*100)
		}
		if limit := mib(m[6], m[7]); limit < 100 {
			t.Errorf("without --memory the limit is the host's memory, got %v MiB", limit)
		}
	}

	// --format with docker's fields, json, and a container named by the user.
	if got := e.ok("stats", "--no-stream", "--format", "{{.Container}} {{.Name}} {{.NetIO}}", "idle"); got != "idle idle --\n" {
		t.Errorf("stats --format = %q", got)
	}
	var j map[string]string
	if err := json.Unmarshal([]byte(e.ok("stats", "--no-stream", "--format", "json", "busy")), &j); err != nil || j["Name"] != "busy" || !strings.HasSuffix(j["CPUPerc"], "%") || j["PIDs"] == "" {
		t.Errorf("stats --format json: %v %v", j, err)
	}
	e.ok("stop", "-t", "1", "busy")
	if got := e.ok("stats", "--no-stream", "--format", "{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}", "busy"); got != "busy 0.00% 0B / 0B 0\n" {
		t.Errorf("stats of a stopped container = %q, want zeros", got)
	}
	if got := e.ok("stats", "--no-stream", "--format", "{{.Name}}"); got != "idle\n" {
		t.Errorf("stats lists %q, want only the running container", got)
	}
	if got := e.ok("stats", "-a", "--no-stream", "--format", "{{.Name}}"); !strings.Contains(got, "busy\n") {
		t.Errorf("stats -a lists %q, want the stopped one too", got)
	}
	if errs := e.fail(1, "stats", "--no-stream", "nosuch"); !strings.Contains(errs, "no such container") {
		t.Errorf("stats of an unknown container: %q", errs)
	}
	e.ok("rm", "-f", "idle", "busy")
}

// attach follows the output of a running container, stdout to stdout and stderr to
// stderr, across a restart of its policy, and exits with its exit code.
func TestAttach(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "at", "sleeper:1", "late", "3")
	out, errs, code := e.berth("", "attach", "at")
	if code != 3 || out != "late out\n" || errs != "late err\n" {
		t.Errorf("attach: exit %d, stdout %q, stderr %q; want 3, late out, late err", code, out, errs)
	}
	if errs := e.fail(1, "attach", "at"); !strings.Contains(errs, "start it first") {
		t.Errorf("attach to an exited container: %q", errs)
	}
	e.checkNoProcesses()

	e.ok("run", "-d", "--name", "again", "--restart", "on-failure:1", "sleeper:1", "late", "2")
	out, _, code = e.berth("", "attach", "again")
	if code != 2 || out != "late out\nlate out\n" {
		t.Errorf("attach across a restart: exit %d, stdout %q; want 2 and both runs' lines", code, out)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"attach", "-i", "again"}, "no stdin"},
		{[]string{"attach", "--no-stdin=false", "again"}, "no stdin"},
		{[]string{"attach", "--sig-proxy", "again"}, "Ctrl-C detaches"},
		{[]string{"attach", "nosuch"}, "no such container"},
	} {
		if _, errs, code := e.berth("", tc.args...); code != 1 || !strings.Contains(errs, tc.want) {
			t.Errorf("berth %v: exit %d, %q; want 1 mentioning %q", tc.args, code, errs, tc.want)
		}
	}
	e.checkNoProcesses()
	e.ok("rm", "at", "again")
}

// Ctrl-C (SIGINT to a berth attach process) detaches: berth exits 0 at once and the
// container goes on.
func TestAttachInterrupt(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "long", "sleeper:1", "serve", "1")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "attach", "long")
	cmd.Env = e.environ()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("berth attach after Ctrl-C: %v, want exit 0", err)
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("berth attach did not end at Ctrl-C")
	}
	if c := e.inspect("long"); !c.State.Running {
		t.Errorf("the container stopped when attach was interrupted: %+v", c.State)
	}
	e.ok("rm", "-f", "long")
}

// openPTY opens a pseudo-terminal: the terminal end for berth's stdout, the other end
// to read what it shows.
func openPTY(t *testing.T) (term, ctl *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(ctl.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		ctl.Close()
		t.Skipf("unlocking a pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(int(ctl.Fd()), unix.TIOCGPTN)
	if err != nil {
		ctl.Close()
		t.Skipf("naming a pseudo-terminal: %v", err)
	}
	term, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		ctl.Close()
		t.Skipf("opening a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { term.Close(); ctl.Close() })
	return term, ctl
}

// stats without --no-stream redraws every second until interrupted: on a terminal each
// frame starts with docker's clear-screen and cursor-home; elsewhere frames follow one
// another plainly.
func TestStatsStream(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "streamed", "sleeper:1", "serve", "1")
	stream := func(stdout io.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), 3500*time.Millisecond)
		defer cancel()
		var errb bytes.Buffer
		app := &cli.App{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: &errb, Getenv: func(k string) string {
			switch k {
			case "BERTH_ROOT":
				return e.root
			case "BERTH_STATE":
				return e.state
			}
			return os.Getenv(k)
		}}
		if code := app.Main(ctx, []string{"stats"}); code != 0 {
			t.Errorf("stats: exit %d: %s", code, errb.String())
		}
	}
	var plain bytes.Buffer
	stream(&plain)
	if n := strings.Count(plain.String(), "CONTAINER ID"); n < 2 || strings.Contains(plain.String(), "\033[") || strings.Count(plain.String(), "streamed") != n {
		t.Errorf("stats to a pipe, 3.5 s: %d frames in %q; want ≥ 2, plain", n, plain.String())
	}
	term, ctl := openPTY(t)
	read := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(ctl) // ends with EIO once the terminal end is closed
		read <- string(b)
	}()
	stream(term)
	term.Close()
	got := <-read
	if n := strings.Count(got, "\033[2J\033[H"); n < 2 || n != strings.Count(got, "CONTAINER ID") {
		t.Errorf("stats on a terminal: %d clears in %q; want one before each of ≥ 2 frames", n, got)
	}
	e.ok("rm", "-f", "streamed")
}
