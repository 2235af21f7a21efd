package e2e

import (
	"strings"
	"testing"
	"time"
)

const runcRuntime = "io.containerd.runc.v2"

// TestHarness checks the test machinery itself with runc and native images, so that a
// failure of the shim tests points at the shim: containerd 1.6 and 2.4 run the static
// native baseline, the cgroup and network-namespace probes see what runc does, the
// Wasm archives from `berth save` import, dockerd answers and runs a container, and
// crictl drives both CRI plugins (host network and a CNI pod). It needs no shim.
func TestHarness(t *testing.T) {
	requireE2E(t)
	set := testImages(t)
	for _, v := range containerdVersions {
		t.Run("containerd-"+v, func(t *testing.T) { harnessContainerd(t, v, set) })
	}
	t.Run("docker", func(t *testing.T) { harnessDocker(t, set) })
	for _, v := range containerdVersions {
		t.Run("cri-"+v, func(t *testing.T) { harnessCRI(t, v) })
	}
}

func harnessContainerd(t *testing.T, version string, set imageSet) {
	e := newEnv(t)
	c := e.startContainerd(t, version, containerdOpts{})
	c.importImage(t, c.ns, set.archives[imgNative])
	c.importImage(t, c.ns, set.archives[pauseImage])
	c.importImage(t, c.ns, set.archives[imgHello])

	ls := must(t, c.ctr(t, cmdOpts{}, "image", "ls"))
	if !strings.Contains(ls.stdout, imgHello) || !strings.Contains(ls.stdout, "wasi/wasm") {
		t.Fatalf("the berth save archive of %s is not listed as wasi/wasm after ctr image import --all-platforms:\n%s", imgHello, ls)
	}

	t.Run("run-rm", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			args []string
			code int
		}{
			{"exit0", nil, 0},
			{"exit3", []string{"/hello", "3"}, 3},
		} {
			t.Run(tc.name, func(t *testing.T) {
				id := "native-" + tc.name
				args := append([]string{"run", "--rm", "--runtime", runcRuntime, imgNative, id}, tc.args...)
				checkHello(t, c.ctr(t, cmdOpts{timeout: time.Minute}, args...), tc.code)
			})
		}
	})

	t.Run("detached-cgroup-sigkill", func(t *testing.T) {
		id := "native-pause"
		t.Cleanup(func() { c.removeContainer(t, id) })
		must(t, c.ctr(t, cmdOpts{}, "run", "-d", "--runtime", runcRuntime, pauseImage, id))
		tk := c.waitStatus(t, id, "RUNNING", 10*time.Second)
		if tk.pid <= 0 {
			t.Fatalf("ctr task ls shows pid %d", tk.pid)
		}
		checkCgroup(t, tk.pid, c.pid(), "/"+c.ns+"/"+id)
		must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "kill", "-s", "SIGKILL", id))
		c.waitStatus(t, id, "STOPPED", 10*time.Second)
		if code := c.deleteTask(t, id); code != 137 {
			t.Fatalf("exit status after SIGKILL: %d, want 137", code)
		}
		must(t, c.ctr(t, cmdOpts{}, "container", "delete", id))
	})

	t.Run("netns", func(t *testing.T) {
		id := "native-netns"
		t.Cleanup(func() { c.removeContainer(t, id) })
		must(t, e.run(t, cmdOpts{}, "ip", "netns", "add", "e2e-runc"))
		want := e.netnsInode(t, "/run/netns/e2e-runc")
		must(t, c.ctr(t, cmdOpts{}, "run", "-d", "--runtime", runcRuntime,
			"--with-ns", "network:/var/run/netns/e2e-runc", pauseImage, id))
		tk := c.waitStatus(t, id, "RUNNING", 10*time.Second)
		if got := netns(t, tk.pid); got != want {
			t.Fatalf("process %d is in network namespace %s, want %s (/var/run/netns/e2e-runc)", tk.pid, got, want)
		}
		must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "kill", id)) // SIGTERM: pause exits 0
		c.waitStatus(t, id, "STOPPED", 10*time.Second)
		if code := c.deleteTask(t, id); code != 0 {
			t.Fatalf("exit status of pause after SIGTERM: %d, want 0", code)
		}
		must(t, c.ctr(t, cmdOpts{}, "container", "delete", id))
	})

	if version == v24 {
		// The -info probe and its decoder, on the runc shim.
		t.Run("runtime-info", func(t *testing.T) {
			d := binDir(envContainerd2, "containerd", containerd2Version)
			info := shimInfo(t, tool(t, envContainerd2, d, "containerd-shim-runc-v2"))
			if info.Name != runcRuntime {
				t.Errorf("containerd-shim-runc-v2 -info: name %q, want %q", info.Name, runcRuntime)
			}
			if got := inspectRuntime(t, c, runcRuntime); got != runcRuntime {
				t.Errorf("ctr plugins inspect-runtime: name %q, want %q", got, runcRuntime)
			}
		})
	}

	// The Wasm image unpacks for wasi/wasm: runc then fails to exec the module, which
	// shows that the rootfs (with the module at its entrypoint) was prepared.
	t.Run("wasm-image-unpacks", func(t *testing.T) {
		id := "wasm-under-runc"
		t.Cleanup(func() { c.removeContainer(t, id) })
		r := c.ctr(t, cmdOpts{timeout: time.Minute}, "run", "--rm", "--runtime", runcRuntime, "--platform", "wasi/wasm", imgHello, id)
		if r.ok() || !strings.Contains(r.stdout+r.stderr, "exec format error") {
			t.Fatalf("want runc to fail with \"exec format error\" on the unpacked module, got:\n%s", r)
		}
	})
}

