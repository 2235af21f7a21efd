package cgroup

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// ErrStuck is returned by Birth.End when the calling thread could not be moved back
// to its own cgroups: it must fork nothing more (see Birth).
var ErrStuck = errors.New("cgroup: the forking thread could not leave the container's cgroup")

// A Birth has a process forked into a cgroup, rather than moved there after it started.
//
// # Notes
//
//   - Moving a process (writing its pid to cgroup.procs) write-locks the kernel's
//     cgroup_threadgroup_rwsem, which waits for an RCU grace period unless another
//     migration ran just before: 4–20 ms on berth's machines after an idle moment,
//     measured on every pod start of the Kubernetes benchmark (the sandbox's and the
//     container's process, each). Moving only the calling thread (writing "0" to a v1
//     hierarchy's tasks file) takes no such lock, and a forked process starts in its
//     parent thread's cgroups; on v2, clone3's CLONE_INTO_CGROUP starts the child in
//     the cgroup named by a directory descriptor. Either way nothing is migrated.
//   - So Start moves the calling thread into c on every v1 hierarchy and opens c's v2
//     directory (the unified one, on a hybrid host) for CLONE_INTO_CGROUP; the caller
//     forks with SysProcAttr.UseCgroupFD/CgroupFD set from CgroupFD; End moves the
//     thread back. The thread must be locked (runtime.LockOSThread) from Start to End.
//   - A process born this way is charged to c from its first page, which Add, after
//     the fact, could not promise.
type Birth struct {
	moved []string // v1 directories the thread was moved out of, to go back to
	fd    int      // c's v2 directory, or -1
}

// Start prepares the calling thread to fork a process into c (see Birth). On error the
// thread is back where it was, unless the error wraps ErrStuck.
func (c *Cgroup) Start() (*Birth, error) {
	if c == nil {
		return nil, errors.New("cgroup: no cgroup to fork into")
	}
	b := &Birth{fd: -1}
	for i, p := range c.dirs {
		if p.v2 {
			fd, err := unix.Open(p.dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				return nil, b.undo(fmt.Errorf("cgroup: opening %s: %w", p.dir, err))
			}
			b.fd = fd
			continue
		}
		if i >= len(c.homes) || c.homes[i] == "" {
			return nil, b.undo(fmt.Errorf("cgroup: the calling process's own cgroup in %s is not known", p.mount))
		}
		if err := enterThread(p.dir); err != nil {
			return nil, b.undo(err)
		}
		b.moved = append(b.moved, c.homes[i])
	}
	return b, nil
}

// CgroupFD is the directory descriptor for SysProcAttr.CgroupFD, and whether there is
// one (a host with a v2 hierarchy).
func (b *Birth) CgroupFD() (int, bool) { return b.fd, b.fd >= 0 }

// End moves the calling thread back to its own cgroups and closes the v2 descriptor.
// An error wrapping ErrStuck means the thread is still in c on some hierarchy.
func (b *Birth) End() error {
	return b.undo(nil)
}

func (b *Birth) undo(err error) error {
	if b.fd >= 0 {
		unix.Close(b.fd)
		b.fd = -1
	}
	var stuck error
	for _, home := range b.moved {
		if e := enterThread(home); e != nil {
			stuck = errors.Join(stuck, e)
		}
	}
	b.moved = nil
	if stuck != nil {
		return errors.Join(err, fmt.Errorf("%w: %w", ErrStuck, stuck))
	}
	return err
}

// enterThread moves the calling thread into the v1 cgroup at dir.
func enterThread(dir string) error {
	return writeFile(dir, "tasks", "0")
}
