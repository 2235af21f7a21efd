package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// inspectedRestart is what the restart tests read of `inspect`.
type inspectedRestart struct {
	RestartCount int
	State        struct {
		Status              string
		Running, Restarting bool
		Pid, ExitCode       int
	}
	HostConfig struct {
		RestartPolicy struct {
			Name              string
			MaximumRetryCount int
		}
	}
}

func (e *env) inspectRestart(ref string) inspectedRestart {
	e.t.Helper()
	var got []inspectedRestart
	if err := json.Unmarshal([]byte(e.ok("inspect", ref)), &got); err != nil || len(got) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return got[0]
}

// logTimes returns the times of the entries of `logs -t` whose text is line.
func (e *env) logTimes(ref, line string) []time.Time {
	e.t.Helper()
	var ts []time.Time
	for _, l := range strings.Split(e.ok("logs", "-t", ref), "\n") {
		at, text, ok := strings.Cut(l, " ")
		if !ok || text != line {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, at)
		if err != nil {
			e.t.Fatalf("logs -t line %q: %v", l, err)
		}
		ts = append(ts, t)
	}
	return ts
}

// checkBackoff checks that the runs logged at ts were started at least docker's back-off
// apart (100 ms, doubled each time) and in order. Only lower bounds, and an upper bound
// no slow machine reaches: the delay is the shim's minimum, the run's start-up adds to it.
func checkBackoff(t *testing.T, ts []time.Time) {
	t.Helper()
	want := 100 * time.Millisecond
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d < want || d > want+20*time.Second {
			t.Errorf("run %d started %v after run %d, want ≥ %v (docker's back-off)", i+1, d, i, want)
		}
		want *= 2
	}
}

// on-failure:2 and a guest that exits 1: it runs three times, with docker's back-off
// between the runs, into one log; wait returns only after the last run, with its code;
// then inspect says RestartCount 2 and ps Exited (1), and the shim is gone.
func TestRestartOnFailure(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "rf", "--restart", "on-failure:2", "sleeper:1", "exit", "1")
	if got := e.ok("wait", "rf"); got != "1\n" {
		t.Errorf("wait = %q, want 1 (after the last run)", got)
	}
	c := e.inspectRestart("rf")
	if c.RestartCount != 2 || c.State.Status != "exited" || c.State.Running || c.State.ExitCode != 1 {
		t.Errorf("inspect after the runs: %+v; want RestartCount 2, exited (1)", c)
	}
	if rp := c.HostConfig.RestartPolicy; rp.Name != "on-failure" || rp.MaximumRetryCount != 2 {
		t.Errorf("HostConfig.RestartPolicy = %+v, want on-failure, 2", rp)
	}
	if row := psRow(e.ok("ps", "-a"), "rf"); !strings.Contains(row, "Exited (1)") {
		t.Errorf("ps -a row %q, want Exited (1)", row)
	}
	ts := e.logTimes("rf", "bye")
	if len(ts) != 3 {
		t.Fatalf("%d runs in the log, want 3", len(ts))
	}
	checkBackoff(t, ts)
	e.checkNoProcesses()
	// A start counts again from 0, as docker's.
	e.ok("start", "rf")
	if got := e.ok("wait", "rf"); got != "1\n" {
		t.Errorf("wait after start = %q", got)
	}
	if c := e.inspectRestart("rf"); c.RestartCount != 2 {
		t.Errorf("RestartCount after a start and two more restarts: %d, want 2", c.RestartCount)
	}
	if n := len(e.logTimes("rf", "bye")); n != 6 {
		t.Errorf("%d runs in the log after start, want 6", n)
	}
	e.ok("rm", "rf")
}

// always and a guest that keeps failing: the back-off grows until ps shows docker's
// "Restarting (1) … ago" and inspect State.Restarting; stop during the back-off ends the
// policy at once: the container stays exited with the last run's code.
func TestRestartAlwaysBackoffThenStop(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "ra", "--restart", "always", "sleeper:1", "exit", "1")
	// From the fifth restart on, a back-off lasts ≥ 1.6 s: ps, inspect and stop come within it.
	var c inspectedRestart
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if c = e.inspectRestart("ra"); c.State.Restarting && c.RestartCount >= 5 {
			break
		}
	}
	if c.State.Status != "restarting" || !c.State.Restarting || !c.State.Running || c.State.Pid != 0 || c.State.ExitCode != 1 || c.RestartCount < 5 {
		t.Fatalf("inspect during a back-off: %+v", c)
	}
	if row := psRow(e.ok("ps"), "ra"); !regexp.MustCompile(`Restarting \(1\) (Less than a second|\d+ seconds?) ago +ra$`).MatchString(row) {
		t.Errorf("ps row %q, want Restarting (1) … ago", row)
	}
	if got := e.ok("ps", "-q", "--filter", "status=restarting"); strings.TrimSpace(got) == "" {
		t.Errorf("ps --filter status=restarting lists nothing")
	}
	start := time.Now()
	e.ok("stop", "ra")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stop during a back-off took %v", d)
	}
	after := e.inspectRestart("ra")
	if after.State.Running || after.State.Status != "exited" || after.State.ExitCode != 1 || after.RestartCount < c.RestartCount {
		t.Errorf("inspect after stop: %+v (before: %+v)", after, c)
	}
	ts := e.logTimes("ra", "bye")
	// Stopped during a back-off: the restart counted has not run.
	if len(ts) < 5 || len(ts) != after.RestartCount {
		t.Errorf("%d runs logged for RestartCount %d", len(ts), after.RestartCount)
	}
	checkBackoff(t, ts)
	e.checkNoProcesses()
	time.Sleep(500 * time.Millisecond)
	if row := psRow(e.ok("ps", "-a"), "ra"); !strings.Contains(row, "Exited (1)") {
		t.Errorf("ps -a row after stop %q, want it to stay Exited (1)", row)
	}
	e.ok("rm", "ra")
}

