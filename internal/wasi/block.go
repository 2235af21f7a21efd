package wasi

import (
	"time"

	"golang.org/x/sys/unix"
)

// wait blocks until one of fds is ready, timeout passes (negative: no timeout) or the
// System is interrupted. It returns the number of ready fds (their Revents set); 0 on
// timeout. On interruption it does not return: the guest exits with the interrupted
// exit code (see System).
//
// # Notes
//
//   - The interrupt pipe is the last poll entry, appended to fds' backing array when it
//     has room, so a caller that keeps a scratch slice with spare capacity polls
//     without allocating.
//   - ppoll(2), not poll(2): its timeout is in nanoseconds, so a guest's 50 µs sleep is
//     not rounded up to a millisecond.
//   - EINTR (a signal for the Go runtime's preemption, SIGURG) restarts the wait with
//     the time that is left.
func (s *System) wait(fds []unix.PollFd, timeout time.Duration) (int, Errno) {
	all := append(fds, unix.PollFd{Fd: int32(s.intrR), Events: unix.POLLIN})
	var deadline time.Time
	if timeout >= 0 {
		deadline = time.Now().Add(timeout)
	}
	for {
		var ts *unix.Timespec
		if timeout >= 0 {
			t := unix.NsecToTimespec(max(time.Until(deadline), 0).Nanoseconds())
			ts = &t
		}
		n, err := unix.Ppoll(all, ts, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, ErrnoOf(err)
		}
		if all[len(all)-1].Revents != 0 {
			s.exit(s.interrupted)
			return 0, ErrnoIntr // not reached: exit unwinds the guest
		}
		return n, ErrnoSuccess
	}
}

// waitFd blocks until fd is ready for events (unix.POLLIN or POLLOUT), or the System is
// interrupted.
func (s *System) waitFd(fd int, events int16) Errno {
	var buf [2]unix.PollFd
	fds := append(buf[:0], unix.PollFd{Fd: int32(fd), Events: events})
	_, errno := s.wait(fds, -1)
	return errno
}

// interruptedNow reports whether the System's context is done, without blocking.
func (s *System) interruptedNow() bool {
	fds := []unix.PollFd{{Fd: int32(s.intrR), Events: unix.POLLIN}}
	n, _ := unix.Poll(fds, 0)
	return n > 0
}

// retryIO runs io, one read or write on e's host fd, until it transfers something or
// fails for good: EINTR retries, and EAGAIN waits (interruptibly) for events on the fd
// unless the guest made the fd non-blocking, in which case the guest gets ErrnoAgain.
func (s *System) retryIO(e *fdEntry, events int16, io func() (int, error)) (int, Errno) {
	for {
		n, err := io()
		switch {
		case err == nil:
			return n, ErrnoSuccess
		case err == unix.EINTR:
		case err == unix.EAGAIN && e.blocking():
			if errno := s.waitFd(e.hostfd, events); errno != ErrnoSuccess {
				return 0, errno
			}
		default:
			return 0, ErrnoOf(err)
		}
	}
}
