package wasi

import (
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// Filetype is witx's $filetype.
type Filetype uint8

const (
	FiletypeUnknown Filetype = iota
	FiletypeBlockDevice
	FiletypeCharacterDevice
	FiletypeDirectory
	FiletypeRegularFile
	FiletypeSocketDgram
	FiletypeSocketStream
	FiletypeSymbolicLink
)

// Rights (witx $rights): what an fd may be used for.
const (
	RightFdDatasync uint64 = 1 << iota
	RightFdRead
	RightFdSeek
	RightFdFdstatSetFlags
	RightFdSync
	RightFdTell
	RightFdWrite
	RightFdAdvise
	RightFdAllocate
	RightPathCreateDirectory
	RightPathCreateFile
	RightPathLinkSource
	RightPathLinkTarget
	RightPathOpen
	RightFdReaddir
	RightPathReadlink
	RightPathRenameSource
	RightPathRenameTarget
	RightPathFilestatGet
	RightPathFilestatSetSize
	RightPathFilestatSetTimes
	RightFdFilestatGet
	RightFdFilestatSetSize
	RightFdFilestatSetTimes
	RightPathSymlink
	RightPathRemoveDirectory
	RightPathUnlinkFile
	RightPollFdReadwrite
	RightSockShutdown
	RightSockAccept

	allRights = RightSockAccept<<1 - 1
)

// The rights of each kind of fd, as wasmtime grants them.
const (
	fileRights = RightFdDatasync | RightFdRead | RightFdSeek | RightFdFdstatSetFlags |
		RightFdSync | RightFdTell | RightFdWrite | RightFdAdvise | RightFdAllocate |
		RightFdFilestatGet | RightFdFilestatSetSize | RightFdFilestatSetTimes | RightPollFdReadwrite
	dirRights = RightFdFdstatSetFlags | RightFdSync | RightFdDatasync |
		RightPathCreateDirectory | RightPathCreateFile | RightPathLinkSource |
		RightPathLinkTarget | RightPathOpen | RightFdReaddir | RightPathReadlink |
		RightPathRenameSource | RightPathRenameTarget | RightPathFilestatGet |
		RightPathFilestatSetSize | RightPathFilestatSetTimes | RightFdFilestatGet |
		RightFdFilestatSetTimes | RightPathSymlink | RightPathRemoveDirectory |
		RightPathUnlinkFile
	// streamRights are those of stdio, pipes and character devices.
	streamRights = RightFdRead | RightFdWrite | RightFdFdstatSetFlags | RightFdFilestatGet |
		RightPollFdReadwrite
	sockRights = RightFdRead | RightFdWrite | RightFdFdstatSetFlags | RightFdFilestatGet |
		RightPollFdReadwrite | RightSockShutdown | RightSockAccept
)

// Fd flags (witx $fdflags).
const (
	FdflagAppend   uint16 = 1 << 0
	FdflagDsync    uint16 = 1 << 1
	FdflagNonblock uint16 = 1 << 2
	FdflagRsync    uint16 = 1 << 3
	FdflagSync     uint16 = 1 << 4
)

// fdEntry is one open fd of a guest.
type fdEntry struct {
	typ     Filetype
	base    uint64 // rights
	inherit uint64 // rights inherited by fds opened through this one
	flags   uint16 // fdflags the guest set or opened with

	// hostfd is the host descriptor the guest's operations go to, or -1 for stdio that is
	// a Go reader or writer (rd, wr) rather than a file.
	hostfd int
	// file owns hostfd when the host opened it through os (files, directories); nil
	// for raw descriptors the System owns itself (sockets) and for stdio.
	file *os.File
	// owned: the System closes hostfd (directly, or through file).
	owned bool
	rd    io.Reader
	wr    io.Writer

	root    *os.Root // directories: every path operation goes through it
	preopen string   // guest path of a preopened directory, "" otherwise
	ro      bool     // inside a read-only mount

	dir  *dirState  // fd_readdir cursor (fs.go)
	sock *sockState // socket state (sock.go, wasmedge.go)
}

// close releases what the entry owns.
func (e *fdEntry) close() error {
	var err error
	if e.root != nil {
		err = e.root.Close()
	}
	switch {
	case e.file != nil:
		if cerr := e.file.Close(); err == nil {
			err = cerr
		}
	case e.owned && e.hostfd >= 0:
		if cerr := unix.Close(e.hostfd); err == nil {
			err = cerr
		}
	}
	e.hostfd = -1
	return err
}

// blocking reports whether the guest left the fd in blocking mode (no FdflagNonblock).
func (e *fdEntry) blocking() bool { return e.flags&FdflagNonblock == 0 }

// has reports whether the fd has all of rights.
func (e *fdEntry) has(rights uint64) bool { return e.base&rights == rights }

// maxFDs bounds a guest's fd table, as RLIMIT_NOFILE bounds a process's.
const maxFDs = 1 << 14

// fdTable maps guest fds to entries. The slice index is the guest fd.
type fdTable struct{ e []*fdEntry }

// get returns the entry of fd, or ErrnoBadf.
func (t *fdTable) get(fd uint32) (*fdEntry, Errno) {
	if uint64(fd) >= uint64(len(t.e)) || t.e[fd] == nil {
		return nil, ErrnoBadf
	}
	return t.e[fd], ErrnoSuccess
}

// insert gives e the lowest free fd, as POSIX open does.
func (t *fdTable) insert(e *fdEntry) (uint32, Errno) {
	for i, x := range t.e {
		if x == nil {
			t.e[i] = e
			return uint32(i), ErrnoSuccess
		}
	}
	if len(t.e) >= maxFDs {
		return 0, ErrnoMfile
	}
	t.e = append(t.e, e)
	return uint32(len(t.e) - 1), ErrnoSuccess
}

// remove takes fd out of the table and returns its entry (nil if none).
func (t *fdTable) remove(fd uint32) *fdEntry {
	if uint64(fd) >= uint64(len(t.e)) {
		return nil
	}
	e := t.e[fd]
	t.e[fd] = nil
	for len(t.e) > 0 && t.e[len(t.e)-1] == nil {
		t.e = t.e[:len(t.e)-1]
	}
	return e
}

// stdioEntry makes the entry of fd 0, 1 or 2. An *os.File is used through its
// descriptor; any other reader or writer through Go calls; nil reads as empty and
// discards writes.
func stdioEntry(r io.Reader, w io.Writer, input bool) *fdEntry {
	e := &fdEntry{typ: FiletypeCharacterDevice, hostfd: -1, base: streamRights}
	var f *os.File
	if input {
		f, _ = r.(*os.File)
		if r == nil {
			e.rd = eofReader{}
		} else if f == nil {
			e.rd = r
		}
	} else {
		f, _ = w.(*os.File)
		if w == nil {
			e.wr = io.Discard
		} else if f == nil {
			e.wr = w
		}
	}
	if f != nil {
		var fd int
		if sc, err := f.SyscallConn(); err == nil {
			_ = sc.Control(func(p uintptr) { fd = int(p) })
			e.hostfd = fd
			e.typ = hostFiletype(fd)
		}
	}
	return e
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// hostFiletype is the WASI filetype of a host descriptor.
func hostFiletype(fd int) Filetype {
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return FiletypeUnknown
	}
	return filetypeOfMode(st.Mode, fd)
}

func filetypeOfMode(mode uint32, fd int) Filetype {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return FiletypeRegularFile
	case unix.S_IFDIR:
		return FiletypeDirectory
	case unix.S_IFCHR:
		return FiletypeCharacterDevice
	case unix.S_IFBLK:
		return FiletypeBlockDevice
	case unix.S_IFLNK:
		return FiletypeSymbolicLink
	case unix.S_IFSOCK:
		if fd >= 0 {
			if t, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE); err == nil && t == unix.SOCK_DGRAM {
				return FiletypeSocketDgram
			}
		}
		return FiletypeSocketStream
	}
	return FiletypeUnknown // FIFOs: WASI has no type for them
}

// listenerEntry preopens a listening socket: the System works on a duplicate of its
// descriptor, so the caller keeps its file.
func listenerEntry(l *os.File) (*fdEntry, error) {
	sc, err := l.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("wasi: listener %s: %w", l.Name(), err)
	}
	var fd int
	var derr error
	if cerr := sc.Control(func(p uintptr) { fd, derr = unix.FcntlInt(p, unix.F_DUPFD_CLOEXEC, 0) }); cerr != nil {
		return nil, fmt.Errorf("wasi: listener %s: %w", l.Name(), cerr)
	}
	if derr != nil {
		return nil, fmt.Errorf("wasi: listener %s: %w", l.Name(), derr)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("wasi: listener %s: %w", l.Name(), err)
	}
	// FdflagNonblock, as wasmtime's --tcplisten reports it: Go's net.FileListener polls
	// only a listener that says it is non-blocking (else its accept stalls the guest).
	return &fdEntry{typ: FiletypeSocketStream, base: sockRights, flags: FdflagNonblock, hostfd: fd, owned: true,
		sock: &sockState{listener: true}}, nil
}
