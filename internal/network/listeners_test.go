package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// freePorts returns n consecutive loopback TCP ports nobody listens on.
func freePorts(t *testing.T, n int) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		base := l.Addr().(*net.TCPAddr).Port
		l.Close()
		free := base+n-1 <= 65535
		for p := base; free && p < base+n; p++ {
			c, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				free = false
				break
			}
			c.Close()
		}
		if free {
			return base
		}
	}
	t.Fatalf("no %d consecutive free ports", n)
	return 0
}

func mustOpen(t *testing.T, specs ...string) *Listeners {
	t.Helper()
	l, err := Open(context.Background(), mustPorts(t, specs...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestOpen(t *testing.T) {
	p := freePorts(t, 1)
	l := mustOpen(t, fmt.Sprintf("127.0.0.1:%d:80", p), "127.0.0.1::81", "127.0.0.1::53/udp", "[::1]::82")
	got := l.Mappings()
	if len(got) != 4 || len(l.Files()) != 4 {
		t.Fatalf("Mappings %v, %d files; want 4 of each", got, len(l.Files()))
	}
	if got[0].HostPort != uint16(p) || got[0].ContainerPort != 80 {
		t.Errorf("mapping 0 = %v, want host port %d", got[0], p)
	}
	for _, m := range got {
		if m.HostPort == 0 || m.HostPortEnd != m.HostPort {
			t.Errorf("mapping %v: host port not chosen", m)
		}
	}
	// The files are the sockets: a TCP one accepts, a UDP one receives.
	fl, err := net.FileListener(l.Files()[1])
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	c, err := net.DialTimeout("tcp", got[1].HostAddr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("dial the opened port %s: %v", got[1].HostAddr(), err)
	}
	c.Close()
	if _, err := fl.Accept(); err != nil {
		t.Errorf("accept on the opened file: %v", err)
	}
	pc, err := net.FilePacketConn(l.Files()[2])
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	u, err := net.Dial("udp", got[2].HostAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("x"))
	pc.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _, err := pc.ReadFrom(make([]byte, 8)); err != nil || n != 1 {
		t.Errorf("UDP read on the opened file: %d, %v", n, err)
	}
	if a := got[3].HostAddr().Addr(); a != netip.IPv6Loopback() {
		t.Errorf("IPv6 mapping on %s, want ::1", a)
	}
	if err := l.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	// Closed: the port is free again.
	again, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Errorf("port %d still held after Close: %v", p, err)
	} else {
		again.Close()
	}
}

// TestOpenRange checks a host port range picks the first free port, as Docker does,
// and fails naming the range when all are taken.
func TestOpenRange(t *testing.T) {
	p := freePorts(t, 2)
	busy, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	l := mustOpen(t, fmt.Sprintf("127.0.0.1:%d-%d:80", p, p+1))
	if got := l.Mappings()[0].HostPort; got != uint16(p+1) {
		t.Errorf("range %d-%d with %d taken: got port %d, want %d", p, p+1, p, got, p+1)
	}
	_, err = Open(context.Background(), mustPorts(t, fmt.Sprintf("127.0.0.1:%d-%d:81", p, p+1)))
	if !errors.Is(err, ErrPortInUse) || !strings.Contains(err.Error(), fmt.Sprintf("host ports %d-%d", p, p+1)) {
		t.Errorf("full range: error %v, want ErrPortInUse naming the range", err)
	}
}

// TestOpenInUse checks a port already in use is a clear error, and that the sockets
// Open opened before it are closed.
func TestOpenInUse(t *testing.T) {
	first := freePorts(t, 1)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	p := busy.Addr().(*net.TCPAddr).Port
	_, err = Open(context.Background(), mustPorts(t, fmt.Sprintf("127.0.0.1:%d:80", first), fmt.Sprintf("127.0.0.1:%d:8080", p)))
	if !errors.Is(err, ErrPortInUse) || !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("Open of a busy port: %v, want ErrPortInUse and EADDRINUSE", err)
	}
	for _, want := range []string{strconv.Itoa(p) + ":8080/tcp", "already allocated", "choose another host port"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(first)); err != nil {
		t.Errorf("the first mapping's port %d was left open: %v", first, err)
	} else {
		l.Close()
	}
	// Two -p of one host port: the second finds the first's socket.
	if _, err := Open(context.Background(), mustPorts(t, fmt.Sprintf("127.0.0.1:%d:80", first), fmt.Sprintf("127.0.0.1:%d:81", first))); !errors.Is(err, ErrPortInUse) {
		t.Errorf("one host port twice: %v, want ErrPortInUse", err)
	}
}

func TestOpenNotOurAddress(t *testing.T) {
	_, err := Open(context.Background(), mustPorts(t, "192.0.2.123::80")) // TEST-NET-1: on no host
	if err == nil || !strings.Contains(err.Error(), "192.0.2.123 is not an address of this host") {
		t.Errorf("Open on a foreign address: %v", err)
	}
}

// TestOpenPrivilegedPort checks that a privileged port without the right to bind it is
// a clear error. Run as root, it takes that right away from one thread only: the
// kernel checks CAP_NET_BIND_SERVICE, not the uid, and capabilities are per thread, so
// a thread without it binds as a non-root user would. The thread is never handed back
// to the scheduler (no UnlockOSThread): it ends with the goroutine.
func TestOpenPrivilegedPort(t *testing.T) {
	b, _ := os.ReadFile("/proc/sys/net/ipv4/ip_unprivileged_port_start")
	start, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	if start <= 1 {
		t.Skipf("net.ipv4.ip_unprivileged_port_start is %d here: no port is privileged", start)
	}
	port := start - 1
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: this thread loses a capability
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			done <- fmt.Errorf("capget: %w", err)
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_BIND_SERVICE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			done <- fmt.Errorf("capset: %w", err)
			return
		}
		l, err := Open(context.Background(), mustPorts(t, fmt.Sprintf("127.0.0.1:%d:80", port)))
		if err == nil {
			l.Close()
			done <- errors.New("Open succeeded")
			return
		}
		done <- err
	}()
	err := <-done
	if !errors.Is(err, ErrPrivilegedPort) || !strings.Contains(err.Error(), "CAP_NET_BIND_SERVICE") {
		t.Errorf("Open of port %d without CAP_NET_BIND_SERVICE: %v, want ErrPrivilegedPort saying what to do", port, err)
	}
}
