package wasi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/berth-dev/berth/internal/testguest"
)

// edgeGenerations are the two builds of testguest.CWasmEdge.
var edgeGenerations = []struct {
	name string
	flag string
	// sigs are the parameter counts the guest must import, by name.
	sigs map[string]int
}{
	{"v1", "-DV1", map[string]int{"sock_accept": 2, "sock_recv_from": 7, "sock_getlocaladdr": 4, "sock_getpeeraddr": 4}},
	{"v2", "-DV2", map[string]int{"sock_recv_from": 8, "sock_getlocaladdr": 3, "sock_getpeeraddr": 3}},
}

func edgeGuest(t *testing.T, flag string) []byte {
	return testguest.Read(t, testguest.C(t, testguest.CWasmEdge, flag))
}

// TestWasmEdgeSignatures checks that each generation's guest imports the signatures
// it should and that every one of its imports is found by Lookup.
func TestWasmEdgeSignatures(t *testing.T) {
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			ctx := context.Background()
			rt := wazero.NewRuntime(ctx)
			defer rt.Close(ctx)
			cm, err := rt.CompileModule(ctx, edgeGuest(t, g.flag))
			if err != nil {
				t.Fatal(err)
			}
			seen := map[string]int{}
			for _, imp := range cm.ImportedFunctions() {
				_, name, _ := imp.Import()
				f, _, ok := Lookup(Funcs(), name, edgeTypes(imp.ParamTypes()), edgeTypes(imp.ResultTypes()))
				if !ok {
					t.Errorf("no host function for %s%v", name, imp.ParamTypes())
					continue
				}
				if len(f.Params) != len(imp.ParamTypes()) || len(f.Results) != len(imp.ResultTypes()) {
					t.Errorf("%s: host signature %v, guest %v", name, f.Params, imp.ParamTypes())
				}
				seen[name] = len(imp.ParamTypes())
			}
			for name, n := range g.sigs {
				if seen[name] != n {
					t.Errorf("guest imports %s with %d params, want %d", name, seen[name], n)
				}
			}
		})
	}
	// The generations' functions are told apart only by signature: no (name,
	// signature) pair may be provided twice.
	type sig struct {
		name string
		n    int
	}
	dup := map[sig]bool{}
	for _, f := range Funcs() {
		k := sig{f.Name, len(f.Params)}
		if dup[k] {
			t.Errorf("%s with %d params provided twice", f.Name, len(f.Params))
		}
		dup[k] = true
	}
}

func TestWasmEdgeErrnos(t *testing.T) {
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig(), "errnos")
			run.expect("OK errnos")
			run.wait(0)
		})
	}
}

// TestWasmEdgeServer: a v1 guest listens, accepts the test's connection and echoes.
func TestWasmEdgeServer(t *testing.T) {
	run := startEdgeGuest(t, edgeGuest(t, "-DV1"), NewConfig(), "server")
	port := run.expect("PORT")
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := run.expect("PEER"), strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port); got != want {
		t.Errorf("guest saw peer port %s, want %s", got, want)
	}
	if _, err := c.Write([]byte("echo me")); err != nil {
		t.Fatal(err)
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "ECHO ME" {
		t.Errorf("echo %q, want %q", b, "ECHO ME")
	}
	run.expect("OK server")
	run.wait(0)
}

// serveOnce accepts one connection on l, expects "hello" and answers "HELLO". It
// sends the connection's remote port, or an error.
func serveOnce(l net.Listener) <-chan any {
	ch := make(chan any, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			ch <- err
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		b := make([]byte, 5)
		if _, err := io.ReadFull(c, b); err != nil || string(b) != "hello" {
			ch <- fmt.Errorf("server read %q, %v", b, err)
			return
		}
		c.Write([]byte("HELLO"))
		ch <- c.RemoteAddr().(*net.TCPAddr).Port
	}()
	return ch
}

// checkServed checks serveOnce's outcome against the guest's local port.
func checkServed(t *testing.T, served <-chan any, local string) {
	t.Helper()
	select {
	case r := <-served:
		if p, ok := r.(int); !ok || strconv.Itoa(p) != local {
			t.Errorf("server: %v; the guest's local port is %s", r, local)
		}
	case <-time.After(20 * time.Second):
		t.Error("the server saw no connection")
	}
}

// closedPort is a loopback TCP port nothing listens on.
func closedPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return p
}

