package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCRI drives the shim through the CRI plugin with crictl and runtime handler
// "berth" (containerd 1.6 and 2.4): a host-network pod (a container that exits with a
// code and logs both streams, a long-running container in the pod's cgroup and
// network) and a pod with a network namespace of its own made by CNI; then stop and
// remove everything and check that nothing is left.
func TestCRI(t *testing.T) {
	requireE2E(t)
	for _, v := range containerdVersions {
		t.Run(v, func(t *testing.T) { criSuite(t, v) })
	}
}

func criSuite(t *testing.T, version string) {
	shim := shimBin(t)
	e := newEnv(t)
	r := e.newCRI(t, version, containerdOpts{shimDir: filepath.Dir(shim)}, imgHello, imgSleep)
	before := snapshotLeftovers(t, r.c, shim)

	// runSleeper starts the sleeping guest in pod p and returns its status once it logs.
	runSleeper := func(t *testing.T, p pod, name string) (string, containerStatus) {
		t.Helper()
		id := r.createContainer(t, p, name, imgSleep, nil, nil)
		t.Cleanup(func() { r.crictl(t, cmdOpts{timeout: 30 * time.Second}, "rm", "-f", id) })
		must(t, r.crictl(t, cmdOpts{}, "start", id))
		s := r.waitState(t, id, "CONTAINER_RUNNING", 20*time.Second)
		if !eventually(20*time.Second, func() bool { return strings.Contains(p.readLog(t, name), "tick 1") }) {
			t.Fatalf("container log has no \"tick 1\" after 20s:\n%s", p.readLog(t, name))
		}
		if s.Info.Pid <= 0 {
			t.Fatalf("crictl inspect shows pid %d for a running container", s.Info.Pid)
		}
		return id, s
	}
	stopAndRemove := func(t *testing.T, id string) {
		t.Helper()
		stop := r.crictl(t, cmdOpts{timeout: 30 * time.Second}, "stop", "-t", "10", id)
		if !stop.ok() {
			t.Fatalf("crictl stop:\n%s", stop)
		}
		if stop.dur > 5*time.Second {
			t.Errorf("crictl stop took %v, want < 5s (SIGTERM should end the guest)", stop.dur.Round(time.Millisecond))
		}
		if s, _ := r.inspect(t, id); s.Status.State != "CONTAINER_EXITED" || s.Status.ExitCode != 143 {
			t.Errorf("after crictl stop: state %s exit %d, want CONTAINER_EXITED 143", s.Status.State, s.Status.ExitCode)
		}
		must(t, r.crictl(t, cmdOpts{}, "rm", id))
	}
	removePod := func(t *testing.T, p pod) {
		t.Helper()
		must(t, r.crictl(t, cmdOpts{timeout: time.Minute}, "stopp", p.id))
		must(t, r.crictl(t, cmdOpts{timeout: time.Minute}, "rmp", p.id))
		pods := must(t, r.crictl(t, cmdOpts{}, "pods", "-q"))
		if strings.Contains(pods.stdout, p.id) {
			t.Errorf("crictl pods still lists %s after rmp", p.id)
		}
	}

	t.Run("host-network", func(t *testing.T) {
		p := r.runPod(t, "berth-host", true, "berth")

		t.Run("exit-code-and-logs", func(t *testing.T) {
			id := r.createContainer(t, p, "hello", imgHello, nil, map[string]string{"EXIT": "3"})
			must(t, r.crictl(t, cmdOpts{}, "start", id))
			s := r.waitState(t, id, "CONTAINER_EXITED", 30*time.Second)
			if s.Status.ExitCode != 3 {
				t.Errorf("exit code %d, want 3 (reason %q, message %q)", s.Status.ExitCode, s.Status.Reason, s.Status.Message)
			}
			checkCRILog(t, p.readLog(t, "hello"), map[string]string{"hello stdout": "stdout", "hello stderr": "stderr"})
			must(t, r.crictl(t, cmdOpts{}, "rm", id))
		})

		t.Run("running-cgroup-netns-stop", func(t *testing.T) {
			id, s := runSleeper(t, p, "sleeper")
			checkCgroup(t, s.Info.Pid, r.c.pid(), id)
			if got, want := netns(t, s.Info.Pid), netns(t, e.pid); got != want {
				t.Errorf("guest of a host-network pod is in network namespace %s, want the node's %s", got, want)
			}
			stopAndRemove(t, id)
		})

		removePod(t, p)
	})

	t.Run("cni-pod", func(t *testing.T) {
		p := r.runPod(t, "berth-cni", false, "berth")
		ps := r.inspectPod(t, p.id)
		if !strings.HasPrefix(ps.Status.Network.IP, podSubnet) {
			t.Errorf("pod IP %q, want one in %s0/24", ps.Status.Network.IP, podSubnet)
		}
		path := ps.netnsPath()
		if path == "" {
			t.Fatalf("the pod's spec names no network namespace")
		}
		want := e.netnsInode(t, path)
		id, s := runSleeper(t, p, "sleeper")
		if got := netns(t, s.Info.Pid); got != want {
			t.Errorf("guest process %d is in network namespace %s, want the pod's %s (%s); the node's is %s",
				s.Info.Pid, got, want, path, netns(t, e.pid))
		}
		checkCgroup(t, s.Info.Pid, r.c.pid(), id)

		// A second container of the pod is served by the pod's shim: one shim process
		// for the sandbox and both containers, as runc's shim groups a pod.
		id2, s2 := runSleeper(t, p, "sleeper2")
		if got := netns(t, s2.Info.Pid); got != want {
			t.Errorf("second guest process %d is in network namespace %s, want the pod's %s", s2.Info.Pid, got, want)
		}
		shims := 0
		for _, c := range shimProcs(shim) {
			if strings.Contains(c, "-namespace k8s.io") {
				shims++
			}
		}
		if shims != 1 {
			t.Errorf("%d shim processes serve the pod's sandbox and two containers, want 1: %v", shims, shimProcs(shim))
		}
		if version == v24 {
			checkTaskV3(t, r.c, p.id, id, id2)
		}
		stopAndRemove(t, id2)
		stopAndRemove(t, id)
		removePod(t, p)
	})

	t.Run("no-leftovers", func(t *testing.T) {
		checkNoLeftovers(t, r.c, shim, before)
	})
}

