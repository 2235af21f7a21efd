package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// shimEnv is an environment with a containerd that has the shim first on its PATH and
// the Wasm test images imported into the ctr namespace.
type shimEnv struct {
	e      *env
	c      *containerd
	shim   string
	set    imageSet
	before leftovers
}

func newShimEnv(t *testing.T, version string) *shimEnv {
	t.Helper()
	shim := shimBin(t)
	set := testImages(t)
	e := newEnv(t)
	c := e.startContainerd(t, version, containerdOpts{shimDir: filepath.Dir(shim)})
	for _, im := range wasmImages {
		c.importImage(t, c.ns, set.archives[im.name])
	}
	return &shimEnv{e: e, c: c, shim: shim, set: set, before: snapshotLeftovers(t, c, shim)}
}

// runArgv is `ctr run` with the berth runtime and the wasi/wasm platform; flags go
// before the image, args after the id (they replace the whole process args).
func runArgv(flags []string, image, id string, args ...string) []string {
	argv := append([]string{"run", "--runtime", runtimeType, "--platform", "wasi/wasm"}, flags...)
	return append(append(argv, image, id), args...)
}

// runDetached runs image detached as id and waits until the task is RUNNING; the
// cleanup removes whatever is left of it.
func (s *shimEnv) runDetached(t *testing.T, image, id string, flags ...string) task {
	t.Helper()
	t.Cleanup(func() { s.c.removeContainer(t, id) })
	must(t, s.c.ctr(t, cmdOpts{timeout: time.Minute}, runArgv(append([]string{"-d"}, flags...), image, id)...))
	return s.c.waitStatus(t, id, "RUNNING", 20*time.Second)
}

// killAndReap sends sig (empty: ctr's default, SIGTERM), waits for STOPPED, deletes
// the task and the container, and checks the exit status.
func (s *shimEnv) killAndReap(t *testing.T, id, sig string, want int) {
	t.Helper()
	args := []string{"task", "kill"}
	if sig != "" {
		args = append(args, "-s", sig)
	}
	r := s.c.ctr(t, cmdOpts{timeout: 10 * time.Second}, append(args, id)...)
	if !r.ok() {
		t.Fatalf("ctr task kill must answer within 10s:\n%s", r)
	}
	s.c.waitStatus(t, id, "STOPPED", 15*time.Second)
	if code := s.c.deleteTask(t, id); code != want {
		t.Errorf("exit status after kill %s: %d, want %d", sig, code, want)
	}
	if m, r := s.c.tasks(t); !r.ok() {
		t.Fatalf("ctr task ls:\n%s", r)
	} else if _, ok := m[id]; ok {
		t.Errorf("ctr task ls still lists %s after ctr task delete", id)
	}
	must(t, s.c.ctr(t, cmdOpts{}, "container", "delete", id))
}

// TestContainerd drives the shim with ctr on containerd 1.6 and 2.4: foreground runs
// (stdout, stderr, exit codes, stdin), detached tasks (ls, kill with SIGTERM and
// SIGKILL, delete, metrics), a guest in a tight loop, --log-uri, the cgroup and network
// namespace the spec names, -info (2.4), and nothing left behind.
func TestContainerd(t *testing.T) {
	requireE2E(t)
	for _, v := range containerdVersions {
		t.Run(v, func(t *testing.T) { ctrSuite(t, v) })
	}
}