func harnessDocker(t *testing.T, set imageSet) {
	e := newEnv(t)
	c := e.startContainerd(t, v24, containerdOpts{})
	d := e.startDockerd(t, c)
	v := must(t, d.docker(t, cmdOpts{}, "version", "--format", "{{.Server.Version}}"))
	t.Logf("docker version: server %s", strings.TrimSpace(v.stdout))
	if !strings.HasPrefix(strings.TrimSpace(v.stdout), "29.") {
		t.Errorf("dockerd reports version %q, want 29.x", strings.TrimSpace(v.stdout))
	}
	must(t, d.docker(t, cmdOpts{timeout: 2 * time.Minute}, "load", "-i", set.archives[imgNative]))
	checkHello(t, d.docker(t, cmdOpts{timeout: 2 * time.Minute}, "run", "--rm", "-e", "EXIT=3", imgNative), 3)
	l := must(t, d.docker(t, cmdOpts{timeout: 2 * time.Minute}, "load", "-i", set.archives[imgHello]))
	if !strings.Contains(l.stdout, "e2e-hello:1") {
		t.Errorf("docker load of the berth save archive does not name e2e-hello:1:\n%s", l)
	}
	ls := must(t, d.docker(t, cmdOpts{}, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"))
	if !strings.Contains(ls.stdout, "e2e-hello:1") {
		t.Fatalf("docker image ls lacks e2e-hello:1 after docker load:\n%s", ls)
	}
}

func harnessCRI(t *testing.T, version string) {
	e := newEnv(t)
	r := e.newCRI(t, version, containerdOpts{}, imgNative, imgHello)

	t.Run("host-network", func(t *testing.T) {
		p := r.runPod(t, "runc-host", true, "")
		id := r.createContainer(t, p, "hello", imgNative, nil, map[string]string{"EXIT": "3"})
		must(t, r.crictl(t, cmdOpts{}, "start", id))
		s := r.waitState(t, id, "CONTAINER_EXITED", 20*time.Second)
		if s.Status.ExitCode != 3 {
			t.Errorf("exit code %d, want 3", s.Status.ExitCode)
		}
		checkCRILog(t, p.readLog(t, "hello"), map[string]string{"hello stdout": "stdout", "hello stderr": "stderr"})
		must(t, r.crictl(t, cmdOpts{}, "rm", id))
	})

	// The CRI variant of a Wasm image is unpacked: a container can be created on its
	// snapshot (createContainer fails the test otherwise).
	t.Run("wasm-image-snapshot", func(t *testing.T) {
		p := r.runPod(t, "runc-wasm", true, "")
		id := r.createContainer(t, p, "wasm", imgHello, nil, nil)
		must(t, r.crictl(t, cmdOpts{}, "rm", "-f", id))
	})

	t.Run("cni-pod", func(t *testing.T) {
		p := r.runPod(t, "runc-cni", false, "")
		ps := r.inspectPod(t, p.id)
		if !strings.HasPrefix(ps.Status.Network.IP, podSubnet) {
			t.Errorf("pod IP %q, want one in %s0/24", ps.Status.Network.IP, podSubnet)
		}
		path := ps.netnsPath()
		if path == "" {
			t.Fatalf("pod spec names no network namespace")
		}
		want := e.netnsInode(t, path)
		if host := netns(t, e.pid); want == host {
			t.Fatalf("pod network namespace %s is the environment's own", want)
		}
		id := r.createContainer(t, p, "pause", pauseImage, nil, nil)
		must(t, r.crictl(t, cmdOpts{}, "start", id))
		s := r.waitState(t, id, "CONTAINER_RUNNING", 20*time.Second)
		if got := netns(t, s.Info.Pid); got != want {
			t.Errorf("container process %d is in network namespace %s, want the pod's %s (%s)", s.Info.Pid, got, want, path)
		}
		checkCgroup(t, s.Info.Pid, r.c.pid(), id)
		must(t, r.crictl(t, cmdOpts{}, "stop", "-t", "5", id))
		must(t, r.crictl(t, cmdOpts{}, "rm", id))
	})
}
