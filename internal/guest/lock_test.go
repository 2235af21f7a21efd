package guest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLock(t *testing.T) {
	dir := t.TempDir()
	running := func(want bool) {
		t.Helper()
		got, err := Running(dir)
		if err != nil || got != want {
			t.Fatalf("Running = %v, %v; want %v, nil", got, err, want)
		}
	}
	running(false) // no lock file: a bundle whose guest never started (or an older guest)
	f, err := Hold(dir)
	if err != nil {
		t.Fatal(err)
	}
	running(true)
	running(true) // testing does not take the lock away
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	running(false) // the file stays; the lock went with its holder
	if _, err := os.Stat(filepath.Join(dir, LockFile)); err != nil {
		t.Fatal(err)
	}
	f, err = Hold(dir) // a restarted guest takes it again
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	running(true)
}

func TestLockErrors(t *testing.T) {
	if _, err := Hold(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("Hold in a missing directory succeeded")
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, LockFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := Hold(dir); err == nil {
		t.Fatal("Hold over a directory succeeded")
	}
}
