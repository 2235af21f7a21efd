package e2e

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// installerImage is the name the test gives the node-installer image it builds; the
// manifests of docs/kubernetes.md say installerImageDocs.
const (
	installerImage     = "registry.example.com/berth-node-installer:e2e"
	installerImageDocs = "registry.example.com/berth-node-installer:VERSION"
	// restartSec is the delay of the test's containerd supervisor, as containerd's
	// own containerd.service (and Debian's) says: Restart=always, RestartSec=5.
	restartSec = 5 * time.Second
)

// TestKubeInstall installs berth on a node of a real single-node Kubernetes the two
// ways docs/kubernetes.md describes, and uninstalls it again, on a containerd that
// starts without the berth runtime (containerdOpts.node: /etc/containerd and
// /usr/local/bin are directories of the test, bind-mounted inside the test's mount
// namespace; the host's are never written):
//
//   - by hand: `berth shim install` with its default paths, then a restart of
//     containerd as `systemctl restart containerd` does; a Wasm pod runs, and one
//     refused before the install (retried by the kubelet) starts too; a runc pod and a
//     Wasm pod survive containerd restarts; `berth shim uninstall` and a restart give
//     back the config byte for byte, and a berth pod fails with containerd's
//     "no runtime for "berth" is configured";
//   - the node-installer DaemonSet: the docs' manifests and their install and uninstall
//     shell lines, run as they are, with an installer image the test writes from the
//     static binaries. The installer restarts containerd with
//     --restart-containerd=signal, the test's supervisor starting a new containerd
//     5 s later as systemd's Restart=always would; the kubelet and the installer pod
//     itself survive that; a second installer pod leaves containerd alone; a Wasm pod
//     runs on the labelled node; the uninstaller reverses it all.
func TestKubeInstall(t *testing.T) {
	requireE2E(t)
	kubeBins(t)
	shim := shimBin(t)
	berth := berthBin(t)
	k := newKubeWith(t, containerdOpts{node: true}, imgSleep, imgNative)
	c := k.cri.c
	sup := superviseContainerd(t, c, restartSec)
	t.Cleanup(func() {
		sup.stop()
		k.teardown(t)
		sup.wait(t)
	})
	config := filepath.Join(c.nodeEtc, "config.toml")
	original := readFile(t, config)
	if strings.Contains(string(original), "berth") {
		t.Fatalf("the node's config names berth before anything was installed:\n%s", original)
	}

	t.Run("shim-install-by-hand", func(t *testing.T) {
		k.apply(t, "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: berth\nhandler: berth\n")
		t.Cleanup(func() { k.kubectl(t, cmdOpts{}, "delete", "runtimeclass", "berth", "--ignore-not-found") })
		// Kept: the kubelet retries it, and it must start once containerd knows berth.
		k.expectNoRuntimeKeep(t, "before-install")

		// A runc pod that runs across both restarts: containers outlive containerd.
		k.runPod(t, "survivor", "", pauseImage, "", "Running")
		survivor := k.containerIDs(t, "default", "survivor")

		// Inside the node's mount namespace, with the default --config and --bin-dir:
		// /etc/containerd/config.toml and /usr/local/bin are the test's directories.
		// berth finds the shim on its PATH.
		env := []string{"PATH=" + filepath.Dir(shim) + ":" + os.Getenv("PATH")}
		start := time.Now()
		r := must(t, k.e.run(t, cmdOpts{env: env}, berth, "shim", "install"))
		for _, want := range []string{"shim: installed /usr/local/bin/" + shimName, "shim: installed /usr/local/bin/" + guestName,
			"config: /etc/containerd/config.toml: ", "systemctl restart containerd"} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("berth shim install output lacks %q:\n%s", want, r)
			}
		}
		for _, b := range []string{shimName, guestName} {
			if _, err := os.Stat(filepath.Join(c.nodeBin, b)); err != nil {
				t.Errorf("%s not in the node's /usr/local/bin: %v", b, err)
			}
		}
		if got := readFile(t, config+".berth-bak"); !bytes.Equal(got, original) {
			t.Errorf("config.toml.berth-bak differs from the original config")
		}
		sup.restart(t)
		k.waitNodeReady(t)
		k.runPod(t, "wasm-by-hand", "berth", imgSleep, "", "Running")
		t.Logf("by hand: berth shim install → containerd restarted → Wasm pod Running: %v", time.Since(start).Round(time.Millisecond))
		var phase result
		if !poll(90*time.Second, kubePoll, func() bool {
			phase = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "pod", "before-install", "-o", "jsonpath={.status.phase}")
			return phase.ok() && phase.stdout == "Running"
		}) {
			t.Errorf("the pod refused before the install is not Running within 90s of it (phase %q):\n%s", phase.stdout,
				k.kubectl(t, cmdOpts{}, "describe", "pod", "before-install"))
		} else {
			t.Logf("the pod refused before the install (retried by the kubelet): Running %v after the install", time.Since(start).Round(time.Millisecond))
		}
		k.deletePod(t, "before-install", 10*time.Second)
		k.waitLog(t, "default", "wasm-by-hand", "tick 1")
		// (checkNoBerthProcs below sees the shim that serves it.)
		if len(k.berthProcs()) == 0 {
			t.Errorf("no process of the node runs %s or %s while a Wasm pod runs", shimName, guestName)
		}
		// A Wasm pod outlives a restart of containerd as a runc pod does: same container,
		// no restart, its output still reaching `kubectl logs`.
		before := k.containerIDs(t, "default", "wasm-by-hand")
		ticks := k.logLines(t, "default", "wasm-by-hand")
		sup.restart(t)
		k.waitNodeReady(t)
		if !poll(20*time.Second, kubePoll, func() bool { return k.logLines(t, "default", "wasm-by-hand") > ticks+5 }) {
			t.Errorf("Wasm pod: no new output in kubectl logs within 20s of the containerd restart (%d lines before, %d now)",
				ticks, k.logLines(t, "default", "wasm-by-hand"))
		}
		if got := k.containerIDs(t, "default", "wasm-by-hand"); got != before {
			t.Errorf("Wasm pod across a containerd restart: %q, want %q (unchanged, no restart)", got, before)
		}
		// The docs: stop the berth pods before uninstalling.
		k.deletePod(t, "wasm-by-hand", 10*time.Second)
		k.checkNoBerthProcs(t)

		r = must(t, k.e.run(t, cmdOpts{}, berth, "shim", "uninstall"))
		for _, want := range []string{"removed 1 block(s)", "shim: removed /usr/local/bin/" + shimName} {
			if !strings.Contains(r.stdout, want) {
				t.Errorf("berth shim uninstall output lacks %q:\n%s", want, r)
			}
		}
		if got := readFile(t, config); !bytes.Equal(got, original) {
			t.Errorf("config after uninstall differs from the original:\n--- original\n%s\n--- now\n%s", original, got)
		}
		for _, b := range []string{shimName, guestName} {
			if _, err := os.Stat(filepath.Join(c.nodeBin, b)); err == nil {
				t.Errorf("%s still in the node's /usr/local/bin after uninstall", b)
			}
		}
		sup.restart(t)
		k.waitNodeReady(t)
		k.expectNoRuntime(t, "after-uninstall")

		if got := k.containerIDs(t, "default", "survivor"); got != survivor {
			t.Errorf("runc pod across two containerd restarts: containers %q, want %q (unchanged, no restart)", got, survivor)
		}
		k.deletePod(t, "survivor", 10*time.Second)
	})

	t.Run("daemonset", func(t *testing.T) {
		if !bytes.Equal(readFile(t, config), original) {
			t.Fatalf("the config is not the original one at the start")
		}
		img := filepath.Join(workDir, "images", "berth-node-installer.tar")
		// The image's berth is the complete build, as docs/kubernetes.md's Dockerfile copies
		// it: the core build would hand `shim install` to a berth-full the image lacks.
		if err := writeInstallerImage(img, installerImage, map[string]string{
			"berth": filepath.Join(filepath.Dir(berth), "berth-full"), shimName: shim, guestName: filepath.Join(filepath.Dir(shim), guestName),
		}); err != nil {
			t.Fatal(err)
		}
		c.importImage(t, "k8s.io", img)

		// The docs' manifests as files, and their shell lines run as they are, in the
		// node's namespaces, with kubectl on PATH.
		docs := k.docsRunner(t, "berth-node-installer.yaml", "berth-runtimeclass.yaml", "berth-node-uninstaller.yaml")
		pidBefore := sup.pid()
		kubeletPID := k.daemonPID("kubelet")

		start := time.Now()
		t.Cleanup(func() {
			k.kubectl(t, cmdOpts{}, "delete", "namespace", "berth-system", "--ignore-not-found", "--wait=false")
			k.kubectl(t, cmdOpts{}, "delete", "runtimeclass", "berth", "--ignore-not-found")
		})
		r := docs.run(t, "install")
		installed := time.Since(start)
		t.Logf("the docs' install lines (%v):\n%s%s", installed.Round(time.Millisecond), r.stdout, r.stderr)
		pod := k.installerPod(t, "berth-node-installer")
		logs := must(t, k.kubectl(t, cmdOpts{}, "logs", "-n", "berth-system", pod, "-c", "install"))
		t.Logf("installer log:\n%s", logs.stdout)
		pidAfter := sup.pid()
		want := fmt.Sprintf("containerd: restarted: pid %d → %d", pidBefore, pidAfter)
		if pidAfter == pidBefore || !strings.Contains(logs.stdout, want) {
			t.Errorf("installer log lacks %q (the supervisor ran containerd %v):\n%s", want, sup.started(), logs)
		}
		if !strings.Contains(string(readFile(t, config)), "runtime_type = 'io.containerd.berth.v1'") {
			t.Errorf("the node's config does not register berth after the installer ran:\n%s", readFile(t, config))
		}
		// The installer pod and the kubelet survived the restart: the init container ran
		// once and exited 0, the pause container never restarted, the kubelet is the same
		// process.
		st := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "-n", "berth-system", pod, "-o",
			"jsonpath={.status.initContainerStatuses[0].restartCount} {.status.initContainerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].ready}"))
		if got := strings.TrimSpace(st.stdout); got != "0 0 0 true" {
			t.Errorf("installer pod: init restarts, init exit code, container restarts, ready = %q, want \"0 0 0 true\"", got)
		}
		k.checkDaemons(t)
		if got := k.daemonPID("kubelet"); got != kubeletPID {
			t.Errorf("kubelet pid %d → %d across the containerd restart", kubeletPID, got)
		}
		lbl := must(t, k.kubectl(t, cmdOpts{}, "get", "node", kubeNodeName, "-o", "jsonpath={.metadata.labels.berth-runtime}"))
		if lbl.stdout != "installed" {
			t.Errorf("node label berth-runtime = %q after the docs' install lines, want installed", lbl.stdout)
		}

		k.waitNodeReady(t)
		k.runPod(t, "wasm-ds", "berth", imgSleep, "", "Running")
		t.Logf("DaemonSet: the docs' install lines (apply, rollout status with containerd's restart, label, RuntimeClass) %v; → first Wasm pod Running %v",
			installed.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		k.waitLog(t, "default", "wasm-ds", "tick 1")
		sel := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "wasm-ds", "-o", "jsonpath={.spec.nodeSelector}"))
		if !strings.Contains(sel.stdout, `"berth-runtime":"installed"`) {
			t.Errorf("the RuntimeClass's nodeSelector is not in the pod's spec: %q", sel.stdout)
		}

		// A new installer pod (as after a reschedule) finds berth registered and leaves
		// containerd alone.
		must(t, k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", "-n", "berth-system", pod, "--wait=true"))
		must(t, k.kubectl(t, cmdOpts{timeout: 3 * time.Minute}, "rollout", "status", "-n", "berth-system",
			"daemonset/berth-node-installer", "--timeout=150s"))
		var again result
		if !poll(60*time.Second, kubePoll, func() bool {
			p2 := k.installerPod(t, "berth-node-installer")
			again = k.kubectl(t, cmdOpts{}, "logs", "-n", "berth-system", p2, "-c", "install")
			return p2 != pod && again.ok() && strings.Contains(again.stdout, "Next:")
		}) {
			t.Fatalf("the recreated installer pod did not finish within 60s:\n%s", again)
		}
		for _, want := range []string{"already registered", "containerd: config unchanged, not restarted"} {
			if !strings.Contains(again.stdout, want) {
				t.Errorf("second installer run: log lacks %q:\n%s", want, again.stdout)
			}
		}
		if got := sup.pid(); got != pidAfter {
			t.Errorf("the second installer run restarted containerd (pid %d → %d)", pidAfter, got)
		}

		// Uninstall as the docs say: the berth pods first, then their lines.
		k.deletePod(t, "wasm-ds", 10*time.Second)
		k.checkNoBerthProcs(t)
		n := len(sup.started())
		r = docs.run(t, "uninstall")
		t.Logf("the docs' uninstall lines:\n%s%s", r.stdout, r.stderr)
		if got := sup.started(); len(got) != n+1 {
			t.Errorf("containerd started %v during the uninstall lines, want exactly one restart", got[n-1:])
		}
		if got := readFile(t, config); !bytes.Equal(got, original) {
			t.Errorf("config after the uninstaller differs from the original:\n--- original\n%s\n--- now\n%s", original, got)
		}
		for _, b := range []string{shimName, guestName} {
			if _, err := os.Stat(filepath.Join(c.nodeBin, b)); err == nil {
				t.Errorf("%s still in the node's /usr/local/bin after the uninstaller", b)
			}
		}
		lbl = must(t, k.kubectl(t, cmdOpts{}, "get", "node", kubeNodeName, "-o", "jsonpath={.metadata.labels}"))
		if strings.Contains(lbl.stdout, "berth-runtime") {
			t.Errorf("node labels after the uninstall lines: %s", lbl.stdout)
		}
		if r := k.kubectl(t, cmdOpts{}, "get", "runtimeclass", "berth"); r.ok() {
			t.Errorf("RuntimeClass berth still exists after the uninstall lines")
		}
		// containerd no longer knows berth: a RuntimeClass without scheduling lets a pod
		// reach the node, where containerd refuses it.
		k.waitNodeReady(t)
		k.apply(t, "apiVersion: node.k8s.io/v1\nkind: RuntimeClass\nmetadata:\n  name: berth\nhandler: berth\n")
		k.expectNoRuntime(t, "after-ds-uninstall")
		must(t, k.kubectl(t, cmdOpts{}, "delete", "runtimeclass", "berth"))
		t.Logf("containerd was started %d times: %v", len(sup.started()), sup.started())
	})

	t.Run("teardown", func(t *testing.T) {
		sup.stop()
		if d := k.teardown(t); d > 30*time.Second {
			t.Errorf("teardown took %v, want < 30s", d.Round(time.Millisecond))
		}
	})
}

