package shim

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"

	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/restart"
)

// createWithPolicy creates and starts a task whose spec carries restart.Annotation, with
// a json-file log; it returns the bundle and the log's path.
func (f *fixture) createWithPolicy(id, policy string, args []string) (string, string) {
	f.t.Helper()
	bundle := f.bundle(args, map[string]string{restart.Annotation: policy})
	path := filepath.Join(f.t.TempDir(), logs.FileName(id))
	uri := logs.URI(path, logs.Options{})
	if _, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: id, Bundle: bundle, Stdout: uri, Stderr: uri}); err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: id}); err != nil {
		f.t.Fatal(err)
	}
	return bundle, path
}

func (f *fixture) logEntries(path string) []logs.Entry {
	f.t.Helper()
	var got []logs.Entry
	if err := logs.Read(f.ctx, path, logs.ReadOptions{Tail: -1, Stdout: true, Stderr: true}, func(e logs.Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return got
}

// on-failure:2 with a guest that exits 1: three runs into one log, with docker's growing
// back-off between them; Wait returns only after the last, with its status; one exit
// event for the task.
func TestRestartOnFailure(t *testing.T) {
	f := newFixture(t)
	bundle, path := f.createWithPolicy("rf", "on-failure:2", []string{"/app.wasm", "1"})
	if code := f.wait("rf"); code != 1 {
		t.Errorf("exit status %d, want 1", code)
	}
	st, err := restart.ReadState(bundle)
	if err != nil || st.RestartCount != 2 || st.Restarting || st.ExitCode != 1 || st.Policy != "on-failure:2" {
		t.Errorf("restart state %+v, %v; want 2 restarts, exited 1", st, err)
	}
	var outs []time.Time
	for _, e := range f.logEntries(path) {
		if e.Log == "hello out\n" {
			outs = append(outs, e.Time)
		}
	}
	if len(outs) != 3 {
		t.Fatalf("%d runs in the log, want 3", len(outs))
	}
	// The back-off is a lower bound: 100 ms, then 200 ms (plus each run's start-up).
	if d := outs[1].Sub(outs[0]); d < 100*time.Millisecond || d > 20*time.Second {
		t.Errorf("first restart after %v, want ≥ 100ms", d)
	}
	if d := outs[2].Sub(outs[1]); d < 200*time.Millisecond || d > 20*time.Second {
		t.Errorf("second restart after %v, want ≥ 200ms", d)
	}
	if got := f.ev.settled(); got != "/tasks/create /tasks/start /tasks/exit" {
		t.Errorf("events %q: want one exit for the task", got)
	}
	if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "rf"}); err != nil {
		t.Fatal(err)
	}
}

// always with a guest that exits 0: restarted; a Kill during a back-off ends the task at
// once with the last run's status; State says running with pid 0 while it waits, and
// Wait does not return then.
func TestRestartKillDuringBackoff(t *testing.T) {
	f := newFixture(t)
	bundle, _ := f.createWithPolicy("ra", "always", []string{"/app.wasm"})
	var st restart.State
	deadline := time.Now().Add(30 * time.Second)
	for ; time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		// From the fourth restart on, a back-off lasts ≥ 800 ms: long enough to see.
		if st, _ = restart.ReadState(bundle); st.Restarting && st.RestartCount >= 4 {
			break
		}
	}
	if !st.Restarting {
		t.Fatalf("no back-off seen in 30 s: %+v", st)
	}
	ts, err := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: "ra"})
	if err != nil || ts.Status != task.Status_RUNNING || ts.Pid != 0 {
		t.Errorf("State during a back-off = %v, %v; want running with pid 0", ts, err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, 50*time.Millisecond)
	if _, err := f.svc.Wait(ctx, &taskAPI.WaitRequest{ID: "ra"}); err == nil {
		t.Error("Wait returned during a back-off")
	}
	cancel()
	if _, err := f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: "ra", Signal: 15}); err != nil {
		t.Fatal(err)
	}
	if code := f.wait("ra"); code != 0 {
		t.Errorf("exit status after a kill in the back-off: %d, want the last run's 0", code)
	}
	after, _ := restart.ReadState(bundle)
	if after.Restarting || after.RestartCount != st.RestartCount {
		t.Errorf("state after the kill %+v; want no more restarts than %d", after, st.RestartCount)
	}
	if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "ra"}); err != nil {
		t.Fatal(err)
	}
}

// A Kill of a running guest ends the policy (docker's kill and stop): always does not
// restart it. A bad annotation fails Create naming it; a policy with stdin is refused.
func TestRestartKillAndBadAnnotation(t *testing.T) {
	f := newFixture(t)
	bundle, _ := f.createWithPolicy("rk", "always", []string{"/app.wasm", "spin"})
	if _, err := f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: "rk", Signal: 9}); err != nil {
		t.Fatal(err)
	}
	if code := f.wait("rk"); code != 137 {
		t.Errorf("exit status %d, want 137", code)
	}
	if st, _ := restart.ReadState(bundle); st.RestartCount != 0 {
		t.Errorf("restarted after a kill: %+v", st)
	}
	f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "rk"})

	_, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "bad", Bundle: f.bundle([]string{"/app.wasm"}, map[string]string{restart.Annotation: "sometimes"})})
	if err == nil || !strings.Contains(err.Error(), restart.Annotation) || !strings.Contains(err.Error(), "sometimes") {
		t.Errorf("Create with a bad policy: %v", err)
	}
	_, err = f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: "in", Bundle: f.bundle([]string{"/app.wasm"}, map[string]string{restart.Annotation: "always"}),
		Stdin: filepath.Join(t.TempDir(), "nofifo")})
	if err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("Create with a policy and stdin: %v", err)
	}
}
