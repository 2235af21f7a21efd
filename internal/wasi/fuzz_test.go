package wasi

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FuzzPathResolution sends any path bytes through path_open and path_filestat_get on
// a mount whose neighbourhood holds a secret and whose inside holds symlinks leading
// out: nothing opened or stat'ed may be outside the mount, and nothing may panic.
func FuzzPathResolution(f *testing.F) {
	for _, seed := range []string{
		"f", "d/g", "..", "../secret", "/etc/passwd", "lout", "lup/etc/passwd", "labs",
		"ldd/secret", "d/../../secret", "./././..", "d/", "lf/", "lroot/etc", "", "\x00",
		"d//g", "ld/../../secret", "lloop/x", strings.Repeat("../", 40) + "etc",
	} {
		f.Add([]byte(seed), uint8(1), uint8(0))
		f.Add([]byte(seed), uint8(2), uint8(oflagDirectory))
		f.Add([]byte(seed), uint8(3), uint8(0))
	}
	top, mnt := fixture(f)
	h := mountHarness(f, Mount{HostPath: mnt, GuestPath: "/"})
	d := h.mustOpen(3, "d", oflagDirectory, false)
	outside := map[[2]uint64]string{}
	for _, p := range []string{top, filepath.Join(top, "secret"), filepath.Dir(top), "/", "/etc", "/etc/passwd"} {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			outside[[2]uint64{st.Dev, st.Ino}] = p
		}
	}
	f.Fuzz(func(t *testing.T, path []byte, lookup, oflags uint8) {
		if len(path) > 4096 {
			return
		}
		h.t = t
		for _, dirfd := range []uint32{3, d} {
			p := h.put(path)
			oflags := uint64(oflags) & (oflagDirectory | oflagCreat | oflagExcl)
			rights := fileRights &^ writingRights
			if lookup&2 != 0 {
				rights = 0 // a handle (O_PATH)
			}
			errno := h.call("path_open", uint64(dirfd), uint64(lookup&1), p, uint64(len(path)), oflags,
				rights, 0, 0, 8)
			if errno == ErrnoSuccess {
				fd := h.u32(8)
				e, _ := h.s.fds.get(fd)
				target, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(e.hostfd))
				if err != nil {
					t.Fatal(err)
				}
				if target != mnt && !strings.HasPrefix(target, mnt+"/") {
					t.Fatalf("path_open(%q) opened %s, outside the mount %s", path, target, mnt)
				}
				h.close(fd)
			}
			p = h.put(path)
			errno = h.call("path_filestat_get", uint64(dirfd), uint64(lookup&1), p, uint64(len(path)), 64)
			if errno == ErrnoSuccess {
				key := [2]uint64{h.u64(64), h.u64(64 + 8)}
				if o, ok := outside[key]; ok {
					t.Fatalf("path_filestat_get(%q) reached %s, outside the mount", path, o)
				}
			}
		}
	})
}

// FuzzIovecs calls fd_pread and fd_pwrite with any iovec array, any count and offset,
// in a memory of any size: the errno must be the one the arguments call for (FAULT for
// anything outside memory, INVAL for too many iovecs or an offset past int64) and the
// count never more than the iovecs hold.
func FuzzIovecs(f *testing.F) {
	f.Add(uint32(4096), []byte{16, 0, 0, 0, 4, 0, 0, 0}, uint32(0), uint32(1), uint64(0), false)
	f.Add(uint32(64), []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0}, uint32(0), uint32(1), uint64(0), true)
	f.Add(uint32(64), []byte{}, uint32(60), uint32(2000), uint64(1<<63), true)
	f.Add(uint32(100), []byte{0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}, uint32(8), uint32(1), uint64(3), false)
	_, mnt := fixture(f)
	h := mountHarness(f, Mount{HostPath: mnt, GuestPath: "/"})
	fd := h.mustOpen(3, "f", 0, true)
	f.Fuzz(func(t *testing.T, memSize uint32, arr []byte, iovs, n uint32, off uint64, write bool) {
		h.t = t
		memSize %= 1 << 17
		mem := make([]byte, memSize)
		copy(mem[min(int(iovs), len(mem)):], arr)
		out := memSize - 4 // the result goes at the end of memory (out of it when memSize < 4)
		want := expectedIovErrno(mem, iovs, n, off, out)
		var total uint64
		if want == ErrnoSuccess {
			for i := uint32(0); i < n; i++ {
				total += uint64(binary.LittleEndian.Uint32(mem[iovs+i*8+4:]))
			}
		}
		name := "fd_pread"
		if write {
			name = "fd_pwrite"
		}
		stack := []uint64{uint64(fd), uint64(iovs), uint64(n), off, uint64(out)}
		h.funcs[name].Call(t.Context(), h.s, mem, stack)
		got := Errno(stack[0])
		if write && want == ErrnoSuccess && (got == ErrnoFbig || got == ErrnoInval) && off+total > 1<<40 {
			return // the host's limit on file size
		}
		if got != want {
			t.Fatalf("%s(iovs=%d, n=%d, off=%d) in %d bytes = %v, want %v", name, iovs, n, off, memSize, got, want)
		}
		if got == ErrnoSuccess {
			if c := uint64(binary.LittleEndian.Uint32(mem[out:])); c > total {
				t.Fatalf("count %d > %d bytes of iovecs", c, total)
			}
		}
		if write && got == ErrnoSuccess {
			_ = h.call("fd_filestat_set_size", uint64(fd), 5) // keep the file small
		}
	})
}