// readFile reads a file of the test or fails it.
func readFile(t testing.TB, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// expectNoRuntime creates a pod with runtimeClassName berth and waits for the kubelet
// to report containerd's refusal, `no runtime for "berth" is configured`, then deletes
// the pod.
func (k *kube) expectNoRuntime(t *testing.T, name string) {
	t.Helper()
	k.expectNoRuntimeKeep(t, name)
	k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", name, "--ignore-not-found", "--grace-period=0", "--force")
}

// expectNoRuntimeKeep is expectNoRuntime without the deletion: the test's cleanup
// deletes the pod.
func (k *kube) expectNoRuntimeKeep(t *testing.T, name string) {
	t.Helper()
	k.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  runtimeClassName: berth
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  dnsPolicy: Default
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
`, name, imgSleep))
	t.Cleanup(func() {
		k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", name, "--ignore-not-found", "--grace-period=0", "--force")
	})
	const want = `no runtime for "berth" is configured`
	var last result
	if !poll(60*time.Second, kubePoll, func() bool {
		last = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "events", "--field-selector",
			"involvedObject.name="+name+",reason=FailedCreatePodSandBox", "-o", "jsonpath={.items[*].message}")
		return last.ok() && strings.Contains(last.stdout, want)
	}) {
		t.Fatalf("pod %s: no FailedCreatePodSandBox event saying %q within 60s:\n%s\n%s", name, want, last,
			k.kubectl(t, cmdOpts{}, "describe", "pod", name))
	}
	t.Logf("pod %s: %s", name, tail(last.stdout, 300))
}

// containerIDs is the container IDs and restart counts of a pod, to compare.
func (k *kube) containerIDs(t *testing.T, ns, pod string) string {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "-n", ns, pod, "-o",
		"jsonpath={.status.phase} {range .status.containerStatuses[*]}{.containerID} {.restartCount}{end}"))
	return strings.TrimSpace(r.stdout)
}

// berthProcs lists the processes of the node's namespace that run the installed shim
// or berth-guest.
func (k *kube) berthProcs() []string {
	var out []string
	for _, pid := range k.e.procsInside() {
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue
		}
		if b := filepath.Base(strings.TrimSuffix(exe, " (deleted)")); b == shimName || b == guestName {
			out = append(out, fmt.Sprintf("%d: %s", pid, cmdline(pid)))
		}
	}
	return out
}

// checkNoBerthProcs fails the test if a process of the node's namespace still runs the
// installed shim or berth-guest 15 s after the last berth pod was deleted.
func (k *kube) checkNoBerthProcs(t *testing.T) {
	t.Helper()
	if !eventually(15*time.Second, func() bool { return len(k.berthProcs()) == 0 }) {
		t.Errorf("berth processes left 15s after the berth pods were deleted: %v", k.berthProcs())
	}
}

// logLines is the number of lines `kubectl logs` shows for a pod (0 on error).
func (k *kube) logLines(t *testing.T, ns, pod string) int {
	t.Helper()
	r := k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "logs", "-n", ns, pod)
	if !r.ok() {
		return 0
	}
	return strings.Count(r.stdout, "\n")
}

// waitLog waits until `kubectl logs` of a pod shows want.
func (k *kube) waitLog(t *testing.T, ns, pod, want string) {
	t.Helper()
	var logs result
	if !poll(20*time.Second, kubePoll, func() bool {
		logs = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "logs", "-n", ns, pod)
		return logs.ok() && strings.Contains(logs.stdout, want)
	}) {
		t.Fatalf("kubectl logs %s shows no %q within 20s:\n%s", pod, want, logs)
	}
}

// waitNodeReady waits until the node is Ready again and CRI answers (after a restart
// of containerd).
func (k *kube) waitNodeReady(t *testing.T) {
	t.Helper()
	var last result
	if !poll(60*time.Second, kubePoll, func() bool {
		k.checkDaemons(t)
		last = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "node", kubeNodeName,
			"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status}`)
		return last.ok() && strings.TrimSpace(last.stdout) == "True" &&
			k.cri.crictl(t, cmdOpts{timeout: 10 * time.Second}, "info").ok()
	}) {
		t.Fatalf("node %s not Ready within 60s:\n%s", kubeNodeName, last)
	}
}

