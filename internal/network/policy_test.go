package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/wasi"
)

func mustPorts(t testing.TB, specs ...string) []PortMapping {
	t.Helper()
	var out []PortMapping
	for _, s := range specs {
		m, err := ParsePort(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	return out
}

func mustRules(t testing.TB, values ...string) []HostRule {
	t.Helper()
	r, err := ParseHostRules("rule", values)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func mustPolicy(t testing.TB, o Options) wasi.SocketPolicy {
	t.Helper()
	p, err := Policy(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// step is one request to a policy and what it must answer.
type step struct {
	op      wasi.SocketOp
	network string
	addr    string // "" for none
	host    string
	errno   wasi.Errno
	want    string // the address returned, when it differs from addr
}

func (s step) request() wasi.SocketRequest {
	req := wasi.SocketRequest{Op: s.op, Network: s.network, Host: s.host}
	if s.addr != "" {
		req.Addr = netip.MustParseAddrPort(s.addr)
	}
	return req
}

func runSteps(t *testing.T, p wasi.SocketPolicy, steps []step) {
	t.Helper()
	for i, s := range steps {
		req := s.request()
		got, errno := p.Socket(context.Background(), req)
		if errno != s.errno {
			t.Errorf("step %d: %s %s %q %q: errno %v, want %v", i, s.op, s.network, s.addr, s.host, errno, s.errno)
			continue
		}
		want := req.Addr
		if s.want != "" {
			want = netip.MustParseAddrPort(s.want)
		}
		if errno == wasi.ErrnoSuccess && got != want {
			t.Errorf("step %d: %s %s %q: address %s, want %s", i, s.op, s.network, s.addr, got, want)
		}
	}
}

const (
	ok          = wasi.ErrnoSuccess
	eacces      = wasi.ErrnoAcces
	enoname     = wasi.ErrnoAiNoname
	eaddrnotav  = wasi.ErrnoAddrnotavail
	enetunreach = wasi.ErrnoNetunreach
	eaiagain    = wasi.ErrnoAiAgain
)

// TestPolicyModes checks each operation in each mode, without host rules.
func TestPolicyModes(t *testing.T) {
	ports := mustPorts(t, "127.0.0.1:18080:8080", "9090:90", "[::1]:18443:443", "5353:53/udp")
	tests := []struct {
		mode  Mode
		ports []PortMapping
		steps []step
	}{
		{ModeNone, nil, []step{
			{op: wasi.SockOpen, network: "tcp", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:8080", errno: eaddrnotav},
			{op: wasi.SockBind, network: "tcp", addr: "127.0.0.1:8080", errno: eaddrnotav},
			{op: wasi.SockListen, network: "tcp", addr: "127.0.0.1:8080", errno: eaddrnotav},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:80", errno: enetunreach},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:80", errno: enetunreach},
			{op: wasi.SockSendTo, network: "udp", addr: "192.0.2.1:53", errno: enetunreach},
			{op: wasi.SockResolve, host: "example.com", errno: eaiagain},
			{op: wasi.SockAccept, network: "tcp", addr: "127.0.0.1:5000", errno: wasi.ErrnoAcces},
		}},
		{ModeHost, nil, []step{
			{op: wasi.SockOpen, network: "udp", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:8080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "192.0.2.2:8080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::]:8080", errno: ok},
			{op: wasi.SockListen, network: "tcp", addr: "0.0.0.0:8080", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:80", errno: ok},
			{op: wasi.SockSendTo, network: "udp", addr: "192.0.2.1:53", errno: ok},
			{op: wasi.SockResolve, host: "example.com", errno: ok},
			{op: wasi.SockResolve, host: "example.com", addr: "192.0.2.1:0", errno: ok},
			{op: wasi.SockAccept, network: "tcp", addr: "192.0.2.9:5000", errno: ok},
		}},
		{ModeHost, ports, []step{ // published ports are discarded, as Docker does
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:8080", errno: ok},
		}},
		{ModeDefault, ports, []step{
			{op: wasi.SockOpen, network: "tcp", errno: ok},
			// published: wildcard binds go to the host address
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::]:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::ffff:0.0.0.0]:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:90", want: "0.0.0.0:9090", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::]:90", want: "[::]:9090", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::]:443", want: "[::1]:18443", errno: ok},
			{op: wasi.SockBind, network: "udp", addr: "0.0.0.0:53", want: "0.0.0.0:5353", errno: ok},
			// the protocol must match: tcp 53 and udp 8080 are not published
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:53", want: "127.0.0.1:53", errno: ok},
			{op: wasi.SockBind, network: "udp", addr: "0.0.0.0:8080", want: "127.0.0.1:8080", errno: ok},
			// unpublished wildcard binds stay on loopback
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:7000", want: "127.0.0.1:7000", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::]:7000", want: "[::1]:7000", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:0", want: "127.0.0.1:0", errno: ok},
			// loopback binds stay as asked, published port or not (as in Docker)
			{op: wasi.SockBind, network: "tcp", addr: "127.0.0.1:8080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "127.0.0.5:7000", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "[::1]:7000", errno: ok},
			// the host's other addresses are not the container's
			{op: wasi.SockBind, network: "tcp", addr: "192.0.2.2:8080", errno: eaddrnotav},
			{op: wasi.SockBind, network: "udp", addr: "[2001:db8::1]:53", errno: eaddrnotav},
			{op: wasi.SockListen, network: "tcp", addr: "0.0.0.0:8080", errno: ok},
			{op: wasi.SockAccept, network: "tcp", addr: "192.0.2.9:5000", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:80", errno: ok},
			{op: wasi.SockSendTo, network: "udp", addr: "192.0.2.1:53", errno: ok},
			{op: wasi.SockResolve, host: "example.com", errno: ok},
			{op: wasi.SockResolve, host: "example.com", addr: "192.0.2.1:443", errno: ok},
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %d ports", tt.mode, len(tt.ports)), func(t *testing.T) {
			runSteps(t, mustPolicy(t, Options{Mode: tt.mode, Ports: tt.ports}), tt.steps)
		})
	}
}

// TestPolicyEgress checks the host rules, in both modes that have them.
func TestPolicyEgress(t *testing.T) {
	tests := []struct {
		name        string
		allow, deny []string
		steps       []step
	}{
		{"deny address", nil, []string{"192.0.2.1", "10.0.0.0/8:22", "2001:db8::/32"}, []step{
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:80", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "[::ffff:192.0.2.1]:80", errno: eacces},
			{op: wasi.SockSendTo, network: "udp", addr: "192.0.2.1:53", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.2:80", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "10.1.2.3:22", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "10.1.2.3:80", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "[2001:db8::5]:443", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "[2001:db9::5]:443", errno: ok},
			// resolve: an all-ports deny drops a result, a port-limited one does not
			{op: wasi.SockResolve, host: "a.example", errno: ok},
			{op: wasi.SockResolve, host: "a.example", addr: "192.0.2.1:0", errno: enoname},
			{op: wasi.SockResolve, host: "a.example", addr: "10.0.0.1:0", errno: ok},
			{op: wasi.SockResolve, host: "a.example", addr: "192.0.2.3:0", errno: ok},
			// binds and accepts are not egress
			{op: wasi.SockAccept, network: "tcp", addr: "192.0.2.1:5000", errno: ok},
		}},
		{"deny name", nil, []string{"evil.example", "*.tracker.example", "mail.example:25"}, []step{
			{op: wasi.SockResolve, host: "evil.example", errno: enoname},
			{op: wasi.SockResolve, host: "EVIL.example.", errno: enoname},
			{op: wasi.SockResolve, host: "x.tracker.example", errno: enoname},
			{op: wasi.SockResolve, host: "tracker.example", errno: ok},
			{op: wasi.SockResolve, host: "good.example", errno: ok},
			{op: wasi.SockResolve, host: "good.example", addr: "192.0.2.10:0", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.10:443", errno: ok},
			// a port-limited name: the lookup is allowed, the port is refused by address
			{op: wasi.SockResolve, host: "mail.example", errno: ok},
			{op: wasi.SockResolve, host: "mail.example", addr: "192.0.2.25:0", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.25:25", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.25:587", errno: ok},
		}},
		{"allow names", []string{"api.example:443", "*.cdn.example"}, nil, []step{
			{op: wasi.SockResolve, host: "other.example", errno: enoname}, // no query leaves the host
			{op: wasi.SockResolve, host: "api.example", errno: ok},
			{op: wasi.SockResolve, host: "x.cdn.example", errno: ok},
			// not resolved yet: unknown address
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:443", errno: eacces},
			{op: wasi.SockResolve, host: "api.example", addr: "192.0.2.1:443", errno: ok},
			{op: wasi.SockResolve, host: "api.example", addr: "[2001:db8::1]:443", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:443", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "[2001:db8::1]:443", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.1:80", errno: eacces}, // port not allowed
			{op: wasi.SockResolve, host: "x.cdn.example", addr: "192.0.2.50:0", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.50:80", errno: ok},
			{op: wasi.SockSendTo, network: "udp", addr: "192.0.2.50:443", errno: ok},
			// a literal address is judged by address rules only: none here
			{op: wasi.SockResolve, host: "192.0.2.77", addr: "192.0.2.77:80", errno: enoname},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.77:80", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:8080", errno: eacces},
		}},
		{"allow addresses", []string{"192.0.2.0/24:443", "::1"}, nil, []step{
			// the lookup goes ahead, since an address rule may allow its results
			{op: wasi.SockResolve, host: "any.example", errno: ok},
			{op: wasi.SockResolve, host: "any.example", addr: "192.0.2.9:0", errno: ok},
			{op: wasi.SockResolve, host: "any.example", addr: "198.51.100.9:0", errno: enoname},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.9:443", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.9:80", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "[::1]:80", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:80", errno: eacces},
		}},
		{"deny wins over allow", []string{"*.example", "10.0.0.0/8"}, []string{"bad.example", "10.0.0.1"}, []step{
			{op: wasi.SockResolve, host: "bad.example", errno: enoname},
			{op: wasi.SockResolve, host: "good.example", addr: "10.0.0.1:0", errno: enoname},
			{op: wasi.SockResolve, host: "good.example", addr: "10.0.0.2:0", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "10.0.0.1:80", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "10.0.0.2:80", errno: ok},
		}},
		{"a denied name's address stays denied by name", nil, []string{"bad.example:443"}, []step{
			{op: wasi.SockResolve, host: "bad.example", addr: "192.0.2.4:0", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.4:443", errno: eacces},
			{op: wasi.SockConnect, network: "tcp", addr: "192.0.2.4:80", errno: ok},
		}},
	}
	for _, mode := range []Mode{ModeDefault, ModeHost} {
		for _, tt := range tests {
			t.Run(string(mode)+"/"+tt.name, func(t *testing.T) {
				p := mustPolicy(t, Options{Mode: mode, Allow: mustRules(t, tt.allow...), Deny: mustRules(t, tt.deny...)})
				runSteps(t, p, tt.steps)
			})
		}
	}
}

func TestPolicyErrors(t *testing.T) {
	ports := mustPorts(t, "8080:80")
	tests := []struct {
		name string
		o    Options
		want error
	}{
		{"none with ports", Options{Mode: ModeNone, Ports: ports}, ErrConflict},
		{"none with rules", Options{Mode: ModeNone, Allow: mustRules(t, "example.com")}, ErrConflict},
		{"unknown mode", Options{Mode: "bridge2"}, ErrInvalidMode},
		{"ephemeral host port", Options{Ports: mustPorts(t, "80")}, ErrUnresolvedPort},
		{"host port range", Options{Ports: mustPorts(t, "8000-8010:80")}, ErrUnresolvedPort},
		{"bad proto", Options{Ports: []PortMapping{{HostPort: 1, HostPortEnd: 1, ContainerPort: 1, Proto: "sctp"}}}, ErrInvalidPort},
	}
	for _, tt := range tests {
		if _, err := Policy(tt.o); !errors.Is(err, tt.want) {
			t.Errorf("%s: Policy error %v, want %v", tt.name, err, tt.want)
		}
	}
	if p, err := Policy(Options{}); err != nil || p == nil {
		t.Errorf("Policy(zero Options) = %v, %v; want the default mode", p, err)
	}
	for in, want := range map[string]Mode{"": ModeDefault, "bridge": ModeDefault, "default": ModeDefault, "host": ModeHost, "none": ModeNone} {
		if got, err := ParseMode(in); got != want || err != nil {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("container:web"); !errors.Is(err, ErrInvalidMode) {
		t.Errorf("ParseMode(container:web) error %v", err)
	}
}

// TestNameCacheBounded checks the memory of resolved names stays within its bound
// and keeps recently used addresses.
func TestNameCacheBounded(t *testing.T) {
	c := newNameCache(100)
	hot := netip.MustParseAddr("192.0.2.1")
	c.add(hot, "hot.example")
	for i := range 10000 {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		c.add(a, "n.example")
		if i%20 == 0 && len(c.get(hot)) != 1 {
			t.Fatalf("the address in use was forgotten after %d others", i)
		}
		if n := c.len(); n > 100 {
			t.Fatalf("%d addresses remembered, bound 100", n)
		}
	}
	if got := c.get(netip.MustParseAddr("10.0.0.0")); got != nil {
		t.Errorf("the first address is still remembered: %v", got)
	}
	for i := range 20 {
		c.add(hot, fmt.Sprintf("n%d.example", i))
	}
	if got := c.get(hot); len(got) != maxNamesPerAddr || got[len(got)-1] != "n19.example" {
		t.Errorf("names of one address = %v, want the last %d", got, maxNamesPerAddr)
	}
}

// TestPolicyConcurrent calls one policy from many goroutines, as guest threads do,
// under -race: lookups that remember names race with connects that read them. With
// room for every address, each connect right after its lookup is allowed; with a small
// bound, addresses are evicted under the goroutines' feet (a connect may then be
// refused, never anything else) and the bound holds.
func TestPolicyConcurrent(t *testing.T) {
	for _, max := range []int{0, 64} {
		t.Run(fmt.Sprintf("MaxResolved %d", max), func(t *testing.T) {
			p := mustPolicy(t, Options{Allow: mustRules(t, "*.example:443"), Deny: mustRules(t, "bad.example"), MaxResolved: max})
			ctx := context.Background()
			var wg sync.WaitGroup
			errs := make(chan string, 16)
			for g := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range 2000 {
						a := netip.AddrFrom4([4]byte{192, 0, byte(g), byte(i)})
						name := fmt.Sprintf("h%d.example", i%50)
						if _, e := p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockResolve, Host: name, Addr: netip.AddrPortFrom(a, 0)}); e != ok {
							errs <- fmt.Sprintf("resolve %s %s: %v", name, a, e)
							return
						}
						_, e := p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockConnect, Network: "tcp", Addr: netip.AddrPortFrom(a, 443)})
						if e != ok && (max == 0 || e != eacces) {
							errs <- fmt.Sprintf("connect %s just resolved: %v", a, e)
							return
						}
						if _, e := p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockConnect, Network: "tcp", Addr: netip.AddrPortFrom(a, 80)}); e != eacces {
							errs <- fmt.Sprintf("connect %s:80: %v, want EACCES", a, e)
							return
						}
						if _, e := p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockResolve, Host: "bad.example"}); e != enoname {
							errs <- fmt.Sprintf("resolve bad.example: %v", e)
							return
						}
						// The guest's own loopback ports, bound and dialled from many threads.
						own := uint16(10000 + g*2000 + i)
						if _, e := p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockBind, Network: "tcp", Addr: netip.AddrPortFrom(netip.IPv4Unspecified(), own)}); e != ok {
							errs <- fmt.Sprintf("bind %d: %v", own, e)
							return
						}
						if _, e := p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockConnect, Network: "tcp", Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 0, 1}), own)}); e != ok {
							errs <- fmt.Sprintf("connect to its own port %d: %v", own, e)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for e := range errs {
				t.Error(e)
			}
			limit := max
			if limit == 0 {
				limit = DefaultMaxResolved
			}
			if n := p.(*policy).names.len(); n > limit || n == 0 {
				t.Errorf("%d addresses remembered, want 1..%d", n, limit)
			}
		})
	}
}

