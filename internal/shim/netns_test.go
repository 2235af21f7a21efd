package shim

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/restart"
	"github.com/berth-dev/berth/internal/testguest"
)

// inNetns runs fn on an OS thread moved into the network namespace at path. The
// thread is not unlocked, so Go discards it when fn returns.
func inNetns(t *testing.T, path string, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			done <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		done <- fn()
	}()
	return <-done
}

// testNetns makes a network namespace for the test (ip netns add NAME-PID), removed at
// its end, and returns its path; it skips the test without root or ip(8).
func testNetns(t *testing.T, name string) string {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) (iproute2)")
	}
	name = fmt.Sprintf("%s-%d", name, os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return "/run/netns/" + name
}

// TestNetnsPublishedPorts: a container whose spec names a network namespace and
// publishes a port (berth's annotations) has its published socket and its guest's own
// sockets opened inside that namespace by berth-guest: the port is taken there (a
// socket of the namespace holding it fails Create with "port is already allocated"),
// not on the host (a host socket on the same address does not matter), and the guest,
// which binds 0.0.0.0:8080 itself, is reached at the published address from inside
// the namespace. The namespace is the test's own, with only its loopback up.
func TestNetnsPublishedPorts(t *testing.T) {
	nsPath := testNetns(t, "berth-shim-test")
	if out, err := exec.Command("ip", "-n", filepath.Base(nsPath), "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set lo up: %v: %s", err, out)
	}

	// The host holds the address the container publishes inside its namespace.
	host, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	addr := host.Addr().String()
	port := strconv.Itoa(host.Addr().(*net.TCPAddr).Port)

	f := newFixture(t)
	f.wasm = testguest.C(t, testguest.CWasmEdge, "-DV1")
	ann := map[string]string{network.AnnotationMode: "default", network.AnnotationPublish: "127.0.0.1:" + port + ":8080/tcp"}
	linux := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: nsPath}}}
	bundle := f.bundleSpec([]string{"/app.wasm", "mapped", "8080"}, ann, linux)
	out := filepath.Join(t.TempDir(), "out.log")
	req := &taskAPI.CreateTaskRequest{ID: "n1", Bundle: bundle, Stdout: "file://" + out, Stderr: "file://" + out}

	// Taken inside the namespace: Create fails, saying so.
	err = inNetns(t, nsPath, func() error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		defer l.Close()
		_, err = f.svc.Create(f.ctx, req)
		if err == nil {
			return fmt.Errorf("Create succeeded with %s taken in the container's namespace", addr)
		}
		if !strings.Contains(err.Error(), "port is already allocated") {
			return fmt.Errorf("Create with %s taken in the namespace: %v, want port is already allocated", addr, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	// Free there (and still taken on the host): it runs, and answers inside.
	if _, err := f.svc.Create(f.ctx, req); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: "n1"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, _ := os.ReadFile(out)
		if strings.Contains(string(b), "LISTENING") {
			break
		}
		if strings.Contains(string(b), "FAIL") || time.Now().After(deadline) {
			t.Fatalf("the guest did not listen; its output: %q", b)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got []byte
	err = inNetns(t, nsPath, func() error {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		got, err = io.ReadAll(c)
		return err
	})
	if err != nil || string(got) != "mapped" {
		t.Fatalf("from inside the namespace, %s answered %q, %v; want the guest's \"mapped\"", addr, got, err)
	}
	if code := f.wait("n1"); code != 0 {
		b, _ := os.ReadFile(out)
		t.Fatalf("exit status %d; output %q", code, b)
	}
	if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: "n1"}); err != nil {
		t.Fatal(err)
	}
}

// dialIn connects to addr from inside the network namespace at path, retrying for up
// to 20 s while the guest comes up, and returns what the guest wrote.
func dialIn(t *testing.T, path, addr string) string {
	t.Helper()
	var got []byte
	var err error
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		err = inNetns(t, path, func() error {
			c, err := net.DialTimeout("tcp", addr, 2*time.Second)
			if err != nil {
				return err
			}
			// Reset, not FIN, once the guest has closed: its end then leaves no
			// TIME_WAIT behind, which would keep the next run (a restart binding the
			// same port without SO_REUSEADDR) from binding.
			defer c.Close()
			defer c.(*net.TCPConn).SetLinger(0)
			c.SetDeadline(time.Now().Add(10 * time.Second))
			got, err = io.ReadAll(c)
			return err
		})
		if err == nil {
			return string(got)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("dialing %s inside %s: %v", addr, path, err)
	return ""
}

// TestNewNetns: a spec that lists a network namespace without a path (Docker 29's
// bridge networking, ctr's default) gets a namespace of its own, made by berth-guest
// with its loopback up, which /proc/<task pid>/ns/net names (Docker configures its
// veth there between Create and Start). The guest binds a port the host holds and is
// reached inside that namespace only. Under a restart policy every run joins the
// first run's namespace (the shim holds it); without one nothing is held.
func TestNewNetns(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// The host holds the port the guest binds: the guest must not be in the host's
	// namespace to bind it.
	host, err := net.Listen("tcp", "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	port := strconv.Itoa(host.Addr().(*net.TCPAddr).Port)
	addr := "127.0.0.1:" + port

	f := newFixture(t)
	f.wasm = testguest.C(t, testguest.CWasmEdge, "-DV1")
	linux := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}}}
	for _, tc := range []struct {
		name   string
		policy string
	}{
		{"no-policy", ""},
		{"restart-always", "always"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ann map[string]string
			if tc.policy != "" {
				ann = map[string]string{restart.Annotation: tc.policy}
			}
			id := "nn-" + tc.name
			bundle := f.bundleSpec([]string{"/app.wasm", "mapped", port}, ann, linux)
			logPath := filepath.Join(t.TempDir(), logs.FileName(id))
			out := logs.URI(logPath, logs.Options{})
			t.Cleanup(func() {
				if t.Failed() {
					for _, e := range f.logEntries(logPath) {
						t.Logf("guest %s: %s", e.Stream, strings.TrimSpace(e.Log))
					}
				}
			})
			resp, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: id, Bundle: bundle, Stdout: out, Stderr: out})
			if err != nil {
				t.Fatalf("Create: %v", err)
			}
			first := fmt.Sprintf("/proc/%d/ns/net", resp.Pid)
			ns1, err := os.Readlink(first)
			if err != nil {
				t.Fatal(err)
			}
			if ns1 == self {
				t.Fatalf("the guest %d is in the shim's network namespace %s, want a new one", resp.Pid, ns1)
			}
			f.svc.mu.Lock()
			held := f.svc.containers[id].netns != nil
			f.svc.mu.Unlock()
			if held != (tc.policy != "") {
				t.Errorf("the shim holds the namespace: %v, want %v (only under a restart policy)", held, tc.policy != "")
			}
			if _, err := f.svc.Start(f.ctx, &taskAPI.StartRequest{ID: id}); err != nil {
				t.Fatal(err)
			}
			if got := dialIn(t, first, addr); got != "mapped" {
				t.Fatalf("inside the new namespace %s answered %q, want the guest's \"mapped\"", addr, got)
			}
			if tc.policy == "" {
				if code := f.wait(id); code != 0 {
					t.Fatalf("exit status %d", code)
				}
			} else {
				// The guest exits after one connection; "always" starts the next run,
				// which must be in the same namespace.
				var pid uint32
				deadline := time.Now().Add(20 * time.Second)
				for pid == 0 || pid == resp.Pid {
					if time.Now().After(deadline) {
						t.Fatalf("no restarted run within 20s")
					}
					time.Sleep(20 * time.Millisecond)
					st, err := f.svc.State(f.ctx, &taskAPI.StateRequest{ID: id})
					if err != nil {
						t.Fatal(err)
					}
					pid = st.Pid
				}
				next := fmt.Sprintf("/proc/%d/ns/net", pid)
				if ns2, err := os.Readlink(next); err != nil || ns2 != ns1 {
					t.Fatalf("the restarted run %d is in network namespace %q (%v), want the first run's %s", pid, ns2, err, ns1)
				}
				if got := dialIn(t, next, addr); got != "mapped" {
					t.Fatalf("the restarted run answered %q, want \"mapped\"", got)
				}
				if _, err := f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: id, Signal: uint32(unix.SIGKILL)}); err != nil {
					t.Fatal(err)
				}
				f.wait(id)
			}
			if _, err := f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: id}); err != nil {
				t.Fatal(err)
			}
			f.svc.mu.Lock()
			_, still := f.svc.containers[id]
			f.svc.mu.Unlock()
			if still {
				t.Errorf("container %s still known after Delete", id)
			}
		})
	}
}

