package wasi

import (
	"context"
	"crypto/rand"
	"errors"
	"io"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// coreFuncs are the functions that are not about files, polling or sockets: arguments,
// environment, clocks, randomness, process, and the fd operations every guest uses
// (read, write, close, fdstat, prestat, renumber).
func coreFuncs() []Func {
	return []Func{
		fn("args_get", i32s(2), argsGet),
		fn("args_sizes_get", i32s(2), argsSizesGet),
		fn("environ_get", i32s(2), environGet),
		fn("environ_sizes_get", i32s(2), environSizesGet),
		fn("clock_res_get", i32s(2), clockResGet),
		fn("clock_time_get", params("iIi"), clockTimeGet),
		fn("random_get", i32s(2), randomGet),
		{Name: "proc_exit", Params: i32s(1), Call: procExit},
		fn("proc_raise", i32s(1), procRaise),
		fn("sched_yield", nil, schedYield),
		fn("fd_read", i32s(4), fdRead),
		fn("fd_write", i32s(4), fdWrite),
		fn("fd_close", i32s(1), fdClose),
		fn("fd_fdstat_get", i32s(2), fdFdstatGet),
		fn("fd_prestat_get", i32s(2), fdPrestatGet),
		fn("fd_prestat_dir_name", i32s(3), fdPrestatDirName),
		fn("fd_renumber", i32s(2), fdRenumber),
	}
}

// --- arguments and environment ---

func argsGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return writeStrings(mem, s.args, s.argsBuf, uint32(st[0]), uint32(st[1]))
}

func argsSizesGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return writeSizes(mem, len(s.args), len(s.argsBuf), uint32(st[0]), uint32(st[1]))
}

func environGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return writeStrings(mem, s.env, s.envBuf, uint32(st[0]), uint32(st[1]))
}

func environSizesGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return writeSizes(mem, len(s.env), len(s.envBuf), uint32(st[0]), uint32(st[1]))
}

// writeStrings writes the pointer array at ptrs and the NUL-terminated strings (buf, as
// nulJoin made it) at bufPtr, checking both fit before writing anything.
func writeStrings(mem []byte, ss []string, buf []byte, ptrs, bufPtr uint32) Errno {
	arr, ok := slice(mem, ptrs, uint32(len(ss))*4)
	if !ok {
		return ErrnoFault
	}
	dst, ok := slice(mem, bufPtr, uint32(len(buf)))
	if !ok {
		return ErrnoFault
	}
	copy(dst, buf)
	off := bufPtr
	for i, s := range ss {
		writeU32(arr, uint32(i)*4, off)
		off += uint32(len(s)) + 1
	}
	return ErrnoSuccess
}

func writeSizes(mem []byte, n, size int, countPtr, sizePtr uint32) Errno {
	if !writeU32(mem, countPtr, uint32(n)) || !writeU32(mem, sizePtr, uint32(size)) {
		return ErrnoFault
	}
	return ErrnoSuccess
}

// --- clocks ---

// Clock ids (witx $clockid).
const (
	ClockRealtime uint32 = iota
	ClockMonotonic
	ClockProcessCputime
	ClockThreadCputime
)

func clockResGet(_ context.Context, _ *System, mem []byte, st []uint64) Errno {
	var res uint64
	switch uint32(st[0]) {
	case ClockRealtime, ClockMonotonic:
		res = 1
	case ClockProcessCputime, ClockThreadCputime:
		var ts unix.Timespec
		if unix.ClockGetres(cpuClock(uint32(st[0])), &ts) != nil {
			return ErrnoInval
		}
		res = uint64(ts.Nano())
	default:
		return ErrnoInval
	}
	if !writeU64(mem, uint32(st[1]), res) {
		return ErrnoFault
	}
	return ErrnoSuccess
}

func clockTimeGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	t, errno := s.now(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if !writeU64(mem, uint32(st[2]), t) {
		return ErrnoFault
	}
	return ErrnoSuccess
}

