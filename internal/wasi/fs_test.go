package wasi

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fixture makes a mount with known contents next to a "secret" file outside it, and
// returns the mount's host path. Inside:
//
//	f        "hello"
//	d/       with g ("in d")
//	lf  -> f         ld -> d          lout -> ../secret    lup -> ../../..
//	labs -> /etc     lroot -> /       ldd -> ..            lloop -> lloop
//	lnone -> nothing
func fixture(t testing.TB) (top, mnt string) {
	t.Helper()
	top = t.TempDir()
	mnt = filepath.Join(top, "m")
	must(t, os.Mkdir(mnt, 0o755))
	must(t, os.WriteFile(filepath.Join(top, "secret"), []byte("secret"), 0o644))
	must(t, os.WriteFile(filepath.Join(mnt, "f"), []byte("hello"), 0o644))
	must(t, os.Mkdir(filepath.Join(mnt, "d"), 0o755))
	must(t, os.WriteFile(filepath.Join(mnt, "d", "g"), []byte("in d"), 0o644))
	for name, target := range map[string]string{
		"lf": "f", "ld": "d", "lout": "../secret", "lup": "../../..", "labs": "/etc",
		"lroot": "/", "ldd": "..", "lloop": "lloop", "lnone": "nothing",
	} {
		must(t, os.Symlink(target, filepath.Join(mnt, name)))
	}
	return top, mnt
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func mountHarness(t testing.TB, mounts ...Mount) *harness {
	return newHarness(t, NewConfig().WithMounts(mounts...))
}

const follow = lookupSymlinkFollow

func TestPathOpen(t *testing.T) {
	_, mnt := fixture(t)
	h := mountHarness(t, Mount{HostPath: mnt, GuestPath: "/"})
	file := h.mustOpen(3, "f", 0, false)
	tests := []struct {
		name    string
		dirfd   uint32
		lookup  uint32
		path    string
		oflags  uint32
		write   bool
		want    Errno
		content string // read back from the new fd when set
	}{
		{name: "file", dirfd: 3, path: "f", want: ErrnoSuccess, content: "hello"},
		{name: "nested", dirfd: 3, path: "d/g", want: ErrnoSuccess, content: "in d"},
		{name: "dot segments", dirfd: 3, path: "./d/../d/./g", want: ErrnoSuccess, content: "in d"},
		{name: "symlink followed", dirfd: 3, lookup: follow, path: "lf", want: ErrnoSuccess, content: "hello"},
		{name: "symlink not followed", dirfd: 3, path: "lf", want: ErrnoLoop},
		{name: "symlink to dir not followed", dirfd: 3, path: "ld", oflags: oflagDirectory, want: ErrnoLoop},
		{name: "symlink to dir followed", dirfd: 3, lookup: follow, path: "ld", oflags: oflagDirectory, want: ErrnoSuccess},
		{name: "symlinked dir in the middle", dirfd: 3, path: "ld/g", want: ErrnoSuccess, content: "in d"},
		{name: "empty", dirfd: 3, path: "", want: ErrnoNoent},
		{name: "missing", dirfd: 3, path: "nope", want: ErrnoNoent},
		{name: "dangling symlink", dirfd: 3, lookup: follow, path: "lnone", want: ErrnoNoent},
		{name: "symlink loop", dirfd: 3, lookup: follow, path: "lloop", want: ErrnoLoop},
		{name: "absolute", dirfd: 3, path: "/etc/passwd", want: ErrnoPerm},
		{name: "dotdot", dirfd: 3, path: "..", want: ErrnoPerm},
		{name: "dotdot file", dirfd: 3, path: "../secret", want: ErrnoPerm},
		{name: "dotdot through dir", dirfd: 3, path: "d/../../secret", want: ErrnoPerm},
		{name: "symlink out", dirfd: 3, lookup: follow, path: "lout", want: ErrnoPerm},
		{name: "symlink up", dirfd: 3, lookup: follow, path: "lup", want: ErrnoPerm},
		{name: "symlink up in the middle", dirfd: 3, path: "lup/etc/passwd", want: ErrnoPerm},
		{name: "absolute symlink", dirfd: 3, lookup: follow, path: "labs", want: ErrnoPerm},
		{name: "absolute symlink in the middle", dirfd: 3, path: "labs/passwd", want: ErrnoPerm},
		{name: "symlink to /", dirfd: 3, lookup: follow, path: "lroot", want: ErrnoPerm},
		{name: "symlink to ..", dirfd: 3, path: "ldd/secret", want: ErrnoPerm},
		{name: "directory flag on file", dirfd: 3, path: "f", oflags: oflagDirectory, want: ErrnoNotdir},
		{name: "trailing slash on file", dirfd: 3, path: "f/", want: ErrnoNotdir},
		{name: "directory", dirfd: 3, path: "d", oflags: oflagDirectory, want: ErrnoSuccess},
		{name: "directory with slash", dirfd: 3, path: "d/", want: ErrnoSuccess},
		{name: "directory for writing", dirfd: 3, path: "d", write: true, want: ErrnoIsdir},
		{name: "directory and creat", dirfd: 3, path: "x", oflags: oflagDirectory | oflagCreat, want: ErrnoInval},
		{name: "directory and trunc", dirfd: 3, path: "d", oflags: oflagDirectory | oflagTrunc, want: ErrnoInval},
		{name: "unknown oflags", dirfd: 3, path: "f", oflags: 1 << 4, want: ErrnoInval},
		{name: "creat", dirfd: 3, path: "new", oflags: oflagCreat, write: true, want: ErrnoSuccess, content: ""},
		{name: "creat existing", dirfd: 3, path: "f", oflags: oflagCreat, want: ErrnoSuccess, content: "hello"},
		{name: "excl existing", dirfd: 3, path: "f", oflags: oflagCreat | oflagExcl, want: ErrnoExist},
		{name: "excl on symlink", dirfd: 3, lookup: follow, path: "lnone", oflags: oflagCreat | oflagExcl, want: ErrnoExist},
		{name: "creat through dangling symlink", dirfd: 3, lookup: follow, path: "lnone", oflags: oflagCreat, write: true, want: ErrnoSuccess, content: ""},
		{name: "creat through escaping symlink", dirfd: 3, lookup: follow, path: "lout", oflags: oflagCreat, write: true, want: ErrnoPerm},
		{name: "stdout as directory", dirfd: 1, path: "f", want: ErrnoBadf},
		{name: "file as directory", dirfd: file, path: "f", want: ErrnoNotdir},
		{name: "unknown fd", dirfd: 99, path: "f", want: ErrnoBadf},
		{name: "NUL in path", dirfd: 3, path: "f\x00x", want: ErrnoInval},
		{name: "not UTF-8", dirfd: 3, path: "f\xff", want: ErrnoIlseq},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fd, errno := h.open(tt.dirfd, tt.lookup, tt.path, tt.oflags, tt.write, 0)
			if errno != tt.want {
				t.Fatalf("path_open(%q) = %v, want %v", tt.path, errno, tt.want)
			}
			if errno != ErrnoSuccess {
				return
			}
			defer h.close(fd)
			if tt.content != "" || tt.oflags&oflagCreat != 0 {
				got, errno := h.pread(fd, 0, 64)
				if errno != ErrnoSuccess || got != tt.content {
					t.Errorf("content %q, %v; want %q", got, errno, tt.content)
				}
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(mnt), "secret")); err != nil || string(b) != "secret" {
		t.Errorf("secret = %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(mnt, "nothing")); err != nil {
		t.Errorf("creat through the dangling symlink made no file: %v", err)
	}
}

func TestPathOpenBadMemory(t *testing.T) {
	_, mnt := fixture(t)
	h := mountHarness(t, Mount{HostPath: mnt, GuestPath: "/"})
	size := uint64(len(h.mem))
	tests := []struct {
		name       string
		path, plen uint64
		out        uint64
		want       Errno
	}{
		{"path past the end", size - 1, 2, 8, ErrnoFault},
		{"huge path length", 0, 1<<32 - 1, 8, ErrnoFault},
		{"result past the end", 1024, 1, size - 2, ErrnoFault},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errno := h.call("path_open", 3, 0, tt.path, tt.plen, 0, allRights, allRights, 0, tt.out)
			if errno != tt.want {
				t.Errorf("= %v, want %v", errno, tt.want)
			}
		})
	}
}

