package wasi

import (
	"context"
	"encoding/binary"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// exitPanic is the panic value of proc_exit (and of an interrupted wait) in these tests.
type exitPanic struct{ code uint32 }

// newTestSystem makes a System whose exits panic with exitPanic, closed at the test's end.
func newTestSystem(t *testing.T, ctx context.Context, cfg Config) *System {
	t.Helper()
	s, err := New(ctx, cfg.WithExit(func(code uint32) { panic(exitPanic{code}) }))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

type hostCall func(context.Context, *System, []byte, []uint64) Errno

// call runs a host function with args on a fresh stack.
func call(s *System, f hostCall, mem []byte, args ...uint64) Errno {
	st := make([]uint64, max(len(args), 1))
	copy(st, args)
	return f(context.Background(), s, mem, st)
}

// callExit runs call in a goroutine and reports, on the returned channel, the exit code
// if the call exited (exitPanic) or ^0 if it returned.
func callExit(s *System, f hostCall, mem []byte, args ...uint64) <-chan uint64 {
	done := make(chan uint64, 1)
	go func() {
		defer func() {
			if p, ok := recover().(exitPanic); ok {
				done <- uint64(p.code)
			}
		}()
		call(s, f, mem, args...)
		done <- ^uint64(0)
	}()
	return done
}

// hostPipe returns the two ends of a pipe as raw descriptors (non-blocking, as the host
// keeps pipes it polls), closed at the test's end unless closed before.
func hostPipe(t *testing.T) (r, w int) {
	t.Helper()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC|unix.O_NONBLOCK); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(p[0]); unix.Close(p[1]) })
	return p[0], p[1]
}

// addHostFd gives the guest the host descriptor fd (not owned: the test closes it).
func addHostFd(t *testing.T, s *System, fd int) uint32 {
	t.Helper()
	gfd, errno := s.fds.insert(&fdEntry{typ: hostFiletype(fd), base: streamRights, hostfd: fd})
	if errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	return gfd
}

// sub is a subscription as a test writes it.
type sub struct {
	userdata uint64
	tag      uint8
	fd       uint32 // fd_read, fd_write
	clock    uint32 // clock id
	timeout  uint64
	flags    uint16
}

func clockSub(ud uint64, id uint32, timeout uint64, flags uint16) sub {
	return sub{userdata: ud, tag: EventtypeClock, clock: id, timeout: timeout, flags: flags}
}

func readSub(ud uint64, fd uint32) sub  { return sub{userdata: ud, tag: EventtypeFdRead, fd: fd} }
func writeSub(ud uint64, fd uint32) sub { return sub{userdata: ud, tag: EventtypeFdWrite, fd: fd} }

// event is an event as poll_oneoff wrote it.
type event struct {
	userdata uint64
	errno    Errno
	typ      uint8
	nbytes   uint64
	flags    uint16
}

// Guest memory layout of the poll tests.
const (
	pollIn      = 0
	pollOut     = 4096
	pollNevents = 8192
	pollMemSize = 3 * 4096
)

func putSubs(mem []byte, subs []sub) {
	for i, s := range subs {
		b := mem[pollIn+i*subscriptionSize:]
		clear(b[:subscriptionSize])
		binary.LittleEndian.PutUint64(b, s.userdata)
		b[8] = s.tag
		if s.tag == EventtypeClock {
			binary.LittleEndian.PutUint32(b[16:], s.clock)
			binary.LittleEndian.PutUint64(b[24:], s.timeout)
			binary.LittleEndian.PutUint16(b[40:], s.flags)
		} else {
			binary.LittleEndian.PutUint32(b[16:], s.fd)
		}
	}
}

