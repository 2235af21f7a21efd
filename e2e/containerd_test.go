package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The two containerd lines the shim must work with.
const (
	v16 = "1.6" // Debian's containerd 1.6.20, /usr/bin, config version 2
	v24 = "2.4" // containerd 2.4.2 built by .ci/run, config version 3
)

var containerdVersions = []string{v16, v24}

// ctrNamespace is the containerd namespace of the ctr tests. ctr puts a container in
// cgroup /<namespace>/<id>; the cleanup removes the (empty) /<namespace> cgroups.
const ctrNamespace = "berth-e2e"

// containerdOpts configure one private containerd.
type containerdOpts struct {
	// shimDir, when set, is put first on containerd's PATH: containerd finds
	// containerd-shim-berth-v1 there for runtime io.containerd.berth.v1.
	shimDir string
	// cri enables the CRI plugin, with runtime handler "berth", the locally imported
	// pause image and CNI (ptp + host-local) configured in cniDir.
	cri bool
	// extraTOML is appended as it is to a version 3 (containerd 2.4) config: the
	// settings a test adds, such as [plugins.'io.containerd.cri.v1.images'].
	extraTOML string
	// node starts containerd as on a node berth is not installed on yet, with the
	// paths `berth shim install` writes: the config (without the berth runtime) is
	// /etc/containerd/config.toml, which containerd reads by default, and /usr/local/bin
	// is on its PATH; inside the env both are directories of the test (nodeEtc,
	// nodeBin) bind-mounted there, so nothing of the host's /etc or /usr is written. The
	// socket is /run/containerd/containerd.sock (the env's private /run).
	node bool
}

// containerd is a private containerd inside an env.
type containerd struct {
	e       *env
	version string
	bin     string
	ctrBin  string
	dir     string // root of everything this daemon writes
	sock    string // gRPC address
	ns      string // ctr namespace the tests use
	state   string // containerd's state directory
	cniDir  string
	logDir  string // CRI pod log directories go here
	berth   string // BERTH_ROOT given to containerd (and so to the shim)
	log     string
	cri     bool
	p       *proc
	// With containerdOpts.node: the test's directories bind-mounted at /etc/containerd
	// and /usr/local/bin inside the env.
	nodeEtc, nodeBin string
	// startEnv and startArgv are how the daemon was started (to start it again).
	startEnv, startArgv []string
}

// startContainerd starts containerd of the given line inside e, waits until it answers
// `ctr version`, and stops it (SIGTERM, then SIGKILL) in the test's cleanup.
func (e *env) startContainerd(t *testing.T, version string, o containerdOpts) *containerd {
	t.Helper()
	c := &containerd{e: e, version: version, ns: ctrNamespace, cri: o.cri}
	path := []string{}
	if o.shimDir != "" {
		path = append(path, o.shimDir)
	}
	switch version {
	case v16:
		c.bin = hostTool(t, "containerd", "Debian's containerd (apt-get install containerd)")
		c.ctrBin = hostTool(t, "ctr", "Debian's containerd (apt-get install containerd)")
	case v24:
		d := binDir(envContainerd2, "containerd", containerd2Version)
		c.bin = tool(t, envContainerd2, d, "containerd")
		c.ctrBin = tool(t, envContainerd2, d, "ctr")
		tool(t, envContainerd2, d, "containerd-shim-runc-v2")
		// The v2 runc shim before Debian's.
		path = append(path, d)
	default:
		t.Fatalf("unknown containerd line %q", version)
	}
	hostTool(t, "runc", "runc")
	path = append(path, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")

	c.dir = filepath.Join(e.dir, "containerd-"+version)
	c.sock = filepath.Join(c.dir, "containerd.sock")
	c.state = filepath.Join(c.dir, "state")
	c.cniDir = filepath.Join(c.dir, "cni")
	c.logDir = filepath.Join(c.dir, "pod-logs")
	c.berth = filepath.Join(c.dir, "berth-root")
	c.log = filepath.Join(c.dir, "containerd.log")
	for _, d := range []string{c.dir, c.cniDir, c.logDir, c.berth} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.sock) > 100 {
		t.Fatalf("socket path %s is too long for a unix socket (run from a shorter TMPDIR)", c.sock)
	}
	cfg := filepath.Join(c.dir, "config.toml")
	cfgArgs := []string{"--config", cfg}
	if o.node {
		c.nodeNamespace(t)
		cfg, cfgArgs = filepath.Join(c.nodeEtc, "config.toml"), nil
	}
	var text string
	if version == v16 {
		text = configV2(c, o)
	} else {
		text = configV3(c, o)
	}
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if o.cri {
		writeCNIConfig(t, c)
	}
	c.startEnv = []string{"PATH=" + strings.Join(path, ":"), "BERTH_ROOT=" + c.berth}
	c.startArgv = append(append([]string{c.bin}, cfgArgs...), "--log-level", "debug")
	c.p = startDaemon(t, e, c.log, c.startEnv, c.startArgv...)
	t.Cleanup(c.stop)
	if !eventually(15*time.Second, func() bool {
		return c.p.exited() || c.ctr(t, cmdOpts{timeout: 5 * time.Second}, "version").ok()
	}) || c.p.exited() {
		t.Fatalf("containerd %s (%s) did not come up within 15s:\n%s", version, c.bin, logTail(c.log))
	}
	return c
}

