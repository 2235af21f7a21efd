package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKube runs Wasm pods on a real single-node Kubernetes (see newKube): a RuntimeClass
// "berth" (handler berth), a pod that runs to completion (Succeeded, its output in
// `kubectl logs`), one that exits 3 (Failed, exit code 3), a long-running one (Running,
// logs while it runs, the guest in the pod's cgroup and network namespace, `kubectl
// delete` ending it promptly), one from the archive as `berth save` writes it, and the
// same cluster's runc baseline. Then no shim may be left, and the teardown must leave no
// process, mount, cgroup or namespace.
func TestKube(t *testing.T) {
	requireE2E(t)
	kubeBins(t)
	shim := shimBin(t)
	k := newKube(t, filepath.Dir(shim), imgHello, imgSleep, imgNative)
	if k.bringUp > 10*time.Second {
		t.Errorf("bring-up took %v, want ≤ 10s", k.bringUp.Round(time.Millisecond))
	}

	k.apply(t, `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: berth
handler: berth
`)

	t.Run("pod-succeeds", func(t *testing.T) {
		k.runPod(t, "hello", "berth", imgHello, "", "Succeeded")
		logs := must(t, k.kubectl(t, cmdOpts{}, "logs", "hello"))
		for _, want := range []string{"hello stdout", "hello stderr"} {
			if !strings.Contains(logs.stdout, want) {
				t.Errorf("kubectl logs hello lacks %q:\n%s", want, logs)
			}
		}
		k.deletePod(t, "hello", 10*time.Second)
	})

	t.Run("pod-fails-with-exit-code", func(t *testing.T) {
		k.runPod(t, "hello-exit3", "berth", imgHello, "3", "Failed")
		r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "hello-exit3", "-o",
			"jsonpath={.status.containerStatuses[0].state.terminated.exitCode}"))
		if got := strings.TrimSpace(r.stdout); got != "3" {
			t.Errorf("exit code of the pod's container: %q, want 3", got)
		}
		k.deletePod(t, "hello-exit3", 10*time.Second)
	})

	t.Run("pod-running-logs-delete", func(t *testing.T) {
		k.runPod(t, "sleeper", "berth", imgSleep, "", "Running")
		var logs result
		if !poll(20*time.Second, kubePoll, func() bool {
			logs = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "logs", "sleeper")
			return logs.ok() && strings.Contains(logs.stdout, "tick 1")
		}) {
			t.Fatalf("kubectl logs sleeper shows no \"tick 1\" within 20s:\n%s", logs)
		}
		k.checkGuestPlacement(t, "sleeper")
		// SIGTERM ends the guest at once; the default grace period is 30 s, so a delete
		// near it means the signal did not reach the guest.
		k.deletePod(t, "sleeper", 10*time.Second)
	})

	// The archive exactly as `berth save` writes it (one wasi/wasm manifest, no
	// linux/amd64 entry), not the CRI variant the other pods use. Imported with ctr's
	// --local (client-side) import it is unpacked for wasi/wasm and runs; through the
	// transfer service (ctr's default in 2.4) it is stored but not unpacked, and the
	// kubelet fails with "parent snapshot … does not exist" (see importImage).
	t.Run("pod-from-plain-wasm-archive", func(t *testing.T) {
		k.cri.c.importImage(t, "k8s.io", testImages(t).archives[imgStdin])
		k.runPod(t, "plain", "berth", imgStdin, "", "Succeeded")
		logs := must(t, k.kubectl(t, cmdOpts{}, "logs", "plain"))
		if !strings.Contains(logs.stdout, "stdin closed") {
			t.Errorf("kubectl logs plain lacks \"stdin closed\" (the guest reads an empty stdin):\n%s", logs)
		}
		k.deletePod(t, "plain", 10*time.Second)
	})

	// The same with runc and native images: the cluster's own baseline, so that a
	// failure above that also shows here points at the cluster, not the shim, and
	// the timings above have something to compare with.
	t.Run("runc-baseline", func(t *testing.T) {
		k.runPod(t, "native-hello", "", imgNative, "3", "Failed")
		logs := must(t, k.kubectl(t, cmdOpts{}, "logs", "native-hello"))
		if !strings.Contains(logs.stdout, "hello stdout") {
			t.Errorf("kubectl logs native-hello lacks \"hello stdout\":\n%s", logs)
		}
		k.deletePod(t, "native-hello", 10*time.Second)
		k.runPod(t, "native-pause", "", pauseImage, "", "Running")
		k.deletePod(t, "native-pause", 10*time.Second)
	})

	t.Run("no-shim-left", func(t *testing.T) {
		if !eventually(15*time.Second, func() bool { return len(shimProcs(shim)) == 0 }) {
			t.Errorf("shim processes left 15s after every pod was deleted: %v", shimProcs(shim))
		}
	})

	t.Run("teardown", func(t *testing.T) {
		d := k.teardown(t)
		if d > 30*time.Second {
			t.Errorf("teardown took %v, want < 30s", d.Round(time.Millisecond))
		}
	})
}

// runPod creates a pod running image with runtimeClass ("" for the node's default,
// runc), its EXIT variable set to exit when not empty and restartPolicy Never, and waits
// until its phase is phase. The image must be on the node (imagePullPolicy Never).
// It logs how long apply → phase took.
func (k *kube) runPod(t *testing.T, name, runtimeClass, image, exit, phase string) {
	t.Helper()
	start := time.Now()
	k.applyPod(t, name, runtimeClass, image, exit, "Never")
	var last result
	if !poll(60*time.Second, kubePoll, func() bool {
		last = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "pod", name, "-o", "jsonpath={.status.phase}")
		return last.ok() && strings.TrimSpace(last.stdout) == phase
	}) {
		desc := k.kubectl(t, cmdOpts{}, "describe", "pod", name)
		t.Fatalf("pod %s not %s within 60s (last phase %q):\n%s", name, phase, strings.TrimSpace(last.stdout), desc)
	}
	t.Logf("pod %s: apply → %s in %v", name, phase, time.Since(start).Round(time.Millisecond))
}

