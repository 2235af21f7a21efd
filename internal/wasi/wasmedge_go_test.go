package wasi

import (
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
)

// goEdge is a Go guest using github.com/stealthrocket/net v0.2.1 (pinned in
// goEdgeMod), the library Go programs use for sockets on WasmEdge. argv[1] picks a
// scenario; it prints "KEY value" lines, and "FAIL ..." then exits 1 on an error.
const goEdge = `package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"

	"github.com/stealthrocket/net/wasip1"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Println("FAIL", err)
		os.Exit(1)
	}
	fmt.Println("OK")
}

func run(args []string) error {
	switch args[0] {
	case "echo":
		l, err := wasip1.Listen("tcp", args[1])
		if err != nil {
			return err
		}
		fmt.Println("ADDR", l.Addr())
		c, err := l.Accept()
		if err != nil {
			return err
		}
		fmt.Println("PEER", c.RemoteAddr())
		b, err := io.ReadAll(c)
		if err != nil {
			return err
		}
		if _, err := c.Write([]byte(strings.ToUpper(string(b)))); err != nil {
			return err
		}
		return c.Close()
	case "dial":
		c, err := wasip1.Dial(args[1], args[2])
		if err != nil {
			return err
		}
		fmt.Println("LOCAL", c.LocalAddr())
		fmt.Println("REMOTE", c.RemoteAddr())
		if _, err := c.Write([]byte("hello")); err != nil {
			return err
		}
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil {
			return err
		}
		fmt.Println("GOT", string(b))
		return c.Close()
	case "udp":
		pc, err := wasip1.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		fmt.Println("ADDR", pc.LocalAddr())
		b := make([]byte, 64)
		n, from, err := pc.ReadFrom(b)
		if err != nil {
			return err
		}
		fmt.Println("FROM", from)
		if _, err := pc.WriteTo([]byte(strings.ToUpper(string(b[:n]))), from); err != nil {
			return err
		}
		return pc.Close()
	case "denied":
		_, err := wasip1.Dial("tcp", args[1])
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return fmt.Errorf("dial %s: %v, want an errno", args[1], err)
		}
		fmt.Println("ERRNO", uint(errno))
		return nil
	}
	return fmt.Errorf("unknown mode %q", args[0])
}
`

// goEdgeMod pins stealthrocket/net at v0.2.1, as issue 4 asks.
var goEdgeMod = map[string]string{"go.mod": `module guest

go 1.24

require github.com/stealthrocket/net v0.2.1

require golang.org/x/net v0.10.0 // indirect
`}

// goEdgeGuest builds goEdge, with the getaddrinfo tag when resolve is set (names are
// then resolved with sock_getaddrinfo instead of Go's resolver).
func goEdgeGuest(t *testing.T, resolve bool) []byte {
	var tags []string
	if resolve {
		tags = []string{"getaddrinfo"}
	}
	return testguest.Read(t, testguest.GoTags(t, tags, goEdge, goEdgeMod))
}

// TestWasmEdgeGo runs Go guests built with stealthrocket/net on loopback. They import
// file and poll functions besides the sockets, so they are skipped (naming the
// function) until the rest of the host exists.
func TestWasmEdgeGo(t *testing.T) {
	t.Run("echo server", func(t *testing.T) {
		run := startEdgeGuest(t, goEdgeGuest(t, false), NewConfig(), "echo", "127.0.0.1:0")
		addr := run.expect("ADDR")
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got := run.expect("PEER"); got != c.LocalAddr().String() {
			t.Errorf("guest saw peer %s, want %s", got, c.LocalAddr())
		}
		c.Write([]byte("go echo"))
		c.(*net.TCPConn).CloseWrite()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if b, err := io.ReadAll(c); err != nil || string(b) != "GO ECHO" {
			t.Errorf("echo %q, %v; want \"GO ECHO\"", b, err)
		}
		run.expect("OK")
		run.wait(0)
	})
	dial := func(t *testing.T, wasm []byte, network, listen, target string) {
		l, err := net.Listen(network, listen)
		if err != nil {
			t.Skipf("cannot listen on %s here: %v", listen, err)
		}
		defer l.Close()
		served := serveOnce(l)
		port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
		run := startEdgeGuest(t, wasm, NewConfig(), "dial", network, net.JoinHostPort(target, port))
		local := run.expect("LOCAL")
		if got := run.expect("REMOTE"); got != l.Addr().String() {
			t.Errorf("guest's remote address %s, want %s", got, l.Addr())
		}
		if got := run.expect("GOT"); got != "HELLO" {
			t.Errorf("guest read %q", got)
		}
		run.expect("OK")
		run.wait(0)
		ap, err := netip.ParseAddrPort(local)
		if err != nil {
			t.Fatalf("guest's local address %q: %v", local, err)
		}
		checkServed(t, served, strconv.Itoa(int(ap.Port())))
	}
	t.Run("client", func(t *testing.T) { dial(t, goEdgeGuest(t, false), "tcp", "127.0.0.1:0", "127.0.0.1") })
	t.Run("client IPv6", func(t *testing.T) { dial(t, goEdgeGuest(t, false), "tcp6", "[::1]:0", "::1") })
	t.Run("client getaddrinfo localhost", func(t *testing.T) {
		dial(t, goEdgeGuest(t, true), "tcp4", "127.0.0.1:0", "localhost")
	})
	t.Run("udp", func(t *testing.T) {
		run := startEdgeGuest(t, goEdgeGuest(t, false), NewConfig(), "udp")
		addr, err := net.ResolveUDPAddr("udp", run.expect("ADDR"))
		if err != nil {
			t.Fatal(err)
		}
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer pc.Close()
		pc.WriteTo([]byte("datagram"), addr)
		if got := run.expect("FROM"); got != pc.LocalAddr().String() {
			t.Errorf("guest saw sender %s, want %s", got, pc.LocalAddr())
		}
		pc.SetReadDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 64)
		n, _, err := pc.ReadFrom(b)
		if err != nil || string(b[:n]) != "DATAGRAM" {
			t.Errorf("reply %q, %v", b[:n], err)
		}
		run.expect("OK")
		run.wait(0)
	})
	t.Run("denied connect", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		run := startEdgeGuest(t, goEdgeGuest(t, false), NewConfig().WithSocketPolicy(DenyAll), "denied", l.Addr().String())
		if got := run.expect("ERRNO"); got != strconv.Itoa(int(ErrnoNetunreach)) {
			t.Errorf("errno %s, want %d (ENETUNREACH)", got, ErrnoNetunreach)
		}
		run.expect("OK")
		run.wait(0)
	})
	t.Run("mapped bind", func(t *testing.T) {
		p1, p2 := closedPort(t), closedPort(t)
		pol := &recordingPolicy{
			from: netip.MustParseAddrPort("0.0.0.0:" + strconv.Itoa(p1)),
			to:   netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(p2)),
		}
		run := startEdgeGuest(t, goEdgeGuest(t, false), NewConfig().WithSocketPolicy(pol), "echo", pol.from.String())
		if got := run.expect("ADDR"); got != pol.from.String() {
			t.Errorf("guest listens on %s, want its own %s", got, pol.from)
		}
		c, err := net.DialTimeout("tcp", pol.to.String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial the mapped address: %v", err)
		}
		defer c.Close()
		c.Write([]byte("mapped"))
		c.(*net.TCPConn).CloseWrite()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if b, _ := io.ReadAll(c); !strings.EqualFold(string(b), "mapped") {
			t.Errorf("echo %q", b)
		}
		run.expect("OK")
		run.wait(0)
	})
}