// TestEscapes tries every path function on paths that lead outside the mount, and
// checks nothing outside changed.
func TestEscapes(t *testing.T) {
	top, mnt := fixture(t)
	h := mountHarness(t, Mount{HostPath: mnt, GuestPath: "/"})
	d := h.mustOpen(3, "d", oflagDirectory, false)
	call := func(name string, args ...any) Errno {
		var a []uint64
		for _, x := range args {
			switch v := x.(type) {
			case string:
				p, n := h.str(v)
				a = append(a, p, n)
			case int:
				a = append(a, uint64(v))
			case uint32:
				a = append(a, uint64(v))
			case uint64:
				a = append(a, v)
			}
		}
		return h.call(name, a...)
	}
	const out = 64
	tests := []struct {
		name string
		run  func() Errno
		want Errno
	}{
		{"filestat dotdot", func() Errno { return call("path_filestat_get", 3, 0, "../secret", out) }, ErrnoPerm},
		{"filestat absolute", func() Errno { return call("path_filestat_get", 3, 0, "/etc/passwd", out) }, ErrnoPerm},
		{"filestat through symlink", func() Errno { return call("path_filestat_get", 3, follow, "lout", out) }, ErrnoPerm},
		{"filestat of symlink itself", func() Errno { return call("path_filestat_get", 3, 0, "lout", out) }, ErrnoSuccess},
		{"filestat absolute symlink", func() Errno { return call("path_filestat_get", 3, follow, "labs", out) }, ErrnoPerm},
		{"filestat root dotdot", func() Errno { return call("path_filestat_get", 3, 0, "..", out) }, ErrnoPerm},
		{"dir fd dotdot", func() Errno { return call("path_filestat_get", d, 0, "..", out) }, ErrnoPerm},
		{"dir fd dotdot file", func() Errno { _, e := h.open(d, 0, "../f", 0, false, 0); return e }, ErrnoPerm},
		{"dir fd symlink up", func() Errno { _, e := h.open(3, follow, "ldd", 0, false, 0); return e }, ErrnoPerm},
		{"mkdir out", func() Errno { return call("path_create_directory", 3, "../made") }, ErrnoPerm},
		{"mkdir through symlink", func() Errno { return call("path_create_directory", 3, "lup/made") }, ErrnoPerm},
		{"unlink out", func() Errno { return call("path_unlink_file", 3, "../secret") }, ErrnoPerm},
		{"rmdir dotdot", func() Errno { return call("path_remove_directory", 3, "..") }, ErrnoPerm},
		{"rmdir dir fd dotdot", func() Errno { return call("path_remove_directory", d, "..") }, ErrnoPerm},
		{"rename out", func() Errno { return call("path_rename", 3, "f", 3, "../stolen") }, ErrnoPerm},
		{"rename in", func() Errno { return call("path_rename", 3, "../secret", 3, "got") }, ErrnoPerm},
		{"rename through symlink", func() Errno { return call("path_rename", 3, "f", 3, "ldd/stolen") }, ErrnoPerm},
		{"link out", func() Errno { return call("path_link", 3, 0, "f", 3, "../hard") }, ErrnoPerm},
		{"link in", func() Errno { return call("path_link", 3, 0, "../secret", 3, "hard") }, ErrnoPerm},
		{"link follow", func() Errno { return call("path_link", 3, follow, "lout", 3, "hard") }, ErrnoInval},
		{"symlink out", func() Errno { return call("path_symlink", "x", 3, "../sym") }, ErrnoPerm},
		{"readlink out", func() Errno { return call("path_readlink", 3, "../x", 128, 64, out) }, ErrnoPerm},
		{"set times out", func() Errno { return call("path_filestat_set_times", 3, 0, "../secret", 0, 0, fstMtimNow) }, ErrnoPerm},
		{"set times through symlink", func() Errno { return call("path_filestat_set_times", 3, follow, "lout", 0, 0, fstMtimNow) }, ErrnoPerm},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(); got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
	// A symlink the guest makes to the outside exists, but cannot be followed.
	if errno := call("path_symlink", "../secret", 3, "mine"); errno != ErrnoSuccess {
		t.Fatalf("path_symlink = %v", errno)
	}
	// An absolute one cannot even be made (wasmtime refuses it too).
	if errno := call("path_symlink", "/etc/passwd", 3, "mineabs"); errno != ErrnoPerm {
		t.Fatalf("path_symlink to an absolute path = %v, want PERM", errno)
	}
	// One the host placed is there, and cannot be followed.
	must(t, os.Symlink("/etc/passwd", filepath.Join(mnt, "mineabs")))
	for _, p := range []string{"mine", "mineabs"} {
		if _, errno := h.open(3, follow, p, 0, false, 0); errno != ErrnoPerm {
			t.Errorf("open of guest-made symlink %s = %v, want PERM", p, errno)
		}
	}
	entries, err := os.ReadDir(top)
	must(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{"m", "secret"}) {
		t.Errorf("outside the mount: %v, want [m secret]", names)
	}
	if b, _ := os.ReadFile(filepath.Join(top, "secret")); string(b) != "secret" {
		t.Errorf("secret = %q", b)
	}
}

func TestReadOnlyMount(t *testing.T) {
	_, mnt := fixture(t)
	_, other := fixture(t)
	h := mountHarness(t, Mount{HostPath: mnt, GuestPath: "/ro", ReadOnly: true}, Mount{HostPath: other, GuestPath: "/rw"})
	f := h.mustOpen(3, "f", 0, false)
	call := func(name string, args ...any) Errno {
		var a []uint64
		for _, x := range args {
			switch v := x.(type) {
			case string:
				p, n := h.str(v)
				a = append(a, p, n)
			case int:
				a = append(a, uint64(v))
			case uint32:
				a = append(a, uint64(v))
			}
		}
		return h.call(name, a...)
	}
	tests := []struct {
		name string
		run  func() Errno
		want Errno
	}{
		{"open for writing", func() Errno { _, e := h.open(3, 0, "f", 0, true, 0); return e }, ErrnoRofs},
		{"trunc", func() Errno { _, e := h.open(3, 0, "f", oflagTrunc, false, 0); return e }, ErrnoRofs},
		{"creat new", func() Errno { _, e := h.open(3, 0, "new", oflagCreat, false, 0); return e }, ErrnoRofs},
		{"creat existing", func() Errno { fd, e := h.open(3, 0, "f", oflagCreat, false, 0); h.close(fd); return e }, ErrnoSuccess},
		{"excl existing", func() Errno { _, e := h.open(3, 0, "f", oflagCreat|oflagExcl, false, 0); return e }, ErrnoExist},
		{"mkdir", func() Errno { return call("path_create_directory", 3, "nd") }, ErrnoRofs},
		{"rmdir", func() Errno { return call("path_remove_directory", 3, "d") }, ErrnoRofs},
		{"unlink", func() Errno { return call("path_unlink_file", 3, "f") }, ErrnoRofs},
		{"rename", func() Errno { return call("path_rename", 3, "f", 3, "g") }, ErrnoRofs},
		{"link", func() Errno { return call("path_link", 3, 0, "f", 3, "g") }, ErrnoRofs},
		{"symlink", func() Errno { return call("path_symlink", "f", 3, "g") }, ErrnoRofs},
		{"path set times", func() Errno { return call("path_filestat_set_times", 3, 0, "f", 0, 0, fstMtimNow) }, ErrnoRofs},
		{"fd set times", func() Errno { return h.call("fd_filestat_set_times", uint64(f), 0, 0, fstMtimNow) }, ErrnoRofs},
		{"dir fd set times", func() Errno { return h.call("fd_filestat_set_times", 3, 0, 0, fstMtimNow) }, ErrnoRofs},
		{"set size without the right", func() Errno { return h.call("fd_filestat_set_size", uint64(f), 0) }, ErrnoNotcapable},
		{"link into another mount", func() Errno { return call("path_link", 4, 0, "f", 3, "g") }, ErrnoXdev},
		{"rename into another mount", func() Errno { return call("path_rename", 4, "f", 3, "g") }, ErrnoXdev},
		{"rename out of it", func() Errno { return call("path_rename", 3, "f", 4, "g") }, ErrnoXdev},
		{"filestat", func() Errno { return call("path_filestat_get", 3, 0, "f", 64) }, ErrnoSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.run(); got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
	// Reads still work, also through a directory opened in the mount, which inherits
	// the mount's read-only state.
	if got, errno := h.pread(f, 1, 3); errno != ErrnoSuccess || got != "ell" {
		t.Errorf("pread = %q, %v", got, errno)
	}
	d := h.mustOpen(3, "d", oflagDirectory, false)
	if _, errno := h.open(d, 0, "g", 0, true, 0); errno != ErrnoRofs {
		t.Errorf("write open under a directory of the mount = %v, want ROFS", errno)
	}
	if errno := call("path_create_directory", d, "x"); errno != ErrnoRofs {
		t.Errorf("mkdir under a directory of the mount = %v, want ROFS", errno)
	}
	entries, _ := os.ReadDir(mnt)
	if len(entries) != 11 {
		t.Errorf("read-only mount changed: %d entries", len(entries))
	}
}

func TestPathOps(t *testing.T) {
	_, mnt := fixture(t)
	h := mountHarness(t, Mount{HostPath: mnt, GuestPath: "/"})
	call := func(name string, args ...any) Errno {
		var a []uint64
		for _, x := range args {
			switch v := x.(type) {
			case string:
				p, n := h.str(v)
				a = append(a, p, n)
			case int:
				a = append(a, uint64(v))
			case uint64:
				a = append(a, v)
			}
		}
		return h.call(name, a...)
	}
	const out = 64
	exists := func(p string) bool { _, err := os.Lstat(filepath.Join(mnt, p)); return err == nil }
	steps := []struct {
		name  string
		run   func() Errno
		want  Errno
		check func() bool
	}{
		{"mkdir", func() Errno { return call("path_create_directory", 3, "n") }, ErrnoSuccess, func() bool { return exists("n") }},
		{"mkdir with slash", func() Errno { return call("path_create_directory", 3, "n2/") }, ErrnoSuccess, func() bool { return exists("n2") }},
		{"mkdir existing", func() Errno { return call("path_create_directory", 3, "n") }, ErrnoExist, nil},
		{"mkdir over symlink", func() Errno { return call("path_create_directory", 3, "lnone") }, ErrnoExist, func() bool { return !exists("nothing") }},
		{"mkdir dot", func() Errno { return call("path_create_directory", 3, ".") }, ErrnoExist, nil},
		{"mkdir missing parent", func() Errno { return call("path_create_directory", 3, "no/x") }, ErrnoNoent, nil},
		{"mkdir under file", func() Errno { return call("path_create_directory", 3, "f/x") }, ErrnoNotdir, nil},
		{"rmdir file", func() Errno { return call("path_remove_directory", 3, "f") }, ErrnoNotdir, nil},
		{"rmdir symlink to dir", func() Errno { return call("path_remove_directory", 3, "ld") }, ErrnoNotdir, nil},
		{"rmdir non-empty", func() Errno { return call("path_remove_directory", 3, "d") }, ErrnoNotempty, nil},
		{"rmdir", func() Errno { return call("path_remove_directory", 3, "n2") }, ErrnoSuccess, func() bool { return !exists("n2") }},
		{"unlink dir", func() Errno { return call("path_unlink_file", 3, "n") }, ErrnoIsdir, nil},
		{"unlink dir with slash", func() Errno { return call("path_unlink_file", 3, "n/") }, ErrnoIsdir, nil},
		{"unlink file with slash", func() Errno { return call("path_unlink_file", 3, "f/") }, ErrnoNotdir, nil},
		{"unlink symlink", func() Errno { return call("path_unlink_file", 3, "lnone") }, ErrnoSuccess, func() bool { return !exists("lnone") }},
		{"unlink missing", func() Errno { return call("path_unlink_file", 3, "lnone") }, ErrnoNoent, nil},
		{"symlink", func() Errno { return call("path_symlink", "d/g", 3, "s") }, ErrnoSuccess, func() bool { t, _ := os.Readlink(filepath.Join(mnt, "s")); return t == "d/g" }},
		{"symlink existing", func() Errno { return call("path_symlink", "f", 3, "s") }, ErrnoExist, nil},
		{"symlink with slash", func() Errno { return call("path_symlink", "f", 3, "s2/") }, ErrnoNoent, nil},
		{"symlink with slash over dir", func() Errno { return call("path_symlink", "f", 3, "d/") }, ErrnoExist, nil},
		{"symlink with slash over file", func() Errno { return call("path_symlink", "x", 3, "f/") }, ErrnoNotdir, nil},
		{"symlink empty target", func() Errno { return call("path_symlink", "", 3, "s3") }, ErrnoNoent, nil},
		{"readlink", func() Errno { return call("path_readlink", 3, "s", 512, 64, out) }, ErrnoSuccess, func() bool { return h.u32(out) == 3 && string(h.mem[512:515]) == "d/g" }},
		{"readlink cut", func() Errno { return call("path_readlink", 3, "s", 600, 2, out) }, ErrnoSuccess, func() bool { return h.u32(out) == 2 && string(h.mem[600:602]) == "d/" }},
		{"readlink file", func() Errno { return call("path_readlink", 3, "f", 512, 64, out) }, ErrnoInval, nil},
		{"readlink bad buffer", func() Errno { return call("path_readlink", 3, "s", uint64(len(h.mem)-1), 64, out) }, ErrnoFault, nil},
		{"link", func() Errno { return call("path_link", 3, 0, "f", 3, "hard") }, ErrnoSuccess, func() bool { b, _ := os.ReadFile(filepath.Join(mnt, "hard")); return string(b) == "hello" }},
		{"link existing", func() Errno { return call("path_link", 3, 0, "f", 3, "hard") }, ErrnoExist, nil},
		{"link dir", func() Errno { return call("path_link", 3, 0, "d", 3, "hd") }, ErrnoPerm, nil},
		{"link to new name with slash", func() Errno { return call("path_link", 3, 0, "f", 3, "hl2/") }, ErrnoNoent, nil},
		{"link to old name with slash", func() Errno { return call("path_link", 3, 0, "f", 3, "hard/") }, ErrnoExist, nil},
		{"link file with slash", func() Errno { return call("path_link", 3, 0, "f/", 3, "hl3") }, ErrnoNotdir, nil},
		{"link dir with slash", func() Errno { return call("path_link", 3, 0, "d/", 3, "hl3") }, ErrnoPerm, nil},
		{"link symlink itself", func() Errno { return call("path_link", 3, 0, "lf", 3, "hl") }, ErrnoSuccess, func() bool { t, _ := os.Readlink(filepath.Join(mnt, "hl")); return t == "f" }},
		{"rename", func() Errno { return call("path_rename", 3, "hard", 3, "d/moved") }, ErrnoSuccess, func() bool { return !exists("hard") && exists("d/moved") }},
		{"rename missing", func() Errno { return call("path_rename", 3, "hard", 3, "x") }, ErrnoNoent, nil},
		{"rename file with slash", func() Errno { return call("path_rename", 3, "f", 3, "x/") }, ErrnoNotdir, nil},
		{"rename dir with slash", func() Errno { return call("path_rename", 3, "n/", 3, "n3/") }, ErrnoSuccess, func() bool { return exists("n3") }},
		{"rename dir over file", func() Errno { return call("path_rename", 3, "n3", 3, "f") }, ErrnoNotdir, nil},
		{"rename file over dir", func() Errno { return call("path_rename", 3, "f", 3, "n3") }, ErrnoIsdir, nil},
		{"rename dir into itself", func() Errno { return call("path_rename", 3, "d", 3, "d/x") }, ErrnoInval, nil},
		{"filestat", func() Errno { return call("path_filestat_get", 3, 0, "f", out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeRegularFile) && h.u64(out+32) == 5 && h.u64(out+24) == 2 // f and d/moved
		}},
		{"filestat symlink", func() Errno { return call("path_filestat_get", 3, 0, "lf", out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeSymbolicLink) && h.u64(out+32) == 1
		}},
		{"filestat followed", func() Errno { return call("path_filestat_get", 3, follow, "ld", out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeDirectory)
		}},
		{"filestat slash follows", func() Errno { return call("path_filestat_get", 3, 0, "ld/", out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeDirectory)
		}},
		{"filestat file with slash", func() Errno { return call("path_filestat_get", 3, 0, "f/", out) }, ErrnoNotdir, nil},
		{"filestat bad buffer", func() Errno { return call("path_filestat_get", 3, 0, "f", uint64(len(h.mem)-10)) }, ErrnoFault, nil},
		{"set times", func() Errno {
			return call("path_filestat_set_times", 3, 0, "f", uint64(1e18), uint64(2e18), fstAtim|fstMtim)
		}, ErrnoSuccess, func() bool {
			fi, _ := os.Stat(filepath.Join(mnt, "f"))
			return fi.ModTime().Equal(time.Unix(0, 2e18))
		}},
		{"set times of symlink itself", func() Errno {
			return call("path_filestat_set_times", 3, 0, "lf", 0, uint64(3e18), fstMtim)
		}, ErrnoSuccess, func() bool {
			li, _ := os.Lstat(filepath.Join(mnt, "lf"))
			fi, _ := os.Stat(filepath.Join(mnt, "f"))
			return li.ModTime().Equal(time.Unix(0, 3e18)) && fi.ModTime().Equal(time.Unix(0, 2e18))
		}},
		{"set times followed", func() Errno {
			return call("path_filestat_set_times", 3, follow, "lf", 0, uint64(4e18), fstMtim)
		}, ErrnoSuccess, func() bool {
			fi, _ := os.Stat(filepath.Join(mnt, "f"))
			return fi.ModTime().Equal(time.Unix(0, 4e18))
		}},
		{"set times both", func() Errno { return call("path_filestat_set_times", 3, 0, "f", 0, 0, fstMtim|fstMtimNow) }, ErrnoInval, nil},
		{"set times bad flags", func() Errno { return call("path_filestat_set_times", 3, 0, "f", 0, 0, 1<<4) }, ErrnoInval, nil},
		{"path op on file fd", func() Errno { return call("path_create_directory", 1, "x") }, ErrnoBadf, nil},
	}
	for _, st := range steps {
		got := st.run()
		if got != st.want {
			t.Errorf("%s = %v, want %v", st.name, got, st.want)
			continue
		}
		if st.check != nil && !st.check() {
			t.Errorf("%s: the result is not what it should be", st.name)
		}
	}
}

func TestFdOps(t *testing.T) {
	_, mnt := fixture(t)
	r, w, err := os.Pipe()
	must(t, err)
	defer r.Close()
	defer w.Close()
	h := newHarness(t, NewConfig().WithMounts(Mount{HostPath: mnt, GuestPath: "/"}).WithStdin(r))
	f := h.mustOpen(3, "f", 0, true)
	ro := h.mustOpen(3, "d/g", 0, false)
	const out = 64
	content := func(want string) func() bool {
		return func() bool { b, _ := os.ReadFile(filepath.Join(mnt, "f")); return string(b) == want }
	}
	seek := func(fd uint32, off int64, whence int) func() Errno {
		return func() Errno { return h.call("fd_seek", uint64(fd), uint64(off), uint64(whence), out) }
	}
	pos := func(want uint64) func() bool { return func() bool { return h.u64(out) == want } }
	iov1025 := make([][]byte, 1025)
	for i := range iov1025 {
		iov1025[i] = []byte{0}
	}
	steps := []struct {
		name  string
		run   func() Errno
		want  Errno
		check func() bool
	}{
		{"seek set", seek(f, 2, whenceSet), ErrnoSuccess, pos(2)},
		{"seek cur", seek(f, 1, whenceCur), ErrnoSuccess, pos(3)},
		{"seek end", seek(f, -1, whenceEnd), ErrnoSuccess, pos(4)},
		{"tell", func() Errno { return h.call("fd_tell", uint64(f), out) }, ErrnoSuccess, pos(4)},
		{"seek before start", seek(f, -10, whenceCur), ErrnoInval, nil},
		{"seek bad whence", seek(f, 0, 3), ErrnoInval, nil},
		{"seek bad result pointer", func() Errno { return h.call("fd_seek", uint64(f), 0, 0, uint64(len(h.mem)-4)) }, ErrnoFault, nil},
		{"seek pipe", seek(0, 0, whenceCur), ErrnoSpipe, nil},
		{"seek stdout", seek(1, 0, whenceSet), ErrnoSpipe, nil},
		{"tell pipe", func() Errno { return h.call("fd_tell", 0, out) }, ErrnoSpipe, nil},
		{"seek directory", seek(3, 0, whenceSet), ErrnoBadf, nil},
		{"seek unknown fd", seek(99, 0, whenceSet), ErrnoBadf, nil},
		{"pwrite", func() Errno {
			iovs, n := h.iov([]byte("X"), []byte("Y"))
			return h.call("fd_pwrite", uint64(f), iovs, n, 1, out)
		},
			ErrnoSuccess, func() bool { return h.u32(out) == 2 && content("hXYlo")() }},
		{"pwrite kept the position", func() Errno { return h.call("fd_tell", uint64(f), out) }, ErrnoSuccess, pos(4)},
		{"pread", func() Errno {
			iovs, n := h.iov(make([]byte, 2), make([]byte, 10))
			return h.call("fd_pread", uint64(f), iovs, n, 0, out)
		}, ErrnoSuccess, func() bool { return h.u32(out) == 5 }},
		{"pread past the end", func() Errno {
			iovs, n := h.iov(make([]byte, 4))
			return h.call("fd_pread", uint64(f), iovs, n, 100, out)
		},
			ErrnoSuccess, func() bool { return h.u32(out) == 0 }},
		{"pread pipe", func() Errno { iovs, n := h.iov(make([]byte, 4)); return h.call("fd_pread", 0, iovs, n, 0, out) }, ErrnoSpipe, nil},
		{"pwrite stdout", func() Errno { iovs, n := h.iov([]byte("x")); return h.call("fd_pwrite", 1, iovs, n, 0, out) }, ErrnoSpipe, nil},
		{"pread directory", func() Errno { iovs, n := h.iov(make([]byte, 4)); return h.call("fd_pread", 3, iovs, n, 0, out) }, ErrnoBadf, nil},
		{"pwrite read-only fd", func() Errno { iovs, n := h.iov([]byte("x")); return h.call("fd_pwrite", uint64(ro), iovs, n, 0, out) }, ErrnoNotcapable, nil},
		{"pread too many iovecs", func() Errno { iovs, n := h.iov(iov1025...); return h.call("fd_pread", uint64(f), iovs, n, 0, out) }, ErrnoInval, nil},
		{"pread iovec out of memory", func() Errno {
			iovs, n := h.iov([]byte("x"))
			h.mem[iovs+4] = 0xff // length 0xff01: past the end of memory at the last pages
			h.mem[iovs+0], h.mem[iovs+1], h.mem[iovs+2] = 0xff, 0xff, 0x0f
			return h.call("fd_pread", uint64(f), iovs, n, 0, out)
		}, ErrnoFault, nil},
		{"pread iovec array out of memory", func() Errno { return h.call("fd_pread", uint64(f), uint64(len(h.mem)-4), 1, 0, out) }, ErrnoFault, nil},
		{"pread huge offset", func() Errno {
			iovs, n := h.iov(make([]byte, 4))
			return h.call("fd_pread", uint64(f), iovs, n, 1<<63, out)
		}, ErrnoInval, nil},
		{"filestat", func() Errno { return h.call("fd_filestat_get", uint64(f), out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeRegularFile) && h.u64(out+32) == 5 && h.u64(out+24) == 1
		}},
		{"filestat of stdout writer", func() Errno { return h.call("fd_filestat_get", 1, out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeCharacterDevice) && h.u64(out+32) == 0 && h.u64(out+8) == 0
		}},
		{"filestat directory", func() Errno { return h.call("fd_filestat_get", 3, out) }, ErrnoSuccess, func() bool {
			return h.mem[out+16] == byte(FiletypeDirectory)
		}},
		{"set size", func() Errno { return h.call("fd_filestat_set_size", uint64(f), 2) }, ErrnoSuccess, content("hX")},
		{"set size directory", func() Errno { return h.call("fd_filestat_set_size", 3, 2) }, ErrnoBadf, nil},
		{"set size huge", func() Errno { return h.call("fd_filestat_set_size", uint64(f), 1<<63) }, ErrnoInval, nil},
		{"set times", func() Errno { return h.call("fd_filestat_set_times", uint64(f), 0, uint64(5e17), fstMtim) }, ErrnoSuccess, func() bool {
			fi, _ := os.Stat(filepath.Join(mnt, "f"))
			return fi.ModTime().Equal(time.Unix(0, 5e17))
		}},
		{"set times of stdin", func() Errno { return h.call("fd_filestat_set_times", 0, 0, 0, fstMtimNow) }, ErrnoBadf, nil},
		{"advise", func() Errno { return h.call("fd_advise", uint64(f), 0, 0, 1) }, ErrnoSuccess, nil},
		{"advise unknown", func() Errno { return h.call("fd_advise", uint64(f), 0, 0, 6) }, ErrnoInval, nil},
		{"advise directory", func() Errno { return h.call("fd_advise", 3, 0, 0, 0) }, ErrnoBadf, nil},
		{"allocate", func() Errno { return h.call("fd_allocate", uint64(f), 0, 100) }, ErrnoSuccess, func() bool {
			fi, _ := os.Stat(filepath.Join(mnt, "f"))
			return fi.Size() == 100
		}},
		{"allocate read-only fd", func() Errno { return h.call("fd_allocate", uint64(ro), 0, 100) }, ErrnoNotcapable, nil},
		{"datasync", func() Errno { return h.call("fd_datasync", uint64(f)) }, ErrnoSuccess, nil},
		{"sync", func() Errno { return h.call("fd_sync", uint64(f)) }, ErrnoSuccess, nil},
		{"sync directory", func() Errno { return h.call("fd_sync", 3) }, ErrnoSuccess, nil},
		{"sync pipe", func() Errno { return h.call("fd_sync", 0) }, ErrnoBadf, nil},
		{"set flags append", func() Errno { return h.call("fd_fdstat_set_flags", uint64(f), uint64(FdflagAppend)) }, ErrnoSuccess, func() bool {
			iovs, n := h.iov([]byte("Z"))
			h.call("fd_seek", uint64(f), 0, whenceSet, out)
			return h.call("fd_write", uint64(f), iovs, n, out) == ErrnoSuccess &&
				h.call("fd_fdstat_get", uint64(f), out) == ErrnoSuccess && h.mem[out+2] == byte(FdflagAppend) &&
				func() bool { b, _ := os.ReadFile(filepath.Join(mnt, "f")); return len(b) == 101 && b[100] == 'Z' }()
		}},
		{"set flags sync", func() Errno { return h.call("fd_fdstat_set_flags", uint64(f), uint64(FdflagSync)) }, ErrnoInval, nil},
		{"set flags unknown", func() Errno { return h.call("fd_fdstat_set_flags", uint64(f), 1<<5) }, ErrnoInval, nil},
		{"set flags directory", func() Errno { return h.call("fd_fdstat_set_flags", 3, 0) }, ErrnoBadf, nil},
		{"set flags nonblock on a pipe", func() Errno { return h.call("fd_fdstat_set_flags", 0, uint64(FdflagNonblock)) }, ErrnoSuccess, func() bool {
			iovs, n := h.iov(make([]byte, 4))
			return h.call("fd_read", 0, iovs, n, out) == ErrnoAgain
		}},
		{"drop read right", func() Errno { return h.call("fd_fdstat_set_rights", uint64(f), fileRights&^RightFdRead, 0) }, ErrnoSuccess, func() bool {
			iovs, n := h.iov(make([]byte, 4))
			return h.call("fd_pread", uint64(f), iovs, n, 0, out) == ErrnoNotcapable
		}},
		{"add read right back", func() Errno { return h.call("fd_fdstat_set_rights", uint64(f), fileRights, 0) }, ErrnoNotcapable, nil},
		{"drop path_open from the mount", func() Errno { return h.call("fd_fdstat_set_rights", 3, dirRights&^RightPathOpen, dirRights|fileRights) }, ErrnoSuccess, func() bool {
			_, errno := h.open(3, 0, "f", 0, false, 0)
			return errno == ErrnoNotcapable
		}},
	}
	for _, st := range steps {
		got := st.run()
		if got != st.want {
			t.Errorf("%s = %v, want %v", st.name, got, st.want)
			continue
		}
		if st.check != nil && !st.check() {
			t.Errorf("%s: the result is not what it should be", st.name)
		}
	}
}

// TestPathOpenRights checks the rights a new fd gets: what it asked for, within its
// directory's inheriting rights and its kind's rights.
func TestPathOpenRights(t *testing.T) {
	_, mnt := fixture(t)
	h := mountHarness(t, Mount{HostPath: mnt, GuestPath: "/"})
	rights := func(fd uint32) (uint64, uint64) {
		if errno := h.call("fd_fdstat_get", uint64(fd), 64); errno != ErrnoSuccess {
			t.Fatalf("fd_fdstat_get = %v", errno)
		}
		return h.u64(64 + 8), h.u64(64 + 16)
	}
	f := h.mustOpen(3, "f", 0, false)
	if base, _ := rights(f); base != fileRights&^writingRights {
		t.Errorf("read-only file rights %#x, want %#x", base, fileRights&^writingRights)
	}
	d := h.mustOpen(3, "d", oflagDirectory, false)
	base, inherit := rights(d)
	if want := dirRights &^ writingRights; base != want {
		t.Errorf("directory rights %#x, want %#x", base, want)
	}
	if inherit != dirRights|fileRights {
		t.Errorf("directory inheriting %#x, want %#x", inherit, dirRights|fileRights)
	}
	// A directory that may not give write rights: files under it cannot be written.
	if errno := h.call("fd_fdstat_set_rights", uint64(d), base, inherit&^RightFdWrite); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	g := h.mustOpen(d, "g", 0, true)
	if base, _ := rights(g); base&writingRights != 0 {
		t.Errorf("file under a directory without FD_WRITE inheriting has writing rights: %#x", base)
	}
	iovs, n := h.iov([]byte("x"))
	if errno := h.call("fd_write", uint64(g), iovs, n, 64); errno != ErrnoBadf {
		t.Errorf("fd_write to it = %v, want BADF (not opened for writing)", errno)
	}

	// Rights asked for do not limit the fd beyond its mode: a directory opened with
	// a few rights (as the WASI test suite's scratch directories are) can still be
	// used for every path operation.
	p, pl := h.str("d")
	few := RightPathOpen | RightPathCreateFile | RightFdReaddir
	if errno := h.call("path_open", 3, 0, p, pl, oflagDirectory, few, RightFdRead, 0, 64); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	scratch := h.u32(64)
	if base, inherit := rights(scratch); base != dirRights&^writingRights || inherit != dirRights|fileRights {
		t.Errorf("scratch directory rights %#x/%#x, want %#x/%#x", base, inherit, dirRights&^writingRights, dirRights|fileRights)
	}

	// Neither read nor write: a handle, from which reads fail.
	p, pl = h.str("g")
	if errno := h.call("path_open", uint64(scratch), 0, p, pl, 0, 0, 0, 0, 64); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	handle := h.u32(64)
	if base, _ := rights(handle); base&(readingRights|writingRights) != 0 {
		t.Errorf("handle rights %#x include reading or writing ones", base)
	}
	if errno := h.call("fd_read", uint64(handle), iovs, n, 64); errno != ErrnoBadf {
		t.Errorf("fd_read of a handle = %v, want BADF", errno)
	}
	if errno := h.call("fd_filestat_get", uint64(handle), 128); errno != ErrnoSuccess || h.u64(128+32) != 4 {
		t.Errorf("fd_filestat_get of a handle = %v, size %d; want 4", errno, h.u64(128+32))
	}

	// A right dropped from a directory is gone from what is opened through it.
	base, inherit = rights(scratch)
	if errno := h.call("fd_fdstat_set_rights", uint64(scratch), base, inherit&^RightFdRead); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	r, _ := h.open(scratch, 0, "g", 0, false, 0)
	if base, inherit := rights(r); base&RightFdRead != 0 || inherit&RightFdRead != 0 {
		t.Errorf("FD_READ dropped from the directory's inheriting, yet the file has it: %#x/%#x", base, inherit)
	}
	if errno := h.call("fd_read", uint64(r), iovs, n, 64); errno != ErrnoBadf {
		t.Errorf("fd_read without FD_READ = %v, want BADF", errno)
	}

	// TRUNC without PATH_FILESTAT_SET_SIZE: EPERM (the WASI test suite's truncation_rights).
	if errno := h.call("fd_fdstat_set_rights", uint64(scratch), base&^RightPathFilestatSetSize, inherit&^RightFdRead); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	if _, errno := h.open(scratch, 0, "g", oflagTrunc, false, 0); errno != ErrnoPerm {
		t.Errorf("TRUNC without PATH_FILESTAT_SET_SIZE = %v, want PERM", errno)
	}
	if errno := h.call("fd_fdstat_set_rights", uint64(scratch), base&^(RightPathOpen|RightPathFilestatSetSize), 0); errno != ErrnoSuccess {
		t.Fatal(errno)
	}
	if _, errno := h.open(scratch, 0, "g", 0, false, 0); errno != ErrnoNotcapable {
		t.Errorf("path_open without PATH_OPEN = %v, want NOTCAPABLE", errno)
	}
}
