package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Versions of the Kubernetes components .ci/run builds from .ci/k8s and .ci/etcd.
const (
	k8sVersion  = "v1.37.2"
	etcdVersion = "v3.6.16"
	envK8s      = "BERTH_E2E_K8S_BIN"  // directory with kube-apiserver, …, kubelet, kubectl
	envEtcd     = "BERTH_E2E_ETCD_BIN" // directory with etcd
	// envK8sGate=1 makes missing Kubernetes binaries a failure (as BERTH_E2E_REQUIRE=1
	// does for every component); without either, the Kubernetes tests skip.
	envK8sGate = "BERTH_E2E_K8S"
	// envK8sLogs names a directory the daemons' logs are copied into at teardown
	// (they live under the test's temporary directory, removed afterwards).
	envK8sLogs = "BERTH_E2E_K8S_LOGS"
)

// The cluster's fixed addresses, inside the test's private network namespace only.
const (
	kubeNodeIP   = "10.99.0.1" // the node's end of a veth pair made inside the namespace
	kubePeerIP   = "10.99.0.2" // the other end, the default route's gateway
	kubeNodeName = "berth-node"
	kubeSvcRange = "10.96.0.0/24"
	kubeSvcIP    = "10.96.0.1" // the kubernetes Service, in the apiserver's certificate
)

// kubeSysctls are the host-wide (not namespaced) sysctls the kubelet sets to its liking
// at start (vm.overcommit_memory=1, kernel.panic=10, …). The test bind-mounts a file over
// each inside its mount namespace, so the kubelet writes the file and the host keeps its
// values.
var kubeSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes",
}

// kube is a single-node Kubernetes cluster inside one env: etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, containerd 2.4 with CRI and the berth runtime,
// and the kubelet.
type kube struct {
	e          *env
	cri        *cri
	dir        string
	bin        string // directory of the Kubernetes binaries
	kubeconfig string // cluster-admin
	cgroupRoot string // the kubelet's --cgroup-root, /berth-e2e-k8s-HOLDERPID
	daemons    []*proc
	nsMnt      string // the namespace's mnt:[N] and net:[N], to check they are gone
	nsNet      string
	bringUp    time.Duration
	phase      map[string]bool // bring-up phases already logged
	// hostSysctls are the host's values of kubeSysctls before the cluster started; the
	// teardown checks they did not change.
	hostSysctls map[string]string
	// homeKube is $HOME/.kube, where kubectl would write its cache; it must not appear.
	homeKube        string
	homeKubeExisted bool
	down            bool
}

// kubeBins returns the directories of the Kubernetes and etcd binaries, skipping the
// test (or failing it, with BERTH_E2E_K8S=1 or BERTH_E2E_REQUIRE=1) when one is missing.
func kubeBins(t *testing.T) (k8s, etcd string) {
	t.Helper()
	k8s = binDir(envK8s, "k8s", k8sVersion)
	etcd = binDir(envEtcd, "etcd", etcdVersion)
	check := func(env, dir, name string) {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			msg := fmt.Sprintf("%s not found (%v); set %s to the directory holding it, or run .ci/run to build it", name, err, env)
			if os.Getenv(envK8sGate) == "1" {
				t.Fatalf("%s (%s=1: required)", msg, envK8sGate)
			}
			missing(t, "%s", msg)
		}
	}
	for _, b := range []string{"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kubectl"} {
		check(envK8s, k8s, b)
	}
	check(envEtcd, etcd, "etcd")
	return k8s, etcd
}

// newKube brings a cluster up with the shim in shimDir as runtime handler "berth" and the
// given images imported (their CRI variants) into containerd's k8s.io namespace, and
// waits until the node is Ready and the default ServiceAccount exists (pods are refused
// before). The test's cleanup tears it down (see teardown).
func newKube(t *testing.T, shimDir string, imgs ...string) *kube {
	t.Helper()
	return newKubeWith(t, containerdOpts{shimDir: shimDir}, imgs...)
}

