package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// errTimeout marks a command that was killed because it ran past its timeout.
var errTimeout = errors.New("timed out")

// result is the outcome of one command.
type result struct {
	argv   []string
	stdout string
	stderr string
	code   int   // exit code; -1 when the command did not exit by itself
	err    error // a start failure, errTimeout, or nil
	dur    time.Duration
}

// ok reports whether the command ran and exited 0.
func (r result) ok() bool { return r.err == nil && r.code == 0 }

// String describes the command and its outcome for failure messages.
func (r result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "$ %s\n", shellJoin(r.argv))
	switch {
	case errors.Is(r.err, errTimeout):
		fmt.Fprintf(&b, "TIMED OUT after %v (killed)\n", r.dur.Round(time.Millisecond))
	case r.err != nil:
		fmt.Fprintf(&b, "error: %v\n", r.err)
	default:
		fmt.Fprintf(&b, "exit %d after %v\n", r.code, r.dur.Round(time.Millisecond))
	}
	if r.stdout != "" {
		fmt.Fprintf(&b, "--- stdout\n%s", tail(r.stdout, 4000))
		if !strings.HasSuffix(r.stdout, "\n") {
			b.WriteByte('\n')
		}
	}
	if r.stderr != "" {
		fmt.Fprintf(&b, "--- stderr\n%s", tail(r.stderr, 4000))
		if !strings.HasSuffix(r.stderr, "\n") {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func shellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"$\\|&;<>()*?") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		q[i] = a
	}
	return strings.Join(q, " ")
}

// cmdOpts are the knobs of one command. The zero value means: 60 s timeout, no stdin,
// the test's environment.
type cmdOpts struct {
	timeout time.Duration
	stdin   io.Reader
	env     []string // appended to os.Environ()
	dir     string
	// output, when set, receives stdout and stderr instead of the result (daemon logs).
	output io.Writer
}

// syncBuffer is a bytes.Buffer safe to read while a process writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a command running in the background.
type proc struct {
	argv           []string
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	start          time.Time
	done           chan struct{}
	res            result
}

// startProc starts argv in its own process group. The test's cleanup kills the group
// if it is still running.
func startProc(t testing.TB, o cmdOpts, argv ...string) *proc {
	t.Helper()
	p := &proc{argv: argv, done: make(chan struct{})}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), o.env...)
	cmd.Dir = o.dir
	cmd.Stdin = o.stdin
	cmd.Stdout = &p.stdout
	cmd.Stderr = &p.stderr
	if o.output != nil {
		cmd.Stdout, cmd.Stderr = o.output, o.output
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// A child that inherited the output pipes must not keep Wait from returning.
	cmd.WaitDelay = 2 * time.Second
	p.cmd = cmd
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		p.res = result{argv: argv, code: -1, err: err}
		close(p.done)
		return p
	}
	go func() {
		err := cmd.Wait()
		p.res = result{argv: argv, stdout: p.stdout.String(), stderr: p.stderr.String(), dur: time.Since(p.start), code: -1}
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.res.code = 0
		case errors.As(err, &ee) && ee.Exited():
			p.res.code = ee.ExitCode()
		case errors.As(err, &ee):
			p.res.err = fmt.Errorf("killed: %v", ee)
		default:
			p.res.err = err
		}
		close(p.done)
	}()
	t.Cleanup(func() { p.kill() })
	return p
}

// kill ends the process group with SIGKILL and waits (at most 10 s: a stdin that is
// not an *os.File can keep exec's copying goroutine, and so Wait, busy) for the process.
func (p *proc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	if p.cmd.Process != nil {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
	}
}

// wait waits up to timeout for the process; past it, the process group is killed and
// the result carries errTimeout.
func (p *proc) wait(timeout time.Duration) result {
	select {
	case <-p.done:
		return p.res
	case <-time.After(timeout):
		p.kill()
		return result{argv: p.argv, stdout: p.stdout.String(), stderr: p.stderr.String(),
			code: -1, err: errTimeout, dur: time.Since(p.start)}
	}
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// runCmd runs argv to completion, killing it after o.timeout (default 60 s).
func runCmd(t testing.TB, o cmdOpts, argv ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	return startProc(t, o, argv...).wait(o.timeout)
}

// must fails the test unless r exited 0.
func must(t testing.TB, r result) result {
	t.Helper()
	if !r.ok() {
		t.Fatalf("command failed:\n%s", r)
	}
	return r
}

// eventually polls f every 50 ms until it returns true or timeout passes.
func eventually(timeout time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// guestStderr is stderr without the lines the tools add themselves: ctr's log lines
// (time="…" level=…, such as containerd 2.x's cgroup v1 deprecation warning) and the
// docker CLI's and daemon's WARNING lines.
func guestStderr(s string) string {
	var keep []string
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(line, `time="`) || strings.HasPrefix(line, "WARNING: ") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "")
}

// checkHello asserts the outcome of one run of the hello guest (Wasm or native): exactly
// "hello stdout" on stdout, "hello stderr" on stderr, and the exit code.
func checkHello(t testing.TB, r result, code int) {
	t.Helper()
	if r.err != nil || r.code != code || r.stdout != "hello stdout\n" || guestStderr(r.stderr) != "hello stderr\n" {
		t.Fatalf("want exit %d, stdout %q and stderr %q; got stdout %q, stderr %q:\n%s",
			code, "hello stdout\n", "hello stderr\n", r.stdout, guestStderr(r.stderr), r)
	}
}
