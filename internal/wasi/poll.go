package wasi

import (
	"context"
	"encoding/binary"
	"slices"
	"time"

	"golang.org/x/sys/unix"
)

// pollFuncs is poll_oneoff.
func pollFuncs() []Func {
	return []Func{fn("poll_oneoff", i32s(4), pollOneoff)}
}

// Event types (witx $eventtype), the tag of a subscription and the type of an event.
const (
	EventtypeClock uint8 = iota
	EventtypeFdRead
	EventtypeFdWrite
)

// SubclockflagAbstime (witx $subclockflags): the clock subscription's timeout is an
// absolute time of its clock, not a duration from now.
const SubclockflagAbstime uint16 = 1

// EventrwflagHangup (witx $eventrwflags): the peer of a stream or pipe has closed.
const EventrwflagHangup uint16 = 1

// Sizes and offsets of witx's $subscription and $event in guest memory.
const (
	subscriptionSize = 48 // userdata u64 @0, tag u8 @8, union @16
	eventSize        = 32 // userdata u64 @0, error u16 @8, type u8 @10, fd_readwrite @16

	// maxPollSubs bounds the subscriptions of one call, as RLIMIT_NOFILE bounds poll(2)'s
	// nfds: more is ErrnoInval, not a host allocation the guest sizes. It is well above
	// what a guest can use: two per fd of a full table, plus clocks.
	maxPollSubs = 4 * maxFDs

	// maxWaitSlice is the longest single ppoll of poll_oneoff. A deadline further away is
	// waited for in slices of this length, so no time arithmetic overflows on a guest's
	// "forever" (a timeout of 2^64-1 ns).
	maxWaitSlice = time.Hour
)

// pollSub is one parsed subscription of a poll_oneoff call.
type pollSub struct {
	userdata uint64
	tag      uint8
	ready    bool
	errno    Errno
	nbytes   uint64
	flags    uint16   // eventrwflags
	deadline uint64   // clocks: CLOCK_MONOTONIC time at which it fires, in ns
	e        *fdEntry // fd subscriptions on a host fd that is polled
	pfd      int      // index in the pollfd array, -1 if none
}

// pollScratch is the working memory of poll_oneoff and of the socket calls, kept in
// the System: a Go guest's scheduler polls after every blocking operation, and
// allocating per call would put the host's garbage collector on its hot path.
type pollScratch struct {
	subs []pollSub
	fds  []unix.PollFd
	iov  []unix.Iovec
}