// newKubeWith is newKube with containerd started with o (o.node: a node berth is to be
// installed on, see containerdOpts).
func newKubeWith(t *testing.T, o containerdOpts, imgs ...string) *kube {
	t.Helper()
	return newKubeOpts(t, kubeOpts{containerd: o}, imgs...)
}

// kubeOpts tune newKubeOpts.
type kubeOpts struct {
	containerd containerdOpts
	// maxPods, when not zero, is the kubelet's maxPods (its default is 110).
	maxPods int
	// containerdVersion is the node's containerd (v16 or v24); "" is v24.
	containerdVersion string
}

// newKubeOpts is newKube with the options o.
func newKubeOpts(t *testing.T, ko kubeOpts, imgs ...string) *kube {
	t.Helper()
	o := ko.containerd
	k8sDir, etcdDir := kubeBins(t)
	testImages(t) // built before the clock starts: bring-up counts from built binaries
	start := time.Now()
	e := newEnv(t)
	k := &kube{e: e, dir: filepath.Join(e.dir, "k8s"), bin: k8sDir,
		cgroupRoot: fmt.Sprintf("/berth-e2e-k8s-%d", e.pid), phase: map[string]bool{}, hostSysctls: map[string]string{}}
	k.nsMnt, _ = os.Readlink(e.procPath("ns/mnt"))
	k.nsNet, _ = os.Readlink(e.procPath("ns/net"))
	if home, err := os.UserHomeDir(); err == nil {
		k.homeKube = filepath.Join(home, ".kube")
		_, err := os.Stat(k.homeKube)
		k.homeKubeExisted = err == nil
	}
	t.Cleanup(func() { k.teardown(t) })
	for _, d := range []string{k.dir, filepath.Join(e.dir, "varlog"), filepath.Join(k.dir, "sysctl")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// The node's network and file system, inside the namespace only.
	script := []string{
		"set -e",
		"mount --bind " + filepath.Join(e.dir, "varlog") + " /var/log",
		"ip link add berth-node type veth peer name berth-peer",
		"ip addr add " + kubeNodeIP + "/24 dev berth-node",
		"ip addr add " + kubePeerIP + "/24 dev berth-peer",
		"ip link set berth-node up",
		"ip link set berth-peer up",
		"ip route add default via " + kubePeerIP + " dev berth-node",
	}
	for _, s := range kubeSysctls {
		f := filepath.Join(k.dir, "sysctl", strings.ReplaceAll(s, "/", "."))
		b, err := os.ReadFile("/proc/sys/" + s)
		if err != nil {
			t.Fatalf("reading sysctl %s: %v", s, err)
		}
		k.hostSysctls[s] = string(b)
		if err := os.WriteFile(f, b, 0o644); err != nil {
			t.Fatal(err)
		}
		script = append(script, "mount --bind "+f+" /proc/sys/"+s)
	}
	must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, "sh", "-c", strings.Join(script, "\n")))
	k.makeCgroupRoot(t)

	pki, err := newKubePKI(filepath.Join(k.dir, "pki"))
	if err != nil {
		t.Fatal(err)
	}
	server := "https://" + kubeNodeIP + ":6443"
	issue := func(s certSpec) kubeCert {
		c, err := pki.issue(s)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	writeConfig := func(name string, c kubeCert) string {
		p := filepath.Join(k.dir, name+".kubeconfig")
		if err := os.WriteFile(p, []byte(pki.kubeconfig(server, c)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	apiCert := issue(certSpec{name: "apiserver", cn: "kube-apiserver", server: true,
		ips: []net.IP{net.ParseIP(kubeNodeIP), net.ParseIP(kubeSvcIP), net.ParseIP("127.0.0.1")},
		dns: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc.cluster.local"}})
	apiKubelet := issue(certSpec{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", orgs: []string{"system:masters"}})
	sa := issue(certSpec{name: "sa", cn: "service-accounts"}) // only its key is used
	k.kubeconfig = writeConfig("admin", issue(certSpec{name: "admin", cn: "kubernetes-admin", orgs: []string{"system:masters"}}))
	// The controller manager acts as system:masters with one identity for all its
	// controllers. kubeadm gives each controller a ServiceAccount of its own
	// (--use-service-account-credentials), but creating ~40 of them one after the other
	// costs ~5 s of bring-up, and the bootstrap role of system:kube-controller-manager
	// alone cannot, for example, remove the node's not-ready taint.
	cmConfig := writeConfig("controller-manager", issue(certSpec{name: "controller-manager",
		cn: "system:kube-controller-manager", orgs: []string{"system:masters"}}))
	schedConfig := writeConfig("scheduler", issue(certSpec{name: "scheduler", cn: "system:kube-scheduler"}))
	kubeletConfig := writeConfig("kubelet", issue(certSpec{name: "kubelet", cn: "system:node:" + kubeNodeName, orgs: []string{"system:nodes"}}))

	// etcd and the apiserver first: they take the longest, and the rest retry until the
	// apiserver answers.
	k.daemon(t, "etcd", filepath.Join(etcdDir, "etcd"),
		"--name", "berth-e2e", "--data-dir", filepath.Join(k.dir, "etcd"),
		"--listen-client-urls", "http://127.0.0.1:2379", "--advertise-client-urls", "http://127.0.0.1:2379",
		"--listen-peer-urls", "http://127.0.0.1:2380", "--initial-advertise-peer-urls", "http://127.0.0.1:2380",
		"--initial-cluster", "berth-e2e=http://127.0.0.1:2380",
		"--unsafe-no-fsync", "--log-level", "warn")
	k.daemon(t, "kube-apiserver", filepath.Join(k8sDir, "kube-apiserver"),
		"--etcd-servers", "http://127.0.0.1:2379",
		"--advertise-address", kubeNodeIP, "--secure-port", "6443",
		"--cert-dir", filepath.Join(k.dir, "apiserver"),
		"--tls-cert-file", apiCert.certPath, "--tls-private-key-file", apiCert.keyPath,
		"--client-ca-file", pki.caPath,
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", sa.keyPath, "--service-account-signing-key-file", sa.keyPath,
		"--service-cluster-ip-range", kubeSvcRange,
		"--authorization-mode", "Node,RBAC",
		"--enable-admission-plugins", "NodeRestriction",
		"--kubelet-client-certificate", apiKubelet.certPath, "--kubelet-client-key", apiKubelet.keyPath,
		"--kubelet-preferred-address-types", "InternalIP",
		// As kubeadm sets it: the node installer of docs/kubernetes.md is privileged.
		"--allow-privileged=true",
		"--profiling=false")

	// containerd with CRI, the berth runtime and CNI (ptp + host-local); the images are
	// imported while the kubelet and the control plane come up.
	k.mark(t, start, "etcd and apiserver started")
	cv := ko.containerdVersion
	if cv == "" {
		cv = v24
	}
	k.cri = e.startCRI(t, cv, o)
	k.mark(t, start, "containerd up")
	// Again, so that the teardown runs before containerd's own cleanup stops it (cleanups
	// run last-registered first): the pods must be removed through CRI while it runs.
	t.Cleanup(func() { k.teardown(t) })

	k.daemon(t, "kube-controller-manager", filepath.Join(k8sDir, "kube-controller-manager"),
		"--kubeconfig", cmConfig, "--leader-elect=false", "--secure-port", "0",
		"--root-ca-file", pki.caPath, "--service-account-private-key-file", sa.keyPath,
		"--profiling=false")
	k.daemon(t, "kube-scheduler", filepath.Join(k8sDir, "kube-scheduler"),
		"--kubeconfig", schedConfig, "--leader-elect=false", "--secure-port", "0", "--profiling=false")
	kcfg := filepath.Join(k.dir, "kubelet.yaml")
	kyaml := kubeletYAML(pki.caPath, k.cri.c.sock, k.cgroupRoot)
	if ko.maxPods > 0 {
		kyaml += fmt.Sprintf("maxPods: %d\n", ko.maxPods)
	}
	if err := os.WriteFile(kcfg, []byte(kyaml), 0o644); err != nil {
		t.Fatal(err)
	}
	k.daemon(t, "kubelet", filepath.Join(k8sDir, "kubelet"),
		"--config", kcfg, "--kubeconfig", kubeletConfig,
		"--node-ip", kubeNodeIP, "--hostname-override", kubeNodeName, "--v", "2")

	k.mark(t, start, "kubelet started")
	k.cri.importImages(t, imgs...)
	k.mark(t, start, "images imported")
	// Ready: the node reports Ready without taints (the node lifecycle controller
	// removes node.kubernetes.io/not-ready once it sees Ready), and the default
	// ServiceAccount exists.
	var last result
	if !poll(60*time.Second, kubePoll, func() bool {
		k.checkDaemons(t)
		last = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "node", kubeNodeName,
			"-o", `jsonpath={.status.conditions[?(@.type=="Ready")].status} {.spec.taints}`)
		if last.ok() && strings.HasPrefix(last.stdout, "True") && !k.phase["ready"] {
			k.mark(t, start, "ready")
		}
		return last.ok() && last.stdout == "True "
	}) {
		desc := k.kubectl(t, cmdOpts{}, "describe", "node", kubeNodeName)
		t.Fatalf("node %s not Ready and untainted within 60s:\n%s\n%s", kubeNodeName, last, desc)
	}
	k.mark(t, start, "untainted")
	if !poll(30*time.Second, kubePoll, func() bool {
		last = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "serviceaccount", "default", "-o", "name")
		return last.ok()
	}) {
		t.Fatalf("ServiceAccount default not created within 30s:\n%s", last)
	}
	k.bringUp = time.Since(start)
	t.Logf("kubernetes %s: bring-up (namespace, certificates, daemons, image import) to node Ready: %v",
		k8sVersion, k.bringUp.Round(time.Millisecond))
	return k
}

// kubePoll is how often the tests poll the cluster with kubectl: each run costs
// ~0.1 s of CPU, and polling every 50 ms would take a core from the bring-up it waits for.
const kubePoll = 250 * time.Millisecond

// poll calls f every interval until it returns true or timeout passes.
func poll(timeout, interval time.Duration, f func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		if f() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(interval)
	}
}

// mark logs how long bring-up has taken when it reaches a phase.
func (k *kube) mark(t *testing.T, start time.Time, phase string) {
	t.Helper()
	k.phase[phase] = true
	t.Logf("bring-up: %s at %v", phase, time.Since(start).Round(time.Millisecond))
}

// kubeletYAML is the kubelet's configuration.
//
// # Notes
//
//   - cgroupfs driver under a cgroup root of the test's own, so every pod cgroup is in
//     one tree the teardown removes; failCgroupV1=false because 1.37 refuses cgroup v1
//     otherwise; failSwapOn=false.
//   - Eviction thresholds near zero: a nearly full disk on the test machine must not
//     taint the node.
//   - Authentication by client certificate only and no authorization (the kubelet
//     listens inside the private network namespace only).
func kubeletYAML(ca, sock, cgroupRoot string) string {
	return fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
cgroupDriver: cgroupfs
cgroupRoot: %s
failSwapOn: false
failCgroupV1: false
containerRuntimeEndpoint: unix://%s
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: false}
  x509: {clientCAFile: %s}
authorization: {mode: AlwaysAllow}
readOnlyPort: 0
healthzPort: 0
staticPodPath: ""
resolvConf: ""
evictionHard: {memory.available: "1Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
nodeStatusUpdateFrequency: 1s
syncFrequency: 5s
`, cgroupRoot, sock, ca)
}

// daemon starts one daemon of the cluster inside the namespace, logging to
// DIR/NAME.log (printed when the test fails).
func (k *kube) daemon(t *testing.T, name, bin string, args ...string) {
	t.Helper()
	p := startDaemon(t, k.e, filepath.Join(k.dir, name+".log"), nil, append([]string{bin}, args...)...)
	p.argv = append([]string{name}, args...)
	k.daemons = append(k.daemons, p)
}

// checkDaemons fails the test when a daemon has exited.
func (k *kube) checkDaemons(t *testing.T) {
	t.Helper()
	for _, p := range k.daemons {
		if p.exited() {
			t.Fatalf("%s exited: %v (exit %d)\n%s", p.argv[0], p.res.err, p.res.code,
				logTail(filepath.Join(k.dir, p.argv[0]+".log")))
		}
	}
}

// kubectl runs kubectl as cluster-admin inside the namespace.
func (k *kube) kubectl(t testing.TB, o cmdOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	// --cache-dir: by default kubectl keeps its discovery cache in $HOME/.kube on the host.
	return k.e.run(t, o, append([]string{filepath.Join(k.bin, "kubectl"), "--kubeconfig", k.kubeconfig,
		"--cache-dir", filepath.Join(k.dir, "kubectl-cache")}, args...)...)
}

// apply runs `kubectl apply -f -` with manifest on stdin.
func (k *kube) apply(t testing.TB, manifest string) {
	t.Helper()
	must(t, k.kubectl(t, cmdOpts{stdin: strings.NewReader(manifest)}, "apply", "-f", "-"))
}

// keepLogs copies every daemon log of the cluster into dir.
func (k *kube) keepLogs(t *testing.T, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(k.dir, "*.log"))
	if k.cri != nil {
		logs = append(logs, k.cri.c.log)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Errorf("%s: %v", envK8sLogs, err)
		return
	}
	for _, l := range logs {
		if err := copyFile(l, filepath.Join(dir, filepath.Base(l))); err != nil {
			t.Errorf("%s: %v", envK8sLogs, err)
		}
	}
	t.Logf("daemon logs copied to %s", dir)
}

// cgroupHierarchies lists the directories of the cgroup hierarchies (v1: one per
// controller, plus the unified one of a hybrid host; v2: the root itself).
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	var out []string
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			out = append(out, p)
		}
	}
	return out
}

// makeCgroupRoot creates the kubelet's cgroup root in every hierarchy (the kubelet
// refuses a root that does not exist). cpuset children start with no CPUs and no
// memory nodes, so those are copied from the parent.
func (k *kube) makeCgroupRoot(t *testing.T) {
	t.Helper()
	for _, h := range cgroupHierarchies() {
		d := filepath.Join(h, k.cgroupRoot)
		if err := os.Mkdir(d, 0o755); err != nil && !os.IsExist(err) {
			t.Fatalf("creating the kubelet's cgroup root: %v", err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if b, err := os.ReadFile(filepath.Join(h, f)); err == nil {
				if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
					t.Fatalf("copying %s to %s: %v", f, d, err)
				}
			}
		}
	}
}

// removeCgroupTree removes the cgroup root and everything below it, deepest first, and
// returns what it could not remove.
func (k *kube) removeCgroupTree() []string {
	var left []string
	for _, h := range cgroupHierarchies() {
		root := filepath.Join(h, k.cgroupRoot)
		var dirs []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.Reverse(dirs)
		for _, d := range dirs {
			var err error
			// A cgroup whose last process just died can be busy for a moment.
			eventually(2*time.Second, func() bool {
				err = os.Remove(d)
				return err == nil || os.IsNotExist(err)
			})
			if err != nil && !os.IsNotExist(err) {
				left = append(left, fmt.Sprintf("%s (%v)", d, err))
			}
		}
	}
	return left
}

// procsInCgroupRoot lists the processes in a cgroup under the kubelet's root.
func (k *kube) procsInCgroupRoot() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
		if err == nil && strings.Contains(string(b), ":"+k.cgroupRoot+"/") {
			out = append(out, fmt.Sprintf("%d: %s", pid, cmdline(pid)))
		}
	}
	return out
}

// procsInNamespaces lists the processes still in the cluster's mount or network
// namespace.
func (k *kube) procsInNamespaces() []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		m, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid))
		n, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if (m != "" && m == k.nsMnt) || (n != "" && n == k.nsNet) {
			out = append(out, fmt.Sprintf("%d: %s", pid, cmdline(pid)))
		}
	}
	return out
}

// teardown stops the cluster (see stop) and fails the test if anything was left
// behind. It runs once; the cleanup calls it if the test did not.
func (k *kube) teardown(t *testing.T) time.Duration {
	t.Helper()
	if k.down {
		return 0
	}
	k.down = true
	problems, d := k.stop(t)
	if len(problems) > 0 {
		t.Errorf("kubernetes teardown left things behind:\n  %s", strings.Join(problems, "\n  "))
	}
	t.Logf("kubernetes teardown: %v", d.Round(time.Millisecond))
	return d
}

// stop stops the cluster and returns what it found left behind: the kubelet and the
// control plane stop (SIGTERM, SIGKILL after 10 s, by PID), every pod sandbox is stopped
// and removed through CRI (containers have mount namespaces of their own, so they would
// escape a sweep of the test's namespace), containerd stops, anything still in the
// namespace is killed and reported, the holder is killed (dropping every mount and the
// network namespace), any process still in the kubelet's cgroup tree is killed and
// reported, and the tree is removed. Then it checks that the host's sysctls, interfaces
// and mounts are as they were.
func (k *kube) stop(t *testing.T) ([]string, time.Duration) {
	t.Helper()
	start := time.Now()
	if d := os.Getenv(envK8sLogs); d != "" {
		k.keepLogs(t, d)
	}
	var problems []string
	// The kubelet first, so it does not restart what is being removed; then the
	// control plane, newest first.
	for i := len(k.daemons) - 1; i >= 0; i-- {
		stopDaemon(k.daemons[i])
	}
	if k.cri != nil && !k.cri.c.p.exited() {
		r := k.cri.crictl(t, cmdOpts{timeout: time.Minute}, "rmp", "-fa")
		if !r.ok() {
			problems = append(problems, "crictl rmp -fa failed:\n"+r.String())
		}
		k.cri.c.stop()
	}
	// Shims exit asynchronously once their last task is deleted.
	eventually(10*time.Second, func() bool { return len(k.e.procsInside()) == 0 })
	if left := k.e.procsInside(); len(left) > 0 {
		for _, pid := range left {
			problems = append(problems, fmt.Sprintf("process %d still in the namespace after every daemon stopped: %s", pid, cmdline(pid)))
		}
	}
	k.e.close()
	if !eventually(5*time.Second, func() bool { return len(k.procsInNamespaces()) == 0 }) {
		for _, p := range k.procsInNamespaces() {
			problems = append(problems, "process left in the cluster's namespaces: "+p)
		}
	}
	if left := k.procsInCgroupRoot(); len(left) > 0 {
		for _, p := range left {
			problems = append(problems, fmt.Sprintf("process left in cgroup %s: %s", k.cgroupRoot, p))
			if pid, err := strconv.Atoi(strings.SplitN(p, ":", 2)[0]); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, c := range k.removeCgroupTree() {
		problems = append(problems, "cgroup not removed: "+c)
	}
	// The kubelet's writes to host-wide sysctls went to the files bound over them.
	for name, before := range k.hostSysctls {
		if b, err := os.ReadFile("/proc/sys/" + name); err == nil && string(b) != before {
			problems = append(problems, fmt.Sprintf("host sysctl %s changed from %q to %q",
				name, strings.TrimSpace(before), strings.TrimSpace(string(b))))
		}
	}
	// The node's interfaces were made inside the namespace only.
	for _, link := range []string{"berth-node", "berth-peer"} {
		if _, err := os.Stat("/sys/class/net/" + link); err == nil {
			problems = append(problems, "network interface "+link+" exists on the host")
		}
	}
	if _, err := os.Stat(k.homeKube); k.homeKube != "" && !k.homeKubeExisted && err == nil {
		problems = append(problems, k.homeKube+" was created on the host (kubectl's cache?)")
	}
	// Nothing was mounted on the host: every mount of the test was inside the namespace.
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil && strings.Contains(string(b), k.e.dir) {
		problems = append(problems, "a mount under "+k.e.dir+" is visible on the host")
	}
	return problems, time.Since(start)
}

// TestKubeTeardown checks that the cluster's teardown notices what it must not leave
// behind, without a cluster: a process left in the test's namespace and one outside it
// in the kubelet's cgroup tree (as a pod's container, which has namespaces of its own,
// would be) are reported and killed, and the tree is removed.
func TestKubeTeardown(t *testing.T) {
	requireE2E(t)
	e := newEnv(t)
	k := &kube{e: e, dir: filepath.Join(e.dir, "k8s"), cgroupRoot: fmt.Sprintf("/berth-e2e-k8s-%d", e.pid)}
	k.nsMnt, _ = os.Readlink(e.procPath("ns/mnt"))
	k.nsNet, _ = os.Readlink(e.procPath("ns/net"))
	k.makeCgroupRoot(t)
	t.Cleanup(func() { k.removeCgroupTree() })

	inside := e.start(t, cmdOpts{}, "sleep", "1000")
	outside := startProc(t, cmdOpts{}, "sleep", "1000")
	var procs string
	for _, h := range cgroupHierarchies() {
		if h == "/sys/fs/cgroup" || filepath.Base(h) == "memory" {
			leak := filepath.Join(h, k.cgroupRoot, "leak")
			if err := os.Mkdir(leak, 0o755); err != nil {
				t.Fatal(err)
			}
			procs = filepath.Join(leak, "cgroup.procs")
			break
		}
	}
	if procs == "" {
		t.Fatalf("no memory (v1) or unified (v2) cgroup hierarchy in %v", cgroupHierarchies())
	}
	if err := os.WriteFile(procs, []byte(strconv.Itoa(outside.cmd.Process.Pid)), 0o644); err != nil {
		t.Fatalf("moving process %d into %s: %v", outside.cmd.Process.Pid, procs, err)
	}
	if !eventually(5*time.Second, func() bool { return len(k.e.procsInside()) == 1 }) {
		t.Fatalf("the process started in the namespace is not there: %v", k.e.procsInside())
	}

	problems, _ := k.stop(t)
	all := strings.Join(problems, "\n")
	for _, want := range []string{
		fmt.Sprintf("process %d still in the namespace", inside.cmd.Process.Pid),
		fmt.Sprintf("process left in cgroup %s: %d:", k.cgroupRoot, outside.cmd.Process.Pid),
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the teardown did not report %q; it reported:\n%s", want, all)
		}
	}
	if len(problems) != 2 {
		t.Errorf("the teardown reported %d problems, want 2:\n%s", len(problems), all)
	}
	if !eventually(5*time.Second, func() bool { return inside.exited() && outside.exited() }) {
		t.Errorf("the leaked processes are still running after the teardown")
	}
	for _, h := range cgroupHierarchies() {
		if _, err := os.Stat(filepath.Join(h, k.cgroupRoot)); err == nil {
			t.Errorf("cgroup %s still exists after the teardown", filepath.Join(h, k.cgroupRoot))
		}
	}
}