// TestWasmEdgeClient: a guest connects to a test listener (blocking connect),
// checks the peer address, exchanges data; a connect to a closed port is refused.
func TestWasmEdgeClient(t *testing.T) {
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			served := serveOnce(l)
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig(), "client",
				strconv.Itoa(l.Addr().(*net.TCPAddr).Port), strconv.Itoa(closedPort(t)))
			local := run.expect("LOCALPORT")
			run.expect("OK client")
			run.wait(0)
			checkServed(t, served, local)
		})
	}
}

func TestWasmEdgeIPv6(t *testing.T) {
	l, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	l.Close()
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			l, err := net.Listen("tcp6", "[::1]:0")
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			served := serveOnce(l)
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig(), "client6", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
			local := run.expect("LOCALPORT")
			run.expect("OK client")
			run.wait(0)
			checkServed(t, served, local)
		})
	}
}

func TestWasmEdgeUDP(t *testing.T) {
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			pc, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig(), "udp", strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port))
			port, _ := strconv.Atoi(run.expect("PORT"))
			guest := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port}
			if _, err := pc.WriteTo([]byte("ping and more"), guest); err != nil {
				t.Fatal(err)
			}
			pc.SetReadDeadline(time.Now().Add(20 * time.Second))
			b := make([]byte, 16)
			n, from, err := pc.ReadFrom(b)
			if err != nil {
				t.Fatal(err)
			}
			if string(b[:n]) != "pong" || from.(*net.UDPAddr).Port != port {
				t.Errorf("got %q from %v, want \"pong\" from port %d", b[:n], from, port)
			}
			run.expect("OK udp")
			run.wait(0)
		})
	}
}

func TestWasmEdgeGetaddrinfo(t *testing.T) {
	if _, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost"); err != nil {
		t.Skipf("the host cannot resolve localhost: %v", err)
	}
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig(), "resolve")
			run.expect("OK resolve")
			run.wait(0)
		})
	}
}

// TestWasmEdgeDenyAll: under DenyAll every operation gets its errno, and nothing
// reaches the test's listener although it is there.
func TestWasmEdgeDenyAll(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig().WithSocketPolicy(DenyAll),
				"denied", strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
			run.expect("OK denied")
			run.wait(0)
		})
	}
	l.(*net.TCPListener).SetDeadline(time.Now().Add(50 * time.Millisecond))
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Error("a denied guest connected to the listener")
	}
}

// recordingPolicy records what it is asked and maps binds of from to to.
type recordingPolicy struct {
	mu       sync.Mutex
	from, to netip.AddrPort
	denyNext int // accepts to refuse
	reqs     []SocketRequest
}

func (p *recordingPolicy) Socket(_ context.Context, req SocketRequest) (netip.AddrPort, Errno) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reqs = append(p.reqs, req)
	if req.Op == SockAccept && p.denyNext > 0 {
		p.denyNext--
		return req.Addr, ErrnoAcces
	}
	if req.Op == SockBind && req.Addr == p.from {
		return p.to, ErrnoSuccess
	}
	return req.Addr, ErrnoSuccess
}

func (p *recordingPolicy) ops() []SocketOp {
	p.mu.Lock()
	defer p.mu.Unlock()
	var ops []SocketOp
	for _, r := range p.reqs {
		ops = append(ops, r.Op)
	}
	return ops
}

