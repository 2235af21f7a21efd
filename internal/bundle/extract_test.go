package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// tarLayer is a layer held in memory as an uncompressed tar.
type tarLayer []byte

func (l tarLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l)), nil
}

// funcLayer is a layer whose stream is made by a function.
type funcLayer func() (io.ReadCloser, error)

func (f funcLayer) Uncompressed() (io.ReadCloser, error) { return f() }

// ent is one tar entry to write.
type ent struct {
	hdr  tar.Header
	body string
}

var t0 = time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)

func file(name, body string, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(body)), ModTime: t0}, body: body}
}

func dir(name string, mode int64) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: mode, ModTime: t0}}
}

func symlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777, ModTime: t0}}
}

func hardlink(name, target string) ent {
	return ent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, ModTime: t0}}
}

func special(name string, typ byte) ent {
	return ent{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o644, ModTime: t0}}
}

func mkTar(t testing.TB, ents ...ent) tarLayer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("writing header %q: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatalf("writing body %q: %v", h.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// target returns a fresh, absent rootfs path in its own parent directory.
func target(t testing.TB) (parent, dir string) {
	t.Helper()
	parent = t.TempDir()
	return parent, filepath.Join(parent, "rootfs")
}

// assertNothingLeft checks that a failed Unpack left neither the rootfs nor a temporary sibling.
func assertNothingLeft(t *testing.T, parent string) {
	t.Helper()
	ents, err := os.ReadDir(parent)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		t.Errorf("left behind after failure: %s", e.Name())
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, p string) fs.FileMode {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode()
}

func unpackOK(t *testing.T, layers ...Layer) string {
	t.Helper()
	_, dir := target(t)
	if err := Unpack(context.Background(), dir, layers, Options{}); err != nil {
		t.Fatalf("Unpack: %v", err)
	}
	checkSafeTree(t, dir)
	return dir
}

func TestUnpackTree(t *testing.T) {
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 150) // needs PAX or GNU long names
	layer := mkTar(t,
		ent{hdr: tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "hi"}}},
		dir("./", 0o755),
		dir("./etc/", 0o755),
		file("./etc/hosts", "127.0.0.1 localhost\n", 0o644),
		file("app.wasm", "\x00asm\x01\x00\x00\x00", 0o755),
		file("deep/implicit/parents/x", "x", 0o600),
		file("suid", "s", 0o4755),
		file("sticky", "s", 0o1777),
		dir("ro/", 0o555),
		file("ro/inside", "in", 0o444),
		file(long, "long", 0o644),
		file("a/../b", "b", 0o644), // ".." that does not climb is fine
	)
	dir := unpackOK(t, layer)

	for name, want := range map[string]string{
		"etc/hosts": "127.0.0.1 localhost\n", "app.wasm": "\x00asm\x01\x00\x00\x00", "deep/implicit/parents/x": "x",
		"ro/inside": "in", long: "long", "b": "b",
	} {
		if got := readFile(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]fs.FileMode{
		".": fs.ModeDir | 0o755, "etc": fs.ModeDir | 0o755, "app.wasm": 0o755, "deep/implicit/parents/x": 0o600,
		"deep/implicit": fs.ModeDir | 0o755, "suid": 0o755, "sticky": 0o777, "ro": fs.ModeDir | 0o555, "ro/inside": 0o444,
	} {
		if got := mode(t, filepath.Join(dir, name)); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
	for _, name := range []string{"etc", "etc/hosts", "ro", "app.wasm"} {
		fi, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !fi.ModTime().Equal(t0) {
			t.Errorf("mtime of %s = %v, want %v", name, fi.ModTime(), t0)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "pax_global_header")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("global header materialised: %v", err)
	}
}

func TestUnpackGNUFormat(t *testing.T) {
	long := strings.Repeat("n", 200)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeReg, Name: long, Size: 2, Mode: 0o644, Format: tar.FormatGNU},
		{Typeflag: tar.TypeSymlink, Name: "l", Linkname: long, Format: tar.FormatGNU},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			io.WriteString(tw, "ok")
		}
	}
	tw.Close()
	dir := unpackOK(t, tarLayer(buf.Bytes()))
	if got := readFile(t, filepath.Join(dir, "l")); got != "ok" {
		t.Errorf("through GNU long symlink: %q", got)
	}
}

