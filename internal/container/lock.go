package container

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrBusy is returned (wrapped) by Lock, when told not to wait, while another process
// holds the container's lock.
var ErrBusy = errors.New("container is busy")

// Lock takes container c's own lock, an exclusive flock on its directory, and reads its
// record again under it. Commands that change what runs (start, stop, kill, rm, rename,
// recording an exit) hold it, so that two berth processes never act on one container at
// once: two starts would each start a shim for it, a start racing an rm would start a
// shim in a directory being removed, two rm would both succeed. It returns the record
// as it is now and the function that releases the lock; ErrNotFound when the container
// was removed meanwhile. With wait false it returns ErrBusy at once when another holds
// the lock; otherwise it waits until ctx is done.
//
// The lock is the directory's, not a file's in it: removing the container (under its
// lock) then leaves nothing behind, and a process waiting for it finds the record gone.
func (s *Store) Lock(ctx context.Context, c *Container, wait bool) (*Container, func(), error) {
	dir := s.Dir(c)
	unlock, err := lockDir(ctx, dir, c.Name, wait)
	if err != nil {
		return nil, nil, err
	}
	r, err := readIn(filepath.Dir(dir), c.ID)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return r, unlock, nil
}

// CreateLocked is Create that also takes the new container's lock (see Lock) before its
// record is written, so that no other process can act on the container (start it,
// remove it, prune it) until the caller, which has more to do before it is ready (write
// its bundle, start its shim), releases it.
func (s *Store) CreateLocked(ctx context.Context, c *Container, durable bool) (func(), error) {
	return s.create(ctx, c, durable, true)
}

// lockDir takes the flock of directory dir, the container named name's.
func lockDir(ctx context.Context, dir, name string, wait bool) (func(), error) {
	f, err := os.Open(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, filepath.Base(dir))
	}
	if err != nil {
		return nil, fmt.Errorf("locking container %s: %w", name, err)
	}
	unlock := func() { _ = f.Close() } // closing the only descriptor releases the flock
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return unlock, nil
		}
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			unlock()
			return nil, fmt.Errorf("locking container %s: %w", name, err)
		}
		if !wait {
			unlock()
			return nil, fmt.Errorf("%w: %s", ErrBusy, name)
		}
		select {
		case <-ctx.Done():
			unlock()
			return nil, fmt.Errorf("locking container %s: %w", name, ctx.Err())
		case <-time.After(5 * time.Millisecond):
		}
	}
}
