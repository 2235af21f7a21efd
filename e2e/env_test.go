package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// env is one isolated test environment: a directory under t.TempDir() and a holder
// process owning a private mount and network namespace, inside which every daemon of
// the environment runs.
//
// # Notes
//
//   - Inside the namespace a tmpfs covers /run (so /run/containerd/s, /run/containerd/fifo
//     and /run/netns are private) and a directory of the environment covers /var/lib (CNI
//     state). The loopback interface is up; there is no other interface unless a test
//     (or CNI) makes one, so nothing is reachable from, or reaches, the host's network.
//   - Cleanup order (t.Cleanup is LIFO): daemons stop first, then every process still in
//     the namespace is killed by PID and listed in the log, then the holder, which drops
//     the namespace's mounts, then the directory is removed.
type env struct {
	t      *testing.T
	dir    string
	holder *exec.Cmd
	pid    int
}

// newEnv creates the environment. The holder is
// `unshare --mount --net --propagation private sleep infinity`: unshare execs sleep, so
// the holder's PID is the namespace's anchor for nsenter.
func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	unshare := hostTool(t, "unshare", "util-linux")
	hostTool(t, "nsenter", "util-linux")
	hostTool(t, "ip", "iproute2")
	cmd := exec.Command(unshare, "--mount", "--net", "--propagation", "private", "sleep", "infinity")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the namespace holder: %v", err)
	}
	e.holder, e.pid = cmd, cmd.Process.Pid
	t.Cleanup(e.close)
	// Until unshare has run, the holder is still in our namespaces: entering it then
	// would configure the host.
	self, _ := os.Readlink("/proc/self/ns/mnt")
	selfNet, _ := os.Readlink("/proc/self/ns/net")
	if !eventually(5*time.Second, func() bool {
		m, err1 := os.Readlink(e.procPath("ns/mnt"))
		n, err2 := os.Readlink(e.procPath("ns/net"))
		return err1 == nil && err2 == nil && m != self && n != selfNet
	}) {
		t.Fatalf("namespace holder %d did not enter new mount and network namespaces within 5s", e.pid)
	}
	varlib := filepath.Join(e.dir, "varlib")
	if err := os.MkdirAll(varlib, 0o755); err != nil {
		t.Fatal(err)
	}
	script := strings.Join([]string{
		"set -e",
		"mount -t tmpfs -o mode=0755 berth-e2e-run /run",
		"mkdir -p /run/containerd /run/netns /run/lock",
		"mount --bind " + varlib + " /var/lib",
		"ip link set lo up",
	}, "\n")
	must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, "sh", "-c", script))
	return e
}

// procPath is a path under the holder's /proc entry.
func (e *env) procPath(p string) string { return fmt.Sprintf("/proc/%d/%s", e.pid, p) }

// hostPath is how the host sees path p of the namespace (through /proc/PID/root).
func (e *env) hostPath(p string) string { return e.procPath("root") + p }

// inside is the command line that runs argv inside the namespace.
func (e *env) inside(argv ...string) []string {
	return append([]string{"nsenter", "-t", strconv.Itoa(e.pid), "-m", "-n", "--"}, argv...)
}

// run runs argv inside the namespace.
func (e *env) run(t testing.TB, o cmdOpts, argv ...string) result {
	t.Helper()
	return runCmd(t, o, e.inside(argv...)...)
}

// start starts argv inside the namespace in the background.
func (e *env) start(t testing.TB, o cmdOpts, argv ...string) *proc {
	t.Helper()
	return startProc(t, o, e.inside(argv...)...)
}

// netnsInode is the inode of the network namespace at path p inside the environment
// (for example /run/netns/x), as /proc/PID/ns/net shows it: "net:[N]".
func (e *env) netnsInode(t testing.TB, p string) string {
	t.Helper()
	r := must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, "stat", "-L", "-c", "%i", p))
	return "net:[" + strings.TrimSpace(r.stdout) + "]"
}

// procsInside lists the processes in the environment's mount namespace, except the
// holder.
func (e *env) procsInside() []int {
	mnt, err := os.Readlink(e.procPath("ns/mnt"))
	if err != nil {
		return nil
	}
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil || pid == e.pid {
			continue
		}
		if m, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/mnt", pid)); err == nil && m == mnt {
			pids = append(pids, pid)
		}
	}
	return pids
}

func (e *env) close() {
	if e.holder == nil {
		return
	}
	// Whatever is still inside was started by this environment (a daemon that did not
	// stop, a shim it left behind): kill it by PID so the namespace and its mounts go.
	for _, pid := range e.procsInside() {
		e.t.Logf("cleanup: killing leftover process %d in the test namespace: %s", pid, cmdline(pid))
		syscall.Kill(pid, syscall.SIGKILL)
	}
	e.holder.Process.Kill()
	e.holder.Wait()
	e.holder = nil
}

// cmdline is /proc/PID/cmdline with spaces, for messages.
func cmdline(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
}