// poll calls poll_oneoff on subs and returns the events it wrote.
func poll(t *testing.T, s *System, subs ...sub) ([]event, Errno) {
	t.Helper()
	mem := make([]byte, pollMemSize)
	putSubs(mem, subs)
	errno := call(s, pollOneoff, mem, pollIn, pollOut, uint64(len(subs)), pollNevents)
	if errno != ErrnoSuccess {
		return nil, errno
	}
	n := binary.LittleEndian.Uint32(mem[pollNevents:])
	if n == 0 || n > uint32(len(subs)) {
		t.Fatalf("poll_oneoff: %d events for %d subscriptions", n, len(subs))
	}
	evs := make([]event, n)
	for i := range evs {
		b := mem[pollOut+i*eventSize:]
		evs[i] = event{
			userdata: binary.LittleEndian.Uint64(b),
			errno:    Errno(binary.LittleEndian.Uint16(b[8:])),
			typ:      b[10],
			nbytes:   binary.LittleEndian.Uint64(b[16:]),
			flags:    binary.LittleEndian.Uint16(b[24:]),
		}
	}
	return evs, ErrnoSuccess
}

func TestPollOneoffErrors(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	mem := make([]byte, pollMemSize)
	tests := []struct {
		name                   string
		subs                   []sub
		in, out, n, neventsPtr uint64
		want                   Errno
	}{
		{name: "no subscriptions", n: 0, want: ErrnoInval},
		{name: "too many subscriptions", n: maxPollSubs + 1, want: ErrnoInval},
		{name: "subscriptions past memory", subs: []sub{clockSub(1, ClockMonotonic, 0, 0)}, in: pollMemSize - 47, want: ErrnoFault},
		{name: "events past memory", subs: []sub{clockSub(1, ClockMonotonic, 0, 0)}, out: pollMemSize - 31, want: ErrnoFault},
		{name: "nevents past memory", subs: []sub{clockSub(1, ClockMonotonic, 0, 0)}, neventsPtr: pollMemSize - 3, want: ErrnoFault},
		{name: "huge pointer", subs: []sub{clockSub(1, ClockMonotonic, 0, 0)}, in: 0xffffffff, want: ErrnoFault},
		{name: "unknown tag", subs: []sub{{userdata: 1, tag: 3}}, want: ErrnoInval},
		{name: "process cpu-time clock", subs: []sub{clockSub(1, ClockProcessCputime, 0, 0)}, want: ErrnoInval},
		{name: "thread cpu-time clock", subs: []sub{clockSub(1, ClockThreadCputime, 0, 0)}, want: ErrnoInval},
		{name: "unknown clock", subs: []sub{clockSub(1, 4, 0, 0)}, want: ErrnoInval},
		{name: "unknown clock flag", subs: []sub{clockSub(1, ClockMonotonic, 0, 2)}, want: ErrnoInval},
		{name: "bad clock after a ready one", subs: []sub{clockSub(1, ClockMonotonic, 0, 0), clockSub(2, 9, 0, 0)}, want: ErrnoInval},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clear(mem)
			putSubs(mem, tt.subs)
			n := tt.n
			if tt.subs != nil {
				n = uint64(len(tt.subs))
			}
			in, out, nev := tt.in, tt.out, tt.neventsPtr
			if out == 0 {
				out = pollOut
			}
			if nev == 0 {
				nev = pollNevents
			}
			if got := call(s, pollOneoff, mem, in, out, n, nev); got != tt.want {
				t.Errorf("poll_oneoff = %v, want %v", got, tt.want)
			}
			if got := binary.LittleEndian.Uint32(mem[pollNevents:]); got != 0 {
				t.Errorf("nevents = %d after an error, want it untouched", got)
			}
		})
	}
}

