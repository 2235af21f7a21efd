package wasi

import (
	"context"
	"encoding/binary"
	"math"
	"unsafe"

	"golang.org/x/sys/unix"
)

// fsFuncs are the file-system functions other than those in core.go: the remaining
// fd_* and every path_*.
//
// # Notes
//
//   - Which fd kinds an operation accepts follows wasmtime's preview1: operations on
//     file contents (advise, allocate, datasync, set_size, set_flags, pread, pwrite,
//     seek, tell) want a regular file (or block device); a directory is ErrnoBadf,
//     and seeking or positioned I/O on stdio, pipes, character devices and sockets is
//     ErrnoSpipe. fd_sync, fd_datasync and fd_filestat_set_times also accept
//     directories (fsync of a directory is meaningful; wasmtime refuses sync on them).
//   - Rights are checked after the kind, so a right the guest dropped with
//     fd_fdstat_set_rights (or never had) is ErrnoNotcapable, as in the witx model.
//   - Read-only mounts: every change through an fd of such a mount is ErrnoRofs,
//     which is what a Linux process gets on a read-only bind mount (Docker's :ro).
func fsFuncs() []Func {
	return []Func{
		fn("fd_advise", params("iIIi"), fdAdvise),
		fn("fd_allocate", params("iII"), fdAllocate),
		fn("fd_datasync", i32s(1), fdDatasync),
		fn("fd_fdstat_set_flags", i32s(2), fdFdstatSetFlags),
		fn("fd_fdstat_set_rights", params("iII"), fdFdstatSetRights),
		fn("fd_filestat_get", i32s(2), fdFilestatGet),
		fn("fd_filestat_set_size", params("iI"), fdFilestatSetSize),
		fn("fd_filestat_set_times", params("iIIi"), fdFilestatSetTimes),
		fn("fd_pread", params("iiiIi"), fdPread),
		fn("fd_pwrite", params("iiiIi"), fdPwrite),
		fn("fd_readdir", params("iiiIi"), fdReaddir),
		fn("fd_seek", params("iIii"), fdSeek),
		fn("fd_sync", i32s(1), fdSync),
		fn("fd_tell", i32s(2), fdTell),
		fn("path_create_directory", i32s(3), pathCreateDirectory),
		fn("path_filestat_get", i32s(5), pathFilestatGet),
		fn("path_filestat_set_times", params("iiiiIIi"), pathFilestatSetTimes),
		fn("path_link", i32s(7), pathLink),
		fn("path_open", params("iiiiiIIii"), pathOpen),
		fn("path_readlink", i32s(6), pathReadlink),
		fn("path_remove_directory", i32s(3), pathRemoveDirectory),
		fn("path_rename", i32s(6), pathRename),
		fn("path_symlink", i32s(5), pathSymlink),
		fn("path_unlink_file", i32s(3), pathUnlinkFile),
	}
}

// isFile reports whether e's contents are addressable by offset.
func (e *fdEntry) isFile() bool {
	return (e.typ == FiletypeRegularFile || e.typ == FiletypeBlockDevice) && e.hostfd >= 0
}

// fileFd returns the entry of fd if it is a file with rights: a directory, stdio, a
// pipe or a socket is ErrnoBadf (wasmtime), missing rights ErrnoNotcapable.
func (s *System) fileFd(fd uint32, rights uint64) (*fdEntry, Errno) {
	e, errno := s.fds.get(fd)
	if errno != ErrnoSuccess {
		return nil, errno
	}
	if !e.isFile() {
		return nil, ErrnoBadf
	}
	if !e.has(rights) {
		return nil, ErrnoNotcapable
	}
	return e, ErrnoSuccess
}

// seekableFd is fileFd for seeking and positioned I/O, where a stream is ErrnoSpipe
// (what lseek and pread give on a pipe) and a directory ErrnoBadf (wasmtime).
func (s *System) seekableFd(fd uint32, rights uint64) (*fdEntry, Errno) {
	e, errno := s.fds.get(fd)
	if errno != ErrnoSuccess {
		return nil, errno
	}
	switch {
	case e.isFile():
	case e.typ == FiletypeDirectory:
		return nil, ErrnoBadf
	default:
		return nil, ErrnoSpipe
	}
	if !e.has(rights) {
		return nil, ErrnoNotcapable
	}
	return e, ErrnoSuccess
}