// always and a long-running guest: a crash of the guest (its process killed from
// outside) restarts it, and logs -f follows across the restart; stop and kill end the
// policy (docker's rule for a container without a STOPSIGNAL): it stays exited.
func TestRestartAlwaysCrashStopKill(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "svc", "--restart", "always", "sleeper:1", "serve", "2")
	followed := make(chan string, 1)
	go func() {
		out, _, _ := e.berth("", "logs", "-f", "svc")
		followed <- out
	}()
	waitLog := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Count(e.ok("logs", "svc"), "line 1\n") >= n {
				return
			}
		}
		t.Fatalf("the log does not hold %d runs: %q", n, e.ok("logs", "svc"))
	}
	waitLog(1)
	first := e.inspectRestart("svc")
	if first.State.Pid <= 0 || first.RestartCount != 0 {
		t.Fatalf("inspect of the first run: %+v", first)
	}
	if err := syscall.Kill(first.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitLog(2)
	var second inspectedRestart
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if second = e.inspectRestart("svc"); second.State.Status == "running" && second.RestartCount == 1 {
			break
		}
	}
	if second.State.Status != "running" || second.RestartCount != 1 || second.State.Pid == first.State.Pid || second.State.Pid <= 0 {
		t.Errorf("after a crash: %+v (first run's pid %d); want running again, RestartCount 1", second, first.State.Pid)
	}
	if row := psRow(e.ok("ps"), "svc"); !strings.Contains(row, "Up ") {
		t.Errorf("ps row after the restart %q, want Up", row)
	}
	e.ok("stop", "-t", "2", "svc")
	select {
	case got := <-followed:
		if got != "line 0\nline 1\nline 0\nline 1\n" {
			t.Errorf("logs -f across the restart = %q, want both runs' lines", got)
		}
	case <-time.After(10 * time.Second):
		t.Error("logs -f did not end when the container was stopped")
	}
	time.Sleep(300 * time.Millisecond)
	if c := e.inspectRestart("svc"); c.State.Running || c.State.ExitCode != 143 {
		t.Errorf("after stop: %+v, want it to stay exited (143)", c.State)
	}
	e.checkNoProcesses()

	// start brings the policy back; kill ends it again.
	e.ok("start", "svc")
	if c := e.inspectRestart("svc"); !c.State.Running || c.RestartCount != 0 {
		t.Errorf("after start: %+v", c)
	}
	e.ok("kill", "svc")
	time.Sleep(300 * time.Millisecond)
	if c := e.inspectRestart("svc"); c.State.Running || c.State.ExitCode != 137 {
		t.Errorf("after kill: %+v, want it to stay exited (137)", c.State)
	}
	e.checkNoProcesses()
	e.ok("rm", "svc")
}

// unless-stopped restarts a guest that exits 0; stop ends it.
func TestRestartUnlessStopped(t *testing.T) {
	e := detachEnv(t)
	e.ok("run", "-d", "--name", "us", "--restart", "unless-stopped", "sleeper:1", "exit", "0")
	var c inspectedRestart
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if c = e.inspectRestart("us"); c.RestartCount >= 2 {
			break
		}
	}
	if c.RestartCount < 2 || !c.State.Running || c.HostConfig.RestartPolicy.Name != "unless-stopped" {
		t.Fatalf("inspect: %+v; want it restarted twice and still running", c)
	}
	e.ok("stop", "us")
	c = e.inspectRestart("us")
	if c.State.Running || c.State.Status != "exited" {
		t.Errorf("after stop: %+v", c)
	}
	e.checkNoProcesses()
	e.ok("rm", "us")
}

func TestRestartBadInput(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"run", "--restart", "always", "x:1"}, "needs -d"},
		{[]string{"run", "-d", "--restart", "sometimes", "x:1"}, `unknown policy "sometimes"`},
		{[]string{"run", "-d", "--restart", "always:3", "x:1"}, "only be used with 'on-failure'"},
		{[]string{"run", "-d", "--restart", "on-failure:-1", "x:1"}, "negative"},
	} {
		_, errs, code := e.berth("", tc.args...)
		if code != 125 || !strings.Contains(errs, tc.want) || !strings.Contains(errs, "--restart") {
			t.Errorf("berth %v: exit %d, %q; want 125 mentioning --restart and %q", tc.args, code, errs, tc.want)
		}
	}
}