func TestUnpackRefused(t *testing.T) {
	base := mkTar(t, dir("etc", 0o755), file("etc/passwd", "root", 0o644), dir("a/b", 0o755))
	tests := []struct {
		name      string
		layers    []Layer
		want      error
		wantLayer int
		wantEntry string
	}{
		{"absolute name", []Layer{mkTar(t, file("/etc/passwd", "x", 0o644))}, ErrUnsafePath, 0, "/etc/passwd"},
		{"dot-dot name", []Layer{base, mkTar(t, file("../etc/passwd", "x", 0o644))}, ErrUnsafePath, 1, "../etc/passwd"},
		{"dot-dot after a dir", []Layer{mkTar(t, file("a/../../x", "x", 0o644))}, ErrUnsafePath, 0, "a/../../x"},
		{"symlink climbing", []Layer{mkTar(t, symlink("up", "../host"))}, ErrUnsafePath, 0, "up"},
		{"symlink climbing from depth", []Layer{base, mkTar(t, symlink("a/b/l", "../../../etc"))}, ErrUnsafePath, 1, "a/b/l"},
		{"symlink climbing through a symlinked parent", []Layer{base, mkTar(t, symlink("a/l", ".."), symlink("a/l/m", "../x"))}, ErrUnsafePath, 1, "a/l/m"},
		{"symlink escaping through another symlink", []Layer{mkTar(t, symlink("s", "."), symlink("l", "s/../x"))}, ErrUnsafePath, 0, "l"},
		{"symlink escape made by a later layer", []Layer{mkTar(t, dir("s", 0o755), symlink("l", "s/../x")), mkTar(t, symlink("s", "."))}, ErrUnsafePath, 0, "l"},
		{"hardlink outside", []Layer{mkTar(t, hardlink("h", "../etc/passwd"))}, ErrUnsafePath, 0, "h"},
		{"hardlink absolute", []Layer{base, mkTar(t, hardlink("h", "/etc/passwd"))}, ErrUnsafePath, 1, "h"},
		{"hardlink to missing", []Layer{base, mkTar(t, hardlink("h", "etc/shadow"))}, ErrUnsafePath, 1, "h"},
		{"hardlink to a directory", []Layer{base, mkTar(t, hardlink("h", "etc"))}, ErrUnsafePath, 1, "h"},
		{"hardlink to a symlink", []Layer{mkTar(t, symlink("s", "x"), file("x", "x", 0o644), hardlink("h", "s"))}, ErrUnsafePath, 0, "h"},
		{"hardlink to a later entry", []Layer{mkTar(t, hardlink("h", "x"), file("x", "x", 0o644))}, ErrUnsafePath, 0, "h"},
		{"file replacing the root", []Layer{mkTar(t, file("a/..", "x", 0o644))}, ErrUnsafePath, 0, "a/.."},
		{"whiteout of dot", []Layer{base, mkTar(t, file("a/.wh..", "", 0o644))}, ErrUnsafePath, 1, "a/.wh.."},
		{"whiteout of dot-dot", []Layer{base, mkTar(t, file("a/.wh...", "", 0o644))}, ErrUnsafePath, 1, "a/.wh..."},
		{"char device", []Layer{mkTar(t, special("dev/null", tar.TypeChar))}, ErrUnsupportedEntry, 0, "dev/null"},
		{"block device", []Layer{mkTar(t, special("dev/sda", tar.TypeBlock))}, ErrUnsupportedEntry, 0, "dev/sda"},
		{"fifo", []Layer{base, mkTar(t, special("run/fifo", tar.TypeFifo))}, ErrUnsupportedEntry, 1, "run/fifo"},
		{"unknown type", []Layer{mkTar(t, special("x", 'Z'))}, ErrUnsupportedEntry, 0, "x"},
		{"empty symlink target", []Layer{mkTar(t, symlink("l", ""))}, ErrUnsupportedEntry, 0, "l"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, dir := target(t)
			err := Unpack(context.Background(), dir, tt.layers, Options{})
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unpack = %v, want %v", err, tt.want)
			}
			var ee *EntryError
			if !errors.As(err, &ee) {
				t.Fatalf("%v is not an *EntryError", err)
			}
			if ee.Layer != tt.wantLayer || ee.Name != tt.wantEntry {
				t.Errorf("EntryError{Layer: %d, Name: %q}, want {%d, %q}", ee.Layer, ee.Name, tt.wantLayer, tt.wantEntry)
			}
			assertNothingLeft(t, parent)
		})
	}
}

