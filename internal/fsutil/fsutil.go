// Package fsutil holds the small file-system primitives the stores share.
//
// # Notes
//
// WriteFileAtomic is the only way berth replaces a record on disk: a reader (another
// berth process) sees either the old or the new file, never a half-written one, and a
// crash leaves the old one. The directory is fsynced after the rename so the rename
// itself survives a power loss.
package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// WriteFileAtomic writes data to path via a temporary file in the same directory,
// fsync, rename and a directory fsync. With durable false the fsyncs are skipped: for
// records that do not outlive the process (a `run --rm` container).
func WriteFileAtomic(path string, data []byte, perm os.FileMode, durable bool) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if durable {
		if err = f.Sync(); err != nil {
			return fmt.Errorf("writing %s: %w", path, err)
		}
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if durable {
		return SyncDir(dir)
	}
	return nil
}

// SyncDir fsyncs a directory so that entries created or renamed in it are durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", dir, err)
	}
	return nil
}

// ErrNotPrivate is returned (wrapped) by PrivateDir for a directory another user owns
// or may write to.
var ErrNotPrivate = errors.New("directory is not private")

// PrivateDir makes dir (with missing parents) with perm when it is missing, and
// otherwise checks that it is a directory of this process's effective user that no
// other user may write to. what names the directory in errors ("state directory").
//
// # Notes
//
//   - A directory in a shared place (/run, /tmp) could have been made by another user
//     before berth ran, who could then plant or read what berth keeps there: containerd
//     refuses such a state directory too. The check follows a symlink and judges its
//     target, the directory berth would use.
func PrivateDir(dir string, perm os.FileMode, what string) error {
	fi, err := os.Stat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, perm); err != nil {
			return fmt.Errorf("creating the %s: %w", what, err)
		}
		fi, err = os.Stat(dir) // made now, or by another process just before
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("the %s %s is not a directory: %w; remove it or choose another", what, dir, ErrNotPrivate)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil // no owner to check on this system
	}
	if uid := os.Geteuid(); int(st.Uid) != uid {
		return fmt.Errorf("the %s %s belongs to uid %d, not to you (uid %d): %w; remove it or choose another", what, dir, st.Uid, uid, ErrNotPrivate)
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("the %s %s may be written by other users (mode %v): %w; chmod go-w it or choose another", what, dir, fi.Mode().Perm(), ErrNotPrivate)
	}
	return nil
}
