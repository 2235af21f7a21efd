package guest

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestNetns(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec specs.Spec
		want string
	}{
		{"no linux section", specs.Spec{}, ""},
		{"no network namespace (host network)", specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.MountNamespace}}}}, ""},
		{"a path (CRI, ctr --with-ns)", specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace, Path: "/var/run/netns/cni-1"}}}}, "/var/run/netns/cni-1"},
		{"no path (Docker's bridge, ctr's default)", specs.Spec{Linux: &specs.Linux{Namespaces: []specs.LinuxNamespace{
			{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}}}}, NewNetns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Netns(&tc.spec); got != tc.want {
				t.Errorf("Netns = %q, want %q", got, tc.want)
			}
		})
	}
}

// onThread runs fn on a locked OS thread that is never unlocked, so Go discards it (and
// whatever namespace fn moved it into) when the goroutine ends.
func onThread(fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		done <- fn()
	}()
	return <-done
}

func TestJoinNetnsErrors(t *testing.T) {
	for _, tc := range []struct {
		arg, want string
		is        error
	}{
		{"netns/x", `network namespace "netns/x": want an absolute path or "new"`, nil},
		{"New", `network namespace "New": want an absolute path or "new"`, nil},
		{"/nonexistent/berth-netns", "opening the network namespace /nonexistent/berth-netns", unix.ENOENT},
		// A file that is not a namespace: setns refuses it.
		{"/proc/self/stat", "joining the network namespace /proc/self/stat", unix.EINVAL},
	} {
		t.Run(tc.arg, func(t *testing.T) {
			err := onThread(func() error { return JoinNetns(tc.arg) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("JoinNetns(%q) = %v, want an error containing %q", tc.arg, err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("JoinNetns(%q) = %v, want it to wrap %v", tc.arg, err, tc.is)
			}
		})
	}
	if err := JoinNetns(""); err != nil {
		t.Errorf(`JoinNetns("") = %v, want nil (stay)`, err)
	}
}

// TestJoinNetnsNew: NewNetns moves the thread into a namespace of its own whose
// loopback is up (a listener on 127.0.0.1 is reached there) and which has no other
// link; the calling goroutine's other threads stay where they were.
func TestJoinNetnsNew(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_SYS_ADMIN) to create a network namespace")
	}
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var made string
	err = onThread(func() error {
		if err := JoinNetns(NewNetns); err != nil {
			return err
		}
		if made, err = os.Readlink("/proc/thread-self/ns/net"); err != nil {
			return err
		}
		// lo is up: a connection to a listener on 127.0.0.1 succeeds.
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		defer l.Close()
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			return err
		}
		c.Close()
		// Its only link is lo.
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		if len(ifs) != 1 || ifs[0].Name != "lo" || ifs[0].Flags&net.FlagUp == 0 {
			return errors.New("want only lo, up, in the new namespace")
		}
		return nil
	})
	if err != nil {
		t.Fatalf("JoinNetns(NewNetns): %v", err)
	}
	if made == self {
		t.Fatalf("JoinNetns(NewNetns) left the thread in the test's namespace %s", self)
	}
	now, _ := os.Readlink("/proc/thread-self/ns/net")
	if now != self {
		t.Errorf("the test's own thread moved to %s", now)
	}
}