// TestCleanName covers what archive/tar cannot produce (it drops names with NUL) as well as the
// usual shapes.
func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		err      error
	}{
		{"x", "x", nil}, {"./x", "x", nil}, {"./", ".", nil}, {"a/b/", "a/b", nil}, {"a//b/./c", "a/b/c", nil},
		{"a/../b", "b", nil}, {"", ".", nil}, {"..x", "..x", nil}, {"x..", "x..", nil},
		{"/x", "", ErrUnsafePath}, {"..", "", ErrUnsafePath}, {"../x", "", ErrUnsafePath}, {"a/../../x", "", ErrUnsafePath},
		{"a\x00b", "", ErrUnsafePath},
	}
	for _, tt := range tests {
		got, err := cleanName(tt.in)
		if got != tt.want || !errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) {
			t.Errorf("cleanName(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestRelTarget(t *testing.T) {
	tests := []struct{ dir, abs, want string }{
		{".", "/", "."}, {".", "/usr/bin/x", "usr/bin/x"}, {"bin", "/usr/bin/x", "../usr/bin/x"},
		{"usr/bin", "/usr/bin/x", "x"}, {"usr/bin", "/usr", ".."}, {"a/b/c", "/", "../../.."},
		{"etc", "/../../etc/passwd", "passwd"}, {"usr/lib", "/usr/lib64/", "../lib64"},
	}
	for _, tt := range tests {
		if got := relTarget(tt.dir, tt.abs); got != tt.want {
			t.Errorf("relTarget(%q, %q) = %q, want %q", tt.dir, tt.abs, got, tt.want)
		}
	}
}

func TestEntryErrorMessage(t *testing.T) {
	_, dir := target(t)
	base := mkTar(t, file("etc/passwd", "x", 0o644))
	err := Unpack(context.Background(), dir, []Layer{base, mkTar(t, file("../etc/passwd", "x", 0o644))}, Options{})
	const want = `layer 1: entry "../etc/passwd": path escapes the image root (refused)`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant   %s", err, want)
	}
}

func TestUnpackSymlinks(t *testing.T) {
	dir := unpackOK(t,
		mkTar(t,
			file("usr/bin/tool", "tool", 0o755),
			file("usr/lib/libc.so", "libc", 0o644),
			symlink("bin/tool", "/usr/bin/tool"),
			symlink("etc/rootlink", "/"),
			symlink("lib", "/usr/lib/../../../usr/lib"), // ".." above / stays at /, as in a chroot
			symlink("usr/bin/self", "/usr/bin/tool"),
			symlink("usr/bin/rel", "../lib/libc.so"),
			symlink("dangling", "nowhere/at/all"),
			symlink("a", "usr"),
			file("a/bin/through", "via parent link", 0o644), // written through the symlinked parent, inside
		),
	)
	for name, want := range map[string]string{
		"bin/tool": "../usr/bin/tool", "etc/rootlink": "..", "lib": "usr/lib", "usr/bin/self": "tool",
		"usr/bin/rel": "../lib/libc.so", "dangling": "nowhere/at/all",
	} {
		got, err := os.Readlink(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("readlink %s = %q, want %q", name, got, want)
		}
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"bin/tool": "usr/bin/tool", "etc/rootlink": ".", "lib": "usr/lib", "usr/bin/self": "usr/bin/tool", "usr/bin/rel": "usr/lib/libc.so",
	} {
		got, err := filepath.EvalSymlinks(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if wantAbs := filepath.Join(realDir, want); got != wantAbs {
			t.Errorf("%s resolves to %s, want %s", name, got, wantAbs)
		}
	}
	if got := readFile(t, filepath.Join(dir, "bin/tool")); got != "tool" {
		t.Errorf("bin/tool content %q", got)
	}
	if got := readFile(t, filepath.Join(dir, "usr/bin/through")); got != "via parent link" {
		t.Errorf("file written through symlinked parent: %q", got)
	}
	if fi := mode(t, filepath.Join(dir, "a")); fi&fs.ModeSymlink == 0 {
		t.Errorf("a is %v, want it to stay a symlink", fi)
	}
}

func TestUnpackHardlink(t *testing.T) {
	dir := unpackOK(t,
		mkTar(t, file("bin/busybox", "bb", 0o755)),
		mkTar(t, hardlink("bin/sh", "./bin/busybox"), hardlink("sh2", "bin/busybox"), hardlink("bin/busybox", "bin/busybox")),
	)
	a, err := os.Stat(filepath.Join(dir, "bin/busybox"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"bin/sh", "sh2"} {
		b, err := os.Lstat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(a, b) {
			t.Errorf("%s is not a hard link of bin/busybox", name)
		}
	}
}

func TestUnpackWhiteouts(t *testing.T) {
	lower := mkTar(t,
		file("d/a", "a", 0o644), file("d/b", "b", 0o644), file("d/sub/c", "c", 0o644),
		file("e/x", "x", 0o644), file("keep", "k", 0o644),
		file("o/old", "old", 0o644), file("o/dir/older", "older", 0o644),
		file("p/old", "old", 0o644), file("p/dir/older", "older", 0o644),
	)
	upper := mkTar(t,
		file("d/.wh.a", "", 0o644),
		file(".wh.e", "", 0o644),
		file("d/sub/.wh.nothing-there", "", 0o644),
		file(".wh..wh.plnk", "", 0o644), // AUFS bookkeeping: skipped
		// opaque marker first, as the OCI spec asks
		dir("o", 0o755), file("o/.wh..wh..opq", "", 0o644), file("o/new", "new", 0o644), file("o/dir/newer", "newer", 0o644),
		// opaque marker last: what this layer wrote stays, lower content goes (recursively)
		file("p/new", "new", 0o644), file("p/dir/newer", "newer", 0o644), file("p/.wh..wh..opq", "", 0o644),
	)
	dir := unpackOK(t, lower, upper)
	var got []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if !d.IsDir() {
			got = append(got, rel)
		}
		return nil
	})
	want := []string{"d/b", "d/sub/c", "keep", "o/dir/newer", "o/new", "p/dir/newer", "p/new"}
	if !slices.Equal(got, want) {
		t.Errorf("files after whiteouts:\n got %q\nwant %q", got, want)
	}
}

