package wasi

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// listenerFile is a loopback TCP listener and its file, both closed at the test's end.
func listenerFile(t *testing.T) (net.Listener, *os.File) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return l, f
}

// Guest memory layout of the socket tests.
const (
	sockResult = 0  // u32 results
	sockFlags  = 8  // u16 ro_flags
	sockIovs   = 16 // iovec array
	sockData   = 1024
	sockMem    = 64 * 1024
)

// putIovs writes an iovec array at sockIovs whose buffers follow each other from
// sockData, of the given lengths.
func putIovs(mem []byte, lens ...uint32) {
	p := uint32(sockData)
	for i, l := range lens {
		binary.LittleEndian.PutUint32(mem[sockIovs+8*i:], p)
		binary.LittleEndian.PutUint32(mem[sockIovs+8*i+4:], l)
		p += l
	}
}

// acceptOne dials l and accepts the connection in the guest, returning the guest fd and
// the client side.
func acceptOne(t *testing.T, s *System, l net.Listener, lfd uint32, flags uint16) (uint32, net.Conn) {
	t.Helper()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	mem := make([]byte, 16)
	defer setBlocking(t, s, lfd)()
	if errno := call(s, sockAccept, mem, uint64(lfd), uint64(flags), sockResult); errno != ErrnoSuccess {
		t.Fatalf("sock_accept = %v", errno)
	}
	return binary.LittleEndian.Uint32(mem[sockResult:]), c
}

// setBlocking clears FdflagNonblock on the guest's fd, as fd_fdstat_set_flags would,
// and returns the function that restores the flags.
func setBlocking(t *testing.T, s *System, fd uint32) (restore func()) {
	t.Helper()
	e, errno := s.fds.get(fd)
	if errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	old := e.flags
	e.flags &^= FdflagNonblock
	return func() { e.flags = old }
}

