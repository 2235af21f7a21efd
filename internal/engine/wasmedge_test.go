package engine

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testguest"
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