// checkTaskV3: containerd 2.4 speaks task API v3 to the shim (its `start` answered the
// bootstrap protocol with version 3, see internal/shim/bootstrap.go), and so hands the
// pod's containers the sandbox's connection instead of running `start` for each: it
// then writes the sandbox's id and the connection's bootstrap.json into their bundles.
func checkTaskV3(t *testing.T, c *containerd, sandbox string, containers ...string) {
	t.Helper()
	for _, id := range append([]string{sandbox}, containers...) {
		bundle := filepath.Join(c.state, "io.containerd.runtime.v2.task", "k8s.io", id)
		b, err := os.ReadFile(filepath.Join(bundle, "bootstrap.json"))
		if err != nil {
			t.Errorf("task %s: %v", id, err)
			continue
		}
		var params struct {
			Version  int    `json:"version"`
			Protocol string `json:"protocol"`
		}
		if err := json.Unmarshal(b, &params); err != nil || params.Version != 3 || params.Protocol != "ttrpc" {
			t.Errorf("task %s: bootstrap.json %s (%v), want version 3 over ttrpc", id, b, err)
		}
		if id == sandbox {
			continue
		}
		if got, err := os.ReadFile(filepath.Join(bundle, "sandbox")); err != nil || string(got) != sandbox {
			t.Errorf("container %s: its bundle names sandbox %q (%v), want %s: containerd started the shim for it", id, got, err, sandbox)
		}
	}
}