func TestSockAccept(t *testing.T) {
	l, lf := listenerFile(t)
	s := newTestSystem(t, context.Background(), NewConfig().WithListeners(lf))
	const lfd = 3

	// The listener is preopened as a non-blocking stream socket.
	mem := make([]byte, sockMem)
	if errno := call(s, fdFdstatGet, mem, lfd, 0); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	if ft, fl, rights := Filetype(mem[0]), binary.LittleEndian.Uint16(mem[2:]), binary.LittleEndian.Uint64(mem[8:]); ft != FiletypeSocketStream || fl != FdflagNonblock || rights != sockRights {
		t.Errorf("listener fdstat: filetype %d flags %#x rights %#x, want %d %#x %#x", ft, fl, rights, FiletypeSocketStream, FdflagNonblock, sockRights)
	}

	errTests := []struct {
		name      string
		fd, flags uint64
		result    uint64
		want      Errno
	}{
		{name: "unknown fd", fd: 42, want: ErrnoBadf},
		{name: "not a socket", fd: 1, want: ErrnoNotsock},
		{name: "flags other than nonblock", fd: lfd, flags: uint64(FdflagAppend), want: ErrnoInval},
		{name: "flags past 16 bits", fd: lfd, flags: 1 << 20, want: ErrnoInval},
		{name: "result past memory", fd: lfd, result: sockMem - 3, want: ErrnoFault},
		{name: "non-blocking listener, empty queue", fd: lfd, want: ErrnoAgain},
		{name: "non-blocking listener, nonblock flag, empty queue", fd: lfd, flags: uint64(FdflagNonblock), want: ErrnoAgain},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(s, sockAccept, mem, tt.fd, tt.flags, tt.result); got != tt.want {
				t.Errorf("sock_accept = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("blocking accept waits for a connection", func(t *testing.T) {
		defer setBlocking(t, s, lfd)()
		go func() {
			time.Sleep(50 * time.Millisecond)
			if c, err := net.Dial("tcp", l.Addr().String()); err == nil {
				t.Cleanup(func() { c.Close() })
			}
		}()
		start := time.Now()
		if errno := call(s, sockAccept, mem, lfd, uint64(FdflagNonblock), sockResult); errno != ErrnoSuccess {
			t.Fatalf("sock_accept = %v", errno)
		}
		if took := time.Since(start); took < 40*time.Millisecond {
			t.Errorf("accepted after %v, before the client dialled", took)
		}
		fd := binary.LittleEndian.Uint32(mem[sockResult:])
		if fd != 4 {
			t.Errorf("accepted fd %d, want 4 (the lowest free)", fd)
		}
		if errno := call(s, fdFdstatGet, mem, uint64(fd), 64); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		st := mem[64:]
		if ft, fl, rights := Filetype(st[0]), binary.LittleEndian.Uint16(st[2:]), binary.LittleEndian.Uint64(st[8:]); ft != FiletypeSocketStream || fl != FdflagNonblock || rights != connRights {
			t.Errorf("fdstat: filetype %d flags %#x rights %#x, want %d %#x %#x", ft, fl, rights, FiletypeSocketStream, FdflagNonblock, connRights)
		}
		e, _ := s.fds.get(fd)
		if fl, err := unix.FcntlInt(uintptr(e.hostfd), unix.F_GETFL, 0); err != nil || fl&unix.O_NONBLOCK == 0 {
			t.Errorf("host fd flags %#x (%v), want O_NONBLOCK", fl, err)
		}
		if v, err := unix.GetsockoptInt(e.hostfd, unix.IPPROTO_TCP, unix.TCP_NODELAY); err != nil || v == 0 {
			t.Errorf("TCP_NODELAY = %d (%v), want set", v, err)
		}
		if errno := call(s, fdClose, mem, uint64(fd)); errno != ErrnoSuccess {
			t.Errorf("fd_close = %v", errno)
		}
	})

	t.Run("a connection cannot accept", func(t *testing.T) {
		fd, _ := acceptOne(t, s, l, lfd, 0)
		if errno := call(s, sockAccept, mem, uint64(fd), 0, sockResult); errno != ErrnoNotcapable {
			t.Errorf("sock_accept on a connection = %v, want NOTCAPABLE", errno)
		}
		call(s, fdClose, mem, uint64(fd))
	})

	t.Run("bad result pointer loses no connection", func(t *testing.T) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if errno := call(s, sockAccept, mem, lfd, 0, sockMem); errno != ErrnoFault {
			t.Fatalf("sock_accept = %v, want FAULT", errno)
		}
		if errno := call(s, sockAccept, mem, lfd, 0, sockResult); errno != ErrnoSuccess {
			t.Fatalf("sock_accept after FAULT = %v", errno)
		}
		fd := binary.LittleEndian.Uint32(mem[sockResult:])
		if errno := call(s, fdFdstatGet, mem, uint64(fd), 64); errno != ErrnoSuccess || binary.LittleEndian.Uint16(mem[66:]) != 0 {
			t.Errorf("accepted fd %d: fdstat %v, flags %#x, want flags 0", fd, errno, binary.LittleEndian.Uint16(mem[66:]))
		}
		call(s, fdClose, mem, uint64(fd))
	})
}

// TestSockAcceptPolicy checks that preopened listeners' connections pass through the
// System's SocketPolicy: a refused peer is closed before the guest sees it, and the
// guest gets the next one.
func TestSockAcceptPolicy(t *testing.T) {
	l, lf := listenerFile(t)
	var asked []SocketRequest
	policy := SocketPolicyFunc(func(_ context.Context, req SocketRequest) (netip.AddrPort, Errno) {
		asked = append(asked, req)
		if len(asked) == 1 {
			return req.Addr, ErrnoAcces
		}
		return req.Addr, ErrnoSuccess
	})
	s := newTestSystem(t, context.Background(), NewConfig().WithListeners(lf).WithSocketPolicy(policy))
	refused, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	admitted, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer admitted.Close()
	mem := make([]byte, sockMem)
	defer setBlocking(t, s, 3)()
	if errno := call(s, sockAccept, mem, 3, 0, sockResult); errno != ErrnoSuccess {
		t.Fatalf("sock_accept = %v", errno)
	}
	if len(asked) != 2 || asked[0].Op != SockAccept || asked[0].Network != "tcp" ||
		asked[0].Addr.String() != refused.LocalAddr().String() || asked[1].Addr.String() != admitted.LocalAddr().String() {
		t.Errorf("policy asked %+v, want accepts of %v then %v", asked, refused.LocalAddr(), admitted.LocalAddr())
	}
	refused.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := refused.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("refused peer read: %v, want its connection closed", err)
	}
	fd := binary.LittleEndian.Uint32(mem[sockResult:])
	copy(mem[sockData:], "hi")
	putIovs(mem, 2)
	if errno := call(s, sockSend, mem, uint64(fd), sockIovs, 1, 0, sockResult); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	buf := make([]byte, 2)
	admitted.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(admitted, buf); err != nil || string(buf) != "hi" {
		t.Errorf("admitted peer read %q, %v", buf, err)
	}
}