// TestPolicyLoopback checks that in the default mode the container's loopback is its
// own: its published ports are reached at their host addresses, the loopback ports it
// bound as they are, and the rest of the host's loopback only through an allow rule.
func TestPolicyLoopback(t *testing.T) {
	ports := mustPorts(t, "127.0.0.1:18080:8080", "9090:90", "[::1]:18443:443")
	const econnrefused = wasi.ErrnoConnrefused
	tests := []struct {
		name        string
		mode        Mode
		allow, deny []string
		steps       []step
	}{
		{"default", ModeDefault, nil, nil, []step{
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "0.0.0.0:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "[::ffff:127.0.0.1]:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "[::1]:90", want: "[::1]:9090", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:90", want: "127.0.0.1:9090", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:443", want: "[::1]:18443", errno: ok},
			{op: wasi.SockConnect, network: "udp", addr: "127.0.0.1:8080", errno: econnrefused}, // tcp only
			// the host's loopback services are not the container's
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:5432", errno: econnrefused},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.2:5432", errno: econnrefused},
			{op: wasi.SockSendTo, network: "udp", addr: "127.0.0.1:53", errno: econnrefused},
			// until the guest binds a port itself
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:7000", errno: econnrefused},
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:7000", want: "127.0.0.1:7000", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:7000", errno: ok},
			{op: wasi.SockSendTo, network: "udp", addr: "127.0.0.1:7000", errno: econnrefused},
			{op: wasi.SockBind, network: "udp", addr: "127.0.0.1:5353", errno: ok},
			{op: wasi.SockSendTo, network: "udp", addr: "127.0.0.1:5353", errno: ok},
			// an ephemeral port is learnt at listen
			{op: wasi.SockBind, network: "tcp", addr: "[::]:0", want: "[::1]:0", errno: ok},
			{op: wasi.SockListen, network: "tcp", addr: "[::]:41000", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "[::1]:41000", errno: ok},
			// a published port's listen shows the container port, which stays mapped
			{op: wasi.SockListen, network: "tcp", addr: "0.0.0.0:8080", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:8080", want: "127.0.0.1:18080", errno: ok},
		}},
		{"allow list", ModeDefault, []string{"127.0.0.1:5432", "example.com"}, nil, []step{
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:5432", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:6379", errno: eacces},
			// the container's own loopback is not egress: the list does not apply
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:8080", want: "127.0.0.1:18080", errno: ok},
			{op: wasi.SockBind, network: "tcp", addr: "127.0.0.1:7000", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:7000", errno: ok},
		}},
		{"deny list", ModeDefault, nil, []string{"127.0.0.0/8"}, []step{
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:5432", errno: eacces},
			{op: wasi.SockBind, network: "tcp", addr: "0.0.0.0:7000", want: "127.0.0.1:7000", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:7000", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:8080", want: "127.0.0.1:18080", errno: ok},
		}},
		{"host mode", ModeHost, nil, nil, []step{
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:5432", errno: ok},
			{op: wasi.SockConnect, network: "tcp", addr: "127.0.0.1:8080", errno: ok}, // ports discarded
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustPolicy(t, Options{Mode: tt.mode, Ports: ports, Allow: mustRules(t, tt.allow...), Deny: mustRules(t, tt.deny...)})
			runSteps(t, p, tt.steps)
		})
	}
}