func TestUnpackReplace(t *testing.T) {
	lower := mkTar(t,
		file("x/f", "f", 0o644), file("y", "y", 0o644), dir("target", 0o755), symlink("z", "target"),
		file("w", "w", 0o644), dir("m", 0o700), file("m/keep", "k", 0o644),
	)
	upper := mkTar(t,
		file("x", "now a file", 0o644), // file over a directory
		dir("y", 0o711),                // directory over a file
		file("z", "now a file", 0o600), // file over a symlink: must not write through it
		symlink("w", "y"),              // symlink over a file
		dir("m", 0o750),                // directory over directory: merged, new mode
		file("m/new", "n", 0o644),
		file("same", "1", 0o644), file("same", "2", 0o644), // same layer: last wins
	)
	dir := unpackOK(t, lower, upper)
	if got := readFile(t, filepath.Join(dir, "x")); got != "now a file" {
		t.Errorf("x = %q", got)
	}
	if m := mode(t, filepath.Join(dir, "y")); m != fs.ModeDir|0o711 {
		t.Errorf("y mode %v", m)
	}
	if m := mode(t, filepath.Join(dir, "z")); m != 0o600 {
		t.Errorf("z mode %v", m)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "target")); len(ents) != 0 {
		t.Errorf("write went through the old symlink: target holds %v", ents)
	}
	if l, err := os.Readlink(filepath.Join(dir, "w")); err != nil || l != "y" {
		t.Errorf("w -> %q, %v", l, err)
	}
	if m := mode(t, filepath.Join(dir, "m")); m != fs.ModeDir|0o750 {
		t.Errorf("m mode %v", m)
	}
	for _, f := range []string{"m/keep", "m/new"} {
		if _, err := os.Lstat(filepath.Join(dir, f)); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if got := readFile(t, filepath.Join(dir, "same")); got != "2" {
		t.Errorf("same = %q", got)
	}
}

// zeros is an endless stream of zero bytes that counts what was read from it.
type zeros struct{ n int64 }

func (z *zeros) Read(p []byte) (int, error) {
	clear(p)
	z.n += int64(len(p))
	return len(p), nil
}

// bombHeader is a tar header block declaring one file of size bytes.
func bombHeader(t *testing.T, name string, size int64) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes() // no Close: the content "follows"
}