func TestSockRecvSend(t *testing.T) {
	l, lf := listenerFile(t)
	s := newTestSystem(t, context.Background(), NewConfig().WithListeners(lf))
	fd, c := acceptOne(t, s, l, 3, 0)
	mem := make([]byte, sockMem)

	recv := func(flags uint16, lens ...uint32) (string, uint16, Errno) {
		clear(mem[sockData : sockData+4096])
		putIovs(mem, lens...)
		errno := call(s, sockRecv, mem, uint64(fd), sockIovs, uint64(len(lens)), uint64(flags), sockResult, sockFlags)
		n := binary.LittleEndian.Uint32(mem[sockResult:])
		return string(mem[sockData : sockData+n]), binary.LittleEndian.Uint16(mem[sockFlags:]), errno
	}

	t.Run("peek, then read across iovecs", func(t *testing.T) {
		c.Write([]byte("hello world"))
		got, fl, errno := recv(RiflagRecvPeek, 64)
		if errno != ErrnoSuccess || got != "hello world" || fl != 0 {
			t.Fatalf("peek: %q %#x %v", got, fl, errno)
		}
		got, fl, errno = recv(0, 5, 0, 64)
		if errno != ErrnoSuccess || got != "hello world" || fl != 0 {
			t.Fatalf("recv: %q %#x %v", got, fl, errno)
		}
	})

	t.Run("waitall fills the buffers", func(t *testing.T) {
		go func() {
			c.Write([]byte("ab"))
			time.Sleep(30 * time.Millisecond)
			c.Write([]byte("cd"))
			time.Sleep(30 * time.Millisecond)
			c.Write([]byte("efgh"))
		}()
		got, _, errno := recv(RiflagRecvWaitall, 3, 3)
		if errno != ErrnoSuccess || got != "abcdef" {
			t.Fatalf("recv waitall: %q %v, want abcdef", got, errno)
		}
		got, _, errno = recv(0, 10)
		if errno != ErrnoSuccess || got != "gh" {
			t.Fatalf("recv: %q %v, want gh", got, errno)
		}
	})

	t.Run("send gathers iovecs", func(t *testing.T) {
		copy(mem[sockData:], "ping pong")
		putIovs(mem, 5, 0, 4)
		if errno := call(s, sockSend, mem, uint64(fd), sockIovs, 3, 0, sockResult); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		if n := binary.LittleEndian.Uint32(mem[sockResult:]); n != 9 {
			t.Errorf("sent %d, want 9", n)
		}
		buf := make([]byte, 9)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping pong" {
			t.Errorf("client read %q %v", buf, err)
		}
	})

	t.Run("blocking send of more than the socket buffer", func(t *testing.T) {
		const size = 8 << 20
		big := make([]byte, sockData+size)
		for i := range big[sockData:] {
			big[sockData+i] = byte(i % 251)
		}
		binary.LittleEndian.PutUint32(big[sockIovs:], sockData)
		binary.LittleEndian.PutUint32(big[sockIovs+4:], size)
		got := make(chan []byte)
		go func() {
			b, _ := io.ReadAll(io.LimitReader(c, size))
			got <- b
		}()
		if errno := call(s, sockSend, big, uint64(fd), sockIovs, 1, 0, sockResult); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		if n := binary.LittleEndian.Uint32(big[sockResult:]); n != size {
			t.Errorf("sent %d, want %d", n, size)
		}
		if b := <-got; !bytes.Equal(b, big[sockData:]) {
			t.Errorf("client got %d bytes, not what was sent", len(b))
		}
	})

	t.Run("non-blocking recv with nothing queued", func(t *testing.T) {
		e, _ := s.fds.get(fd)
		e.flags |= FdflagNonblock
		defer func() { e.flags &^= FdflagNonblock }()
		if _, _, errno := recv(0, 8); errno != ErrnoAgain {
			t.Errorf("recv = %v, want AGAIN", errno)
		}
		if _, _, errno := recv(RiflagRecvWaitall, 8); errno != ErrnoAgain {
			t.Errorf("recv waitall = %v, want AGAIN", errno)
		}
	})

	errTests := []struct {
		name string
		f    hostCall
		args []uint64
		want Errno
	}{
		{"recv unknown flags", sockRecv, []uint64{uint64(fd), sockIovs, 1, 4, sockResult, sockFlags}, ErrnoInval},
		{"recv unknown fd", sockRecv, []uint64{77, sockIovs, 1, 0, sockResult, sockFlags}, ErrnoBadf},
		{"recv not a socket", sockRecv, []uint64{1, sockIovs, 1, 0, sockResult, sockFlags}, ErrnoNotsock},
		{"recv datalen past memory", sockRecv, []uint64{uint64(fd), sockIovs, 1, 0, sockMem - 2, sockFlags}, ErrnoFault},
		{"recv flags past memory", sockRecv, []uint64{uint64(fd), sockIovs, 1, 0, sockResult, sockMem - 1}, ErrnoFault},
		{"recv iovecs past memory", sockRecv, []uint64{uint64(fd), sockMem - 4, 1, 0, sockResult, sockFlags}, ErrnoFault},
		{"recv too many iovecs", sockRecv, []uint64{uint64(fd), sockIovs, maxIovs + 1, 0, sockResult, sockFlags}, ErrnoInval},
		{"recv on the listener", sockRecv, []uint64{3, sockIovs, 1, 0, sockResult, sockFlags}, ErrnoNotconn},
		{"send flags", sockSend, []uint64{uint64(fd), sockIovs, 1, 1, sockResult}, ErrnoInval},
		{"send unknown fd", sockSend, []uint64{77, sockIovs, 1, 0, sockResult}, ErrnoBadf},
		{"send not a socket", sockSend, []uint64{2, sockIovs, 1, 0, sockResult}, ErrnoNotsock},
		{"send datalen past memory", sockSend, []uint64{uint64(fd), sockIovs, 1, 0, sockMem}, ErrnoFault},
		{"send iovec past memory", sockSend, []uint64{uint64(fd), sockMem - 4, 1, 0, sockResult}, ErrnoFault},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			putIovs(mem, 8)
			if got := call(s, tt.f, mem, tt.args...); got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("end of stream is 0 bytes", func(t *testing.T) {
		c.(*net.TCPConn).CloseWrite()
		got, _, errno := recv(RiflagRecvWaitall, 8)
		if errno != ErrnoSuccess || got != "" {
			t.Errorf("recv at end = %q %v, want \"\" SUCCESS", got, errno)
		}
	})
}