func (c *containerd) stop() {
	stopDaemon(c.p)
	removeEmptyCgroups(ctrNamespace)
	if c.cri {
		removeEmptyCgroups("k8s.io") // CRI's containers without a cgroup parent: /k8s.io/<id>
	}
}

// removeEmptyCgroups removes /sys/fs/cgroup/[CONTROLLER/]name when empty (rmdir
// refuses a cgroup with processes or children, so one in use elsewhere stays), the
// parent cgroup that the containers' /<namespace>/<id> paths leave behind.
func removeEmptyCgroups(name string) {
	os.Remove(filepath.Join("/sys/fs/cgroup", name))
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		os.Remove(filepath.Join("/sys/fs/cgroup", e.Name(), name))
	}
}

// startDaemon starts argv inside e with its output in the file logPath; when the test
// fails, the cleanup prints the log's tail.
func startDaemon(t *testing.T, e *env, logPath string, envv []string, argv ...string) *proc {
	t.Helper()
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	p := e.start(t, cmdOpts{env: envv, output: f}, argv...)
	t.Cleanup(func() {
		f.Close()
		if t.Failed() {
			t.Logf("%s log (tail of %s):\n%s", filepath.Base(argv[0]), logPath, logTail(logPath))
		}
	})
	return p
}

// stopDaemon sends SIGTERM and, after 10 s, SIGKILL.
func stopDaemon(p *proc) {
	if p.exited() || p.cmd.Process == nil {
		return
	}
	syscall.Kill(p.cmd.Process.Pid, syscall.SIGTERM)
	if !eventually(10*time.Second, p.exited) {
		p.kill()
	}
}

// logTail is the end of a daemon's log file.
func logTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	return tail(string(b), 8000)
}

// pid is containerd's PID.
func (c *containerd) pid() int { return c.p.cmd.Process.Pid }

// configV2 is a containerd 1.6 configuration (version 2) with every path under c.dir.
func configV2(c *containerd, o containerdOpts) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version = 2
root = %q
state = %q
`, filepath.Join(c.dir, "root"), c.state)
	if !o.cri {
		b.WriteString(`disabled_plugins = ["io.containerd.grpc.v1.cri"]
`)
	}
	fmt.Fprintf(&b, `
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, c.sock, c.sock+".ttrpc", filepath.Join(c.dir, "opt"))
	if o.cri {
		fmt.Fprintf(&b, `
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  restrict_oom_score_adj = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.berth]
      runtime_type = %q
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %q
`, pauseImage, runtimeType, c.cniDir)
	}
	return b.String()
}

// configV3 is a containerd 2.4 configuration (version 3) with every path under c.dir.
func configV3(c *containerd, o containerdOpts) string {
	var b strings.Builder
	fmt.Fprintf(&b, `version = 3
root = %q
state = %q
temp = %q
`, filepath.Join(c.dir, "root"), c.state, filepath.Join(c.dir, "tmp"))
	if !o.cri {
		b.WriteString(`disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.cri.v1.images",
  "io.containerd.cri.v1.runtime",
  "io.containerd.podsandbox.controller.v1.podsandbox",
]
`)
	}
	fmt.Fprintf(&b, `
[grpc]
  address = %q
[ttrpc]
  address = %q
[plugins.'io.containerd.internal.v1.opt']
  path = %q
`, c.sock, c.sock+".ttrpc", filepath.Join(c.dir, "opt"))
	if o.cri {
		fmt.Fprintf(&b, `
[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = %q
[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  restrict_oom_score_adj = true
%s  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = %q
`, pauseImage, berthV3(o), c.cniDir)
	}
	b.WriteString(o.extraTOML)
	return b.String()
}

// berthV3 is the berth runtime's table in a version 3 config, empty on a node that
// `berth shim install` is to set up.
func berthV3(o containerdOpts) string {
	if o.node {
		return ""
	}
	return fmt.Sprintf("  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n    runtime_type = %q\n", runtimeType)
}

// nodeNamespace sets up the node paths of containerdOpts.node inside the env.
func (c *containerd) nodeNamespace(t *testing.T) {
	t.Helper()
	if c.version != v24 {
		t.Fatalf("containerdOpts.node: containerd %s is not supported (config version 3 only)", c.version)
	}
	// The mount points must exist: creating /etc/containerd would write the host's /etc.
	if fi, err := os.Stat("/etc/containerd"); err != nil || !fi.IsDir() {
		missing(t, "/etc/containerd does not exist on this machine (Debian's containerd package creates it); the test mounts a directory over it and creates nothing in /etc")
	}
	c.sock = "/run/containerd/containerd.sock"
	c.nodeEtc = filepath.Join(c.dir, "node-etc-containerd")
	c.nodeBin = filepath.Join(c.dir, "node-usr-local-bin")
	for _, d := range []string{c.nodeEtc, c.nodeBin} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	must(t, c.e.run(t, cmdOpts{timeout: 10 * time.Second}, "sh", "-c",
		"set -e\nmount --bind "+c.nodeEtc+" /etc/containerd\nmount --bind "+c.nodeBin+" /usr/local/bin"))
}