// pollOneoff is poll_oneoff(in, out, nsubscriptions, nevents): it waits until at least
// one subscription is ready, and writes one event per ready subscription, in the order
// of the subscriptions.
//
// # Notes
//
//   - Readiness is real: pipes, sockets, character devices and host stdio are polled
//     with ppoll(2), together with the System's interrupt pipe, so a waiting guest uses
//     no CPU and a stopped container's guest ends at once (see System.wait).
//   - Regular files are always ready, as in POSIX poll; a read event's nbytes is what is
//     left before the end of the file (wasmtime does the same). Stdio that is a Go reader
//     or writer rather than a host file cannot be polled and is always ready.
//   - An unknown fd, or one that cannot be polled (a directory), gives an event whose
//     error is ErrnoBadf rather than failing the call. The witx event has its error
//     field for this, wasi-libc's poll() turns that event into POLLNVAL as POSIX does,
//     and wazero does the same; current wasmtime fails the whole call with EBADF
//     instead. A write subscription on a pipe or socket whose peer is gone gives an
//     event with ErrnoPipe, which wasi-libc turns into POLLHUP.
//   - Clocks: realtime and monotonic, relative or absolute (SubclockflagAbstime). An
//     absolute monotonic timeout is compared with clock_time_get's monotonic clock,
//     the host's CLOCK_MONOTONIC. The CPU-time clocks cannot be waited on and are
//     ErrnoInval, as are an unknown clock id, unknown flags and an unknown tag; so is
//     nsubscriptions == 0 (wasmtime: preview1 has no way to sleep forever).
//     precision is accepted and ignored: ppoll's timeout is in nanoseconds.
//   - rights are not checked: wasmtime stopped enforcing them, and a guest that opened
//     a file with only RIGHT_FD_READ still expects to poll it.
func pollOneoff(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	in, out, n, neventsPtr := uint32(st[0]), uint32(st[1]), uint32(st[2]), uint32(st[3])
	if n == 0 || n > maxPollSubs {
		return ErrnoInval
	}
	inb, ok := slice(mem, in, n*subscriptionSize)
	if !ok {
		return ErrnoFault
	}
	outb, ok := slice(mem, out, n*eventSize)
	if !ok {
		return ErrnoFault
	}
	if _, ok := slice(mem, neventsPtr, 4); !ok {
		return ErrnoFault
	}

	subs := s.poll.subs[:0]
	fds := s.poll.fds[:0]
	defer func() {
		clear(subs) // drop the fd entries: a closed fd's entry must not stay reachable
		s.poll.subs, s.poll.fds = subs[:0], fds[:0]
	}()
	var now uint64 // CLOCK_MONOTONIC, read when a clock needs it
	earliest := ^uint64(0)
	clocks, ready := false, false
	for i := range n {
		b := inb[i*subscriptionSize : (i+1)*subscriptionSize]
		sub := pollSub{userdata: binary.LittleEndian.Uint64(b), tag: b[8], pfd: -1}
		switch sub.tag {
		case EventtypeClock:
			if !clocks {
				now, _ = s.now(ClockMonotonic)
				clocks = true
			}
			deadline, errno := clockDeadline(b, now)
			if errno != ErrnoSuccess {
				return errno
			}
			sub.deadline = deadline
			sub.ready = deadline <= now
			earliest = min(earliest, deadline)
		case EventtypeFdRead, EventtypeFdWrite:
			fds = s.pollFd(&sub, binary.LittleEndian.Uint32(b[16:]), fds)
		default:
			return ErrnoInval
		}
		ready = ready || sub.ready
		subs = append(subs, sub)
	}

	for {
		timeout := time.Duration(-1)
		switch {
		case ready:
			timeout = 0
		case clocks:
			timeout = time.Duration(min(earliest-now, uint64(maxWaitSlice)))
		}
		if timeout != 0 || len(fds) > 0 {
			if cap(fds) == len(fds) {
				// wait appends the interrupt pipe: room for it keeps the Revents it
				// reports in this array.
				fds = slices.Grow(fds, 1)
			}
			nready, errno := s.wait(fds, timeout)
			if errno != ErrnoSuccess {
				return errno
			}
			if nready > 0 {
				for i := range subs {
					if sub := &subs[i]; sub.pfd >= 0 && fds[sub.pfd].Revents != 0 {
						sub.setReady(fds[sub.pfd].Revents)
						ready = true
					}
				}
			}
		}
		if clocks {
			now, _ = s.now(ClockMonotonic)
			for i := range subs {
				if sub := &subs[i]; sub.tag == EventtypeClock && sub.deadline <= now {
					sub.ready = true
					ready = true
				}
			}
		}
		if ready {
			break
		}
		// A wait slice of a far deadline ended, or ppoll woke early: wait again.
	}

	var count uint32
	for i := range subs {
		sub := &subs[i]
		if !sub.ready {
			continue
		}
		ev := outb[count*eventSize : (count+1)*eventSize]
		clear(ev)
		binary.LittleEndian.PutUint64(ev, sub.userdata)
		binary.LittleEndian.PutUint16(ev[8:], uint16(sub.errno))
		ev[10] = sub.tag
		if sub.tag != EventtypeClock {
			binary.LittleEndian.PutUint64(ev[16:], sub.nbytes)
			binary.LittleEndian.PutUint16(ev[24:], sub.flags)
		}
		count++
	}
	writeU32(mem, neventsPtr, count)
	return ErrnoSuccess
}

