package shim

import (
	"net"
	"path/filepath"
	"testing"
	"time"

	taskv3 "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/ttrpc"
)

// TestTaskV3 runs a container's whole life through containerd's own task API v3 client,
// as containerd 2.x does once `start` answered with version 3: the same Service, served
// under the v3 name, decodes v3 requests and answers in kind.
func TestTaskV3(t *testing.T) {
	f := newFixture(t)
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	if err := (taskV3{f.svc}).RegisterTTRPC(srv); err != nil {
		t.Fatal(err)
	}
	go srv.Serve(f.ctx, l)
	t.Cleanup(func() { srv.Close() })
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	t.Cleanup(func() { client.Close() })
	c := taskv3.NewTTRPCTaskClient(client)

	out := filepath.Join(t.TempDir(), "out")
	created, err := c.Create(f.ctx, &taskv3.CreateTaskRequest{ID: "v3", Bundle: f.bundle([]string{"/app.wasm", "3"}, nil), Stdout: "file://" + out, Stderr: "file://" + out})
	if err != nil {
		t.Fatalf("Create through v3: %v", err)
	}
	if created.Pid == 0 {
		t.Fatal("Create through v3 returned pid 0")
	}
	started, err := c.Start(f.ctx, &taskv3.StartRequest{ID: "v3"})
	if err != nil || started.Pid != created.Pid {
		t.Fatalf("Start through v3: pid %d, %v; want pid %d", started.GetPid(), err, created.Pid)
	}
	waited, err := c.Wait(f.ctx, &taskv3.WaitRequest{ID: "v3"})
	if err != nil || waited.ExitStatus != 3 {
		t.Fatalf("Wait through v3: exit %d, %v; want 3", waited.GetExitStatus(), err)
	}
	if at := waited.ExitedAt.AsTime(); time.Since(at) > time.Minute || time.Until(at) > time.Second {
		t.Errorf("Wait through v3: exited at %v, not just now", at)
	}
	st, err := c.State(f.ctx, &taskv3.StateRequest{ID: "v3"})
	if err != nil || st.ExitStatus != 3 || st.Bundle == "" {
		t.Fatalf("State through v3: %+v, %v", st, err)
	}
	if _, err := c.Exec(f.ctx, &taskv3.ExecProcessRequest{ID: "v3", ExecID: "sh"}); !errdefs.IsNotImplemented(errdefs.FromGRPC(err)) {
		t.Errorf("Exec through v3: %v, want NotImplemented", err)
	}
	deleted, err := c.Delete(f.ctx, &taskv3.DeleteRequest{ID: "v3"})
	if err != nil || deleted.ExitStatus != 3 {
		t.Fatalf("Delete through v3: exit %d, %v; want 3", deleted.GetExitStatus(), err)
	}
	if _, err := c.State(f.ctx, &taskv3.StateRequest{ID: "v3"}); !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
		t.Errorf("State after Delete through v3: %v, want NotFound", err)
	}
}
