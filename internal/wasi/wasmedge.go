package wasi

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// The WasmEdge socket extension lets a guest open, bind, connect and resolve sockets
// itself, which preview1 cannot. Guests built with github.com/stealthrocket/net
// (Go) and wasmedge_wasi_socket (Rust) use it. It lives in wasi_snapshot_preview1
// and exists in two generations that share function names:
//
//	function            v1 (WasmEdge < 0.12)            v2 (WasmEdge ≥ 0.12)
//	sock_accept         (fd, ro_fd)                     preview1's (fd, fdflags, ro_fd): sock.go
//	sock_recv_from      7 params, no port out           8 params, port out
//	sock_getlocaladdr   (fd, addr, addr_type, port)     (fd, addr, port)
//	sock_getpeeraddr    (fd, addr, addr_type, port)     (fd, addr, port)
//
// All the others (sock_open, sock_bind, sock_listen, sock_connect, sock_send_to,
// sock_getsockopt, sock_setsockopt, sock_getaddrinfo) have one signature, and
// sock_recv, sock_send and sock_shutdown are preview1's (sock.go). The engine picks
// the generation from the signature the module imports (Lookup).
//
// # Notes
//
//   - Addresses: a guest passes a pointer to a WasiAddress {buf u32, buf_len u32}.
//     buf_len 4 or 16 is a raw IPv4 or IPv6 address (v1, and what
//     stealthrocket/net sends); 128 is v2's storage: u16 address family (1 IPv4,
//     2 IPv6, 3 Unix) then the address bytes. The port travels separately, in host
//     byte order. This is WasmEdge's reading (lib/host/wasi/wasifunc.cpp).
//   - Host sockets are opened SOCK_NONBLOCK|SOCK_CLOEXEC. A guest that did not ask for
//     nonblocking mode (fdflags) gets blocking behaviour emulated with the System's
//     interruptible wait, so a blocked accept, connect or recv ends when the container
//     is stopped. Sends use MSG_NOSIGNAL: a write to a closed connection is EPIPE,
//     never SIGPIPE.
//   - AF_UNIX is refused with ENOSYS, as WasmEdge does unless --allow-af-unix: a Unix
//     socket names host paths, outside the guest's mounts.
//   - Every operation passes through the System's SocketPolicy (policy.go).

// WasmEdge's address families and socket types.
const (
	edgeAFUnspec = 0
	edgeAFInet4  = 1
	edgeAFInet6  = 2
	edgeAFUnix   = 3

	edgeSockAny    = 0
	edgeSockDgram  = 1
	edgeSockStream = 2

	edgeProtoIP  = 0
	edgeProtoTCP = 1
	edgeProtoUDP = 2
)

// The errno values WasmEdge adds after witx's for sock_getaddrinfo, which report a
// resolver failure as getaddrinfo(3)'s EAI_* codes do.
const (
	ErrnoAiAddrfamily Errno = 77 + iota
	ErrnoAiAgain
	ErrnoAiBadflag
	ErrnoAiFail
	ErrnoAiFamily
	ErrnoAiMemory
	ErrnoAiNodata
	ErrnoAiNoname
	ErrnoAiService
	ErrnoAiSocktype
	ErrnoAiSystem
)

// edgeSock is the WasmEdge extension's state of one socket, kept only when there is
// something to remember.
type edgeSock struct {
	// guest and host are the local address of a bind the policy mapped: the one the
	// guest asked for, and the one the host bound (as getsockname reports it), so
	// sock_getlocaladdr can answer with the guest's.
	guest, host netip.AddrPort
}

func wasmedgeFuncs() []Func {
	return []Func{
		fn("sock_open", i32s(3), edgeSockOpen),
		fn("sock_bind", i32s(3), edgeSockBind),
		fn("sock_listen", i32s(2), edgeSockListen),
		fn("sock_accept", i32s(2), edgeSockAcceptV1),
		fn("sock_connect", i32s(3), edgeSockConnect),
		fn("sock_recv_from", i32s(7), edgeSockRecvFromV1),
		fn("sock_recv_from", i32s(8), edgeSockRecvFromV2),
		fn("sock_send_to", i32s(7), edgeSockSendTo),
		fn("sock_getsockopt", i32s(5), edgeSockGetsockopt),
		fn("sock_setsockopt", i32s(5), edgeSockSetsockopt),
		fn("sock_getlocaladdr", i32s(4), edgeSockGetlocaladdrV1),
		fn("sock_getlocaladdr", i32s(3), edgeSockGetlocaladdrV2),
		fn("sock_getpeeraddr", i32s(4), edgeSockGetpeeraddrV1),
		fn("sock_getpeeraddr", i32s(3), edgeSockGetpeeraddrV2),
		fn("sock_getaddrinfo", i32s(8), edgeSockGetaddrinfo),
	}
}

// --- helpers ---

// edgeSocket returns the entry of a socket fd: EBADF when fd is not open, ENOTSOCK
// when it is not a socket.
func (s *System) edgeSocket(fd uint32) (*fdEntry, Errno) {
	e, errno := s.fds.get(fd)
	if errno != ErrnoSuccess {
		return nil, errno
	}
	if (e.typ != FiletypeSocketStream && e.typ != FiletypeSocketDgram) || e.hostfd < 0 {
		return nil, ErrnoNotsock
	}
	if e.sock == nil {
		e.sock = &sockState{}
	}
	return e, ErrnoSuccess
}