func TestPollOneoffClocks(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	const d = 30 * time.Millisecond
	mono, _ := s.now(ClockMonotonic)
	tests := []struct {
		name     string
		subs     []sub
		want     []uint64 // userdata of the events, in order
		min, max time.Duration
	}{
		{name: "relative monotonic", subs: []sub{clockSub(7, ClockMonotonic, uint64(d), 0)}, want: []uint64{7}, min: d},
		{name: "relative realtime (wasi-libc's sleep)", subs: []sub{clockSub(7, ClockRealtime, uint64(d), 0)}, want: []uint64{7}, min: d},
		{name: "absolute monotonic", subs: []sub{clockSub(7, ClockMonotonic, 0, SubclockflagAbstime)}, want: []uint64{7}, min: d},
		{name: "absolute realtime", subs: []sub{clockSub(7, ClockRealtime, 0, SubclockflagAbstime)}, want: []uint64{7}, min: d},
		{name: "absolute monotonic in the past", subs: []sub{clockSub(7, ClockMonotonic, mono, SubclockflagAbstime)}, want: []uint64{7}, max: d},
		{name: "absolute realtime in the past", subs: []sub{clockSub(7, ClockRealtime, 1, SubclockflagAbstime)}, want: []uint64{7}, max: d},
		{name: "zero timeout", subs: []sub{clockSub(7, ClockMonotonic, 0, 0)}, want: []uint64{7}, max: d},
		{
			name: "earliest of two fires alone",
			subs: []sub{clockSub(1, ClockMonotonic, uint64(time.Hour), 0), clockSub(2, ClockMonotonic, uint64(d), 0)},
			want: []uint64{2}, min: d,
		},
		{
			name: "both ready: both in order",
			subs: []sub{clockSub(1, ClockMonotonic, 0, 0), clockSub(2, ClockRealtime, 0, 0)},
			want: []uint64{1, 2}, max: d,
		},
		{
			name: "forever and a ready one",
			subs: []sub{clockSub(1, ClockMonotonic, ^uint64(0), 0), clockSub(2, ClockMonotonic, 0, 0)},
			want: []uint64{2}, max: d,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			subs := append([]sub(nil), tt.subs...)
			for i := range subs {
				if subs[i].flags == SubclockflagAbstime && subs[i].timeout == 0 {
					if subs[i].clock == ClockMonotonic {
						now, _ := s.now(ClockMonotonic)
						subs[i].timeout = now + uint64(d)
					} else {
						subs[i].timeout = uint64(time.Now().Add(d).UnixNano())
					}
				}
			}
			start := time.Now()
			evs, errno := poll(t, s, subs...)
			took := time.Since(start)
			if errno != ErrnoSuccess {
				t.Fatalf("poll_oneoff = %v", errno)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("events %+v, want userdata %v", evs, tt.want)
			}
			for i, ev := range evs {
				if want := (event{userdata: tt.want[i], typ: EventtypeClock}); ev != want {
					t.Errorf("event %d = %+v, want %+v", i, ev, want)
				}
			}
			if took < tt.min {
				t.Errorf("returned after %v, want at least %v", took, tt.min)
			}
			if tt.max > 0 && took > tt.max {
				t.Errorf("returned after %v, want at most %v", took, tt.max)
			}
		})
	}
}