// now reads clock id in nanoseconds.
//
// # Notes
//
//   - The monotonic clock is the host's CLOCK_MONOTONIC, read through Go's vDSO path
//     (time.Since on a reading taken at New), so guests that read it in a loop do not
//     pay a system call per read.
//   - The CPU-time clocks are the host process's and thread's. In berth each container
//     has a process of its own (berth-guest under the shim), and its guest runs on one
//     locked thread, so they measure the guest.
func (s *System) now(id uint32) (uint64, Errno) {
	switch id {
	case ClockRealtime:
		return uint64(time.Now().UnixNano()), ErrnoSuccess
	case ClockMonotonic:
		return s.monoBase + uint64(time.Since(s.start)), ErrnoSuccess
	case ClockProcessCputime, ClockThreadCputime:
		var ts unix.Timespec
		if unix.ClockGettime(cpuClock(id), &ts) != nil {
			return 0, ErrnoInval
		}
		return uint64(ts.Nano()), ErrnoSuccess
	}
	return 0, ErrnoInval
}

func cpuClock(id uint32) int32 {
	if id == ClockProcessCputime {
		return unix.CLOCK_PROCESS_CPUTIME_ID
	}
	return unix.CLOCK_THREAD_CPUTIME_ID
}

// --- random, process, scheduling ---

func randomGet(_ context.Context, _ *System, mem []byte, st []uint64) Errno {
	b, ok := slice(mem, uint32(st[0]), uint32(st[1]))
	if !ok {
		return ErrnoFault
	}
	if _, err := rand.Read(b); err != nil {
		return ErrnoIo
	}
	return ErrnoSuccess
}

func procExit(_ context.Context, s *System, _ []byte, st []uint64) {
	s.exit(uint32(st[0]))
}

// procRaise is not supported: a Wasm guest has no signal handlers to run, and raising a
// fatal signal would take down the host process. wazero answers ENOSYS as well.
func procRaise(context.Context, *System, []byte, []uint64) Errno { return ErrnoNosys }

func schedYield(context.Context, *System, []byte, []uint64) Errno {
	runtime.Gosched()
	return ErrnoSuccess
}

// --- fd_read, fd_write ---

func fdRead(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return s.fdIO(mem, st, s.readv)
}

func fdWrite(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	return s.fdIO(mem, st, s.writev)
}

// fdIO is fd_read and fd_write: (fd, iovs, iovs_len, result_ptr), with do the transfer.
func (s *System) fdIO(mem []byte, st []uint64, do func(*fdEntry, [][]byte) (int, Errno)) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	iovs, errno := iovecs(s.iovs[:0], mem, uint32(st[1]), uint32(st[2]))
	s.iovs = iovs[:0]
	if errno != ErrnoSuccess {
		return errno
	}
	n, errno := do(e, iovs)
	if errno != ErrnoSuccess {
		return errno
	}
	if !writeU32(mem, uint32(st[3]), uint32(n)) {
		return ErrnoFault
	}
	return ErrnoSuccess
}

// readv reads into iovs from e, blocking (interruptibly) unless the guest set
// FdflagNonblock. It returns 0 at end of file.
func (s *System) readv(e *fdEntry, iovs [][]byte) (int, Errno) {
	if e.rd != nil {
		total := 0
		for _, b := range iovs {
			if len(b) == 0 {
				continue
			}
			n, err := e.rd.Read(b)
			total += n
			if err != nil && !errors.Is(err, io.EOF) && total == 0 {
				return 0, ErrnoOf(err)
			}
			if err != nil || n < len(b) {
				break
			}
		}
		return total, ErrnoSuccess
	}
	if e.hostfd < 0 || e.wr != nil {
		return 0, ErrnoBadf
	}
	return s.retryIO(e, unix.POLLIN, func() (int, error) { return readIovs(e.hostfd, iovs) })
}

