package network

import (
	"context"
	"net/netip"
	"testing"

	"github.com/berth-dev/berth/internal/wasi"
)

// BenchmarkPolicy measures the decisions a guest's host calls wait for: a connect
// judged by a remembered name, a published bind, and a lookup result.
func BenchmarkPolicy(b *testing.B) {
	p := mustPolicy(b, Options{Ports: mustPorts(b, "127.0.0.1:18080:8080"),
		Allow: mustRules(b, "api.example:443", "*.cdn.example", "10.0.0.0/8"), Deny: mustRules(b, "bad.example")})
	ctx := context.Background()
	a := netip.MustParseAddrPort("192.0.2.1:443")
	p.Socket(ctx, wasi.SocketRequest{Op: wasi.SockResolve, Host: "api.example", Addr: a})
	for _, bc := range []struct {
		name string
		req  wasi.SocketRequest
	}{
		{"connect", wasi.SocketRequest{Op: wasi.SockConnect, Network: "tcp", Addr: a}},
		{"bind", wasi.SocketRequest{Op: wasi.SockBind, Network: "tcp", Addr: netip.MustParseAddrPort("0.0.0.0:8080")}},
		{"resolve", wasi.SocketRequest{Op: wasi.SockResolve, Host: "x.cdn.example", Addr: a}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, e := p.Socket(ctx, bc.req); e != wasi.ErrnoSuccess {
					b.Fatal(e)
				}
			}
		})
	}
}