// Advice (witx $advice) in WASI order, which differs from Linux's.
var fadvice = [...]int{
	unix.FADV_NORMAL, unix.FADV_SEQUENTIAL, unix.FADV_RANDOM,
	unix.FADV_WILLNEED, unix.FADV_DONTNEED, unix.FADV_NOREUSE,
}

func fdAdvise(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.fileFd(uint32(st[0]), RightFdAdvise)
	if errno != ErrnoSuccess {
		return errno
	}
	off, n, advice := st[1], st[2], uint32(st[3])
	if advice >= uint32(len(fadvice)) || off > math.MaxInt64 || n > math.MaxInt64 {
		return ErrnoInval
	}
	return ErrnoOf(unix.Fadvise(e.hostfd, int64(off), int64(n), fadvice[advice]))
}

// fdAllocate is posix_fallocate. wasmtime answers ErrnoNotsup for every file; we do
// what the witx says, and pass the host's answer on (ErrnoNotsup where the host file
// system cannot allocate).
func fdAllocate(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.fileFd(uint32(st[0]), RightFdAllocate)
	if errno != ErrnoSuccess {
		return errno
	}
	if e.ro {
		return ErrnoRofs
	}
	off, n := st[1], st[2]
	if off > math.MaxInt64 || n > math.MaxInt64 {
		return ErrnoInval
	}
	if off+n > math.MaxInt64 {
		return ErrnoFbig
	}
	for {
		err := unix.Fallocate(e.hostfd, 0, int64(off), int64(n))
		if err != unix.EINTR {
			if err == unix.EOPNOTSUPP {
				return ErrnoNotsup
			}
			return ErrnoOf(err)
		}
	}
}

// syncFd accepts files and directories.
func (s *System) syncFd(fd uint32, rights uint64) (*fdEntry, Errno) {
	e, errno := s.fds.get(fd)
	if errno != ErrnoSuccess {
		return nil, errno
	}
	if !e.isFile() && !(e.typ == FiletypeDirectory && e.hostfd >= 0) {
		return nil, ErrnoBadf
	}
	if !e.has(rights) {
		return nil, ErrnoNotcapable
	}
	return e, ErrnoSuccess
}

func fdDatasync(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.syncFd(uint32(st[0]), RightFdDatasync)
	if errno != ErrnoSuccess {
		return errno
	}
	return ErrnoOf(retryFS(func() error { return unix.Fdatasync(e.hostfd) }))
}

func fdSync(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.syncFd(uint32(st[0]), RightFdSync)
	if errno != ErrnoSuccess {
		return errno
	}
	return ErrnoOf(retryFS(func() error { return unix.Fsync(e.hostfd) }))
}

func retryFS(f func() error) error {
	for {
		if err := f(); err != unix.EINTR {
			return err
		}
	}
}

const (
	allFdflags  = FdflagAppend | FdflagDsync | FdflagNonblock | FdflagRsync | FdflagSync
	syncFdflags = FdflagDsync | FdflagRsync | FdflagSync
)

// fdFdstatSetFlags changes an fd's flags.
//
// # Notes
//
//   - Linux cannot change O_SYNC or O_DSYNC on an open file (F_SETFL ignores them),
//     so a request that changes the sync flags is ErrnoInval, as in wasmtime; passing
//     back the sync flags the fd was opened with is accepted, so the usual
//     fcntl(F_SETFL, fcntl(F_GETFL) | O_NONBLOCK) works.
//   - Append is set on the host file of regular files. Nonblock is only recorded: the
//     host descriptors of pipes and sockets may be nonblocking at host level, and
//     readv/writev (core.go) block for the guest unless it asked for FdflagNonblock.
//     Stdio's host descriptors are shared with the host process and never changed.
//   - Directories are ErrnoBadf, as in wasmtime.
func fdFdstatSetFlags(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if e.typ == FiletypeDirectory {
		return ErrnoBadf
	}
	if !e.has(RightFdFdstatSetFlags) {
		return ErrnoNotcapable
	}
	flags := uint16(st[1])
	if flags&^allFdflags != 0 || flags&syncFdflags != e.flags&syncFdflags {
		return ErrnoInval
	}
	if e.typ == FiletypeRegularFile && e.hostfd >= 0 && (e.owned || e.file != nil) &&
		(flags^e.flags)&FdflagAppend != 0 {
		fl, err := unix.FcntlInt(uintptr(e.hostfd), unix.F_GETFL, 0)
		if err != nil {
			return ErrnoOf(err)
		}
		if flags&FdflagAppend != 0 {
			fl |= unix.O_APPEND
		} else {
			fl &^= unix.O_APPEND
		}
		if _, err := unix.FcntlInt(uintptr(e.hostfd), unix.F_SETFL, fl); err != nil {
			return ErrnoOf(err)
		}
	}
	e.flags = flags
	return ErrnoSuccess
}