// writev writes iovs to e, blocking (interruptibly) unless the guest set
// FdflagNonblock. A short count is a short write, as in POSIX.
func (s *System) writev(e *fdEntry, iovs [][]byte) (int, Errno) {
	if e.wr != nil {
		total := 0
		for _, b := range iovs {
			if len(b) == 0 {
				continue
			}
			n, err := e.wr.Write(b)
			total += n
			if err != nil {
				if total == 0 {
					return 0, ErrnoOf(err)
				}
				break
			}
		}
		return total, ErrnoSuccess
	}
	if e.hostfd < 0 || e.rd != nil {
		return 0, ErrnoBadf
	}
	if e.ro && e.typ == FiletypeRegularFile {
		return 0, ErrnoBadf
	}
	return s.retryIO(e, unix.POLLOUT, func() (int, error) { return writeIovs(e.hostfd, iovs) })
}

// --- fd table operations ---

func fdClose(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	fd := uint32(st[0])
	if _, errno := s.fds.get(fd); errno != ErrnoSuccess {
		return errno
	}
	if err := s.fds.remove(fd).close(); err != nil {
		return ErrnoOf(err)
	}
	return ErrnoSuccess
}

// fdRenumber moves fd from onto to, closing what to held, as wasmtime does: both must
// be open (EBADF otherwise), and renumbering an fd onto itself does nothing.
func fdRenumber(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	from, to := uint32(st[0]), uint32(st[1])
	e, errno := s.fds.get(from)
	if errno != ErrnoSuccess {
		return errno
	}
	old, errno := s.fds.get(to)
	if errno != ErrnoSuccess {
		return errno
	}
	if from == to {
		return ErrnoSuccess
	}
	s.fds.e[to] = e
	s.fds.remove(from)
	_ = old.close()
	return ErrnoSuccess
}

// fdFdstatGet writes the 24-byte fdstat: filetype u8 @0, flags u16 @2, rights base u64
// @8, rights inheriting u64 @16.
func fdFdstatGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	b, ok := slice(mem, uint32(st[1]), 24)
	if !ok {
		return ErrnoFault
	}
	clear(b)
	b[0] = byte(e.typ)
	writeU16(b, 2, e.flags)
	writeU64(b, 8, e.base)
	writeU64(b, 16, e.inherit)
	return ErrnoSuccess
}

// fdPrestatGet writes the 8-byte prestat of a preopened directory: tag u8 @0 (0, a
// directory), name length u32 @4. Other fds are EBADF, which is how guests (wasi-libc,
// Go) find the end of the preopens.
func fdPrestatGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if e.preopen == "" {
		return ErrnoBadf
	}
	b, ok := slice(mem, uint32(st[1]), 8)
	if !ok {
		return ErrnoFault
	}
	clear(b)
	writeU32(b, 4, uint32(len(e.preopen)))
	return ErrnoSuccess
}

// fdPrestatDirName copies a preopen's guest path, without a NUL. A buffer shorter than
// the name is ENAMETOOLONG (wasmtime); a longer one gets the name and the rest is left
// as it was.
func fdPrestatDirName(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if e.preopen == "" {
		return ErrnoBadf
	}
	if uint32(st[2]) < uint32(len(e.preopen)) {
		return ErrnoNametoolong
	}
	b, ok := slice(mem, uint32(st[1]), uint32(len(e.preopen)))
	if !ok {
		return ErrnoFault
	}
	copy(b, e.preopen)
	return ErrnoSuccess
}

// writeIovs is writev(2), or write(2) for the common single iovec: the kernel's writev
// path costs measurably more per call, and guests write one buffer at a time far more
// often than several (1 M one-byte fd_write to a pipe is one of our benchmarks).
func writeIovs(fd int, iovs [][]byte) (int, error) {
	if len(iovs) == 1 {
		return unix.Write(fd, iovs[0])
	}
	return unix.Writev(fd, iovs)
}

// readIovs is readv(2), or read(2) for a single iovec (see writeIovs).
func readIovs(fd int, iovs [][]byte) (int, error) {
	if len(iovs) == 1 {
		return unix.Read(fd, iovs[0])
	}
	return unix.Readv(fd, iovs)
}