// TestPodJoinsSandboxNamespace: CRI creates a pod's containers with
// /proc/<sandbox pid>/ns/net right after RunPodSandbox returned, which it now does
// before the sandbox's process has joined the pod's namespace (holdLater). The
// container's process must still end up in the pod's namespace, never in the shim's:
// Create waits for the sandbox (awaitSandbox). Each round creates both at once.
func TestPodJoinsSandboxNamespace(t *testing.T) {
	nsPath := testNetns(t, "berth-shim-pod")
	fi, err := os.Stat(nsPath)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("net:[%d]", fi.Sys().(*syscall.Stat_t).Ino)

	f := newFixture(t)
	podNet := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: nsPath}}}
	for i := range 10 {
		sb, ctr := fmt.Sprintf("pod-%d", i), fmt.Sprintf("ctr-%d", i)
		resp, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: sb,
			Bundle: f.bundleSpec(nil, map[string]string{annotationContainerType: containerTypeSandbox}, podNet)})
		if err != nil {
			t.Fatalf("round %d: sandbox: %v", i, err)
		}
		ctrNet := &specs.Linux{Namespaces: []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: fmt.Sprintf("/proc/%d/ns/net", resp.Pid)}}}
		c, err := f.svc.Create(f.ctx, &taskAPI.CreateTaskRequest{ID: ctr,
			Bundle: f.bundleSpec([]string{"/app.wasm"}, map[string]string{annotationSandboxID: sb}, ctrNet)})
		if err != nil {
			t.Fatalf("round %d: container: %v", i, err)
		}
		for what, pid := range map[string]uint32{"sandbox": resp.Pid, "container": c.Pid} {
			if got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid)); err != nil || got != want {
				t.Errorf("round %d: the %s's process is in %s (%v), want the pod's %s", i, what, got, err, want)
			}
		}
		for _, id := range []string{ctr, sb} {
			f.svc.Kill(f.ctx, &taskAPI.KillRequest{ID: id, Signal: 9})
			f.wait(id)
			f.svc.Delete(f.ctx, &taskAPI.DeleteRequest{ID: id})
		}
	}
}