func TestUnpackLimits(t *testing.T) {
	var zr zeros
	streamBomb := funcLayer(func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(bombHeader(t, "bomb", 1<<40)), &zr)), nil
	})
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	tw := tar.NewWriter(zw)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "zeros", Size: 64 << 20, Mode: 0o644})
	io.CopyN(tw, &zeros{}, 64<<20)
	tw.Close()
	zw.Close()
	if gz.Len() > 1<<20 {
		t.Fatalf("gzip bomb is %d bytes, expected a small one", gz.Len())
	}
	gzipBomb := funcLayer(func() (io.ReadCloser, error) { return gzip.NewReader(bytes.NewReader(gz.Bytes())) })

	tests := []struct {
		name      string
		layers    []Layer
		lim       Limits
		wantLayer int
		wantMsg   string
	}{
		{"bytes across layers", []Layer{mkTar(t, file("a", strings.Repeat("a", 600), 0o644)), mkTar(t, file("b", strings.Repeat("b", 600), 0o644))},
			Limits{MaxBytes: 1000}, 1, "past 1000 bytes (Limits.MaxBytes)"},
		{"entries across layers", []Layer{mkTar(t, dir("a", 0o755), dir("b", 0o755)), mkTar(t, dir("c", 0o755), dir("d", 0o755))},
			Limits{MaxEntries: 3}, 1, "more than 3 tar entries (Limits.MaxEntries)"},
		{"endless zeros after a huge header", []Layer{streamBomb}, Limits{MaxBytes: 1 << 20}, 0, "1099511627776 bytes of file content would bring the total past 1048576 bytes"},
		{"gzip bomb", []Layer{gzipBomb}, Limits{MaxBytes: 1 << 20}, 0, "past 1048576 bytes"},
		{"whiteout with a huge body", []Layer{funcLayer(func() (io.ReadCloser, error) {
			return io.NopCloser(io.MultiReader(bytes.NewReader(bombHeader(t, ".wh.x", 1<<40)), &zeros{})), nil
		})}, Limits{MaxBytes: 1 << 20}, 0, "past 1048576 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, dir := target(t)
			err := Unpack(context.Background(), dir, tt.layers, Options{Limits: tt.lim})
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Unpack = %v, want ErrTooLarge", err)
			}
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Layer != tt.wantLayer {
				t.Errorf("error %v: want an EntryError for layer %d", err, tt.wantLayer)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not mention %q", err, tt.wantMsg)
			}
			assertNothingLeft(t, parent)
		})
	}
	if zr.n > 1<<20 {
		t.Errorf("read %d bytes of the endless stream; the header alone should have stopped it", zr.n)
	}
}

func TestUnpackTrailingData(t *testing.T) {
	l := mkTar(t, file("a", "a", 0o644))
	padded := append(slices.Clone(l), make([]byte, 10240)...)
	unpackOK(t, tarLayer(padded)) // block padding is fine

	parent, dir := target(t)
	var zr zeros
	endless := funcLayer(func() (io.ReadCloser, error) {
		return io.NopCloser(io.MultiReader(bytes.NewReader(l), &zr)), nil
	})
	err := Unpack(context.Background(), dir, []Layer{endless}, Options{Limits: Limits{MaxBytes: 1 << 20}})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("endless trailing zeros: %v, want ErrTooLarge", err)
	}
	assertNothingLeft(t, parent)
}

func TestUnpackBadStreams(t *testing.T) {
	good := mkTar(t, file("a", "hello", 0o644))
	boom := errors.New("registry went away")
	tests := []struct {
		name   string
		layers []Layer
		check  func(error) bool
		msg    string
	}{
		{"truncated tar", []Layer{good, good[:514]}, func(err error) bool { return errors.Is(err, io.ErrUnexpectedEOF) }, "layer 1"},
		{"garbage", []Layer{tarLayer(bytes.Repeat([]byte("junk"), 200))}, func(err error) bool { return errors.Is(err, tar.ErrHeader) }, "layer 0: reading tar"},
		{"open error", []Layer{good, funcLayer(func() (io.ReadCloser, error) { return nil, boom })}, func(err error) bool { return errors.Is(err, boom) }, "layer 1: opening"},
		{"nil layer", []Layer{nil}, func(err error) bool { return err != nil }, "layer 0: nil layer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			parent, dir := target(t)
			err := Unpack(context.Background(), dir, tt.layers, Options{})
			if !tt.check(err) || !strings.Contains(fmt.Sprint(err), tt.msg) {
				t.Fatalf("Unpack = %v, want an error mentioning %q", err, tt.msg)
			}
			assertNothingLeft(t, parent)
		})
	}
}