// TestWasmEdgeMappedBind: the guest binds 0.0.0.0:P1, the policy maps it to
// 127.0.0.1:P2; the host listens on P2 only and the guest still sees 0.0.0.0:P1.
func TestWasmEdgeMappedBind(t *testing.T) {
	for _, g := range edgeGenerations {
		t.Run(g.name, func(t *testing.T) {
			p1, p2 := closedPort(t), closedPort(t)
			pol := &recordingPolicy{
				from: netip.MustParseAddrPort("0.0.0.0:" + strconv.Itoa(p1)),
				to:   netip.MustParseAddrPort("127.0.0.1:" + strconv.Itoa(p2)),
			}
			run := startEdgeGuest(t, edgeGuest(t, g.flag), NewConfig().WithSocketPolicy(pol), "mapped", strconv.Itoa(p1))
			run.expect("LISTENING")
			if g.name == "v1" {
				c, err := net.DialTimeout("tcp", pol.to.String(), 5*time.Second)
				if err != nil {
					t.Fatalf("dial the mapped address: %v", err)
				}
				c.SetDeadline(time.Now().Add(20 * time.Second))
				b, _ := io.ReadAll(c)
				c.Close()
				if string(b) != "mapped" {
					t.Errorf("read %q from the mapped port, want \"mapped\"", b)
				}
				if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p1), time.Second); err == nil {
					c.Close()
					t.Errorf("the guest's own port %d is listening on the host", p1)
				}
			}
			run.expect("OK mapped")
			run.wait(0)
			want := []SocketOp{SockOpen, SockBind, SockListen}
			if g.name == "v1" {
				want = append(want, SockAccept)
			}
			if got := pol.ops(); !slices.Equal(got, want) {
				t.Errorf("policy asked %v, want %v", got, want)
			}
			pol.mu.Lock()
			defer pol.mu.Unlock()
			if r := pol.reqs[2]; r.Addr != pol.from || r.Network != "tcp" {
				t.Errorf("listen asked about %v %v, want the guest's address tcp %v", r.Network, r.Addr, pol.from)
			}
		})
	}
}

// TestWasmEdgeAcceptPolicy: a connection the policy refuses is closed before the
// guest sees it; the next one is served.
func TestWasmEdgeAcceptPolicy(t *testing.T) {
	pol := &recordingPolicy{denyNext: 1}
	run := startEdgeGuest(t, edgeGuest(t, "-DV1"), NewConfig().WithSocketPolicy(pol), "server")
	port := run.expect("PORT")
	refused, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	refused.SetDeadline(time.Now().Add(20 * time.Second))
	if n, err := refused.Read(make([]byte, 1)); err == nil || n != 0 {
		t.Errorf("refused connection read %d, %v; want it closed", n, err)
	}
	refused.Close()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := run.expect("PEER"), strconv.Itoa(c.LocalAddr().(*net.TCPAddr).Port); got != want {
		t.Errorf("guest accepted peer port %s, want the second connection's %s", got, want)
	}
	c.Write([]byte("x"))
	c.(*net.TCPConn).CloseWrite()
	if b, _ := io.ReadAll(c); string(b) != "X" {
		t.Errorf("echo %q, want \"X\"", b)
	}
	run.wait(0)
}

// TestWasmEdgeInterrupt: a guest blocked in a WasmEdge call ends, with the
// interrupted exit code, as soon as its System's context ends.
func TestWasmEdgeInterrupt(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tests := []struct {
		name, flag string
		args       []string
		ready      string
	}{
		{"accept", "-DV1", []string{"server"}, "PORT"},
		{"recv_from", "-DV2", []string{"udp", strconv.Itoa(pc.LocalAddr().(*net.UDPAddr).Port)}, "PORT"},
		// The listener never accepts and the guest's read waits for a reply.
		{"read after connect", "-DV2", []string{"client", strconv.Itoa(l.Addr().(*net.TCPAddr).Port)}, "LOCALPORT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := startEdgeGuest(t, edgeGuest(t, tt.flag), NewConfig(), tt.args...)
			run.expect(tt.ready)
			time.Sleep(50 * time.Millisecond) // let it block
			start := time.Now()
			run.cancel()
			run.wait(143)
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("guest took %v to stop", d)
			}
		})
	}
}

func TestDenyAll(t *testing.T) {
	lo := netip.MustParseAddrPort("127.0.0.1:80")
	tests := []struct {
		op   SocketOp
		want Errno
	}{
		{SockOpen, ErrnoSuccess},
		{SockBind, ErrnoAddrnotavail},
		{SockListen, ErrnoAddrnotavail},
		{SockConnect, ErrnoNetunreach},
		{SockSendTo, ErrnoNetunreach},
		{SockAccept, ErrnoAcces},
		{SockResolve, ErrnoAiAgain},
	}
	for _, tt := range tests {
		t.Run(tt.op.String(), func(t *testing.T) {
			addr, errno := DenyAll.Socket(context.Background(), SocketRequest{Op: tt.op, Network: "tcp", Addr: lo})
			if errno != tt.want {
				t.Errorf("%v: errno %v, want %v", tt.op, errno, tt.want)
			}
			if addr != lo {
				t.Errorf("%v: address %v, want it unchanged", tt.op, addr)
			}
		})
	}
	if got := SocketOp(42).String(); got != "op(42)" {
		t.Errorf("unknown op %q", got)
	}
}