// expectedIovErrno models the checks fd_pread and fd_pwrite make, in their order.
func expectedIovErrno(mem []byte, iovs, n uint32, off uint64, out uint32) Errno {
	size := uint64(len(mem))
	if uint64(out)+4 > size {
		return ErrnoFault
	}
	if n > maxIovs {
		return ErrnoInval
	}
	if uint64(iovs)+8*uint64(n) > size {
		return ErrnoFault
	}
	for i := uint32(0); i < n; i++ {
		p := binary.LittleEndian.Uint32(mem[iovs+i*8:])
		l := binary.LittleEndian.Uint32(mem[iovs+i*8+4:])
		if uint64(p)+uint64(l) > size {
			return ErrnoFault
		}
	}
	if off > math.MaxInt64 {
		return ErrnoInval
	}
	return ErrnoSuccess
}

// FuzzFsFuncs calls any file-system function with any arguments on any memory
// contents: no call may panic, and nothing outside the mount may change.
func FuzzFsFuncs(f *testing.F) {
	f.Add(uint8(0), []byte{3, 0, 0, 0, 0, 0, 0, 0}, []byte("f\x00"))
	f.Add(uint8(18), []byte{3, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0}, []byte("../secret"))
	f.Add(uint8(10), []byte{3, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0}, []byte{})
	top, mnt := fixture(f)
	h := mountHarness(f, Mount{HostPath: mnt, GuestPath: "/"})
	h.mustOpen(3, "f", 0, true)
	h.mustOpen(3, "d", oflagDirectory, false)
	funcs := fsFuncs()
	secret := filepath.Join(top, "secret")
	f.Fuzz(func(t *testing.T, which uint8, args []byte, data []byte) {
		h.t = t
		fn := funcs[int(which)%len(funcs)]
		stack := make([]uint64, max(len(fn.Params), 1))
		for i := range fn.Params {
			var b [8]byte
			if len(args) > 0 {
				n := copy(b[:], args)
				args = args[n:]
			}
			v := binary.LittleEndian.Uint64(b[:])
			if fn.Params[i] == I32 {
				if b[7]&1 == 0 {
					v %= 8 // an fd, flags, a small length
				} else {
					v = uint64(uint32(v)) % (1 << 17) // mostly inside memory, sometimes past it
				}
			}
			stack[i] = v
		}
		if fn.Name == "fd_allocate" {
			stack[1] %= 1 << 20 // no huge allocations on the host's disk
			stack[2] %= 1 << 20
		}
		mem := make([]byte, 1<<16)
		copy(mem[256:], data)
		fn.Call(t.Context(), h.s, mem, stack)
		for fd := 6; fd < len(h.s.fds.e); fd++ { // keep the fixture's fds 3-5 only
			if e := h.s.fds.remove(uint32(fd)); e != nil {
				e.close()
			}
		}
		if b, err := os.ReadFile(secret); err != nil || string(b) != "secret" {
			t.Fatalf("%s%v changed the secret outside the mount: %q, %v", fn.Name, stack, b, err)
		}
	})
}