// TestSockDatagramTruncated checks RoflagRecvDataTruncated on a datagram socket (the
// WasmEdge ABI's UDP sockets go through sock_recv).
func TestSockDatagramTruncated(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(p[1])
	fd, _ := s.fds.insert(&fdEntry{typ: FiletypeSocketDgram, base: connRights, hostfd: p[0], owned: true, sock: &sockState{}})
	if ft := hostFiletype(p[0]); ft != FiletypeSocketDgram {
		t.Fatalf("host filetype %d, want dgram", ft)
	}
	unix.Write(p[1], []byte("0123456789"))
	unix.Write(p[1], []byte("ab"))
	mem := make([]byte, sockMem)
	for _, want := range []struct {
		data  string
		flags uint16
	}{{"0123", RoflagRecvDataTruncated}, {"ab", 0}} {
		putIovs(mem, 4)
		if errno := call(s, sockRecv, mem, uint64(fd), sockIovs, 1, uint64(RiflagRecvWaitall), sockResult, sockFlags); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		n := binary.LittleEndian.Uint32(mem[sockResult:])
		if got, fl := string(mem[sockData:sockData+n]), binary.LittleEndian.Uint16(mem[sockFlags:]); got != want.data || fl != want.flags {
			t.Errorf("recv = %q flags %#x, want %q %#x", got, fl, want.data, want.flags)
		}
	}
}

