package shiminstall

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// envFakeContainerd makes the test binary, run as "containerd", listen on that socket
// until it is killed: a stand-in for the containerd RestartBySignal signals.
const envFakeContainerd = "BERTH_TEST_FAKE_CONTAINERD_SOCKET"

func TestMain(m *testing.M) {
	if sock := os.Getenv(envFakeContainerd); sock != "" {
		os.Remove(sock)
		l, err := net.Listen("unix", sock)
		if err != nil {
			os.Exit(2)
		}
		for {
			c, err := l.Accept()
			if err != nil {
				os.Exit(3)
			}
			c.Close()
		}
	}
	os.Exit(m.Run())
}

// fakeContainerd is the test binary copied to DIR/containerd (so that its comm is
// containerd), serving a socket; with supervise, a new one is started each time one
// exits, as systemd's Restart=always does.
type fakeContainerd struct {
	t      *testing.T
	bin    string
	sock   string
	mu     sync.Mutex
	cmd    *exec.Cmd
	pids   []int
	stop   bool
	exited chan struct{}
}

func startFakeContainerd(t *testing.T, supervise bool) *fakeContainerd {
	t.Helper()
	dir := t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeContainerd{t: t, bin: filepath.Join(dir, "containerd"), sock: filepath.Join(dir, "c.sock"), exited: make(chan struct{})}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(f.bin, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	out.Close()
	f.start()
	go func() {
		defer close(f.exited)
		for {
			f.mu.Lock()
			cmd := f.cmd
			f.mu.Unlock()
			cmd.Wait()
			f.mu.Lock()
			stop := f.stop
			f.mu.Unlock()
			if stop || !supervise {
				return
			}
			time.Sleep(100 * time.Millisecond) // RestartSec
			f.start()
		}
	}()
	t.Cleanup(func() {
		f.mu.Lock()
		f.stop = true
		f.cmd.Process.Kill()
		f.mu.Unlock()
		<-f.exited
	})
	// Serving once the socket answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := SocketPeer(f.sock); err == nil {
			return f
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fake containerd does not serve %s", f.sock)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (f *fakeContainerd) start() {
	cmd := exec.Command(f.bin)
	cmd.Env = append(os.Environ(), envFakeContainerd+"="+f.sock)
	if err := cmd.Start(); err != nil {
		f.t.Errorf("starting the fake containerd: %v", err)
		return
	}
	f.mu.Lock()
	f.cmd = cmd
	f.pids = append(f.pids, cmd.Process.Pid)
	f.mu.Unlock()
}

func (f *fakeContainerd) started() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.pids...)
}

func TestRestartBySignal(t *testing.T) {
	f := startFakeContainerd(t, true)
	if pid, err := SocketPeer(f.sock); err != nil || pid != f.started()[0] {
		t.Fatalf("SocketPeer = %d, %v; want the listener's pid %d", pid, err, f.started()[0])
	}
	r, err := RestartBySignal(context.Background(), f.sock, "/proc", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	pids := f.started()
	if len(pids) != 2 || r.OldPID != pids[0] || r.NewPID != pids[1] {
		t.Errorf("restart %+v; the supervisor started %v", r, pids)
	}
	if r.Down <= 0 {
		t.Errorf("down time %v", r.Down)
	}
}

func TestRestartBySignalErrors(t *testing.T) {
	t.Run("no-supervisor", func(t *testing.T) {
		f := startFakeContainerd(t, false)
		_, err := RestartBySignal(context.Background(), f.sock, "/proc", 500*time.Millisecond)
		if !errors.Is(err, ErrRestart) || !strings.Contains(err.Error(), "Restart=always") {
			t.Errorf("err = %v; want ErrRestart asking about Restart=always", err)
		}
	})
	t.Run("not-containerd", func(t *testing.T) {
		// This test process serves the socket: it must be refused, not signalled.
		sock := filepath.Join(t.TempDir(), "s.sock")
		l, err := net.Listen("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		_, err = RestartBySignal(context.Background(), sock, "/proc", time.Second)
		if !errors.Is(err, ErrRestart) || !strings.Contains(err.Error(), "not containerd") {
			t.Errorf("err = %v; want ErrRestart saying the process is not containerd", err)
		}
	})
	t.Run("no-socket", func(t *testing.T) {
		_, err := RestartBySignal(context.Background(), filepath.Join(t.TempDir(), "none.sock"), "/proc", time.Second)
		if !errors.Is(err, ErrRestart) || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
			t.Errorf("err = %v; want ErrRestart naming the missing socket", err)
		}
	})
}

func TestParseRestartMode(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want RestartMode
		ok   bool
	}{
		{"none", RestartNone, true},
		{"signal", RestartSignal, true},
		{"", "", false},
		{"systemd", "", false},
		{"SIGNAL", "", false},
	} {
		got, err := ParseRestartMode(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("ParseRestartMode(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
		if !tc.ok && !errors.Is(err, ErrRestart) {
			t.Errorf("ParseRestartMode(%q) = %q, %v; want ErrRestart", tc.in, got, err)
		}
	}
}
