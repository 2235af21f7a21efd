package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/testguest"
)

// Load opens the published ports of a spec's network annotations, as berth-guest does
// when the shim creates a detached container: a port another socket holds is
// network.ErrPortInUse there, before the guest runs; a loaded container holds its
// ports until it is closed; malformed annotations are refused.
func TestLoadPublishedPorts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "rootfs"), 0o755)
	os.WriteFile(filepath.Join(dir, "rootfs", "main.wasm"), testguest.Read(t, testguest.C(t, testguest.CHello)), 0o755)
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := held.Addr().String()
	writeSpec := func(ann map[string]string) {
		b, _ := json.Marshal(specs.Spec{Version: specs.Version, Process: &specs.Process{Args: []string{"/main.wasm"}},
			Root: &specs.Root{Path: "rootfs"}, Annotations: ann})
		os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
	}
	port := strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
	writeSpec(map[string]string{network.AnnotationMode: "default", network.AnnotationPublish: "127.0.0.1:" + port + ":8080/tcp"})
	eng, err := engine.New(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	r := runtime.New(eng)

	if _, err := r.Load(ctx, dir); !errors.Is(err, network.ErrPortInUse) {
		t.Fatalf("Load with its published port taken: %v, want ErrPortInUse", err)
	}
	held.Close()
	c, err := r.Load(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Errorf("%s is free while the loaded container should hold it", addr)
	}
	c.Close(ctx)
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("%s is still held after Close: %v", addr, err)
	}
	l.Close()

	for _, ann := range []map[string]string{
		{network.AnnotationMode: "bridge2"},
		{network.AnnotationMode: "default", network.AnnotationPublish: "127.0.0.1::8080"},
		{network.AnnotationMode: "none", network.AnnotationPublish: "127.0.0.1:" + port + ":8080"},
	} {
		writeSpec(ann)
		if c, err := r.Load(ctx, dir); err == nil {
			c.Close(ctx)
			t.Errorf("Load with annotations %v succeeded", ann)
		}
	}
}
