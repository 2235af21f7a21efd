package service

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/fsutil"
)

// emptyModule is a WASI command that does nothing: one function, exported as _start.
var emptyModule = []byte("\x00asm\x01\x00\x00\x00" +
	"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
	"\x03\x02\x01\x00" + // function section: one function of that type
	"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start
	"\x0a\x04\x01\x02\x00\x0b") // code section: an empty body

func buildContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "app.wasm"), emptyModule, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// A snapshot's root is synced to disk whole before its meta.json marks it complete, so
// that a power loss cannot leave a snapshot recorded as valid with empty files.
func TestSnapshotSyncedBeforeStored(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, t.TempDir(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	var synced []string
	done := make(chan struct{}, 1)
	s.syncTree = func(dir string) error {
		defer func() { done <- struct{}{} }()
		synced = append(synced, dir)
		if filepath.Base(dir) != "rootfs" {
			t.Errorf("synced %s, not a snapshot's rootfs", dir)
		}
		if got, err := os.ReadFile(filepath.Join(dir, "app.wasm")); err != nil || !bytes.Equal(got, emptyModule) {
			t.Errorf("at the sync the module is %q, %v; want it whole", got, err)
		}
		err := fsutil.SyncFS(dir)
		// The store must wait for this sync: give a store that does not the time to
		// write meta.json meanwhile (a correct one never has, however long this takes).
		time.Sleep(100 * time.Millisecond)
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "meta.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("meta.json was written before the root's sync ended (stat: %v)", err)
		}
		if snaps, _ := os.ReadDir(filepath.Join(s.root, "snapshots")); len(snapDirs(snaps)) > 0 {
			t.Errorf("snapshot %v stored before its root's sync ended", snapDirs(snaps))
		}
		return err
	}
	l, err := s.Build(ctx, build.Options{Context: buildContext(t)}, []string{"app:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-done // a store that did not wait for the sync has its errors reported here
	if len(synced) != 1 {
		t.Fatalf("root synced %d times (%v), want once", len(synced), synced)
	}
	if _, err := s.readSnapshot(l.Digest); err != nil {
		t.Fatalf("snapshot not stored after the sync: %v", err)
	}
}

// A sync that fails (a disk error) stores nothing: no snapshot, no image, no compiled code.
func TestSnapshotSyncFails(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := Open(ctx, root, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	errDisk := errors.New("input/output error")
	s.syncTree = func(string) error { return errDisk }
	_, err = s.Build(ctx, build.Options{Context: buildContext(t)}, []string{"app:1"})
	if !errors.Is(err, errDisk) {
		t.Fatalf("Build = %v, want the sync's error", err)
	}
	if snaps, _ := os.ReadDir(filepath.Join(root, "snapshots")); len(snapDirs(snaps)) > 0 {
		t.Errorf("snapshots left behind: %v", snapDirs(snaps))
	}
	if imgs, err := s.Images(ctx); err != nil || len(imgs) != 0 {
		t.Errorf("Images = %v, %v; want none", imgs, err)
	}
	if cached, _ := s.Engine().Cached(ctx); len(cached) != 0 {
		t.Errorf("compiled code left behind: %v", cached)
	}
}

// snapDirs names the snapshots among the entries of a root's snapshots directory.
func snapDirs(es []os.DirEntry) []string {
	var names []string
	for _, e := range es {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names
}
