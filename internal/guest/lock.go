package guest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockFile is the file in a bundle that a berth-guest running the bundle's module holds
// an exclusive flock on for as long as it lives (Hold); Running tests it.
//
// # Notes
//
//   - Why a lock and not the pid: the kernel drops a flock when its process dies, by
//     any signal, so a held lock proves a live guest of this bundle, where a pid can
//     have been reused since it was recorded. Testing it costs an open and a flock, no
//     question to the shim: `berth ps` of 100 running containers asked 100 shims (a
//     connection and two round trips each, and a wake-up of every shim) for what the
//     lock answers.
//   - Only "running" is answered this way. A lock that is free (the guest exited, a
//     restart policy is in its back-off, the guest was never started, or a guest from
//     before this file existed) says nothing more: the caller asks the shim.
const LockFile = "berth-guest.lock"

// Hold takes the lock of the bundle at dir for the calling process and returns the open
// file that holds it: keep it open until the process ends (the kernel releases it then).
// It waits while a Running test holds the lock shared for an instant.
func Hold(dir string) (*os.File, error) {
	p := filepath.Join(dir, LockFile)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("creating the guest's lock: %w", err)
	}
	if err := flock(f, unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return f, nil
}

// Running reports whether a berth-guest holds the lock of the bundle at dir (see
// LockFile). False means only that none holds it now.
func Running(dir string) (bool, error) {
	f, err := os.Open(filepath.Join(dir, LockFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	switch err := flock(f, unix.LOCK_SH|unix.LOCK_NB); {
	case errors.Is(err, unix.EWOULDBLOCK):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("testing %s: %w", f.Name(), err)
	}
	return false, nil // closing the file drops the shared lock just taken
}

func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
