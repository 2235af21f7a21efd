package wasi

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type dirent struct {
	next, ino uint64
	typ       Filetype
	name      string
}

// readdir reads from cookie with a buffer of size n and decodes the whole entries;
// it reports whether the buffer was filled (more may follow).
func (h *harness) readdir(fd uint32, cookie uint64, n uint32) ([]dirent, bool, Errno) {
	h.t.Helper()
	const buf, out = 4096, 64
	errno := h.call("fd_readdir", uint64(fd), buf, uint64(n), cookie, out)
	if errno != ErrnoSuccess {
		return nil, false, errno
	}
	used := h.u32(out)
	if used > n {
		h.t.Fatalf("bufused %d > buf_len %d", used, n)
	}
	b := h.mem[buf : buf+used]
	var ds []dirent
	for len(b) >= direntSize {
		nl := binary.LittleEndian.Uint32(b[16:])
		if uint32(len(b)) < direntSize+nl {
			break
		}
		ds = append(ds, dirent{
			next: binary.LittleEndian.Uint64(b[0:]),
			ino:  binary.LittleEndian.Uint64(b[8:]),
			typ:  Filetype(b[20]),
			name: string(b[direntSize : direntSize+nl]),
		})
		b = b[direntSize+nl:]
	}
	return ds, used == n, ErrnoSuccess
}

// readAll reads a directory to its end with buffers of size n, as wasi-libc does:
// from the d_next of the last whole entry.
func (h *harness) readAll(fd uint32, cookie uint64, n uint32) []dirent {
	h.t.Helper()
	var all []dirent
	for {
		ds, full, errno := h.readdir(fd, cookie, n)
		if errno != ErrnoSuccess {
			h.t.Fatalf("fd_readdir = %v", errno)
		}
		all = append(all, ds...)
		if !full {
			return all
		}
		if len(ds) == 0 {
			h.t.Fatalf("buffer of %d bytes holds no whole entry", n)
		}
		cookie = ds[len(ds)-1].next
	}
}

func names(ds []dirent) []string {
	var s []string
	for _, d := range ds {
		s = append(s, d.name)
	}
	return s
}

func TestReaddir(t *testing.T) {
	dir := t.TempDir()
	var want []string
	for i := range 300 {
		name := fmt.Sprintf("file-%03d", i)
		want = append(want, name)
		must(t, os.WriteFile(filepath.Join(dir, name), nil, 0o644))
	}
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	must(t, os.Symlink("sub", filepath.Join(dir, "link")))
	want = append(want, "link", "sub")
	slices.Sort(want)
	h := mountHarness(t, Mount{HostPath: dir, GuestPath: "/"})

	for _, size := range []uint32{24 + 8, 100, 4096} {
		t.Run(fmt.Sprint("buffer ", size), func(t *testing.T) {
			all := h.readAll(3, 0, size)
			if len(all) < 2 || all[0].name != "." || all[1].name != ".." {
				t.Fatalf("first entries %v, want . and ..", names(all[:min(2, len(all))]))
			}
			for i, d := range all {
				if d.next != uint64(i+1) {
					t.Fatalf("entry %d (%s) d_next %d, want %d", i, d.name, d.next, i+1)
				}
			}
			got := names(all[2:])
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("names %v, want %v", got, want)
			}
			for _, d := range all {
				wantType := FiletypeRegularFile
				switch d.name {
				case ".", "..", "sub":
					wantType = FiletypeDirectory
				case "link":
					wantType = FiletypeSymbolicLink
				}
				if d.typ != wantType {
					t.Errorf("%s: type %d, want %d", d.name, d.typ, wantType)
				}
			}
		})
	}

	t.Run("dot entries have the directory's inode", func(t *testing.T) {
		ds, _, _ := h.readdir(3, 0, 4096)
		if errno := h.call("fd_filestat_get", 3, 128); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		if ino := h.u64(128 + 8); ds[0].ino != ino || ds[1].ino != ino {
			t.Errorf("inodes %d, %d, want %d", ds[0].ino, ds[1].ino, ino)
		}
	})

	t.Run("buffer filled completely", func(t *testing.T) {
		const n = 24 + 1 + 24 + 2 + 10 // ".", "..", then 10 bytes of the next entry
		if errno := h.call("fd_readdir", 3, 4096, n, 0, 64); errno != ErrnoSuccess {
			t.Fatal(errno)
		}
		if used := h.u32(64); used != n {
			t.Errorf("bufused %d, want %d", used, n)
		}
	})

	t.Run("cookie past the end", func(t *testing.T) {
		ds, full, errno := h.readdir(3, 1<<40, 4096)
		if errno != ErrnoSuccess || full || len(ds) != 0 {
			t.Errorf("= %v, %v, %v; want nothing", ds, full, errno)
		}
	})

	t.Run("stable across changes", func(t *testing.T) {
		first, _, _ := h.readdir(3, 0, 24*10+8*10)
		cookie := first[len(first)-1].next
		// Remove every entry (rm -r style) and add new ones, then go on reading.
		for _, name := range want {
			if name != "sub" && name != "link" {
				must(t, os.Remove(filepath.Join(dir, name)))
			}
		}
		must(t, os.WriteFile(filepath.Join(dir, "new"), nil, 0o644))
		rest := h.readAll(3, cookie, 512)
		got := append(names(first[2:]), names(rest)...)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("after changes: %d names %v, want the %d of the listing", len(got), got, len(want))
		}
		// A rewind lists the directory as it is now.
		now := names(h.readAll(3, 0, 4096))
		slices.Sort(now)
		if wantNow := []string{".", "..", "link", "new", "sub"}; !slices.Equal(now, wantNow) {
			t.Errorf("after rewind %v, want %v", now, wantNow)
		}
	})

	t.Run("errors", func(t *testing.T) {
		f := h.mustOpen(3, "new", 0, false)
		for _, tt := range []struct {
			name     string
			fd       uint64
			buf, len uint64
			out      uint64
			want     Errno
		}{
			{"file", uint64(f), 4096, 100, 64, ErrnoBadf},
			{"stdin", 0, 4096, 100, 64, ErrnoBadf},
			{"buffer out of memory", 3, uint64(len(h.mem) - 10), 100, 64, ErrnoFault},
			{"result out of memory", 3, 4096, 100, uint64(len(h.mem) - 2), ErrnoFault},
		} {
			if errno := h.call("fd_readdir", tt.fd, tt.buf, tt.len, 0, tt.out); errno != tt.want {
				t.Errorf("%s: %v, want %v", tt.name, errno, tt.want)
			}
		}
	})
}