func TestPollOneoffFds(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig().
		WithStdin(strings.NewReader("in")).
		WithStdout(&strings.Builder{}).
		WithMounts(Mount{HostPath: t.TempDir(), GuestPath: "/"}))
	const dirFd = 3

	// A pipe with 5 bytes in it.
	fullR, fullW := hostPipe(t)
	if _, err := unix.Write(fullW, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	full := addHostFd(t, s, fullR)
	// An empty pipe, whose write end is open.
	emptyR, emptyW := hostPipe(t)
	empty, emptyOut := addHostFd(t, s, emptyR), addHostFd(t, s, emptyW)
	// A pipe whose writer is gone, and one whose reader is gone.
	hupR, hupW := hostPipe(t)
	unix.Close(hupW)
	hup := addHostFd(t, s, hupR)
	brokenR, brokenW := hostPipe(t)
	unix.Close(brokenR)
	broken := addHostFd(t, s, brokenW)
	// A regular file of 10 bytes, read up to offset 3.
	f, err := os.CreateTemp(t.TempDir(), "file")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("0123456789"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(3, 0); err != nil {
		t.Fatal(err)
	}
	file, errno := s.fds.insert(&fdEntry{typ: FiletypeRegularFile, base: fileRights, hostfd: int(f.Fd())})
	if errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	const never = uint64(time.Hour)

	tests := []struct {
		name string
		subs []sub
		want []event
	}{
		{
			name: "pipe with data is readable, nbytes as queued",
			subs: []sub{readSub(1, full), clockSub(2, ClockMonotonic, never, 0)},
			want: []event{{userdata: 1, typ: EventtypeFdRead, nbytes: 5}},
		},
		{
			name: "empty pipe: the clock fires",
			subs: []sub{readSub(1, empty), clockSub(2, ClockMonotonic, uint64(20*time.Millisecond), 0)},
			want: []event{{userdata: 2, typ: EventtypeClock}},
		},
		{
			name: "write end of a pipe with room is writable",
			subs: []sub{writeSub(1, emptyOut), readSub(2, empty)},
			want: []event{{userdata: 1, typ: EventtypeFdWrite}},
		},
		{
			name: "writer gone: readable with hangup",
			subs: []sub{readSub(1, hup)},
			want: []event{{userdata: 1, typ: EventtypeFdRead, flags: EventrwflagHangup}},
		},
		{
			name: "reader gone: write event with EPIPE",
			subs: []sub{writeSub(1, broken)},
			want: []event{{userdata: 1, typ: EventtypeFdWrite, errno: ErrnoPipe}},
		},
		{
			name: "regular file: ready, nbytes left to end of file",
			subs: []sub{readSub(1, file), writeSub(2, file)},
			want: []event{{userdata: 1, typ: EventtypeFdRead, nbytes: 7}, {userdata: 2, typ: EventtypeFdWrite}},
		},
		{
			name: "Go reader and writer stdio: always ready",
			subs: []sub{readSub(1, 0), writeSub(2, 1), readSub(3, empty)},
			want: []event{{userdata: 1, typ: EventtypeFdRead}, {userdata: 2, typ: EventtypeFdWrite}},
		},
		{
			name: "unknown fd: an event with EBADF, others still reported",
			subs: []sub{readSub(1, 99), writeSub(2, 1<<31), readSub(3, full), readSub(4, empty)},
			want: []event{
				{userdata: 1, typ: EventtypeFdRead, errno: ErrnoBadf},
				{userdata: 2, typ: EventtypeFdWrite, errno: ErrnoBadf},
				{userdata: 3, typ: EventtypeFdRead, nbytes: 5},
			},
		},
		{
			name: "directory: EBADF",
			subs: []sub{readSub(1, dirFd)},
			want: []event{{userdata: 1, typ: EventtypeFdRead, errno: ErrnoBadf}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evs, errno := poll(t, s, tt.subs...)
			if errno != ErrnoSuccess {
				t.Fatalf("poll_oneoff = %v", errno)
			}
			if len(evs) != len(tt.want) {
				t.Fatalf("events %+v, want %+v", evs, tt.want)
			}
			for i := range evs {
				if evs[i] != tt.want[i] {
					t.Errorf("event %d = %+v, want %+v", i, evs[i], tt.want[i])
				}
			}
		})
	}
}

// TestPollOneoffWakes checks that a poll on an empty pipe returns when data arrives,
// not before and not at a timeout.
func TestPollOneoffWakes(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	r, w := hostPipe(t)
	fd := addHostFd(t, s, r)
	go func() {
		time.Sleep(50 * time.Millisecond)
		unix.Write(w, []byte("xyz"))
	}()
	start := time.Now()
	evs, errno := poll(t, s, readSub(1, fd), clockSub(2, ClockMonotonic, uint64(10*time.Second), 0))
	took := time.Since(start)
	if errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	if want := (event{userdata: 1, typ: EventtypeFdRead, nbytes: 3}); len(evs) != 1 || evs[0] != want {
		t.Fatalf("events %+v, want [%+v]", evs, want)
	}
	if took < 40*time.Millisecond || took > 5*time.Second {
		t.Errorf("woke after %v, want about 50ms", took)
	}
}

// TestPollOneoffInterrupted checks that a guest blocked in poll_oneoff ends with the
// interrupted exit code promptly when the System's context is cancelled: on a pipe
// that never becomes ready, and on a clock that never fires.
func TestPollOneoffInterrupted(t *testing.T) {
	tests := []struct {
		name string
		subs func(t *testing.T, s *System) []sub
	}{
		{"pipe", func(t *testing.T, s *System) []sub {
			r, _ := hostPipe(t)
			return []sub{readSub(1, addHostFd(t, s, r))}
		}},
		{"clock", func(*testing.T, *System) []sub {
			return []sub{clockSub(1, ClockMonotonic, ^uint64(0), 0)}
		}},
		{"absolute realtime clock", func(*testing.T, *System) []sub {
			return []sub{clockSub(1, ClockRealtime, ^uint64(0), SubclockflagAbstime)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			s := newTestSystem(t, ctx, NewConfig().WithInterruptedExitCode(99))
			mem := make([]byte, pollMemSize)
			subs := tt.subs(t, s)
			putSubs(mem, subs)
			done := callExit(s, pollOneoff, mem, pollIn, pollOut, uint64(len(subs)), pollNevents)
			select {
			case code := <-done:
				t.Fatalf("poll_oneoff returned before the cancel (%d)", int64(code))
			case <-time.After(100 * time.Millisecond):
			}
			cancel()
			start := time.Now()
			select {
			case code := <-done:
				if code != 99 {
					t.Errorf("exit code %d, want 99", int64(code))
				}
				if took := time.Since(start); took > 100*time.Millisecond {
					t.Errorf("ended %v after the cancel, want < 100ms", took)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("poll_oneoff still blocked 5s after the cancel")
			}
		})
	}
}

// TestPollOneoffNoAllocs checks that a poll that finds a ready pipe among clocks, as a
// Go guest's scheduler polls, allocates nothing once the System's scratch has grown.
func TestPollOneoffNoAllocs(t *testing.T) {
	s := newTestSystem(t, context.Background(), NewConfig())
	r, w := hostPipe(t)
	unix.Write(w, []byte("x"))
	fd := addHostFd(t, s, r)
	mem := make([]byte, pollMemSize)
	putSubs(mem, []sub{clockSub(0, ClockMonotonic, uint64(time.Hour), 0), readSub(1, fd), readSub(2, fd)})
	st := make([]uint64, 4)
	allocs := testing.AllocsPerRun(100, func() {
		st[0], st[1], st[2], st[3] = pollIn, pollOut, 3, pollNevents
		if errno := pollOneoff(context.Background(), s, mem, st); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per poll_oneoff, want 0", allocs)
	}
	if n := binary.LittleEndian.Uint32(mem[pollNevents:]); n != 2 {
		t.Errorf("%d events, want 2", n)
	}
}

func BenchmarkPollOneoff(b *testing.B) {
	s, err := New(context.Background(), NewConfig())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK); err != nil {
		b.Fatal(err)
	}
	defer unix.Close(p[0])
	defer unix.Close(p[1])
	unix.Write(p[1], []byte("x"))
	fd, _ := s.fds.insert(&fdEntry{typ: FiletypeUnknown, hostfd: p[0]})
	mem := make([]byte, pollMemSize)
	putSubs(mem, []sub{clockSub(0, ClockMonotonic, uint64(time.Hour), 0), readSub(1, fd)})
	st := make([]uint64, 4)
	b.ReportAllocs()
	for b.Loop() {
		st[0], st[1], st[2], st[3] = pollIn, pollOut, 2, pollNevents
		if errno := pollOneoff(context.Background(), s, mem, st); errno != ErrnoSuccess {
			b.Fatal(errno)
		}
	}
}