// ctrArgv is the ctr command line for this daemon and namespace.
func (c *containerd) ctrArgv(args ...string) []string {
	return append([]string{c.ctrBin, "-a", c.sock, "-n", c.ns}, args...)
}

// ctr runs ctr against this daemon, inside the environment (ctr makes its FIFOs under
// the namespace's /run/containerd/fifo, where the shim can open them).
func (c *containerd) ctr(t testing.TB, o cmdOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	return c.e.run(t, o, c.ctrArgv(args...)...)
}

// ctrIn is ctr in another containerd namespace (k8s.io for CRI).
func (c *containerd) ctrIn(t testing.TB, ns string, o cmdOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	return c.e.run(t, o, append([]string{c.ctrBin, "-a", c.sock, "-n", ns}, args...)...)
}

// importImage imports an image archive (all platforms: without --all-platforms a
// wasi/wasm image is silently dropped) into namespace ns.
//
// # Notes
//
// Into k8s.io, containerd 2.4's ctr imports with --local: through the transfer service
// (the default) an image whose name points at an index is stored but not unpacked, and
// CRI then fails to create containers with "parent snapshot … does not exist". --local
// is the client-side import of containerd 1.6, which unpacks the default platform.
func (c *containerd) importImage(t testing.TB, ns, archive string) {
	t.Helper()
	args := []string{"image", "import", "--all-platforms"}
	if c.version == v24 && ns == "k8s.io" {
		args = append(args, "--local")
	}
	must(t, c.ctrIn(t, ns, cmdOpts{timeout: 2 * time.Minute}, append(args, archive)...))
}

// task is one row of `ctr task ls`.
type task struct {
	id     string
	pid    int
	status string
}

// tasks parses `ctr task ls` (TASK PID STATUS).
func (c *containerd) tasks(t testing.TB) (map[string]task, result) {
	t.Helper()
	r := c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "ls")
	m := map[string]task{}
	if !r.ok() {
		return m, r
	}
	for _, line := range strings.Split(r.stdout, "\n")[1:] {
		f := strings.Fields(line)
		if len(f) < 3 {
			continue
		}
		pid, _ := strconv.Atoi(f[1])
		m[f[0]] = task{id: f[0], pid: pid, status: f[2]}
	}
	return m, r
}

// waitStatus polls `ctr task ls` until task id shows status (RUNNING, STOPPED, …).
func (c *containerd) waitStatus(t testing.TB, id, status string, timeout time.Duration) task {
	t.Helper()
	var last result
	var got task
	if !eventually(timeout, func() bool {
		var m map[string]task
		m, last = c.tasks(t)
		got = m[id]
		return got.status == status
	}) {
		t.Fatalf("task %s did not reach %s within %v (last status %q)\n%s", id, status, timeout, got.status, last)
	}
	return got
}

var nonZeroExit = regexp.MustCompile(`exit with non-zero exit code (\d+)`)

// deleteTask runs `ctr task delete ID` for a stopped task and returns the exit status it
// reports (ctr logs a warning with non-zero codes and says nothing for 0).
func (c *containerd) deleteTask(t testing.TB, id string) int {
	t.Helper()
	r := must(t, c.ctr(t, cmdOpts{timeout: 20 * time.Second}, "task", "delete", id))
	if m := nonZeroExit.FindStringSubmatch(r.stderr); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 0
}

// removeContainer deletes the task (if any, with --force) and the container, ignoring
// "not found"; used in cleanups so one failure does not cascade.
func (c *containerd) removeContainer(t testing.TB, id string) {
	t.Helper()
	c.ctr(t, cmdOpts{timeout: 20 * time.Second}, "task", "kill", "-s", "SIGKILL", id)
	c.ctr(t, cmdOpts{timeout: 20 * time.Second}, "task", "delete", "--force", id)
	c.ctr(t, cmdOpts{timeout: 20 * time.Second}, "container", "delete", id)
}

// mountsUnder lists the mount points under dir in containerd's mount namespace.
func (c *containerd) mountsUnder(t testing.TB, dir string) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", c.pid()))
	if err != nil {
		t.Fatalf("reading containerd's mountinfo: %v", err)
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && (f[4] == dir || strings.HasPrefix(f[4], dir+"/")) {
			out = append(out, f[4])
		}
	}
	return out
}

// shimSockets lists the entries of /run/containerd/s inside the environment.
func (c *containerd) shimSockets() []string {
	ents, _ := os.ReadDir(c.e.hostPath("/run/containerd/s"))
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}