func (e *fdEntry) network() string {
	if e.typ == FiletypeSocketDgram {
		return "udp"
	}
	return "tcp"
}

// readEdgeAddr reads the WasiAddress at p (see the notes above) with port.
func readEdgeAddr(mem []byte, p, port uint32) (netip.AddrPort, Errno) {
	b, errno := edgeAddrBuf(mem, p)
	if errno != ErrnoSuccess {
		return netip.AddrPort{}, errno
	}
	var a netip.Addr
	switch len(b) {
	case 4:
		a = netip.AddrFrom4([4]byte(b))
	case 16:
		a = netip.AddrFrom16([16]byte(b))
	case 128:
		switch binary.LittleEndian.Uint16(b) {
		case edgeAFInet4:
			a = netip.AddrFrom4([4]byte(b[2:6]))
		case edgeAFInet6:
			a = netip.AddrFrom16([16]byte(b[2:18]))
		case edgeAFUnix:
			return netip.AddrPort{}, ErrnoNosys
		default:
			return netip.AddrPort{}, ErrnoInval
		}
	default:
		return netip.AddrPort{}, ErrnoInval
	}
	return netip.AddrPortFrom(a, uint16(port)), ErrnoSuccess
}

// edgeAddrBuf resolves the WasiAddress at p into the guest buffer it describes.
func edgeAddrBuf(mem []byte, p uint32) ([]byte, Errno) {
	buf, ok := readU32(mem, p)
	if !ok {
		return nil, ErrnoFault
	}
	n, ok := readU32(mem, p+4)
	if !ok {
		return nil, ErrnoFault
	}
	b, ok := slice(mem, buf, n)
	if !ok {
		return nil, ErrnoFault
	}
	return b, ErrnoSuccess
}

// putEdgeAddr writes a into b, a guest address buffer: v2's family-tagged storage
// when v2 is set and b has 128 bytes, the raw address otherwise (v1, and v2's 4- or
// 16-byte buffers). It returns the WasmEdge address family.
func putEdgeAddr(b []byte, a netip.Addr, v2 bool) (uint32, Errno) {
	fam := uint32(edgeAFInet4)
	raw := a.AsSlice()
	if a.Is6() {
		fam = edgeAFInet6
	}
	if v2 && len(b) == 128 {
		clear(b)
		binary.LittleEndian.PutUint16(b, uint16(fam))
		copy(b[2:], raw)
		return fam, ErrnoSuccess
	}
	if len(b) < len(raw) {
		return 0, ErrnoNomem // WasmEdge: an IPv6 address does not fit a 4-byte buffer
	}
	copy(b, raw)
	return fam, ErrnoSuccess
}

// addrPortOf converts a host socket address.
func addrPortOf(sa unix.Sockaddr) netip.AddrPort {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(a.Addr), uint16(a.Port))
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(a.Addr), uint16(a.Port))
	}
	return netip.AddrPort{}
}

// sockaddrFor converts ap for the host socket fd: an IPv4 address given to an IPv6
// socket becomes IPv4-mapped (so a policy may map a guest's [::]:80 to 127.0.0.1),
// and an IPv4-mapped address given to an IPv4 socket is unmapped.
func sockaddrFor(fd int, ap netip.AddrPort) unix.Sockaddr {
	domain, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_DOMAIN)
	a := ap.Addr()
	if domain == unix.AF_INET6 || (domain != unix.AF_INET && a.Is6() && !a.Is4In6()) {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()}
	}
	if a.Is4In6() {
		a = a.Unmap()
	}
	if !a.Is4() {
		return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: a.As16()} // the kernel says EAFNOSUPPORT
	}
	return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: a.As4()}
}

// localAddr is the local address of a socket as its guest sees it (see edgeSock).
func (s *System) localAddr(e *fdEntry) (netip.AddrPort, Errno) {
	sa, err := unix.Getsockname(e.hostfd)
	if err != nil {
		return netip.AddrPort{}, ErrnoOf(err)
	}
	ap := addrPortOf(sa)
	if m := e.sock.edge; m != nil && ap == m.host {
		port := m.guest.Port()
		if port == 0 {
			port = ap.Port()
		}
		return netip.AddrPortFrom(m.guest.Addr(), port), ErrnoSuccess
	}
	return ap, ErrnoSuccess
}

func (s *System) peerAddr(e *fdEntry) (netip.AddrPort, Errno) {
	sa, err := unix.Getpeername(e.hostfd)
	if err != nil {
		return netip.AddrPort{}, ErrnoOf(err)
	}
	return addrPortOf(sa), ErrnoSuccess
}

// --- sock_open, sock_bind, sock_listen, sock_accept (v1), sock_connect ---

