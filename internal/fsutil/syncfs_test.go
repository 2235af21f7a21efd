package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSyncFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a", "b", "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := SyncFS(dir); err != nil {
		t.Fatalf("SyncFS(%s) = %v", dir, err)
	}
	for i := 0; i <= fsyncLimit; i++ { // past the limit: the whole file system's sync
		if err := os.WriteFile(filepath.Join(dir, "a", fmt.Sprint(i)), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := SyncFS(dir); err != nil {
		t.Fatalf("SyncFS(%s) of %d files = %v", dir, fsyncLimit+1, err)
	}
	missing := filepath.Join(dir, "missing")
	err := SyncFS(missing)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Fatalf("SyncFS of a missing directory = %v; want ErrNotExist naming %s", err, missing)
	}
}

// A file the user may not open (mode 0 in an image layer, unpacked without root) does not
// fail the sync: the whole file system is synced instead.
func TestSyncFSUnreadable(t *testing.T) {
	dir := t.TempDir()
	locked := filepath.Join(dir, "locked")
	if err := os.WriteFile(locked, []byte("data"), 0); err != nil {
		t.Fatal(err)
	}
	open := openForSync
	t.Cleanup(func() { openForSync = open })
	var refused bool
	openForSync = func(p string) (*os.File, error) {
		if p == locked { // as open(2) answers a user other than root
			refused = true
			return nil, &fs.PathError{Op: "open", Path: p, Err: fs.ErrPermission}
		}
		return open(p)
	}
	if err := SyncFS(dir); err != nil {
		t.Fatalf("SyncFS with an unreadable file = %v", err)
	}
	if !refused {
		t.Fatal("the unreadable file was never opened: the test does not test the fallback")
	}
}