// daemonPID is the PID of the cluster daemon named name.
func (k *kube) daemonPID(name string) int {
	for _, p := range k.daemons {
		if p.argv[0] == name && p.cmd.Process != nil {
			return p.cmd.Process.Pid
		}
	}
	return 0
}

// installerPod is the name of the one pod of DaemonSet ds in berth-system.
func (k *kube) installerPod(t *testing.T, ds string) string {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pods", "-n", "berth-system", "-l", "app="+ds, "-o", "jsonpath={.items[*].metadata.name}"))
	names := strings.Fields(r.stdout)
	if len(names) != 1 {
		t.Fatalf("DaemonSet %s: want one pod on the single node, got %q", ds, r.stdout)
	}
	return names[0]
}

// docsBlock returns the fenced block of docs/kubernetes.md in language lang whose
// first line starts with "# "+first.
func docsBlock(t *testing.T, lang, first string) string {
	t.Helper()
	b := string(readFile(t, filepath.Join(repoRoot(t), "docs", "kubernetes.md")))
	open := "```" + lang + "\n# " + first
	i := strings.Index(b, open)
	if i < 0 {
		t.Fatalf("docs/kubernetes.md has no %s block starting with %q", lang, "# "+first)
	}
	rest := b[i+len("```"+lang+"\n"):]
	j := strings.Index(rest, "```")
	if j < 0 {
		t.Fatalf("docs/kubernetes.md: the %s block %q does not end", lang, first)
	}
	return rest[:j]
}