// fdFdstatSetRights can only drop rights: asking for one the fd does not have is
// ErrnoNotcapable (the witx model; wasmtime ignores the call).
func fdFdstatSetRights(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	base, inherit := st[1], st[2]
	if base&^e.base != 0 || inherit&^e.inherit != 0 {
		return ErrnoNotcapable
	}
	e.base, e.inherit = base, inherit
	return ErrnoSuccess
}

// writeFilestat writes the 64-byte filestat: dev u64 @0, ino u64 @8, filetype u8 @16,
// nlink u64 @24, size u64 @32, atim u64 @40, mtim u64 @48, ctim u64 @56.
func writeFilestat(b []byte, st *unix.Stat_t, typ Filetype) {
	clear(b[:64])
	binary.LittleEndian.PutUint64(b[0:], st.Dev)
	binary.LittleEndian.PutUint64(b[8:], st.Ino)
	b[16] = byte(typ)
	binary.LittleEndian.PutUint64(b[24:], uint64(st.Nlink))
	binary.LittleEndian.PutUint64(b[32:], uint64(max(st.Size, 0)))
	binary.LittleEndian.PutUint64(b[40:], uint64(max(st.Atim.Nano(), 0)))
	binary.LittleEndian.PutUint64(b[48:], uint64(max(st.Mtim.Nano(), 0)))
	binary.LittleEndian.PutUint64(b[56:], uint64(max(st.Ctim.Nano(), 0)))
}

// fdFilestatGet stats any fd. Stdio that is a Go reader or writer (no host descriptor)
// has an all-zero filestat of its filetype, as wasmtime gives for stdio.
func fdFilestatGet(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if !e.has(RightFdFilestatGet) {
		return ErrnoNotcapable
	}
	b, ok := slice(mem, uint32(st[1]), 64)
	if !ok {
		return ErrnoFault
	}
	var sb unix.Stat_t
	if e.hostfd >= 0 {
		if err := unix.Fstat(e.hostfd, &sb); err != nil {
			return ErrnoOf(err)
		}
	}
	writeFilestat(b, &sb, e.typ)
	return ErrnoSuccess
}

func fdFilestatSetSize(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.fileFd(uint32(st[0]), RightFdFilestatSetSize)
	if errno != ErrnoSuccess {
		return errno
	}
	if e.ro {
		return ErrnoRofs
	}
	if st[1] > math.MaxInt64 {
		return ErrnoInval
	}
	return ErrnoOf(retryFS(func() error { return unix.Ftruncate(e.hostfd, int64(st[1])) }))
}

// Fstflags (witx $fstflags).
const (
	fstAtim    = 1 << 0
	fstAtimNow = 1 << 1
	fstMtim    = 1 << 2
	fstMtimNow = 1 << 3
)

// timespecs turns set_times arguments into utimensat's, or ErrnoInval for unknown
// flags, a time and "now" both set for one timestamp, or a time past int64.
func timespecs(atim, mtim uint64, flags uint16) ([2]unix.Timespec, Errno) {
	var ts [2]unix.Timespec
	if flags&^0xf != 0 || flags&(fstAtim|fstAtimNow) == fstAtim|fstAtimNow ||
		flags&(fstMtim|fstMtimNow) == fstMtim|fstMtimNow {
		return ts, ErrnoInval
	}
	one := func(t uint64, set, now bool) (unix.Timespec, Errno) {
		switch {
		case now:
			return unix.Timespec{Nsec: unix.UTIME_NOW}, ErrnoSuccess
		case set:
			if t > math.MaxInt64 {
				return unix.Timespec{}, ErrnoInval
			}
			return unix.NsecToTimespec(int64(t)), ErrnoSuccess
		}
		return unix.Timespec{Nsec: unix.UTIME_OMIT}, ErrnoSuccess
	}
	var errno Errno
	if ts[0], errno = one(atim, flags&fstAtim != 0, flags&fstAtimNow != 0); errno != ErrnoSuccess {
		return ts, errno
	}
	ts[1], errno = one(mtim, flags&fstMtim != 0, flags&fstMtimNow != 0)
	return ts, errno
}