// TestSockPeerGone checks that writing to a connection whose peer has reset it is an
// errno, not a SIGPIPE, through sock_send and through fd_write, and that fd_read and
// sock_recv report the reset.
func TestSockPeerGone(t *testing.T) {
	l, lf := listenerFile(t)
	s := newTestSystem(t, context.Background(), NewConfig().WithListeners(lf))
	mem := make([]byte, sockMem)
	reset := func(c net.Conn) {
		c.(*net.TCPConn).SetLinger(0) // close sends RST
		c.Close()
		time.Sleep(20 * time.Millisecond)
	}
	anyOf := func(got Errno, want ...Errno) bool {
		for _, w := range want {
			if got == w {
				return true
			}
		}
		return false
	}

	fd, c := acceptOne(t, s, l, 3, 0)
	reset(c)
	putIovs(mem, 4)
	if errno := call(s, sockRecv, mem, uint64(fd), sockIovs, 1, 0, sockResult, sockFlags); errno != ErrnoConnreset {
		t.Errorf("sock_recv after reset = %v, want CONNRESET", errno)
	}
	for range 2 {
		if errno := call(s, sockSend, mem, uint64(fd), sockIovs, 1, 0, sockResult); !anyOf(errno, ErrnoPipe, ErrnoConnreset) {
			t.Errorf("sock_send after reset = %v, want PIPE or CONNRESET", errno)
		}
	}

	fd, c = acceptOne(t, s, l, 3, 0)
	reset(c)
	if errno := call(s, fdRead, mem, uint64(fd), sockIovs, 1, sockResult); errno != ErrnoConnreset {
		t.Errorf("fd_read after reset = %v, want CONNRESET", errno)
	}
	for range 2 {
		if errno := call(s, fdWrite, mem, uint64(fd), sockIovs, 1, sockResult); !anyOf(errno, ErrnoPipe, ErrnoConnreset) {
			t.Errorf("fd_write after reset = %v, want PIPE or CONNRESET", errno)
		}
	}
}

func TestSockShutdown(t *testing.T) {
	l, lf := listenerFile(t)
	s := newTestSystem(t, context.Background(), NewConfig().WithListeners(lf))
	fd, c := acceptOne(t, s, l, 3, 0)
	mem := make([]byte, sockMem)
	tests := []struct {
		name    string
		fd, how uint64
		want    Errno
	}{
		{"unknown fd", 50, uint64(SdflagRd), ErrnoBadf},
		{"stdout", 1, uint64(SdflagRd), ErrnoNotsock},
		{"no direction", uint64(fd), 0, ErrnoInval},
		{"unknown direction", uint64(fd), 4, ErrnoInval},
		{"unknown direction, unknown fd", 50, 4, ErrnoInval},
		{"preopened listener", 3, uint64(SdflagRd | SdflagWr), ErrnoNotconn},
		{"write side", uint64(fd), uint64(SdflagWr), ErrnoSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(s, sockShutdown, mem, tt.fd, tt.how); got != tt.want {
				t.Errorf("sock_shutdown = %v, want %v", got, tt.want)
			}
		})
	}
	// The client sees the end of the stream, and the listener still accepts.
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Errorf("client read after SHUT_WR: %d %v, want EOF", n, err)
	}
	copy(mem[sockData:], "x")
	putIovs(mem, 1)
	if errno := call(s, sockSend, mem, uint64(fd), sockIovs, 1, 0, sockResult); errno != ErrnoPipe {
		t.Errorf("sock_send after SHUT_WR = %v, want PIPE", errno)
	}
	if fd2, _ := acceptOne(t, s, l, 3, 0); fd2 == 0 {
		t.Error("no accept after sock_shutdown of the listener")
	}
}