func TestUnpackExistingTarget(t *testing.T) {
	parent, dir := target(t)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "mine"), []byte("keep"), 0o644)
	err := Unpack(context.Background(), dir, []Layer{mkTar(t, file("x", "x", 0o644))}, Options{})
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("Unpack into an existing dir = %v, want fs.ErrExist", err)
	}
	if got := readFile(t, filepath.Join(dir, "mine")); got != "keep" {
		t.Errorf("existing content changed: %q", got)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("parent holds %v, want only the existing dir", ents)
	}
}

func TestUnpackEmpty(t *testing.T) {
	dir := unpackOK(t)
	if m := mode(t, dir); m != fs.ModeDir|0o755 {
		t.Errorf("empty rootfs mode %v", m)
	}
}

func TestUnpackCancel(t *testing.T) {
	t.Run("before", func(t *testing.T) {
		parent, dir := target(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := Unpack(ctx, dir, []Layer{mkTar(t, file("a", "a", 0o644))}, Options{}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Unpack = %v, want context.Canceled", err)
		}
		assertNothingLeft(t, parent)
	})
	t.Run("between entries", func(t *testing.T) {
		parent, dir := target(t)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		first := mkTar(t, file("a", "a", 0o644))
		cancelling := funcLayer(func() (io.ReadCloser, error) {
			cancel() // the cancel arrives while this layer is being applied
			return mkTar(t, file("b", "b", 0o644), file("c", "c", 0o644)).Uncompressed()
		})
		err := Unpack(ctx, dir, []Layer{first, cancelling}, Options{})
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "layer 1") {
			t.Fatalf("Unpack = %v, want context.Canceled in layer 1", err)
		}
		assertNothingLeft(t, parent)
	})
}

// FuzzUnpack feeds arbitrary bytes to Unpack as one tar layer. It must not panic, must not write
// anywhere but its target, and must either succeed with a safe tree or fail with a sentinel, a tar
// format error, or a filesystem error attributed to an entry (such as a file used as a directory).
// With fixSums, every 512-byte block gets a valid header checksum first, so mutations get past
// archive/tar's checksum test and reach the extraction code.
func FuzzUnpack(f *testing.F) {
	seeds := []tarLayer{
		mkTar(f, dir("./", 0o755), file("etc/hosts", "h", 0o644), symlink("bin/sh", "/usr/bin/busybox"), hardlink("h2", "etc/hosts")),
		mkTar(f, file("../x", "x", 0o644)),
		mkTar(f, file("/abs", "x", 0o644)),
		mkTar(f, symlink("l", ".."), file("l/escape", "x", 0o644)),
		mkTar(f, symlink("s", "."), symlink("l", "s/../x")),
		mkTar(f, dir("a", 0o755), symlink("a/l", ".."), symlink("a/l/m", "../x")),
		mkTar(f, hardlink("h", "../etc/passwd")),
		mkTar(f, file("d/x", "x", 0o644), file("d/.wh.x", "", 0o644), file("d/.wh..wh..opq", "", 0o644)),
		mkTar(f, file("f", "x", 0o644), file("f/g", "y", 0o644)),
		mkTar(f, special("dev/null", tar.TypeChar)),
		mkTar(f, dir("ro", 0o500), file("ro/x", "x", 0o000)),
	}
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, fixSums bool) {
		if fixSums {
			data = fixChecksums(data)
		}
		outer := t.TempDir()
		parent := filepath.Join(outer, "p")
		if err := os.Mkdir(parent, 0o755); err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(parent, "rootfs")
		err := Unpack(context.Background(), dir, []Layer{tarLayer(data)}, Options{Limits: Limits{MaxBytes: 64 << 10, MaxEntries: 64}}) // small: keeps each run cheap

		if ents, _ := os.ReadDir(outer); len(ents) != 1 || ents[0].Name() != "p" {
			t.Fatalf("something was written outside the target's parent: %v", ents)
		}
		ents, _ := os.ReadDir(parent)
		if err != nil {
			if strings.Contains(err.Error(), "path escapes from parent") {
				t.Fatalf("os.Root stopped an escape the checks missed: %v", err)
			}
			if !allowedUnpackError(err) {
				t.Fatalf("unexpected kind of error: %v (%T)", err, errors.Unwrap(err))
			}
			if len(ents) != 0 {
				t.Fatalf("failure left %v behind", ents)
			}
			return
		}
		if len(ents) != 1 || ents[0].Name() != "rootfs" {
			t.Fatalf("parent holds %v, want only rootfs", ents)
		}
		checkSafeTree(t, dir)
	})
}

