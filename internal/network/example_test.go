package network_test

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/wasi"
)

// The flags of `berth run -p 127.0.0.1:18080:8080 --allow-host api.example.com:443`
// become the policy the guest runs under.
func Example() {
	ports, err := network.ParsePort("127.0.0.1:18080:8080")
	if err != nil {
		fmt.Println(err)
		return
	}
	allow, err := network.ParseHostRules("--allow-host", []string{"api.example.com:443"})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A real run opens the ports first (network.Open) and passes its Mappings, so a
	// port in use is an error before the guest starts; 18080 is given explicitly here.
	pol, err := network.Policy(network.Options{Ports: ports, Allow: allow})
	if err != nil {
		fmt.Println(err)
		return
	}
	ask := func(op wasi.SocketOp, network, host, addr string) {
		req := wasi.SocketRequest{Op: op, Network: network, Host: host}
		if addr != "" {
			req.Addr = netip.MustParseAddrPort(addr)
		}
		got, errno := pol.Socket(context.Background(), req)
		switch {
		case errno != wasi.ErrnoSuccess:
			names := map[wasi.Errno]string{wasi.ErrnoAcces: "EACCES", wasi.ErrnoAiNoname: "EAI_NONAME"}
			fmt.Printf("%s %s: refused, %s\n", op, strings.TrimSpace(host+" "+addr), names[errno])
		case op == wasi.SockBind:
			fmt.Printf("%s %s: host binds %s\n", op, addr, got)
		default:
			fmt.Printf("%s %s: allowed\n", op, strings.TrimSpace(host+" "+addr))
		}
	}
	ask(wasi.SockBind, "tcp", "", "0.0.0.0:8080")                      // published
	ask(wasi.SockBind, "tcp", "", "0.0.0.0:9000")                      // not published: loopback
	ask(wasi.SockResolve, "tcp", "evil.example.net", "")               // no rule allows it
	ask(wasi.SockResolve, "tcp", "api.example.com", "")                // may be looked up
	ask(wasi.SockResolve, "tcp", "api.example.com", "203.0.113.7:443") // its address is remembered
	ask(wasi.SockConnect, "tcp", "", "203.0.113.7:443")                // so it may be dialled
	ask(wasi.SockConnect, "tcp", "", "203.0.113.7:80")                 // on the allowed port only
	ask(wasi.SockConnect, "tcp", "", "198.51.100.1:443")               // never resolved
	// Output:
	// bind 0.0.0.0:8080: host binds 127.0.0.1:18080
	// bind 0.0.0.0:9000: host binds 127.0.0.1:9000
	// resolve evil.example.net: refused, EAI_NONAME
	// resolve api.example.com: allowed
	// resolve api.example.com 203.0.113.7:443: allowed
	// connect 203.0.113.7:443: allowed
	// connect 203.0.113.7:80: refused, EACCES
	// connect 198.51.100.1:443: refused, EACCES
}