// edgeSockOpen is sock_open(af, socktype, ro_fd): af 1 IPv4, 2 IPv6 (3, Unix:
// ENOSYS; others EINVAL), socktype 1 datagram, 2 stream (others EINVAL), as WasmEdge
// validates them.
func edgeSockOpen(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	af, typ, fdp := uint32(st[0]), uint32(st[1]), uint32(st[2])
	if _, ok := slice(mem, fdp, 4); !ok {
		return ErrnoFault
	}
	var domain int
	switch af {
	case edgeAFInet4:
		domain = unix.AF_INET
	case edgeAFInet6:
		domain = unix.AF_INET6
	case edgeAFUnix:
		return ErrnoNosys
	default:
		return ErrnoInval
	}
	var stype int
	var ft Filetype
	switch typ {
	case edgeSockDgram:
		stype, ft = unix.SOCK_DGRAM, FiletypeSocketDgram
	case edgeSockStream:
		stype, ft = unix.SOCK_STREAM, FiletypeSocketStream
	default:
		return ErrnoInval
	}
	e := &fdEntry{typ: ft, base: sockRights, hostfd: -1, owned: true, sock: &sockState{}}
	if _, errno := s.checkSocket(ctx, SocketRequest{Op: SockOpen, Network: e.network()}); errno != ErrnoSuccess {
		return errno
	}
	hfd, err := unix.Socket(domain, stype|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return ErrnoOf(err)
	}
	e.hostfd = hfd
	fd, errno := s.fds.insert(e)
	if errno != ErrnoSuccess {
		unix.Close(hfd)
		return errno
	}
	writeU32(mem, fdp, fd)
	return ErrnoSuccess
}

// edgeSockBind is sock_bind(fd, addr, port). The policy may map the address; the
// guest keeps seeing the one it asked for (edgeSock).
func edgeSockBind(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	ap, errno := readEdgeAddr(mem, uint32(st[1]), uint32(st[2]))
	if errno != ErrnoSuccess {
		return errno
	}
	host, errno := s.checkSocket(ctx, SocketRequest{Op: SockBind, Network: e.network(), Addr: ap})
	if errno != ErrnoSuccess {
		return errno
	}
	if err := unix.Bind(e.hostfd, sockaddrFor(e.hostfd, host)); err != nil {
		return ErrnoOf(err)
	}
	e.sock.edge = nil
	if host != ap {
		if sa, err := unix.Getsockname(e.hostfd); err == nil {
			e.sock.edge = &edgeSock{guest: ap, host: addrPortOf(sa)}
		}
	}
	return ErrnoSuccess
}

func edgeSockListen(ctx context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	local, _ := s.localAddr(e)
	if _, errno := s.checkSocket(ctx, SocketRequest{Op: SockListen, Network: e.network(), Addr: local}); errno != ErrnoSuccess {
		return errno
	}
	if err := unix.Listen(e.hostfd, int(int32(st[1]))); err != nil {
		return ErrnoOf(err)
	}
	// sockState.listener stays false: it marks the listeners the host preopened,
	// whose shutdown sock.go refuses; a guest's own listener is the guest's to shut.
	return ErrnoSuccess
}

