package wasi

import (
	"context"
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// dirState is what the System keeps for a directory fd: the mount it belongs to and
// its fd_readdir listing.
//
// # Notes
//
//   - Cookies are indexes into a listing taken when the guest reads from cookie 0
//     (the start, or a rewind) or has none yet: entry i has d_next i+1. The listing is
//     kept until the next rewind, so a cookie stays valid however the directory
//     changes meanwhile: a guest that removes entries while it reads (rm -r) neither
//     skips nor repeats any. New entries appear at the next rewind, which POSIX allows
//     (readdir may or may not report entries added after opendir/rewinddir).
//   - The listing is held encoded as fd_readdir writes it, so a call is a single copy
//     into guest memory: O(n) for a whole directory, where wasmtime reads the
//     directory again on every call.
//   - "." and ".." come first, with cookies 1 and 2, both with the directory's own
//     inode, as wasmtime gives them (the host's ".." of a mount's root is outside the
//     mount, and its inode is none of the guest's business).
type dirState struct {
	// mount identifies the mount the directory belongs to: the preopen's entry. Links
	// and renames between mounts are ErrnoXdev, as between bind mounts on Linux.
	mount *fdEntry

	listed bool
	buf    []byte   // the encoded dirents, back to back
	offs   []uint32 // offs[i]: where entry i (cookie i) starts in buf
}

// direntSize is the size of witx's $dirent: d_next u64 @0, d_ino u64 @8, d_namlen u32
// @16, d_type u8 @20, 3 bytes of padding; the name follows.
const direntSize = 24

// dirs returns the directory state of a directory entry, creating it for preopens
// (which belong to their own mount).
func (e *fdEntry) dirs() *dirState {
	if e.dir == nil {
		e.dir = &dirState{mount: e}
	}
	return e.dir
}

func (d *dirState) add(ino uint64, typ Filetype, name string) {
	d.offs = append(d.offs, uint32(len(d.buf)))
	var h [direntSize]byte
	binary.LittleEndian.PutUint64(h[0:], uint64(len(d.offs)))
	binary.LittleEndian.PutUint64(h[8:], ino)
	binary.LittleEndian.PutUint32(h[16:], uint32(len(name)))
	h[20] = byte(typ)
	d.buf = append(append(d.buf, h[:]...), name...)
}

// list reads the whole directory of fd.
func (d *dirState) list(fd int) error {
	d.buf, d.offs, d.listed = d.buf[:0], d.offs[:0], false
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	d.add(st.Ino, FiletypeDirectory, ".")
	d.add(st.Ino, FiletypeDirectory, "..")
	if _, err := unix.Seek(fd, 0, 0); err != nil {
		return err
	}
	var scratch [16 << 10]byte
	for {
		n, err := unix.Getdents(fd, scratch[:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n <= 0 {
			break
		}
		for b := scratch[:n]; len(b) >= 19; {
			// linux_dirent64: d_ino u64, d_off s64, d_reclen u16, d_type u8, d_name.
			reclen := int(binary.LittleEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				break
			}
			ino := binary.LittleEndian.Uint64(b[0:])
			dt := b[18]
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			b = b[reclen:]
			if string(name) == "." || string(name) == ".." {
				continue
			}
			typ := direntType(dt)
			if dt == unix.DT_UNKNOWN {
				var sb unix.Stat_t
				if unix.Fstatat(fd, string(name), &sb, unix.AT_SYMLINK_NOFOLLOW) == nil {
					typ = filetypeOfMode(sb.Mode, -1)
				}
			}
			d.add(ino, typ, string(name))
		}
	}
	d.listed = true
	return nil
}

func direntType(dt byte) Filetype {
	switch dt {
	case unix.DT_REG:
		return FiletypeRegularFile
	case unix.DT_DIR:
		return FiletypeDirectory
	case unix.DT_LNK:
		return FiletypeSymbolicLink
	case unix.DT_CHR:
		return FiletypeCharacterDevice
	case unix.DT_BLK:
		return FiletypeBlockDevice
	case unix.DT_SOCK:
		return FiletypeSocketStream
	}
	return FiletypeUnknown
}

// fdReaddir fills the guest's buffer with dirents from cookie on. As the witx says,
// the buffer is filled completely when more entries remain, the last one cut short,
// so bufused < buf_len means the end of the directory was reached.
func fdReaddir(_ context.Context, s *System, mem []byte, st []uint64) Errno {
	e, errno := s.fds.get(uint32(st[0]))
	if errno != ErrnoSuccess {
		return errno
	}
	if e.typ != FiletypeDirectory || e.hostfd < 0 {
		return ErrnoBadf // wasmtime; Linux's getdents says ENOTDIR
	}
	if !e.has(RightFdReaddir) {
		return ErrnoNotcapable
	}
	buf, ok := slice(mem, uint32(st[1]), uint32(st[2]))
	if !ok {
		return ErrnoFault
	}
	out := uint32(st[4])
	if _, ok := slice(mem, out, 4); !ok {
		return ErrnoFault
	}
	cookie := st[3]
	d := e.dirs()
	if cookie == 0 || !d.listed {
		if err := d.list(e.hostfd); err != nil {
			return ErrnoOf(err)
		}
	}
	n := 0
	if cookie < uint64(len(d.offs)) {
		n = copy(buf, d.buf[d.offs[cookie]:])
	}
	writeU32(mem, out, uint32(n))
	return ErrnoSuccess
}