// clockDeadline parses a clock subscription (b is the whole subscription) into the
// CLOCK_MONOTONIC time it fires at, now being that clock's current time. Deadlines
// saturate at 2^64-1 rather than wrap.
func clockDeadline(b []byte, now uint64) (uint64, Errno) {
	id := binary.LittleEndian.Uint32(b[16:])
	timeout := binary.LittleEndian.Uint64(b[24:])
	flags := binary.LittleEndian.Uint16(b[40:])
	if flags&^SubclockflagAbstime != 0 {
		return 0, ErrnoInval
	}
	abs := flags&SubclockflagAbstime != 0
	switch id {
	case ClockMonotonic:
		if abs {
			return timeout, ErrnoSuccess
		}
	case ClockRealtime:
		if abs {
			// The wall clock can jump; like wasmtime, the time left is measured once,
			// now, and waited for on the monotonic clock.
			wall := uint64(time.Now().UnixNano())
			if timeout <= wall {
				return now, ErrnoSuccess
			}
			timeout -= wall
		}
	default:
		// CPU-time clocks do not advance while the guest waits; wasmtime refuses them.
		return 0, ErrnoInval
	}
	if now+timeout < now {
		return ^uint64(0), ErrnoSuccess
	}
	return now + timeout, ErrnoSuccess
}

// pollFd resolves an fd subscription: it is either ready now (regular files, Go stdio,
// unknown fds) or gets a pollfd entry appended to fds.
func (s *System) pollFd(sub *pollSub, fd uint32, fds []unix.PollFd) []unix.PollFd {
	e, errno := s.fds.get(fd)
	switch {
	case errno != ErrnoSuccess:
		sub.ready, sub.errno = true, ErrnoBadf
	case e.hostfd < 0:
		// stdio that is a Go reader or writer: nothing to poll, a read or write
		// proceeds at once.
		sub.ready = e.rd != nil || e.wr != nil
		if !sub.ready {
			sub.ready, sub.errno = true, ErrnoBadf
		}
	case e.typ == FiletypeDirectory:
		sub.ready, sub.errno = true, ErrnoBadf
	case e.typ == FiletypeRegularFile:
		sub.ready = true
		if sub.tag == EventtypeFdRead {
			sub.nbytes = bytesLeft(e.hostfd)
		}
	default:
		// POLLRDHUP: a socket whose peer has shut down its side reports the hangup
		// while there are still bytes to read (pipes report POLLHUP).
		events := int16(unix.POLLIN | unix.POLLRDHUP)
		if sub.tag == EventtypeFdWrite {
			events = unix.POLLOUT
		}
		sub.e, sub.pfd = e, len(fds)
		fds = append(fds, unix.PollFd{Fd: int32(e.hostfd), Events: events})
	}
	return fds
}

// setReady turns the revents ppoll reported for sub into its event.
func (sub *pollSub) setReady(revents int16) {
	sub.ready = true
	if sub.tag == EventtypeFdWrite {
		if revents&(unix.POLLERR|unix.POLLHUP) != 0 {
			// The reader of the pipe or the peer of the socket is gone: a write
			// would fail with EPIPE.
			sub.errno = ErrnoPipe
		}
		return
	}
	if revents&(unix.POLLHUP|unix.POLLRDHUP) != 0 {
		sub.flags |= EventrwflagHangup
	}
	if revents&unix.POLLIN != 0 && (sub.e.sock == nil || !sub.e.sock.listener) {
		// Bytes that can be read without blocking (SIOCINQ is FIONREAD, for pipes
		// too); listeners have none to tell.
		if v, err := unix.IoctlGetInt(sub.e.hostfd, unix.SIOCINQ); err == nil && v > 0 {
			sub.nbytes = uint64(v)
		}
	}
}

// bytesLeft is the number of bytes from fd's offset to the end of its file, 0 if it
// cannot tell.
func bytesLeft(fd int) uint64 {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return 0
	}
	pos, err := unix.Seek(fd, 0, 1) // SEEK_CUR
	if err != nil || pos >= st.Size {
		return 0
	}
	return uint64(st.Size - pos)
}
