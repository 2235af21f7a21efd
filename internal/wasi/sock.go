package wasi

import (
	"context"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sockFuncs are preview1's socket functions: sock_accept, sock_recv, sock_send,
// sock_shutdown.
//
// # Notes
//
//   - The WasmEdge socket extension (wasmedge.go) shares these four with preview1:
//     its sock_accept (second generation), sock_recv, sock_send and sock_shutdown have
//     the same signatures and meaning, so these serve its sockets too (TCP and UDP).
//   - wasmtime implements none of them (it answers ENOTSOCK); its older wasi-common
//     did, and where the witx is silent we follow that implementation.
func sockFuncs() []Func {
	return []Func{
		fn("sock_accept", i32s(3), sockAccept),
		fn("sock_recv", i32s(6), sockRecv),
		fn("sock_send", i32s(5), sockSend),
		fn("sock_shutdown", i32s(2), sockShutdown),
	}
}

// sockState is what the System knows of a socket fd.
type sockState struct {
	listener bool
	edge     *edgeSock // WasmEdge extension state, nil when unused (wasmedge.go)
}

// Flags of sock_recv and sock_shutdown (witx $riflags, $roflags, $sdflags).
const (
	RiflagRecvPeek    uint16 = 1 << 0
	RiflagRecvWaitall uint16 = 1 << 1

	RoflagRecvDataTruncated uint16 = 1 << 0

	SdflagRd uint8 = 1 << 0
	SdflagWr uint8 = 1 << 1
)

// connRights are the rights of an accepted connection: a socket's, less accepting.
const connRights = sockRights &^ RightSockAccept

// sockEntry returns the entry of fd if it is a socket on a host descriptor: ErrnoBadf
// for an unknown fd, ErrnoNotsock for any other (the errno wasi-testsuite expects of
// sock_shutdown on stdout).
func (s *System) sockEntry(fd uint32) (*fdEntry, Errno) {
	e, errno := s.fds.get(fd)
	if errno != ErrnoSuccess {
		return nil, errno
	}
	if e.hostfd < 0 || (e.typ != FiletypeSocketStream && e.typ != FiletypeSocketDgram) {
		return nil, ErrnoNotsock
	}
	return e, ErrnoSuccess
}

// sockAccept is sock_accept(fd, flags, result_fd): it takes a connection from the
// listening socket fd and gives it the lowest free fd, with fdflags flags.
//
// # Notes
//
//   - Whether it waits is the listener's business, as accept(2)'s is: on an empty
//     queue it returns ErrnoAgain when the listener's fd has FdflagNonblock, and
//     otherwise waits, interruptibly. Preopened listeners start non-blocking, as
//     wasmtime's --tcplisten ones do (Go's net.FileListener needs it); a guest that
//     wants a blocking accept clears the flag with fd_fdstat_set_flags. flags only sets
//     the new fd's flags; FdflagNonblock is the only one accepted (wasi-common), others
//     are ErrnoInval.
//   - The host descriptor of the connection is always non-blocking (fd_read and
//     fd_write wait in ppoll when the guest wants blocking), close-on-exec, and has
//     TCP_NODELAY set, which a native Go server gets by default and which a preview1
//     guest cannot set itself.
//   - Each connection passes through the System's SocketPolicy (SockAccept, with the
//     peer's address), as the WasmEdge extension's do (acceptConn, wasmedge.go): one
//     the policy refuses is closed before the guest sees it.
//   - An fd without RightSockAccept (an accepted connection, stdio that is a socket)
//     is ErrnoNotcapable, as the WasmEdge v1 sock_accept answers.
//   - result_fd is checked before accepting, so a bad pointer does not lose a
//     connection.
func sockAccept(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	fd, flags, resPtr := uint32(st[0]), uint32(st[1]), uint32(st[2])
	if flags&^uint32(FdflagNonblock) != 0 {
		return ErrnoInval
	}
	e, errno := s.sockEntry(fd)
	if errno != ErrnoSuccess {
		return errno
	}
	if !e.has(RightSockAccept) {
		return ErrnoNotcapable // a connection, or stdio that is a socket
	}
	if _, ok := slice(mem, resPtr, 4); !ok {
		return ErrnoFault
	}
	nfd, errno := s.acceptConn(ctx, e) // the policy admits or drops each peer
	if errno != ErrnoSuccess {
		return errno
	}
	_ = unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1) // fails on Unix sockets: no matter
	newfd, errno := s.fds.insert(&fdEntry{
		typ:    FiletypeSocketStream,
		base:   connRights,
		flags:  uint16(flags),
		hostfd: nfd,
		owned:  true,
		sock:   &sockState{},
	})
	if errno != ErrnoSuccess {
		unix.Close(nfd)
		return errno
	}
	writeU32(mem, resPtr, newfd)
	return ErrnoSuccess
}