// TestSockInterrupted checks that a guest blocked in sock_accept, sock_recv or fd_read
// on a socket ends with the interrupted exit code promptly when the System's context is
// cancelled.
func TestSockInterrupted(t *testing.T) {
	tests := []struct {
		name string
		f    hostCall
		args func(t *testing.T, s *System, l net.Listener) []uint64
	}{
		{"sock_accept", sockAccept, func(t *testing.T, s *System, _ net.Listener) []uint64 {
			setBlocking(t, s, 3)
			return []uint64{3, 0, sockResult}
		}},
		{"sock_recv", sockRecv, func(t *testing.T, s *System, l net.Listener) []uint64 {
			fd, _ := acceptOne(t, s, l, 3, 0)
			return []uint64{uint64(fd), sockIovs, 1, 0, sockResult, sockFlags}
		}},
		{"fd_read", fdRead, func(t *testing.T, s *System, l net.Listener) []uint64 {
			fd, _ := acceptOne(t, s, l, 3, 0)
			return []uint64{uint64(fd), sockIovs, 1, sockResult}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, lf := listenerFile(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := newTestSystem(t, ctx, NewConfig().WithListeners(lf))
			mem := make([]byte, sockMem)
			putIovs(mem, 16)
			done := callExit(s, tt.f, mem, tt.args(t, s, l)...)
			select {
			case code := <-done:
				t.Fatalf("returned before the cancel (%d)", int64(code))
			case <-time.After(100 * time.Millisecond):
			}
			cancel()
			start := time.Now()
			select {
			case code := <-done:
				if code != 143 {
					t.Errorf("exit code %d, want 143", int64(code))
				}
				if took := time.Since(start); took > 100*time.Millisecond {
					t.Errorf("ended %v after the cancel, want < 100ms", took)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("still blocked 5s after the cancel")
			}
		})
	}
}

// TestPollOneoffSockets checks readiness of a listener (a connection to accept) and of
// a connection (data, and the peer's end) through poll_oneoff.
func TestPollOneoffSockets(t *testing.T) {
	l, lf := listenerFile(t)
	s := newTestSystem(t, context.Background(), NewConfig().WithListeners(lf).WithStdin(strings.NewReader("")))
	const never = uint64(time.Hour)
	tick := clockSub(9, ClockMonotonic, uint64(30*time.Millisecond), 0)

	evs, _ := poll(t, s, readSub(1, 3), tick)
	if len(evs) != 1 || evs[0].userdata != 9 {
		t.Errorf("idle listener: events %+v, want the clock only", evs)
	}
	fd, c := acceptOne(t, s, l, 3, 0)
	evs, _ = poll(t, s, readSub(1, fd), writeSub(2, fd), clockSub(9, ClockMonotonic, never, 0))
	if len(evs) != 1 || evs[0] != (event{userdata: 2, typ: EventtypeFdWrite}) {
		t.Errorf("idle connection: events %+v, want writable only", evs)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		c.Write([]byte("1234"))
	}()
	evs, _ = poll(t, s, readSub(1, fd), clockSub(9, ClockMonotonic, never, 0))
	if len(evs) != 1 || evs[0] != (event{userdata: 1, typ: EventtypeFdRead, nbytes: 4}) {
		t.Errorf("data arrived: events %+v, want readable with 4 bytes", evs)
	}
	go func() {
		time.Sleep(30 * time.Millisecond)
		net.Dial("tcp", l.Addr().String())
	}()
	evs, _ = poll(t, s, readSub(1, 3), clockSub(9, ClockMonotonic, never, 0))
	if len(evs) != 1 || evs[0] != (event{userdata: 1, typ: EventtypeFdRead}) {
		t.Errorf("connection queued: events %+v, want the listener readable", evs)
	}
	c.Close()
	time.Sleep(20 * time.Millisecond)
	evs, _ = poll(t, s, readSub(1, fd), clockSub(9, ClockMonotonic, never, 0))
	if len(evs) != 1 || evs[0] != (event{userdata: 1, typ: EventtypeFdRead, nbytes: 4, flags: EventrwflagHangup}) {
		t.Errorf("peer closed: events %+v, want readable with 4 bytes and hangup", evs)
	}
}

// TestSockRecvSendNoAllocs checks that sock_send and sock_recv allocate nothing once
// the System's scratch has grown: they are a WasmEdge server's per-request path.
func TestSockRecvSendNoAllocs(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.fds.insert(&fdEntry{typ: FiletypeSocketStream, base: connRights, hostfd: p[0], owned: true, sock: &sockState{}})
	b, _ := s.fds.insert(&fdEntry{typ: FiletypeSocketStream, base: connRights, hostfd: p[1], owned: true, sock: &sockState{}})
	mem := make([]byte, sockMem)
	copy(mem[sockData:], "0123456789")
	putIovs(mem, 4, 6)
	st := make([]uint64, 6)
	allocs := testing.AllocsPerRun(100, func() {
		st[0], st[1], st[2], st[3], st[4] = uint64(a), sockIovs, 2, 0, sockResult
		if errno := sockSend(context.Background(), s, mem, st); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		st[0], st[1], st[2], st[3], st[4], st[5] = uint64(b), sockIovs, 2, 0, sockResult, sockFlags
		if errno := sockRecv(context.Background(), s, mem, st); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per sock_send + sock_recv, want 0", allocs)
	}
	if n := binary.LittleEndian.Uint32(mem[sockResult:]); n != 10 || string(mem[sockData:sockData+10]) != "0123456789" {
		t.Errorf("received %d bytes %q", n, mem[sockData:sockData+10])
	}
}

// TestSocketReadWriteNoAllocs checks that fd_write and fd_read on a socket allocate
// nothing once the System's scratch has grown: Go's wasip1 net package uses them, not
// sock_send and sock_recv, so they are a Go server's per-request path (bench/netbench).
func TestSocketReadWriteNoAllocs(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := s.fds.insert(&fdEntry{typ: FiletypeSocketStream, base: connRights, flags: FdflagNonblock, hostfd: p[0], owned: true, sock: &sockState{}})
	b, _ := s.fds.insert(&fdEntry{typ: FiletypeSocketStream, base: connRights, flags: FdflagNonblock, hostfd: p[1], owned: true, sock: &sockState{}})
	mem := make([]byte, sockMem)
	copy(mem[sockData:], "0123456789")
	putIovs(mem, 4, 6)
	st := make([]uint64, 4)
	allocs := testing.AllocsPerRun(100, func() {
		st[0], st[1], st[2], st[3] = uint64(a), sockIovs, 2, sockResult
		if errno := fdWrite(context.Background(), s, mem, st); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		st[0], st[1], st[2], st[3] = uint64(b), sockIovs, 2, sockResult
		if errno := fdRead(context.Background(), s, mem, st); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per fd_write + fd_read on a socket, want 0", allocs)
	}
	if n := binary.LittleEndian.Uint32(mem[sockResult:]); n != 10 || string(mem[sockData:sockData+10]) != "0123456789" {
		t.Errorf("read %d bytes %q", n, mem[sockData:sockData+10])
	}
	// Non-blocking and drained: the next read is EAGAIN, without allocating either.
	allocs = testing.AllocsPerRun(100, func() {
		st[0], st[1], st[2], st[3] = uint64(b), sockIovs, 2, sockResult
		if errno := fdRead(context.Background(), s, mem, st); errno != ErrnoAgain {
			t.Fatalf("read of a drained non-blocking socket = %v, want ErrnoAgain", errno)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per fd_read returning EAGAIN, want 0", allocs)
	}
}
