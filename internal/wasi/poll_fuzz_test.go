package wasi

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzPollSock calls poll_oneoff and the socket functions with any arguments on any
// memory, over a table holding a pipe, a regular file, a directory, a listener and a
// connection: no call may panic the host (an interrupted wait's exit is the only panic
// allowed) or write outside the memory it was given.
//
// # Notes
//
//   - The System's context is cancelled from the start, so a call that would wait
//     (a clock of 2^64-1 ns, an empty pipe) ends at once through the interrupt, and
//     the fuzzer never blocks.
func FuzzPollSock(f *testing.F) {
	sub := func(tag byte, fd uint32, clock uint32, timeout uint64, flags uint16) []byte {
		b := make([]byte, subscriptionSize)
		binary.LittleEndian.PutUint64(b, 1)
		b[8] = tag
		if tag == EventtypeClock {
			binary.LittleEndian.PutUint32(b[16:], clock)
			binary.LittleEndian.PutUint64(b[24:], timeout)
			binary.LittleEndian.PutUint16(b[40:], flags)
		} else {
			binary.LittleEndian.PutUint32(b[16:], fd)
		}
		return b
	}
	f.Add(uint8(0), sub(EventtypeClock, 0, ClockMonotonic, 1000, 0), uint32(0), uint32(64), uint32(1), uint32(200))
	f.Add(uint8(0), append(sub(EventtypeFdRead, 3, 0, 0, 0), sub(EventtypeFdWrite, 4, 0, 0, 0)...), uint32(0), uint32(96), uint32(2), uint32(300))
	f.Add(uint8(0), sub(EventtypeClock, 0, ClockRealtime, ^uint64(0), SubclockflagAbstime), uint32(0), uint32(64), uint32(1), uint32(200))
	f.Add(uint8(1), []byte{}, uint32(7), uint32(0), uint32(16), uint32(0))
	f.Add(uint8(2), []byte{16, 0, 0, 0, 8, 0, 0, 0}, uint32(8), uint32(0), uint32(1), uint32(2))
	f.Add(uint8(3), []byte{16, 0, 0, 0, 8, 0, 0, 0}, uint32(8), uint32(0), uint32(1), uint32(0))
	f.Add(uint8(4), []byte{}, uint32(8), uint32(3), uint32(0), uint32(0))

	f.Fuzz(func(t *testing.T, which uint8, data []byte, a, b, c, d uint32) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		lf, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		defer lf.Close()
		dir := t.TempDir()
		s := newTestSystem(t, ctx, NewConfig().WithMounts(Mount{HostPath: dir, GuestPath: "/"}).WithListeners(lf))
		// fd 3: the mount, 4: the listener, 5: a pipe's read end, 6: its write end,
		// 7: a regular file, 8: a connection.
		r, w := hostPipe(t)
		addHostFd(t, s, r)
		addHostFd(t, s, w)
		file, err := os.CreateTemp(dir, "f")
		if err != nil {
			t.Fatal(err)
		}
		defer file.Close()
		file.WriteString("data")
		s.fds.insert(&fdEntry{typ: FiletypeRegularFile, base: fileRights, hostfd: int(file.Fd())})
		pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(pair[1])
		unix.Write(pair[1], []byte("hello"))
		s.fds.insert(&fdEntry{typ: FiletypeSocketStream, base: connRights, hostfd: pair[0], owned: true, sock: &sockState{}})

		const size = 4096
		mem := make([]byte, size+64)
		copy(mem, data)
		guard := append([]byte(nil), mem[size:]...)
		m := mem[:size:size]
		st := []uint64{uint64(a), uint64(b), uint64(c), uint64(d), uint64(a ^ d), uint64(b ^ c)}
		func() {
			defer func() {
				if p := recover(); p != nil {
					if _, ok := p.(exitPanic); !ok {
						t.Fatalf("panic: %v", p)
					}
				}
			}()
			switch which % 5 {
			case 0:
				pollOneoff(ctx, s, m, st)
			case 1:
				sockAccept(ctx, s, m, st)
			case 2:
				sockRecv(ctx, s, m, st)
			case 3:
				sockSend(ctx, s, m, st)
			case 4:
				sockShutdown(ctx, s, m, st)
			}
		}()
		if string(mem[size:]) != string(guard) {
			t.Fatal("wrote past the memory")
		}
	})
}