// edgeSockAcceptV1 is v1's sock_accept(fd, ro_fd): preview1's without fdflags, so the
// new fd is in blocking mode.
func edgeSockAcceptV1(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if !e.has(RightSockAccept) {
		return ErrnoNotcapable
	}
	fdp := uint32(st[1])
	if _, ok := slice(mem, fdp, 4); !ok {
		return ErrnoFault
	}
	nfd, errno := s.acceptConn(ctx, e)
	if errno != ErrnoSuccess {
		return errno
	}
	// As preview1's sock_accept (sock.go): a native Go server's connections have
	// TCP_NODELAY, and a guest's cannot set it through preview1.
	_ = unix.SetsockoptInt(nfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	// A connection cannot accept: a socket's rights less RightSockAccept, as sock.go's.
	fd, errno := s.fds.insert(&fdEntry{typ: FiletypeSocketStream, base: sockRights &^ RightSockAccept, hostfd: nfd, owned: true, sock: &sockState{}})
	if errno != ErrnoSuccess {
		unix.Close(nfd)
		return errno
	}
	writeU32(mem, fdp, fd)
	return ErrnoSuccess
}

// acceptConn accepts a connection on the listening socket e and returns its host
// descriptor (nonblocking, close-on-exec). It blocks, interruptibly, unless the guest
// made e nonblocking. Connections the policy refuses are closed and skipped.
// ECONNABORTED (a connection reset before it was accepted) is skipped too, as Go's
// net package does.
func (s *System) acceptConn(ctx context.Context, e *fdEntry) (int, Errno) {
	for {
		nfd, _, err := unix.Accept4(e.hostfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err == nil {
			if !s.admit(ctx, nfd) {
				unix.Close(nfd)
				continue
			}
			return nfd, ErrnoSuccess
		}
		switch {
		case err == unix.EINTR || err == unix.ECONNABORTED:
			continue
		case err == unix.EAGAIN && e.blocking():
			if errno := s.waitFd(e.hostfd, unix.POLLIN); errno != ErrnoSuccess {
				return -1, errno
			}
		default:
			return -1, ErrnoOf(err)
		}
	}
}

// edgeSockConnect is sock_connect(fd, addr, port). A nonblocking guest gets
// EINPROGRESS and learns the outcome from poll_oneoff (writable) and SO_ERROR, as
// stealthrocket/net does; a blocking one waits here for the outcome.
func edgeSockConnect(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	ap, errno := readEdgeAddr(mem, uint32(st[1]), uint32(st[2]))
	if errno != ErrnoSuccess {
		return errno
	}
	dst, errno := s.checkSocket(ctx, SocketRequest{Op: SockConnect, Network: e.network(), Addr: ap})
	if errno != ErrnoSuccess {
		return errno
	}
	err := unix.Connect(e.hostfd, sockaddrFor(e.hostfd, dst))
	if err == nil {
		return ErrnoSuccess
	}
	if err != unix.EINPROGRESS && err != unix.EINTR {
		return ErrnoOf(err)
	}
	if !e.blocking() {
		return ErrnoInprogress
	}
	if errno := s.waitFd(e.hostfd, unix.POLLOUT); errno != ErrnoSuccess {
		return errno
	}
	soerr, err := unix.GetsockoptInt(e.hostfd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err != nil {
		return ErrnoOf(err)
	}
	if soerr != 0 {
		return ErrnoOf(syscall.Errno(soerr))
	}
	return ErrnoSuccess
}

// --- sock_recv_from, sock_send_to ---

// Receive flags (witx $riflags) and the returned flag (witx $roflags).
const (
	riflagRecvPeek          = 1 << 0
	riflagRecvWaitall       = 1 << 1
	roflagRecvDataTruncated = 1 << 0
)

// edgeRecvFrom receives into the iovecs at iovsP and returns the byte count, the
// sender and whether a datagram was truncated. Blocking (interruptible) unless the
// guest made the socket nonblocking; RECV_WAITALL on a blocking stream keeps reading
// until the buffers are full or the peer closes, as MSG_WAITALL does.
func (s *System) edgeRecvFrom(e *fdEntry, mem []byte, iovsP, iovsN, riflags uint32) (int, unix.Sockaddr, bool, Errno) {
	if riflags&^(riflagRecvPeek|riflagRecvWaitall) != 0 {
		return 0, nil, false, ErrnoInval
	}
	if !e.has(RightFdRead) {
		return 0, nil, false, ErrnoNotcapable
	}
	iovs, errno := iovecs(s.iovs[:0], mem, iovsP, iovsN)
	s.iovs = iovs[:0]
	if errno != ErrnoSuccess {
		return 0, nil, false, errno
	}
	flags := 0
	if riflags&riflagRecvPeek != 0 {
		flags |= unix.MSG_PEEK
	}
	waitall := riflags&riflagRecvWaitall != 0 && e.typ == FiletypeSocketStream && e.blocking() && flags&unix.MSG_PEEK == 0
	total := 0
	var from unix.Sockaddr
	for {
		n, _, rflags, sa, err := unix.RecvmsgBuffers(e.hostfd, iovs, nil, flags)
		switch {
		case err == nil:
			total += n
			if from == nil {
				from = sa
			}
			if waitall && n > 0 {
				if iovs = advanceBufs(iovs, n); len(iovs) > 0 {
					continue
				}
			}
			return total, from, rflags&unix.MSG_TRUNC != 0, ErrnoSuccess
		case err == unix.EINTR:
		case err == unix.EAGAIN && e.blocking():
			if errno := s.waitFd(e.hostfd, unix.POLLIN); errno != ErrnoSuccess {
				return 0, nil, false, errno
			}
		case total > 0:
			return total, from, false, ErrnoSuccess
		default:
			return 0, nil, false, ErrnoOf(err)
		}
	}
}

// advanceBufs drops the first n bytes of iovs.
func advanceBufs(iovs [][]byte, n int) [][]byte {
	for len(iovs) > 0 && n >= len(iovs[0]) {
		n -= len(iovs[0])
		iovs = iovs[1:]
	}
	if len(iovs) > 0 {
		iovs[0] = iovs[0][n:]
	}
	return iovs
}

// edgeSockRecvFromV1 is v1's sock_recv_from(fd, iovs, iovs_len, addr, riflags,
// ro_datalen, ro_flags): the sender's address is written raw into the buffer, without
// its port, as WasmEdge's V1 does.
func edgeSockRecvFromV1(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return edgeRecvFromCommon(s, mem, st, false)
}

// edgeSockRecvFromV2 is v2's sock_recv_from(fd, iovs, iovs_len, addr, riflags,
// ro_port, ro_datalen, ro_flags).
//
// # Notes
//
//   - The port is written as a u16 in host byte order. WasmEdge writes it in network
//     byte order (sin_port as it is), which no guest library expects:
//     stealthrocket/net and wasi-go read it in host order.
func edgeSockRecvFromV2(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return edgeRecvFromCommon(s, mem, st, true)
}

func edgeRecvFromCommon(s *System, mem []byte, st []uint64, v2 bool) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	addr, errno := edgeAddrBuf(mem, uint32(st[3]))
	if errno != ErrnoSuccess {
		return errno
	}
	var portP, nreadP, oflagsP uint32
	if v2 {
		switch len(addr) {
		case 4, 16, 128:
		default:
			return ErrnoInval
		}
		portP, nreadP, oflagsP = uint32(st[5]), uint32(st[6]), uint32(st[7])
		if _, ok := slice(mem, portP, 2); !ok {
			return ErrnoFault
		}
	} else {
		nreadP, oflagsP = uint32(st[5]), uint32(st[6])
	}
	if _, ok := slice(mem, nreadP, 4); !ok {
		return ErrnoFault
	}
	if _, ok := slice(mem, oflagsP, 2); !ok {
		return ErrnoFault
	}
	n, from, trunc, errno := s.edgeRecvFrom(e, mem, uint32(st[1]), uint32(st[2]), uint32(st[4]))
	if errno != ErrnoSuccess {
		return errno
	}
	var port uint16
	if ap := addrPortOf(from); ap.IsValid() {
		port = ap.Port()
		if v2 || len(addr) >= len(ap.Addr().AsSlice()) {
			putEdgeAddr(addr, ap.Addr(), v2)
		}
	} else if v2 && len(addr) == 128 {
		clear(addr[:2]) // no sender (a connected stream): family UNSPEC
	}
	if v2 {
		writeU16(mem, portP, port)
	}
	writeU32(mem, nreadP, uint32(n))
	var oflags uint16
	if trunc {
		oflags = roflagRecvDataTruncated
	}
	writeU16(mem, oflagsP, oflags)
	return ErrnoSuccess
}

// edgeSockSendTo is sock_send_to(fd, iovs, iovs_len, addr, port, siflags,
// ro_datalen). siflags must be 0 (witx defines none): EINVAL otherwise, as WasmEdge.
func edgeSockSendTo(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if uint32(st[5]) != 0 {
		return ErrnoInval
	}
	if !e.has(RightFdWrite) {
		return ErrnoNotcapable
	}
	ap, errno := readEdgeAddr(mem, uint32(st[3]), uint32(st[4]))
	if errno != ErrnoSuccess {
		return errno
	}
	nwP := uint32(st[6])
	if _, ok := slice(mem, nwP, 4); !ok {
		return ErrnoFault
	}
	iovs, errno := iovecs(s.iovs[:0], mem, uint32(st[1]), uint32(st[2]))
	s.iovs = iovs[:0]
	if errno != ErrnoSuccess {
		return errno
	}
	dst, errno := s.checkSocket(ctx, SocketRequest{Op: SockSendTo, Network: e.network(), Addr: ap})
	if errno != ErrnoSuccess {
		return errno
	}
	to := sockaddrFor(e.hostfd, dst)
	for {
		n, err := unix.SendmsgBuffers(e.hostfd, iovs, nil, to, unix.MSG_NOSIGNAL)
		switch {
		case err == nil:
			writeU32(mem, nwP, uint32(n))
			return ErrnoSuccess
		case err == unix.EINTR:
		case err == unix.EAGAIN && e.blocking():
			if errno := s.waitFd(e.hostfd, unix.POLLOUT); errno != ErrnoSuccess {
				return errno
			}
		default:
			return ErrnoOf(err)
		}
	}
}

// --- sock_getsockopt, sock_setsockopt ---

// edgeSockOpts maps WasmEdge's SOL_SOCKET option names (0..14) to Linux's.
var edgeSockOpts = [...]int{
	unix.SO_REUSEADDR, unix.SO_TYPE, unix.SO_ERROR, unix.SO_DONTROUTE, unix.SO_BROADCAST,
	unix.SO_SNDBUF, unix.SO_RCVBUF, unix.SO_KEEPALIVE, unix.SO_OOBINLINE, unix.SO_LINGER,
	unix.SO_RCVLOWAT, unix.SO_RCVTIMEO, unix.SO_SNDTIMEO, unix.SO_ACCEPTCONN,
	unix.SO_BINDTODEVICE,
}

const (
	edgeSolSocket   = 0
	edgeIPProtoTCP  = 6 // Linux's IPPROTO_TCP, as wasi-go numbers it
	edgeTCPNoDelay  = 1 // Linux's TCP_NODELAY
	edgeSoLinger    = 9
	edgeSoRcvtimeo  = 11
	edgeSoSndtimeo  = 12
	edgeSoBindToDev = 14
)

// edgeSockOpt resolves a (level, name) pair to Linux's.
//
// # Notes
//
//   - Level 0 is SOL_SOCKET with WasmEdge's option numbers; an unknown name or level
//     is EINVAL, as WasmEdge. Level 6 (IPPROTO_TCP) with TCP_NODELAY (1) is accepted
//     too, as wasi-go does; other TCP options are ENOPROTOOPT.
//   - SO_RCVTIMEO and SO_SNDTIMEO are ENOTSUP (as wasi-go): host sockets are
//     nonblocking and blocking is emulated, so a host timeout would silently not
//     apply. SO_BINDTODEVICE is ENOTSUP: it would reveal and use host interfaces.
func edgeSockOpt(level, name uint32) (int, int, Errno) {
	switch level {
	case edgeSolSocket:
		if name >= uint32(len(edgeSockOpts)) {
			return 0, 0, ErrnoInval
		}
		switch name {
		case edgeSoRcvtimeo, edgeSoSndtimeo, edgeSoBindToDev:
			return 0, 0, ErrnoNotsup
		}
		return unix.SOL_SOCKET, edgeSockOpts[name], ErrnoSuccess
	case edgeIPProtoTCP:
		if name != edgeTCPNoDelay {
			return 0, 0, ErrnoNoprotoopt
		}
		return unix.IPPROTO_TCP, unix.TCP_NODELAY, ErrnoSuccess
	}
	return 0, 0, ErrnoInval
}

// edgeSockSetsockopt is sock_setsockopt(fd, level, name, value, value_len): the value
// bytes go to setsockopt(2) as they are (ints and struct linger have the same layout
// in wasm32 and on Linux).
func edgeSockSetsockopt(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	level, name, errno := edgeSockOpt(uint32(st[1]), uint32(st[2]))
	if errno != ErrnoSuccess {
		return errno
	}
	v, ok := slice(mem, uint32(st[3]), uint32(st[4]))
	if !ok {
		return ErrnoFault
	}
	if err := unix.SetsockoptString(e.hostfd, level, name, string(v)); err != nil {
		return ErrnoOf(err)
	}
	return ErrnoSuccess
}

// edgeSockGetsockopt is sock_getsockopt(fd, level, name, value, value_len).
//
// # Notes
//
//   - value_len is, in WasmEdge and its Rust library, a pointer to a u32 holding the
//     buffer's size, updated to the value's size. stealthrocket/net (and wasi-go,
//     its host) pass the size itself (4). A size is small and a pointer never is
//     (nothing lives in the first kilobyte of a clang or Go module's memory), so a
//     value_len ≤ 16 is read as a size and anything larger as a pointer.
//   - SO_ERROR is returned as a WASI errno and SO_TYPE as a WasmEdge socket type (1
//     datagram, 2 stream), as WasmEdge converts them.
func edgeSockGetsockopt(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	level, name, errno := edgeSockOpt(uint32(st[1]), uint32(st[2]))
	if errno != ErrnoSuccess {
		return errno
	}
	valP, lenArg := uint32(st[3]), uint32(st[4])
	size, lenP := lenArg, uint32(0)
	if lenArg > 16 {
		lenP = lenArg
		var ok bool
		if size, ok = readU32(mem, lenP); !ok {
			return ErrnoFault
		}
	}
	var out [8]byte
	var n int
	if level == unix.SOL_SOCKET && name == unix.SO_LINGER {
		l, err := unix.GetsockoptLinger(e.hostfd, level, name)
		if err != nil {
			return ErrnoOf(err)
		}
		binary.LittleEndian.PutUint32(out[:], uint32(l.Onoff))
		binary.LittleEndian.PutUint32(out[4:], uint32(l.Linger))
		n = 8
	} else {
		v, err := unix.GetsockoptInt(e.hostfd, level, name)
		if err != nil {
			return ErrnoOf(err)
		}
		switch {
		case level == unix.SOL_SOCKET && name == unix.SO_ERROR && v != 0:
			v = int(ErrnoOf(syscall.Errno(v)))
		case level == unix.SOL_SOCKET && name == unix.SO_TYPE:
			if v == unix.SOCK_DGRAM {
				v = edgeSockDgram
			} else {
				v = edgeSockStream
			}
		}
		binary.LittleEndian.PutUint32(out[:], uint32(v))
		n = 4
	}
	if size < uint32(n) {
		return ErrnoInval
	}
	b, ok := slice(mem, valP, uint32(n))
	if !ok {
		return ErrnoFault
	}
	copy(b, out[:n])
	if lenP != 0 {
		writeU32(mem, lenP, uint32(n))
	}
	return ErrnoSuccess
}

// --- sock_getlocaladdr, sock_getpeeraddr ---

// edgeSockGetlocaladdrV1 is v1's sock_getlocaladdr(fd, addr, addr_type, port): the
// buffer must have 4 or 16 bytes (EINVAL otherwise), gets the raw address, and
// addr_type is 4 or 6, as WasmEdge still writes it for compatibility.
func edgeSockGetlocaladdrV1(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return edgeAddrV1(s, mem, st, (*System).localAddr)
}

func edgeSockGetpeeraddrV1(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return edgeAddrV1(s, mem, st, (*System).peerAddr)
}

// edgeSockGetlocaladdrV2 is v2's sock_getlocaladdr(fd, addr, port): the buffer must
// have 128 bytes (EINVAL otherwise) and gets the family-tagged address.
func edgeSockGetlocaladdrV2(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return edgeAddrV2(s, mem, st, (*System).localAddr)
}

func edgeSockGetpeeraddrV2(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return edgeAddrV2(s, mem, st, (*System).peerAddr)
}

func edgeAddrV1(s *System, mem []byte, st []uint64, get func(*System, *fdEntry) (netip.AddrPort, Errno)) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	b, errno := edgeAddrBuf(mem, uint32(st[1]))
	if errno != ErrnoSuccess {
		return errno
	}
	if len(b) != 4 && len(b) != 16 {
		return ErrnoInval
	}
	typeP, portP := uint32(st[2]), uint32(st[3])
	if _, ok := slice(mem, typeP, 4); !ok {
		return ErrnoFault
	}
	if _, ok := slice(mem, portP, 4); !ok {
		return ErrnoFault
	}
	ap, errno := get(s, e)
	if errno != ErrnoSuccess {
		return errno
	}
	fam, errno := putEdgeAddr(b, ap.Addr(), false)
	if errno != ErrnoSuccess {
		return errno
	}
	typ := uint32(4)
	if fam == edgeAFInet6 {
		typ = 6
	}
	writeU32(mem, typeP, typ)
	writeU32(mem, portP, uint32(ap.Port()))
	return ErrnoSuccess
}

func edgeAddrV2(s *System, mem []byte, st []uint64, get func(*System, *fdEntry) (netip.AddrPort, Errno)) Errno {
	e, errno := s.edgeSocket(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	b, errno := edgeAddrBuf(mem, uint32(st[1]))
	if errno != ErrnoSuccess {
		return errno
	}
	portP := uint32(st[2])
	if _, ok := slice(mem, portP, 4); !ok {
		return ErrnoFault
	}
	if len(b) != 128 {
		return ErrnoInval
	}
	ap, errno := get(s, e)
	if errno != ErrnoSuccess {
		return errno
	}
	putEdgeAddr(b, ap.Addr(), true)
	writeU32(mem, portP, uint32(ap.Port()))
	return ErrnoSuccess
}

// --- sock_getaddrinfo ---

// getaddrinfo flags (WasmEdge's $aiflags).
const (
	aiPassive     = 1 << 0
	aiCanonname   = 1 << 1
	aiNumerichost = 1 << 2
	aiNumericserv = 1 << 3
	aiV4mapped    = 1 << 4
	aiAll         = 1 << 5
	aiAddrconfig  = 1 << 6
)

// Sizes in WasmEdge's getaddrinfo structures.
const (
	addrinfoSize = 28 // $addrinfo: flags u16, family u8, socktype u8, protocol u32, addrlen u32, addr *, canonname *, canonname_len u32, next *
	sockaddrSize = 12 // $sockaddr: family u8 (+3 padding), sa_data_len u32, sa_data *
)

type edgeAddrinfo struct {
	addr     netip.AddrPort
	socktype uint8
}

// edgeSockGetaddrinfo is sock_getaddrinfo(node, node_len, service, service_len,
// hints, res, max_res_len, res_len): res points to a u32 holding the address of the
// guest's first $addrinfo; the guest links max_res_len of them through ai_next, each
// with an ai_addr $sockaddr and its sa_data buffer, and the host fills them in.
//
// # Notes
//
//   - Validation and errnos are WasmEdge's: empty node and service AINONAME,
//     max_res_len 0 AIMEMORY, unknown flags (or CANONNAME without a node) AIBADFLAG,
//     family other than 0..2 AIFAMILY, protocol or socktype other than 0..2 ENOSYS.
//     Node and service may end with a NUL (WasmEdge's libraries add one).
//   - Names are resolved by Go's resolver on the host (/etc/hosts, then DNS).
//     Failures map as getaddrinfo's: not found AINONAME, temporary AIAGAIN, others
//     AIFAIL; an unknown service name AISERVICE.
//   - sa_data holds the port (big endian) then the address, for IPv6 too (18 bytes):
//     stealthrocket/net and wasi-go read it so. WasmEdge copies the rest of a
//     sockaddr_in6, which puts sin6_flowinfo before the address, a layout no guest
//     library reads (wasmedge_wasi_socket skips IPv6 results).
//   - socktype 0 yields a stream and a datagram result per address, as glibc does
//     (without its raw ones). Canonical names are not returned (ai_canonname_len 0).
//   - The policy is asked before a name is looked up, and about every result.
func edgeSockGetaddrinfo(ctx context.Context, s *System, mem []byte, st []uint64) Errno {
	nodeB, ok := slice(mem, uint32(st[0]), uint32(st[1]))
	if !ok {
		return ErrnoFault
	}
	servB, ok := slice(mem, uint32(st[2]), uint32(st[3]))
	if !ok {
		return ErrnoFault
	}
	hints, ok := slice(mem, uint32(st[4]), addrinfoSize)
	if !ok {
		return ErrnoFault
	}
	resP, maxRes, resLenP := uint32(st[5]), uint32(st[6]), uint32(st[7])
	first, ok := readU32(mem, resP)
	if !ok {
		return ErrnoFault
	}
	if _, ok := slice(mem, resLenP, 4); !ok {
		return ErrnoFault
	}
	node, service := cstring(nodeB), cstring(servB)
	if node == "" && service == "" {
		return ErrnoAiNoname
	}
	if maxRes < 1 {
		return ErrnoAiMemory
	}
	flags := binary.LittleEndian.Uint16(hints)
	family, socktype, protocol := hints[2], hints[3], hints[4]
	if flags&^(aiPassive|aiCanonname|aiNumerichost|aiNumericserv|aiV4mapped|aiAll|aiAddrconfig) != 0 ||
		flags&aiCanonname != 0 && node == "" {
		return ErrnoAiBadflag
	}
	if family > edgeAFInet6 {
		return ErrnoAiFamily
	}
	if protocol > edgeProtoUDP || socktype > edgeSockStream {
		return ErrnoNosys
	}
	results, errno := s.edgeResolve(ctx, node, service, flags, family, socktype, protocol)
	if errno != ErrnoSuccess {
		return errno
	}
	count := uint32(0)
	p := first
	for _, r := range results {
		if count == maxRes {
			break
		}
		if errno := writeAddrinfo(mem, p, r, flags); errno != ErrnoSuccess {
			return errno
		}
		count++
		next, _ := readU32(mem, p+24)
		if next == 0 {
			break
		}
		p = next
	}
	writeU32(mem, resLenP, count)
	return ErrnoSuccess
}

func writeAddrinfo(mem []byte, p uint32, r edgeAddrinfo, flags uint16) Errno {
	ai, ok := slice(mem, p, addrinfoSize)
	if !ok {
		return ErrnoFault
	}
	sap := binary.LittleEndian.Uint32(ai[12:])
	sa, ok := slice(mem, sap, sockaddrSize)
	if !ok {
		return ErrnoFault
	}
	dataLen := binary.LittleEndian.Uint32(sa[4:])
	a := r.addr.Addr()
	fam, need, addrlen := uint8(edgeAFInet4), uint32(14), uint32(16) // sockaddr_in: port, address, 8 zeros
	if a.Is6() {
		fam, need, addrlen = edgeAFInet6, 18, 28
	}
	// wasmedge_wasi_socket declares 14 bytes of sa_data but allocates 26.
	if dataLen < need && dataLen != 14 {
		return ErrnoInval
	}
	data, ok := slice(mem, binary.LittleEndian.Uint32(sa[8:]), need)
	if !ok {
		return ErrnoFault
	}
	clear(data)
	binary.BigEndian.PutUint16(data, r.addr.Port())
	copy(data[2:], a.AsSlice())
	binary.LittleEndian.PutUint32(sa, uint32(fam)) // u8 family and its padding
	binary.LittleEndian.PutUint32(sa[4:], need)

	proto := uint32(edgeProtoTCP)
	if r.socktype == edgeSockDgram {
		proto = edgeProtoUDP
	}
	binary.LittleEndian.PutUint16(ai, flags)
	ai[2], ai[3] = fam, r.socktype
	binary.LittleEndian.PutUint32(ai[4:], proto) // u8 protocol and its padding
	binary.LittleEndian.PutUint32(ai[8:], addrlen)
	binary.LittleEndian.PutUint32(ai[20:], 0) // no canonical name
	return ErrnoSuccess
}

// cstring is b up to its first NUL.
func cstring(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// edgeResolve looks up node and service as getaddrinfo(3) would, filtered by the policy.
func (s *System) edgeResolve(ctx context.Context, node, service string, flags uint16, family, socktype, protocol uint8) ([]edgeAddrinfo, Errno) {
	var types []uint8
	switch {
	case socktype == edgeSockStream && protocol != edgeProtoUDP, socktype == edgeSockAny && protocol == edgeProtoTCP:
		types = []uint8{edgeSockStream}
	case socktype == edgeSockDgram && protocol != edgeProtoTCP, socktype == edgeSockAny && protocol == edgeProtoUDP:
		types = []uint8{edgeSockDgram}
	case socktype == edgeSockAny:
		types = []uint8{edgeSockStream, edgeSockDgram}
	default:
		return nil, ErrnoAiSocktype // e.g. a datagram socket with TCP
	}
	network := ""
	if len(types) == 1 {
		network = "tcp"
		if types[0] == edgeSockDgram {
			network = "udp"
		}
	}

	var port uint16
	if service != "" {
		if n, err := strconv.ParseUint(service, 10, 16); err == nil {
			port = uint16(n)
		} else if flags&aiNumericserv != 0 {
			return nil, ErrnoAiNoname
		} else {
			lookupNet := network
			if lookupNet == "" {
				lookupNet = "tcp"
			}
			p, err := net.DefaultResolver.LookupPort(ctx, lookupNet, service)
			if err != nil {
				return nil, ErrnoAiService
			}
			port = uint16(p)
		}
	}

	var addrs []netip.Addr
	switch {
	case node == "" && flags&aiPassive != 0:
		addrs = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	case node == "":
		addrs = []netip.Addr{netip.AddrFrom4([4]byte{127, 0, 0, 1}), netip.IPv6Loopback()}
	default:
		if a, err := netip.ParseAddr(node); err == nil {
			addrs = []netip.Addr{a.WithZone("")}
			break
		}
		if flags&aiNumerichost != 0 {
			return nil, ErrnoAiNoname
		}
		if _, errno := s.checkSocket(ctx, SocketRequest{Op: SockResolve, Network: network, Host: node}); errno != ErrnoSuccess {
			return nil, errno
		}
		found, err := net.DefaultResolver.LookupNetIP(ctx, "ip", node)
		if err != nil {
			if s.interruptedNow() {
				s.exit(s.interrupted)
			}
			return nil, resolveErrno(err)
		}
		addrs = found
	}

	var out []edgeAddrinfo
	denied := ErrnoSuccess
	for _, a := range addrs {
		if a.Is4In6() {
			a = a.Unmap()
		}
		if family == edgeAFInet4 && !a.Is4() || family == edgeAFInet6 && !a.Is6() {
			continue
		}
		ap := netip.AddrPortFrom(a, port)
		if _, errno := s.checkSocket(ctx, SocketRequest{Op: SockResolve, Network: network, Host: node, Addr: ap}); errno != ErrnoSuccess {
			if denied == ErrnoSuccess {
				denied = errno
			}
			continue
		}
		for _, t := range types {
			out = append(out, edgeAddrinfo{addr: ap, socktype: t})
		}
	}
	if len(out) == 0 {
		if denied != ErrnoSuccess {
			return nil, denied
		}
		return nil, ErrnoAiAddrfamily // the name has addresses, none in the family asked for
	}
	return out, ErrnoSuccess
}

// resolveErrno maps a Go resolver error to getaddrinfo's.
func resolveErrno(err error) Errno {
	var de *net.DNSError
	if errors.As(err, &de) {
		switch {
		case de.IsNotFound:
			return ErrnoAiNoname
		case de.IsTimeout || de.IsTemporary:
			return ErrnoAiAgain
		}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return ErrnoAiAgain
	}
	return ErrnoAiFail
}
