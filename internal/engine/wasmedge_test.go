package engine

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/testguest"
	"github.com/berth-dev/berth/internal/wasi"
)

// TestBerthHostWasmEdge runs the WasmEdge socket guest of each generation on berth's
// host: the engine registers each import with the signature the module asks for
// (wasi.Lookup), so the v1 and v2 functions that share names both link, and the
// guest's own checks (exact errnos, getaddrinfo results) pass.
func TestBerthHostWasmEdge(t *testing.T) {
	ctx := context.Background()
	modes := []string{"errnos", "resolve"}
	if _, err := net.DefaultResolver.LookupNetIP(ctx, "ip4", "localhost"); err != nil {
		modes = modes[:1] // the resolve checks need the host to resolve localhost
	}
	eng, err := New(ctx, t.TempDir(), WithHost(HostBerth))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	for _, gen := range []string{"V1", "V2"} {
		wasm := testguest.Read(t, testguest.C(t, testguest.CWasmEdge, "-D"+gen))
		for _, mode := range modes {
			t.Run(gen+"/"+mode, func(t *testing.T) {
				var out bytes.Buffer
				code, err := eng.Run(ctx, Spec{Module: wasm, Args: []string{"guest", mode}, Stdout: &out, Stderr: &out})
				if err != nil {
					t.Fatal(err)
				}
				if code != 0 || !strings.Contains(out.String(), "OK "+mode) {
					t.Fatalf("exit code %d, output:\n%s", code, out.String())
				}
			})
		}
	}
}

// TestSocketPolicy checks that Spec.SocketPolicy reaches berth's WASI host: under
// wasi.DenyAll the WasmEdge guest's connect, bind, listen, send_to and lookups get the
// errnos of a network namespace without a network (the guest checks each), and a
// policy that allows everything is asked and lets the guest's checks pass.
func TestSocketPolicy(t *testing.T) {
	ctx := context.Background()
	eng, err := New(ctx, t.TempDir(), WithHost(HostBerth))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	wasm := testguest.Read(t, testguest.C(t, testguest.CWasmEdge, "-DV2"))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)

	var out bytes.Buffer
	code, err := eng.Run(ctx, Spec{Module: wasm, Args: []string{"guest", "denied", port}, Stdout: &out, Stderr: &out,
		SocketPolicy: wasi.DenyAll})
	if err != nil || code != 0 || !strings.Contains(out.String(), "OK denied") {
		t.Fatalf("DenyAll: exit code %d, %v, output:\n%s", code, err, out.String())
	}

	var mu sync.Mutex
	asked := map[wasi.SocketOp]int{}
	allow := wasi.SocketPolicyFunc(func(_ context.Context, req wasi.SocketRequest) (netip.AddrPort, wasi.Errno) {
		mu.Lock()
		asked[req.Op]++
		mu.Unlock()
		return req.Addr, wasi.ErrnoSuccess
	})
	out.Reset()
	code, err = eng.Run(ctx, Spec{Module: wasm, Args: []string{"guest", "errnos"}, Stdout: &out, Stderr: &out, SocketPolicy: allow})
	if err != nil || code != 0 || !strings.Contains(out.String(), "OK errnos") {
		t.Fatalf("allowing policy: exit code %d, %v, output:\n%s", code, err, out.String())
	}
	if asked[wasi.SockOpen] == 0 { // errnos's other calls fail before the policy is asked
		t.Errorf("the policy was never asked about sock_open (asked: %v)", asked)
	}

	// wazero's WASI opens no sockets: the policy is ignored, not an error.
	wz, err := New(ctx, t.TempDir(), WithHost(HostWazero))
	if err != nil {
		t.Fatal(err)
	}
	defer wz.Close(ctx)
	hello := testguest.Read(t, testguest.C(t, testguest.CHello))
	if code, err := wz.Run(ctx, Spec{Module: hello, SocketPolicy: wasi.DenyAll}); err != nil || code != 0 {
		t.Errorf("HostWazero with a policy: exit code %d, %v", code, err)
	}
}