// sockRecv is sock_recv(fd, ri_data, ri_data_len, ri_flags, ro_datalen, ro_flags):
// recvmsg(2) into the guest's iovecs.
//
// # Notes
//
//   - It waits (interruptibly) for data unless the guest made fd non-blocking, as
//     fd_read does. End of stream is a count of 0.
//   - RiflagRecvWaitall on a stream socket waits until every iovec is full, the stream
//     ends or an error comes after some data (which is then returned): the host
//     descriptor is non-blocking, so the loop is ours rather than the kernel's. On a
//     non-blocking fd it returns what has arrived. With RiflagRecvPeek it only waits
//     for some data: peeking does not consume, so waiting for more would spin.
//   - RoflagRecvDataTruncated reports a datagram longer than the iovecs (MSG_TRUNC).
//   - The output pointers are checked before receiving, so a bad pointer loses no data.
func sockRecv(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	fd, iovsPtr, iovsLen := uint32(st[0]), uint32(st[1]), uint32(st[2])
	riflags, lenPtr, flagsPtr := uint32(st[3]), uint32(st[4]), uint32(st[5])
	if riflags&^uint32(RiflagRecvPeek|RiflagRecvWaitall) != 0 {
		return ErrnoInval
	}
	e, errno := s.sockEntry(fd)
	if errno != ErrnoSuccess {
		return errno
	}
	if _, ok := slice(mem, lenPtr, 4); !ok {
		return ErrnoFault
	}
	if _, ok := slice(mem, flagsPtr, 2); !ok {
		return ErrnoFault
	}
	iovs, errno := iovecs(s.iovs[:0], mem, iovsPtr, iovsLen)
	s.iovs = iovs[:0]
	if errno != ErrnoSuccess {
		return errno
	}
	v := s.hostIovecs(iovs)
	defer s.dropIovecs(v)

	flags := unix.MSG_DONTWAIT
	if uint16(riflags)&RiflagRecvPeek != 0 {
		flags |= unix.MSG_PEEK
	}
	waitall := uint16(riflags)&RiflagRecvWaitall != 0 && flags&unix.MSG_PEEK == 0 &&
		e.typ == FiletypeSocketStream
	total, rest := 0, v
	var roflags uint16
	for {
		n, msgFlags, err := recvmsg(e.hostfd, rest, flags)
		if err == nil {
			total += n
			if msgFlags&unix.MSG_TRUNC != 0 {
				roflags |= RoflagRecvDataTruncated
			}
			rest = advance(rest, n)
			if n == 0 || !waitall || len(rest) == 0 {
				break
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if total > 0 {
			// Some data, then a pause or an error: return the data; an error comes
			// back on the next call.
			if err != unix.EAGAIN || e.flags&FdflagNonblock != 0 {
				break
			}
		} else if err != unix.EAGAIN || e.flags&FdflagNonblock != 0 {
			return ErrnoOf(err)
		}
		if errno := s.waitFd(e.hostfd, unix.POLLIN); errno != ErrnoSuccess {
			return errno
		}
	}
	writeU32(mem, lenPtr, uint32(total))
	writeU16(mem, flagsPtr, roflags)
	return ErrnoSuccess
}

// sockSend is sock_send(fd, si_data, si_data_len, si_flags, so_datalen): sendmsg(2)
// of the guest's iovecs.
//
// # Notes
//
//   - MSG_NOSIGNAL: a peer that has gone is ErrnoPipe, never a SIGPIPE to the host.
//   - Unless the guest made fd non-blocking, a stream socket gets all of the data, as a
//     blocking send(2) does, waiting (interruptibly) while the socket buffer is full; an
//     error after part of it was sent returns that part. A non-blocking fd returns what
//     fit, or ErrnoAgain.
//   - si_flags has no flags defined in witx: anything but 0 is ErrnoInval.
func sockSend(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	fd, iovsPtr, iovsLen := uint32(st[0]), uint32(st[1]), uint32(st[2])
	siflags, lenPtr := uint32(st[3]), uint32(st[4])
	if siflags != 0 {
		return ErrnoInval
	}
	e, errno := s.sockEntry(fd)
	if errno != ErrnoSuccess {
		return errno
	}
	if _, ok := slice(mem, lenPtr, 4); !ok {
		return ErrnoFault
	}
	iovs, errno := iovecs(s.iovs[:0], mem, iovsPtr, iovsLen)
	s.iovs = iovs[:0]
	if errno != ErrnoSuccess {
		return errno
	}
	v := s.hostIovecs(iovs)
	defer s.dropIovecs(v)

	blocking := e.flags&FdflagNonblock == 0
	total, rest := 0, v
	for {
		n, err := sendmsg(e.hostfd, rest, unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL)
		if err == nil {
			total += n
			rest = advance(rest, n)
			if len(rest) == 0 || !blocking || e.typ != FiletypeSocketStream {
				break
			}
			continue
		}
		if err == unix.EINTR {
			continue
		}
		if err != unix.EAGAIN || !blocking {
			if total > 0 {
				break
			}
			return ErrnoOf(err)
		}
		if errno := s.waitFd(e.hostfd, unix.POLLOUT); errno != ErrnoSuccess {
			return errno
		}
	}
	writeU32(mem, lenPtr, uint32(total))
	return ErrnoSuccess
}

// sockShutdown is sock_shutdown(fd, how): shutdown(2) with SdflagRd, SdflagWr or both.
//
// # Notes
//
//   - how must be a non-empty set of SdflagRd and SdflagWr, else ErrnoInval
//     (wasi-common).
//   - A listener the host preopened answers ErrnoNotconn, as shutdown(2) does on a
//     socket that is not connected: on Linux, shutting down a listening socket stops it
//     listening, and the socket is the host's (its port belongs to the container's
//     configuration, not to the guest).
func sockShutdown(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	fd, how := uint32(st[0]), uint32(st[1])
	if how&^uint32(SdflagRd|SdflagWr) != 0 {
		return ErrnoInval
	}
	e, errno := s.sockEntry(fd)
	if errno != ErrnoSuccess {
		return errno
	}
	var mode int
	switch uint8(how) {
	case SdflagRd:
		mode = unix.SHUT_RD
	case SdflagWr:
		mode = unix.SHUT_WR
	case SdflagRd | SdflagWr:
		mode = unix.SHUT_RDWR
	default:
		return ErrnoInval
	}
	if e.sock != nil && e.sock.listener {
		return ErrnoNotconn
	}
	if err := unix.Shutdown(e.hostfd, mode); err != nil {
		return ErrnoOf(err)
	}
	return ErrnoSuccess
}

// hostIovecs turns guest iovecs into the host's struct iovec array, in scratch memory.
// Empty iovecs are left out.
func (s *System) hostIovecs(iovs [][]byte) []unix.Iovec {
	v := s.poll.iov[:0]
	for _, b := range iovs {
		if len(b) > 0 {
			v = append(v, unix.Iovec{Base: &b[0], Len: uint64(len(b))})
		}
	}
	s.poll.iov = v[:0]
	return v
}

// dropIovecs forgets the guest memory the scratch iovecs point into.
func (s *System) dropIovecs(v []unix.Iovec) { clear(v) }

// advance drops the first n bytes of v, in place.
func advance(v []unix.Iovec, n int) []unix.Iovec {
	for len(v) > 0 && n > 0 {
		if uint64(n) < v[0].Len {
			v[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(v[0].Base), n))
			v[0].Len -= uint64(n)
			return v
		}
		n -= int(v[0].Len)
		v = v[1:]
	}
	return v
}

// recvmsg is recvmsg(2) into v with no address or control data. x/sys/unix's
// RecvmsgBuffers would allocate an iovec array per call.
func recvmsg(fd int, v []unix.Iovec, flags int) (n, msgFlags int, err error) {
	var msg unix.Msghdr
	if len(v) > 0 {
		msg.Iov = &v[0]
		msg.SetIovlen(len(v))
	}
	r, _, e := unix.Syscall(unix.SYS_RECVMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, 0, e
	}
	return int(r), int(msg.Flags), nil
}

// sendmsg is sendmsg(2) of v with no address or control data.
func sendmsg(fd int, v []unix.Iovec, flags int) (int, error) {
	var msg unix.Msghdr
	if len(v) > 0 {
		msg.Iov = &v[0]
		msg.SetIovlen(len(v))
	}
	r, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(fd), uintptr(unsafe.Pointer(&msg)), uintptr(flags))
	if e != 0 {
		return 0, e
	}
	return int(r), nil
}