func ctrSuite(t *testing.T, version string) {
	s := newShimEnv(t, version)
	c := s.c

	t.Run("run-rm", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			flags []string
			args  []string
			code  int
		}{
			{name: "exit0"},
			{name: "exit3-arg", args: []string{"/hello.wasm", "3"}, code: 3},
			{name: "exit3-env", flags: []string{"--env", "EXIT=3"}, code: 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := "rm-" + tc.name
				t.Cleanup(func() { c.removeContainer(t, id) })
				argv := runArgv(append([]string{"--rm"}, tc.flags...), imgHello, id, tc.args...)
				checkHello(t, c.ctr(t, cmdOpts{timeout: time.Minute}, argv...), tc.code)
			})
		}
	})

	t.Run("stdin", func(t *testing.T) {
		id := "stdin-eof"
		t.Cleanup(func() { c.removeContainer(t, id) })
		r := c.ctr(t, cmdOpts{timeout: time.Minute, stdin: strings.NewReader("one\ntwo\n")},
			runArgv([]string{"--rm"}, imgStdin, id)...)
		want := "waiting for stdin\ngot: one\ngot: two\nstdin closed\n"
		if !r.ok() || r.stdout != want {
			t.Fatalf("want exit 0 and stdout %q, got %q:\n%s", want, r.stdout, r)
		}
	})

	// An empty stdin that the client has closed before the shim opens the FIFO still
	// reaches the guest as EOF (no hang).
	t.Run("stdin-empty", func(t *testing.T) {
		id := "stdin-empty"
		t.Cleanup(func() { c.removeContainer(t, id) })
		r := c.ctr(t, cmdOpts{timeout: 30 * time.Second, stdin: strings.NewReader("")},
			runArgv([]string{"--rm"}, imgStdin, id)...)
		want := "waiting for stdin\nstdin closed\n"
		if !r.ok() || r.stdout != want {
			t.Fatalf("want exit 0 and stdout %q, got %q:\n%s", want, r.stdout, r)
		}
	})

	// A guest blocked reading stdin (a host call) still dies on SIGTERM.
	t.Run("stdin-blocked-sigterm", func(t *testing.T) {
		id := "stdin-blocked"
		t.Cleanup(func() { c.removeContainer(t, id) })
		// An OS pipe never written to: the guest blocks in fd_read. (An *os.File, so the
		// ctr process reads it directly and no copying goroutine outlives a kill.)
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pr.Close(); pw.Close() })
		p := c.e.start(t, cmdOpts{stdin: pr}, c.ctrArgv(runArgv([]string{"--rm"}, imgStdin, id)...)...)
		c.waitStatus(t, id, "RUNNING", 20*time.Second)
		if !eventually(10*time.Second, func() bool { return strings.Contains(p.stdout.String(), "waiting for stdin") }) {
			t.Fatalf("guest did not print %q within 10s; stdout %q", "waiting for stdin", p.stdout.String())
		}
		must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "kill", id))
		r := p.wait(15 * time.Second)
		if r.err != nil || r.code != 143 {
			t.Fatalf("ctr run of a guest blocked on stdin, after SIGTERM: want exit 143 within 15s, got:\n%s", r)
		}
	})

	t.Run("detached", func(t *testing.T) {
		for _, tc := range []struct {
			name, sig string
			code      int
		}{
			{"sigterm", "", 143},
			{"sigkill", "SIGKILL", 137},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := "detached-" + tc.name
				tk := s.runDetached(t, imgSleep, id)
				if tk.pid <= 0 {
					t.Errorf("ctr task ls shows pid %d for a running task", tk.pid)
				}
				s.killAndReap(t, id, tc.sig, tc.code)
			})
		}
	})

	t.Run("metrics", func(t *testing.T) {
		id := "metrics"
		s.runDetached(t, imgSleep, id)
		r := c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "metrics", id)
		if !r.ok() || !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "METRIC") {
			t.Fatalf("ctr task metrics must answer for a running task with cgroup metrics ctr can show:\n%s", r)
		}
		t.Logf("ctr task metrics:\n%s", r.stdout)
		s.killAndReap(t, id, "SIGKILL", 137)
	})

	// What a Wasm container cannot do fails at once with a message that says so, and
	// leaves the task running.
	t.Run("unsupported", func(t *testing.T) {
		id := "unsupported"
		s.runDetached(t, imgSleep, id)
		for _, argv := range [][]string{
			{"task", "exec", "--exec-id", "e1", id, "/hello.wasm"},
			{"task", "pause", id},
			{"task", "checkpoint", id},
		} {
			r := c.ctr(t, cmdOpts{timeout: 10 * time.Second}, argv...)
			if r.ok() || !strings.Contains(r.stderr, "not supported by Wasm containers") {
				t.Errorf("ctr %s must fail with \"not supported by Wasm containers\":\n%s", strings.Join(argv, " "), r)
			}
		}
		if m, r := c.tasks(t); m[id].status != "RUNNING" {
			t.Errorf("task %s is %q after the refused calls, want RUNNING:\n%s", id, m[id].status, r)
		}
		s.killAndReap(t, id, "SIGKILL", 137)
	})

	// A guest in a tight loop cannot be preempted: the shim must still answer state
	// queries and stop it.
	t.Run("tight-loop", func(t *testing.T) {
		id := "spin"
		s.runDetached(t, imgSpin, id)
		time.Sleep(time.Second) // let it compile and spin
		for i := 0; i < 3; i++ {
			start := time.Now()
			m, r := c.tasks(t)
			if !r.ok() {
				t.Fatalf("ctr task ls with a spinning guest must answer within 10s:\n%s", r)
			}
			if m[id].status != "RUNNING" {
				t.Fatalf("spinning task status %q, want RUNNING:\n%s", m[id].status, r)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("ctr task ls took %v with a spinning guest, want < 3s", d)
			}
		}
		if r := c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "metrics", id); !r.ok() {
			t.Errorf("ctr task metrics with a spinning guest must answer within 10s:\n%s", r)
		}
		start := time.Now()
		s.killAndReap(t, id, "", 143)
		t.Logf("SIGTERM to STOPPED and deleted in %v", time.Since(start).Round(time.Millisecond))
	})

	t.Run("log-uri", func(t *testing.T) {
		id := "log-uri"
		t.Cleanup(func() { c.removeContainer(t, id) })
		logPath := filepath.Join(c.dir, "log-uri.log")
		r := c.ctr(t, cmdOpts{timeout: time.Minute}, runArgv([]string{"--rm", "--log-uri", "file://" + logPath}, imgHello, id)...)
		if !r.ok() {
			t.Fatalf("ctr run --log-uri:\n%s", r)
		}
		var b []byte
		eventually(5*time.Second, func() bool {
			b, _ = os.ReadFile(logPath)
			return strings.Contains(string(b), "hello stdout") && strings.Contains(string(b), "hello stderr")
		})
		if !strings.Contains(string(b), "hello stdout\n") || !strings.Contains(string(b), "hello stderr\n") {
			t.Fatalf("log file %s lacks the guest's stdout and stderr lines: %q", logPath, b)
		}
	})

	t.Run("cgroup", func(t *testing.T) {
		id := "cgroup"
		tk := s.runDetached(t, imgSleep, id)
		// ctr puts a container in /<namespace>/<id>.
		checkCgroup(t, tk.pid, c.pid(), "/"+c.ns+"/"+id)
		// The leftover probe of no-leftovers must see a running task's shim.
		now := snapshotLeftovers(t, c, s.shim).newSince(s.before)
		t.Logf("while %s runs: %s", id, strings.Join(now, "; "))
		if !slices.ContainsFunc(now, func(l string) bool { return strings.HasPrefix(l, "process ") }) ||
			!slices.ContainsFunc(now, func(l string) bool { return strings.HasPrefix(l, "socket ") }) {
			t.Errorf("the leftover probe sees no shim process or socket while a task runs, so it would miss leaks: %q", now)
		}
		s.killAndReap(t, id, "SIGKILL", 137)
	})

	t.Run("netns", func(t *testing.T) {
		id := "netns"
		must(t, s.e.run(t, cmdOpts{}, "ip", "netns", "add", "e2e-berth"))
		want := s.e.netnsInode(t, "/run/netns/e2e-berth")
		tk := s.runDetached(t, imgSleep, id, "--with-ns", "network:/var/run/netns/e2e-berth")
		if got := netns(t, tk.pid); got != want {
			t.Errorf("guest process %d is in network namespace %s, want %s (/var/run/netns/e2e-berth); containerd's is %s",
				tk.pid, got, want, netns(t, c.pid()))
		}
		s.killAndReap(t, id, "SIGKILL", 137)
	})

	if version == v24 {
		t.Run("info", func(t *testing.T) {
			info := shimInfo(t, s.shim)
			t.Logf("%s -info: name %q, version %v", shimName, info.Name, info.Version)
			if got := inspectRuntime(t, c, runtimeType); got == "" {
				t.Errorf("ctr plugins inspect-runtime --runtime %s: empty name", runtimeType)
			}
		})
	}

	t.Run("no-leftovers", func(t *testing.T) {
		checkNoLeftovers(t, c, s.shim, s.before)
	})
}