// docsRunner runs shell blocks of docs/kubernetes.md in a directory holding the docs'
// manifests, in the cluster's namespaces with kubectl on PATH as cluster-admin.
type docsRunner struct {
	k   *kube
	dir string
	env []string
}

// docsRunner writes the YAML blocks named by files (their first line is "# FILE") into
// a directory, the installer's image name replaced by the test's: the test applies
// what the docs show.
func (k *kube) docsRunner(t *testing.T, files ...string) *docsRunner {
	t.Helper()
	d := &docsRunner{k: k, dir: filepath.Join(k.dir, "docs")}
	if err := os.MkdirAll(d.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		y := strings.ReplaceAll(docsBlock(t, "yaml", f), installerImageDocs, installerImage)
		if !strings.Contains(y, "kind: ") {
			t.Fatalf("docs/kubernetes.md: block %s is no manifest", f)
		}
		if err := os.WriteFile(filepath.Join(d.dir, f), []byte(y), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// HOME: kubectl's cache goes there, not into the host's $HOME/.kube.
	d.env = []string{"PATH=" + k.bin + ":" + os.Getenv("PATH"), "KUBECONFIG=" + k.kubeconfig, "HOME=" + d.dir}
	return d
}

// run runs the sh block whose first line starts with "# "+name, with sh -e.
func (d *docsRunner) run(t *testing.T, name string) result {
	t.Helper()
	script := docsBlock(t, "sh", name+":")
	return must(t, d.k.e.run(t, cmdOpts{env: d.env, timeout: 5 * time.Minute}, "sh", "-ec", "cd "+d.dir+"\n"+script))
}

// writeInstallerImage writes the node-installer image as an OCI layout tar for
// linux/GOARCH: the given static binaries in /usr/local/bin, berth the entrypoint. It
// is what the docs' Dockerfile (FROM scratch, COPY of the three binaries) builds,
// written directly so the test needs neither Docker nor a registry.
func writeInstallerImage(path, name string, bins map[string]string) error {
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	for _, d := range []string{"usr/", "usr/local/", "usr/local/bin/"} {
		if err := lw.WriteHeader(&tar.Header{Name: d, Mode: 0o755, Typeflag: tar.TypeDir, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
	}
	for _, n := range []string{"berth", shimName, guestName} {
		b, err := os.ReadFile(bins[n])
		if err != nil {
			return err
		}
		if err := lw.WriteHeader(&tar.Header{Name: "usr/local/bin/" + n, Mode: 0o755, Size: int64(len(b)),
			Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
			return err
		}
		if _, err := lw.Write(b); err != nil {
			return err
		}
	}
	if err := lw.Close(); err != nil {
		return err
	}
	return writeLinuxImage(path, name, layer.Bytes(), []string{"/usr/local/bin/berth"}, []string{"PATH=/usr/local/bin"})
}

// containerdSupervisor starts containerd again whenever it exits, after a delay, as
// systemd does for a unit with Restart=always: the installer's
// --restart-containerd signal relies on that.
//
// # Notes
//
//   - The test's containerd runs as a child of the test process (through nsenter,
//     which execs it); the supervisor watches that process and starts the same
//     command line, with the same environment, appending to the same log.
//   - stop ends supervision; the cluster's teardown then stops the containerd that is
//     running.
type containerdSupervisor struct {
	t     *testing.T
	c     *containerd
	delay time.Duration
	mu    sync.Mutex
	stopd bool
	now   bool // the next start without delay (restart)
	pids  []int
	logs  []*os.File
	done  chan struct{}
}

func superviseContainerd(t *testing.T, c *containerd, delay time.Duration) *containerdSupervisor {
	s := &containerdSupervisor{t: t, c: c, delay: delay, pids: []int{c.pid()}, done: make(chan struct{})}
	go s.loop()
	return s
}

func (s *containerdSupervisor) loop() {
	defer close(s.done)
	for {
		s.mu.Lock()
		p := s.c.p
		s.mu.Unlock()
		<-p.done
		s.mu.Lock()
		stop, d := s.stopd, s.delay
		if s.now {
			d, s.now = 0, false
		}
		s.mu.Unlock()
		if stop {
			return
		}
		time.Sleep(d)
		s.mu.Lock()
		if s.stopd {
			s.mu.Unlock()
			return
		}
		f, err := os.OpenFile(s.c.log, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			s.mu.Unlock()
			s.t.Errorf("supervisor: %v", err)
			return
		}
		fmt.Fprintf(f, "\n=== e2e supervisor: containerd %d exited (%v, code %d); starting it again ===\n", p.cmd.Process.Pid, p.res.err, p.res.code)
		np := s.c.e.start(s.t, cmdOpts{env: s.c.startEnv, output: f}, s.c.startArgv...)
		s.c.p = np
		s.logs = append(s.logs, f)
		s.pids = append(s.pids, np.cmd.Process.Pid)
		s.mu.Unlock()
	}
}

// pid is the PID of the containerd running now.
func (s *containerdSupervisor) pid() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.p.cmd.Process.Pid
}

// started lists the PIDs of every containerd of the test, the first one first.
func (s *containerdSupervisor) started() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.pids...)
}

// restart does what `systemctl restart containerd` does: SIGTERM, wait for the exit,
// start at once; then it waits until the new containerd answers.
func (s *containerdSupervisor) restart(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	s.now = true
	old := s.c.p
	n := len(s.pids)
	s.mu.Unlock()
	start := time.Now()
	syscall.Kill(old.cmd.Process.Pid, syscall.SIGTERM)
	if !eventually(30*time.Second, func() bool { return len(s.started()) > n }) {
		t.Fatalf("containerd %d was not restarted within 30s (exited: %v)", old.cmd.Process.Pid, old.exited())
	}
	if !eventually(30*time.Second, func() bool {
		return s.c.ctr(t, cmdOpts{timeout: 5 * time.Second}, "version").ok()
	}) {
		t.Fatalf("the restarted containerd does not answer within 30s:\n%s", logTail(s.c.log))
	}
	t.Logf("containerd restarted (pid %d → %d) in %v", old.cmd.Process.Pid, s.pid(), time.Since(start).Round(time.Millisecond))
}

// stop ends supervision: a containerd that exits from now on stays down.
func (s *containerdSupervisor) stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopd = true
}

// wait waits for the supervisor to end (once its containerd has exited) and closes
// the logs it opened.
func (s *containerdSupervisor) wait(t *testing.T) {
	select {
	case <-s.done:
	case <-time.After(15 * time.Second):
		t.Errorf("the containerd supervisor did not end within 15s of the teardown")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.logs {
		f.Close()
	}
}
