package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestDocker drives the shim through Docker Engine 29 on containerd 2.4: docker load of
// the `berth save` archives, docker run --rm (output, exit codes), and a detached
// container through logs, stop and rm (a sleeping guest and one in a tight loop).
func TestDocker(t *testing.T) {
	requireE2E(t)
	shim := shimBin(t)
	set := testImages(t)
	e := newEnv(t)
	c := e.startContainerd(t, v24, containerdOpts{shimDir: filepath.Dir(shim)})
	d := e.startDockerd(t, c)
	for _, name := range []string{imgHello, imgSleep, imgSpin} {
		r := must(t, d.docker(t, cmdOpts{timeout: 2 * time.Minute}, "load", "-i", set.archives[name]))
		if short := strings.TrimPrefix(name, "docker.io/library/"); !strings.Contains(r.stdout, short) {
			t.Fatalf("docker load of %s does not name %s:\n%s", set.archives[name], short, r)
		}
	}
	before := snapshotLeftovers(t, c, shim)
	wasm := []string{"--runtime=" + runtimeType, "--platform=wasi/wasm"}

	t.Run("run-rm", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			flags []string
			args  []string
			code  int
		}{
			{name: "exit0"},
			{name: "exit3-env", flags: []string{"-e", "EXIT=3"}, code: 3},
			{name: "exit3-cmd", args: []string{"3"}, code: 3}, // CMD after the image's ENTRYPOINT
		} {
			t.Run(tc.name, func(t *testing.T) {
				argv := append(append(append([]string{"run", "--rm"}, wasm...), tc.flags...), imgHello)
				checkHello(t, d.docker(t, cmdOpts{timeout: time.Minute}, append(argv, tc.args...)...), tc.code)
			})
		}
	})

	for _, tc := range []struct {
		name, image, line string
	}{
		{"detached-sleep", imgSleep, "tick 2"},
		{"detached-spin", imgSpin, "spinning"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "e2e-" + tc.name
			t.Cleanup(func() { d.docker(t, cmdOpts{timeout: 30 * time.Second}, "rm", "-f", name) })
			argv := append(append([]string{"run", "-d", "--name", name}, wasm...), tc.image)
			must(t, d.docker(t, cmdOpts{timeout: time.Minute}, argv...))
			var logs, state result
			if !eventually(20*time.Second, func() bool {
				logs = d.docker(t, cmdOpts{timeout: 10 * time.Second}, "logs", name)
				if strings.Contains(logs.stdout, tc.line) {
					return true
				}
				state = d.docker(t, cmdOpts{timeout: 10 * time.Second}, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name)
				return strings.HasPrefix(state.stdout, "exited")
			}) || !strings.Contains(logs.stdout, tc.line) {
				t.Fatalf("docker logs did not show %q (container: %s):\n%s", tc.line, strings.TrimSpace(state.stdout), logs)
			}
			// SIGTERM ends a Wasm guest (it has no handlers); -t 10 leaves room before
			// Docker's SIGKILL, so 143 proves the SIGTERM worked.
			stop := d.docker(t, cmdOpts{timeout: 30 * time.Second}, "stop", "-t", "10", name)
			if !stop.ok() {
				t.Fatalf("docker stop:\n%s", stop)
			}
			if stop.dur > 5*time.Second {
				t.Errorf("docker stop took %v, want < 5s (SIGTERM should end the guest)", stop.dur.Round(time.Millisecond))
			}
			st := must(t, d.docker(t, cmdOpts{}, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name))
			if got := strings.TrimSpace(st.stdout); got != "exited 143" {
				t.Errorf("after docker stop: state %q, want \"exited 143\"", got)
			}
			must(t, d.docker(t, cmdOpts{}, "rm", name))
			ps := must(t, d.docker(t, cmdOpts{}, "ps", "-a", "--format", "{{.Names}}"))
			if strings.Contains(ps.stdout, name) {
				t.Errorf("docker ps -a still lists %s after docker rm:\n%s", name, ps.stdout)
			}
		})
	}

	// A terminal and exec are refused with a message that names the reason.
	t.Run("unsupported", func(t *testing.T) {
		r := d.docker(t, cmdOpts{timeout: time.Minute}, append(append([]string{"run", "--rm", "-t"}, wasm...), imgHello)...)
		if r.ok() || !strings.Contains(r.stdout+r.stderr, "not supported by Wasm containers") {
			t.Errorf("docker run -t must fail with \"not supported by Wasm containers\":\n%s", r)
		}
		name := "e2e-exec"
		t.Cleanup(func() { d.docker(t, cmdOpts{timeout: 30 * time.Second}, "rm", "-f", name) })
		must(t, d.docker(t, cmdOpts{timeout: time.Minute}, append(append([]string{"run", "-d", "--name", name}, wasm...), imgSleep)...))
		r = d.docker(t, cmdOpts{timeout: time.Minute}, "exec", name, "/sleep.wasm")
		if r.ok() || !strings.Contains(r.stdout+r.stderr, "not supported by Wasm containers") {
			t.Errorf("docker exec must fail with \"not supported by Wasm containers\":\n%s", r)
		}
	})

	t.Run("no-leftovers", func(t *testing.T) {
		checkNoLeftovers(t, c, shim, before)
	})
}