// applyPod creates pod name running image with runtimeClass ("" for runc), its EXIT
// variable set to exit when not empty, restartPolicy Never and imagePullPolicy pull;
// the test's cleanup deletes it.
func (k *kube) applyPod(t *testing.T, name, runtimeClass, image, exit, pull string) {
	t.Helper()
	rc, env := "", ""
	if runtimeClass != "" {
		rc = "\n  runtimeClassName: " + runtimeClass
	}
	if exit != "" {
		env = fmt.Sprintf("\n    env: [{name: EXIT, value: %q}]", exit)
	}
	k.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:%s
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  dnsPolicy: Default
  containers:
  - name: main
    image: %s
    imagePullPolicy: %s%s
`, name, rc, image, pull, env))
	t.Cleanup(func() {
		k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", name, "--ignore-not-found", "--grace-period=0", "--force")
	})
}

// deletePod runs `kubectl delete pod NAME` (waiting for the pod to be gone) and fails
// the test if that takes longer than limit.
func (k *kube) deletePod(t *testing.T, name string, limit time.Duration) {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", name, "--wait=true"))
	if r.dur > limit {
		t.Errorf("kubectl delete pod %s took %v, want < %v", name, r.dur.Round(time.Millisecond), limit)
	}
	t.Logf("kubectl delete pod %s: %v", name, r.dur.Round(time.Millisecond))
}

// checkGuestPlacement checks that the guest of pod name's first container runs where
// the kubelet put the pod: in the pod's cgroup under the kubelet's cgroup root (not
// containerd's), and in the pod's network namespace, which CNI gave an address in the
// pod subnet (not the node's).
func (k *kube) checkGuestPlacement(t *testing.T, name string) {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", name, "-o",
		"jsonpath={.metadata.uid} {.status.podIP} {.status.containerStatuses[0].containerID}"))
	f := strings.Fields(r.stdout)
	if len(f) != 3 || !strings.HasPrefix(f[2], "containerd://") {
		t.Fatalf("pod %s: want uid, pod IP and a containerd:// container ID, got %q", name, r.stdout)
	}
	uid, ip, id := f[0], f[1], strings.TrimPrefix(f[2], "containerd://")
	if !strings.HasPrefix(ip, podSubnet) {
		t.Errorf("pod %s has IP %q, want one in %s0/24", name, ip, podSubnet)
	}
	s, res := k.cri.inspect(t, id)
	if !res.ok() || s.Info.Pid <= 0 {
		t.Fatalf("crictl inspect %s: no pid for the running guest:\n%s", id, res)
	}
	// BestEffort pods (no requests) go to ROOT/kubepods/besteffort/pod<uid>/<id>.
	checkCgroup(t, s.Info.Pid, k.cri.c.pid(), k.cgroupRoot+"/kubepods/besteffort/pod"+uid+"/"+id)

	sb := must(t, k.cri.crictl(t, cmdOpts{}, "pods", "-q", "--name", name, "--state", "ready"))
	ids := strings.Fields(sb.stdout)
	if len(ids) != 1 {
		t.Fatalf("crictl pods --name %s: want one ready sandbox, got %q", name, sb.stdout)
	}
	path := k.cri.inspectPod(t, ids[0]).netnsPath()
	if path == "" {
		t.Fatalf("the sandbox of pod %s names no network namespace", name)
	}
	want, got, node := k.e.netnsInode(t, path), netns(t, s.Info.Pid), netns(t, k.e.pid)
	if want == node {
		t.Errorf("pod %s's network namespace %s is the node's", name, path)
	}
	if got != want {
		t.Errorf("guest %d of pod %s is in network namespace %s, want the pod's %s (%s); the node's is %s",
			s.Info.Pid, name, got, want, path, node)
	}
}

// TestKubeContainerd16 runs Wasm pods on the same kubelet v1.37.2 over Debian's
// containerd 1.6.20 (config version 2, the berth runtime in
// plugins."io.containerd.grpc.v1.cri"): Kubernetes has deprecated containerd 1.x, and
// this says whether the pair still works for berth's pods.
func TestKubeContainerd16(t *testing.T) {
	requireE2E(t)
	kubeBins(t)
	shim := shimBin(t)
	k := newKubeOpts(t, kubeOpts{containerd: containerdOpts{shimDir: filepath.Dir(shim)}, containerdVersion: v16},
		imgHello, imgSleep)
	k.apply(t, `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: berth
handler: berth
`)
	k.runPod(t, "hello", "berth", imgHello, "3", "Failed")
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "hello", "-o",
		"jsonpath={.status.containerStatuses[0].state.terminated.exitCode}"))
	if got := strings.TrimSpace(r.stdout); got != "3" {
		t.Errorf("exit code of the pod's container: %q, want 3", got)
	}
	if logs := must(t, k.kubectl(t, cmdOpts{}, "logs", "hello")); !strings.Contains(logs.stdout, "hello stdout") {
		t.Errorf("kubectl logs hello lacks \"hello stdout\":\n%s", logs)
	}
	k.deletePod(t, "hello", 10*time.Second)

	k.runPod(t, "sleeper", "berth", imgSleep, "", "Running")
	k.checkGuestPlacement(t, "sleeper")
	k.deletePod(t, "sleeper", 10*time.Second)
	if !eventually(15*time.Second, func() bool { return len(shimProcs(shim)) == 0 }) {
		t.Errorf("shim processes left 15s after every pod was deleted: %v", shimProcs(shim))
	}
}
