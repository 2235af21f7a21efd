package bundle

import (
	"context"
	"crypto/rand"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// srcTree builds a source rootfs on disk and returns its path.
func srcTree(t testing.TB) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(src, "etc"), 0o755))
	must(os.MkdirAll(filepath.Join(src, "usr/bin"), 0o755))
	must(os.MkdirAll(filepath.Join(src, "private"), 0o700))
	must(os.WriteFile(filepath.Join(src, "app.wasm"), []byte("\x00asm\x01\x00\x00\x00"), 0o755))
	must(os.WriteFile(filepath.Join(src, "etc/hosts"), []byte("127.0.0.1 localhost\n"), 0o644))
	must(os.WriteFile(filepath.Join(src, "private/key"), []byte("secret"), 0o600))
	must(os.WriteFile(filepath.Join(src, "usr/bin/ro"), []byte("read only"), 0o444))
	must(os.WriteFile(filepath.Join(src, "empty"), nil, 0o644))
	must(os.Symlink("../../app.wasm", filepath.Join(src, "usr/bin/app")))
	must(os.Symlink("nowhere", filepath.Join(src, "dangling")))
	must(os.Link(filepath.Join(src, "etc/hosts"), filepath.Join(src, "etc/hosts.link")))
	must(os.Mkdir(filepath.Join(src, "sealed"), 0o755))
	must(os.WriteFile(filepath.Join(src, "sealed/in"), []byte("in"), 0o644))
	must(os.Chmod(filepath.Join(src, "sealed"), 0o555))
	must(os.Chmod(src, 0o751))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(os.Chtimes(filepath.Join(src, "etc/hosts"), old, old))
	must(os.Chtimes(filepath.Join(src, "etc"), old, old))
	return src
}

func TestCopyTree(t *testing.T) {
	src := srcTree(t)
	dst := filepath.Join(t.TempDir(), "copy")
	if err := CopyTree(context.Background(), dst, src); err != nil {
		t.Fatalf("CopyTree: %v", err)
	}
	for name, want := range map[string]string{
		"app.wasm": "\x00asm\x01\x00\x00\x00", "etc/hosts": "127.0.0.1 localhost\n", "private/key": "secret",
		"usr/bin/ro": "read only", "empty": "", "usr/bin/app": "\x00asm\x01\x00\x00\x00", "etc/hosts.link": "127.0.0.1 localhost\n",
		"sealed/in": "in",
	} {
		if got := readFile(t, filepath.Join(dst, name)); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]fs.FileMode{
		".": fs.ModeDir | 0o751, "etc": fs.ModeDir | 0o755, "private": fs.ModeDir | 0o700, "sealed": fs.ModeDir | 0o555,
		"app.wasm": 0o755, "private/key": 0o600, "usr/bin/ro": 0o444,
	} {
		if got := mode(t, filepath.Join(dst, name)); got != want {
			t.Errorf("mode of %s = %v, want %v", name, got, want)
		}
	}
	for name, want := range map[string]string{"usr/bin/app": "../../app.wasm", "dangling": "nowhere"} {
		got, err := os.Readlink(filepath.Join(dst, name))
		if err != nil || got != want {
			t.Errorf("readlink %s = %q, %v; want %q", name, got, err, want)
		}
	}
	for _, name := range []string{"etc", "etc/hosts"} {
		s, _ := os.Lstat(filepath.Join(src, name))
		d, _ := os.Lstat(filepath.Join(dst, name))
		if !d.ModTime().Equal(s.ModTime()) {
			t.Errorf("mtime of %s = %v, want %v", name, d.ModTime(), s.ModTime())
		}
	}
}

func TestCopyTreeIndependent(t *testing.T) {
	src := srcTree(t)
	dst := filepath.Join(t.TempDir(), "copy")
	if err := CopyTree(context.Background(), dst, src); err != nil {
		t.Fatal(err)
	}
	// Write, append, remove and create in the copy; the source must not notice.
	if err := os.WriteFile(filepath.Join(dst, "etc/hosts"), []byte("changed"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(dst, "etc/hosts.link"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("appended")
	f.Close()
	os.Remove(filepath.Join(dst, "app.wasm"))
	os.WriteFile(filepath.Join(dst, "new"), []byte("n"), 0o644)

	if got := readFile(t, filepath.Join(src, "etc/hosts")); got != "127.0.0.1 localhost\n" {
		t.Errorf("source etc/hosts changed to %q", got)
	}
	if got := readFile(t, filepath.Join(dst, "etc/hosts.link")); got != "127.0.0.1 localhost\nappended" {
		t.Errorf("hard links in the source should become separate copies; hosts.link = %q", got)
	}
	if _, err := os.Stat(filepath.Join(src, "app.wasm")); err != nil {
		t.Errorf("source app.wasm: %v", err)
	}
	if _, err := os.Stat(filepath.Join(src, "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("new file appeared in the source: %v", err)
	}
}

func TestCopyTreeErrors(t *testing.T) {
	t.Run("destination exists", func(t *testing.T) {
		src := srcTree(t)
		dst := t.TempDir()
		if err := CopyTree(context.Background(), dst, src); !errors.Is(err, fs.ErrExist) {
			t.Fatalf("CopyTree onto an existing dir = %v, want fs.ErrExist", err)
		}
	})
	t.Run("missing source", func(t *testing.T) {
		dst := filepath.Join(t.TempDir(), "copy")
		if err := CopyTree(context.Background(), dst, filepath.Join(t.TempDir(), "nope")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("CopyTree from nowhere = %v, want fs.ErrNotExist", err)
		}
		if _, err := os.Lstat(dst); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("destination created: %v", err)
		}
	})
	t.Run("fifo in source", func(t *testing.T) {
		src := srcTree(t)
		if err := syscall.Mkfifo(filepath.Join(src, "etc/fifo"), 0o644); err != nil {
			t.Skip("mkfifo:", err)
		}
		parent := t.TempDir()
		err := CopyTree(context.Background(), filepath.Join(parent, "copy"), src)
		if !errors.Is(err, ErrUnsupportedEntry) {
			t.Fatalf("CopyTree with a fifo = %v, want ErrUnsupportedEntry", err)
		}
		assertNothingLeft(t, parent)
	})
	t.Run("cancelled", func(t *testing.T) {
		src := srcTree(t)
		parent := t.TempDir()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := CopyTree(ctx, filepath.Join(parent, "copy"), src); !errors.Is(err, context.Canceled) {
			t.Fatalf("CopyTree = %v, want context.Canceled", err)
		}
		assertNothingLeft(t, parent)
	})
}

// BenchmarkCopyTree copies a rootfs holding one 2.6 MB module, the shape of a typical Go-built Wasm
// image; `berth run` does this once per container.
func BenchmarkCopyTree(b *testing.B) {
	src := filepath.Join(b.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		b.Fatal(err)
	}
	module := make([]byte, 2600*1000)
	rand.Read(module)
	if err := os.WriteFile(filepath.Join(src, "app.wasm"), module, 0o755); err != nil {
		b.Fatal(err)
	}
	dst := filepath.Join(b.TempDir(), "copy")
	b.SetBytes(int64(len(module)))
	for b.Loop() {
		if err := CopyTree(context.Background(), dst, src); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dst)
		b.StartTimer()
	}
}
