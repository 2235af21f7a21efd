package service

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

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
	s.boot = func() string { return "" } // no boot ID: the root is synced
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
	s.boot = func() string { return "" } // no boot ID: the root is synced
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

// openBoot opens root as a process of the given boot would.
func openBoot(t *testing.T, root, boot string) *Service {
	t.Helper()
	s, err := Open(t.Context(), root, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	s.boot = func() string { return boot }
	s.syncTree = func(dir string) error {
		if boot != "" {
			t.Errorf("root %s synced in boot %q, which needs no sync", dir, boot)
		}
		return fsutil.SyncFS(dir)
	}
	return s
}

// buildApp builds app:1 from buildContext with s and returns its digest.
func buildApp(t *testing.T, s *Service) v1.Hash {
	t.Helper()
	l, err := s.Build(t.Context(), build.Options{Context: buildContext(t)}, []string{"app:1"})
	if err != nil {
		t.Fatal(err)
	}
	return l.Digest
}

// runApp runs app:1 with --rm and fails the test unless it exits 0.
func runApp(t *testing.T, s *Service) {
	t.Helper()
	var out, errb bytes.Buffer
	_, code, err := s.Run(t.Context(), RunOptions{Image: "app:1", Remove: true, Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 {
		t.Fatalf("run = %d, %v (stderr %q)", code, err, errb.String())
	}
}

// A snapshot written in this boot is not synced, and says so: meta.json names the boot.
// In a later boot (after a crash, say, which took the module's unsynced data with it)
// the snapshot is unpacked again from the store before it is used.
func TestStaleSnapshotUnpackedAgain(t *testing.T) {
	root := t.TempDir()
	a := openBoot(t, root, "boot-a")
	digest := buildApp(t, a)
	m, err := a.readSnapshot(digest)
	if err != nil || m.Boot != "boot-a" {
		t.Fatalf("readSnapshot = %+v, %v; want the snapshot of boot-a", m, err)
	}
	runApp(t, a)
	// What a crash can leave of a file written and not synced: nothing.
	module := filepath.Join(a.snapshotDir(digest), "rootfs", "app.wasm")
	if err := os.Truncate(module, 0); err != nil {
		t.Fatal(err)
	}

	b := openBoot(t, root, "boot-b")
	if _, err := b.readSnapshot(digest); !errors.Is(err, errStaleSnapshot) {
		t.Fatalf("readSnapshot in boot-b = %v, want errStaleSnapshot", err)
	}
	runApp(t, b) // an empty module would fail: "not a valid WebAssembly module"
	if got, err := os.ReadFile(module); err != nil || !bytes.Equal(got, emptyModule) {
		t.Fatalf("module after the run in boot-b: %q, %v; want it unpacked again", got, err)
	}
	if m, err := b.readSnapshot(digest); err != nil || m.Boot != "boot-b" {
		t.Fatalf("readSnapshot = %+v, %v; want the snapshot of boot-b", m, err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "tmp")); len(left) != 0 {
		t.Errorf("left in tmp/: %v", left)
	}
	if cached, _ := b.Engine().Cached(t.Context()); len(cached) != 1 {
		t.Errorf("compiled code %v, want the module's, kept", cached)
	}
	// Used again in boot-b: as it is.
	fi, _ := os.Stat(module)
	runApp(t, b)
	if fi2, err := os.Stat(module); err != nil || !os.SameFile(fi, fi2) {
		t.Errorf("the snapshot of boot-b was unpacked again in boot-b")
	}
}

// A snapshot synced before it was stored (written where the boot ID could not be read,
// or by an earlier berth) is used in any boot as it is.
func TestSyncedSnapshotKept(t *testing.T) {
	root := t.TempDir()
	a := openBoot(t, root, "")
	digest := buildApp(t, a)
	if m, err := a.readSnapshot(digest); err != nil || m.Boot != "" {
		t.Fatalf("readSnapshot = %+v, %v; want a synced snapshot", m, err)
	}
	module := filepath.Join(a.snapshotDir(digest), "rootfs", "app.wasm")
	fi, _ := os.Stat(module)
	runApp(t, openBoot(t, root, "boot-b"))
	if fi2, err := os.Stat(module); err != nil || !os.SameFile(fi, fi2) {
		t.Errorf("a synced snapshot was unpacked again")
	}
}

// Runs that all find the snapshot stale at once (the first runs after a reboot) all
// succeed; one snapshot stays.
func TestStaleSnapshotConcurrentRuns(t *testing.T) {
	root := t.TempDir()
	a := openBoot(t, root, "boot-a")
	digest := buildApp(t, a)
	const n = 6
	var wg sync.WaitGroup
	for range n {
		b := openBoot(t, root, "boot-b")
		wg.Go(func() { runApp(t, b) })
	}
	wg.Wait()
	b := openBoot(t, root, "boot-b")
	if m, err := b.readSnapshot(digest); err != nil || m.Boot != "boot-b" {
		t.Fatalf("readSnapshot = %+v, %v; want the snapshot of boot-b", m, err)
	}
	if snaps, _ := os.ReadDir(filepath.Join(root, "snapshots")); len(snapDirs(snaps)) != 1 {
		t.Errorf("snapshots: %v, want one", snapDirs(snaps))
	}
	if left, _ := os.ReadDir(filepath.Join(root, "tmp")); len(left) != 0 {
		t.Errorf("left in tmp/: %v", left)
	}
}