// fixChecksums returns a copy of data in which every non-zero 512-byte block carries a valid
// ustar header checksum.
func fixChecksums(data []byte) []byte {
	data = slices.Clone(data)
	for off := 0; off+512 <= len(data); off += 512 {
		blk := data[off : off+512]
		if !slices.ContainsFunc(blk, func(b byte) bool { return b != 0 }) {
			continue
		}
		copy(blk[148:156], "        ")
		sum := 0
		for _, b := range blk {
			sum += int(b)
		}
		copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	}
	return data
}

func allowedUnpackError(err error) bool {
	for _, s := range []error{ErrUnsafePath, ErrUnsupportedEntry, ErrTooLarge, tar.ErrHeader, tar.ErrFieldTooLong, io.ErrUnexpectedEOF} {
		if errors.Is(err, s) {
			return true
		}
	}
	if strings.Contains(err.Error(), "archive/tar: ") { // e.g. sparse map errors, which archive/tar does not export
		return true
	}
	var ee *EntryError
	if !errors.As(err, &ee) {
		return false
	}
	var pe *fs.PathError
	var le *os.LinkError
	var errno syscall.Errno
	return errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &errno)
}

// checkSafeTree asserts that a finished rootfs holds only directories, regular files without
// setuid/setgid/sticky bits, and relative symlinks that resolve inside it.
func checkSafeTree(t *testing.T, dir string) {
	t.Helper()
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // unreadable directory (mode from the archive); nothing to check inside
		}
		fi, err := d.Info()
		if err != nil {
			t.Fatal(err)
		}
		switch m := fi.Mode(); {
		case m&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				t.Fatal(err)
			}
			if filepath.IsAbs(target) {
				t.Errorf("%s -> %s: absolute symlink left in the tree", p, target)
			}
			if resolved, err := filepath.EvalSymlinks(p); err == nil && resolved != realDir &&
				!strings.HasPrefix(resolved, realDir+string(filepath.Separator)) {
				t.Errorf("%s -> %s resolves to %s, outside %s", p, target, resolved, realDir)
			}
		case m.IsDir(), m.IsRegular():
			if m&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0 {
				t.Errorf("%s keeps mode %v", p, m)
			}
		default:
			t.Errorf("%s has unexpected type %v", p, m)
		}
		return nil
	})
}

func TestUnpackFileAsParent(t *testing.T) {
	parent, dir := target(t)
	err := Unpack(context.Background(), dir, []Layer{mkTar(t, file("f", "x", 0o644), file("f/g", "y", 0o644))}, Options{})
	var ee *EntryError
	if !errors.Is(err, syscall.ENOTDIR) || !errors.As(err, &ee) || ee.Name != "f/g" {
		t.Fatalf("Unpack = %v, want an EntryError for f/g wrapping ENOTDIR", err)
	}
	assertNothingLeft(t, parent)
}

// With Options.WriteBehind the files are the same, written in chunks the kernel is asked
// to start writing out (fsutil.WriteBehind); a file of several chunks checks the offsets.
func TestUnpackWriteBehind(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 3<<16+1) // 3 MiB and 16 bytes
	for _, behind := range []bool{false, true} {
		_, dir := target(t)
		err := Unpack(context.Background(), dir, []Layer{mkTar(t, file("big", big, 0o644), file("small", "x", 0o600))}, Options{WriteBehind: behind})
		if err != nil {
			t.Fatalf("WriteBehind %v: Unpack: %v", behind, err)
		}
		for name, want := range map[string]string{"big": big, "small": "x"} {
			if got, err := os.ReadFile(filepath.Join(dir, name)); err != nil || string(got) != want {
				t.Errorf("WriteBehind %v: %s has %d bytes (%v), want %d", behind, name, len(got), err, len(want))
			}
		}
	}
}
