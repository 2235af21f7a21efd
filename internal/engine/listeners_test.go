package engine

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testguest"
)

// TestListenersNeedBerthHost checks that Spec.Listeners is refused, with an error that
// says what to do, on wazero's built-in host, which cannot preopen them.
func TestListenersNeedBerthHost(t *testing.T) {
	wasm := testguest.Read(t, testguest.C(t, testguest.CHello))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := context.Background()
	eng, err := New(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	code, err := eng.Run(ctx, Spec{Module: wasm, Listeners: []*os.File{f}})
	if err == nil || code != -1 || !strings.Contains(err.Error(), "WithHost(HostBerth)") {
		t.Errorf("Run = %d, %v; want -1 and an error naming WithHost(HostBerth)", code, err)
	}
}