// futimens sets the times of the file fd refers to (utimensat with a NULL path, which
// x/sys/unix does not expose).
func futimens(fd int, ts *[2]unix.Timespec) error {
	return retryFS(func() error {
		_, _, e := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(ts)), 0, 0, 0)
		if e != 0 {
			return e
		}
		return nil
	})
}

func fdFilestatSetTimes(_ context.Context, s *System, _ []byte, st []uint64) Errno {
	e, errno := s.syncFd(uint32(st[0]), RightFdFilestatSetTimes)
	if errno != ErrnoSuccess {
		return errno
	}
	ts, errno := timespecs(st[1], st[2], uint16(st[3]))
	if errno != ErrnoSuccess {
		return errno
	}
	if e.ro {
		return ErrnoRofs
	}
	return ErrnoOf(futimens(e.hostfd, &ts))
}

// fdPread reads at an offset without moving the fd's position (preadv).
func fdPread(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.seekableFd(uint32(st[0]), RightFdRead|RightFdSeek)
	if errno != ErrnoSuccess {
		return errno
	}
	return s.positioned(e, mem, st, false)
}

// fdPwrite writes at an offset without moving the fd's position (pwritev). On a file
// opened with FdflagAppend, Linux appends whatever the offset (wasmtime does the same).
func fdPwrite(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.seekableFd(uint32(st[0]), RightFdWrite|RightFdSeek)
	if errno != ErrnoSuccess {
		return errno
	}
	if e.ro {
		return ErrnoRofs
	}
	return s.positioned(e, mem, st, true)
}

// positioned is the body of fd_pread and fd_pwrite: st holds fd, iovs, iovs_len,
// offset, result pointer.
func (s *System) positioned(e *fdEntry, mem []byte, st []uint64, write bool) Errno {
	out := uint32(st[4])
	if _, ok := slice(mem, out, 4); !ok {
		return ErrnoFault
	}
	iovs, errno := iovecs(s.iovs[:0], mem, uint32(st[1]), uint32(st[2]))
	s.iovs = iovs[:0]
	if errno != ErrnoSuccess {
		return errno
	}
	off := st[3]
	if off > math.MaxInt64 {
		return ErrnoInval
	}
	var n int
	var err error
	for {
		if write {
			n, err = unix.Pwritev(e.hostfd, iovs, int64(off))
		} else {
			n, err = unix.Preadv(e.hostfd, iovs, int64(off))
		}
		if err != unix.EINTR {
			break
		}
	}
	clear(iovs) // drop the references to guest memory
	if err != nil {
		return ErrnoOf(err)
	}
	writeU32(mem, out, uint32(n))
	return ErrnoSuccess
}

// Whence (witx $whence).
const (
	whenceSet = 0
	whenceCur = 1
	whenceEnd = 2
)

// fdSeek is lseek. Rights: FdSeek, or FdTell for the position query (offset 0 from
// the current position), as the witx notes.
func fdSeek(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	off, whence, out := int64(st[1]), uint32(st[2]), uint32(st[3])
	need := RightFdSeek
	if whence == whenceCur && off == 0 {
		need = RightFdTell
	}
	e, errno := s.seekableFd(uint32(st[0]), need)
	if errno != ErrnoSuccess {
		return errno
	}
	if whence > whenceEnd {
		return ErrnoInval
	}
	if _, ok := slice(mem, out, 8); !ok {
		return ErrnoFault
	}
	pos, err := unix.Seek(e.hostfd, off, int(whence))
	if err != nil {
		return ErrnoOf(err)
	}
	writeU64(mem, out, uint64(pos))
	return ErrnoSuccess
}

func fdTell(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.seekableFd(uint32(st[0]), RightFdTell)
	if errno != ErrnoSuccess {
		return errno
	}
	out := uint32(st[1])
	if _, ok := slice(mem, out, 8); !ok {
		return ErrnoFault
	}
	pos, err := unix.Seek(e.hostfd, 0, whenceCur)
	if err != nil {
		return ErrnoOf(err)
	}
	writeU64(mem, out, uint64(pos))
	return ErrnoSuccess
}
