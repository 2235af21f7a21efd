package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

func dirFS(dir string) experimentalsys.FS { return sysfs.DirFS(dir) }

func TestMounts(t *testing.T) {
	t.Parallel()
	e := newEngine(t, t.TempDir())
	files := cGuest(t, cFiles)
	rw, ro := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(ro, "in.txt"), []byte("from host"), 0o644); err != nil {
		t.Fatal(err)
	}
	mounts := []Mount{{Source: rw, Target: "/data"}, {Source: ro, Target: "/ro", ReadOnly: true}}

	tests := []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
	}{
		{"write to writable mount", []string{"write", "/data/out.txt", "persisted"}, "ok\n", 0},
		{"read from read-only mount", []string{"read", "/ro/in.txt"}, "from host", 0},
		{"write to read-only mount", []string{"write", "/ro/new.txt", "x"}, "error: Read-only file system\n", 1},
		{"overwrite in read-only mount", []string{"write", "/ro/in.txt", "x"}, "error: Read-only file system\n", 1},
		{"symlink in read-only mount", []string{"symlink", "in.txt", "/ro/link"}, "error: Read-only file system\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := e.Run(context.Background(), Spec{Module: files, Args: append([]string{"files"}, tt.args...), Stdout: &out, Mounts: mounts})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if code != tt.wantCode || out.String() != tt.wantOut {
				t.Errorf("Run = %d, %q; want %d, %q", code, out.String(), tt.wantCode, tt.wantOut)
			}
		})
	}

	if b, err := os.ReadFile(filepath.Join(rw, "out.txt")); err != nil || string(b) != "persisted" {
		t.Errorf("host file written by the guest = %q, %v; want %q", b, err, "persisted")
	}
	if b, err := os.ReadFile(filepath.Join(ro, "in.txt")); err != nil || string(b) != "from host" {
		t.Errorf("read-only file = %q, %v; want it unchanged", b, err)
	}
	for _, name := range []string{"new.txt", "link"} {
		if _, err := os.Lstat(filepath.Join(ro, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("read-only mount gained %s: %v", name, err)
		}
	}
}

func TestRootMount(t *testing.T) {
	t.Parallel()
	e := newEngine(t, t.TempDir())
	root := t.TempDir()
	var out bytes.Buffer
	code, err := e.Run(context.Background(), Spec{
		Module: cGuest(t, cFiles), Args: []string{"files", "write", "/hello.txt", "guest"},
		Stdout: &out, Mounts: []Mount{{Source: root, Target: "/"}},
	})
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v (%q)", code, err, out.String())
	}
	if b, err := os.ReadFile(filepath.Join(root, "hello.txt")); err != nil || string(b) != "guest" {
		t.Errorf("host file = %q, %v; want %q", b, err, "guest")
	}
}

func TestSymlinkGuard(t *testing.T) {
	t.Parallel()
	e := newEngine(t, t.TempDir())
	files := cGuest(t, cFiles)

	tests := []struct {
		name, target, link string
		allowed            bool
	}{
		{"absolute /etc/passwd", "/etc/passwd", "/data/passwd", false},
		{"absolute inside the mount path", "/data/file.txt", "/data/abs", false},
		{"climbs out from the root", "../etc/passwd", "/data/up", false},
		{"climbs out from a subdirectory", "../../etc/passwd", "/data/sub/up", false},
		{"climbs through a name", "sub/../../etc", "/data/trick", false},
		{"dotdot after a name", "sub/../file.txt", "/data/dotdot", false},
		{"relative file", "file.txt", "/data/rel", true},
		{"into a subdirectory", "sub/inner.txt", "/data/down", true},
		{"up within the mount", "../file.txt", "/data/sub/up-ok", true},
		{"dangling but inside", "missing.txt", "/data/dangling", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "file.txt"), []byte("inside"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.MkdirAll(filepath.Join(dir, "sub"), 0o755); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			code, err := e.Run(context.Background(), Spec{
				Module: files, Args: []string{"files", "symlink", tt.target, tt.link},
				Stdout: &out, Mounts: []Mount{{Source: dir, Target: "/data"}},
			})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			hostLink := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(tt.link, "/data/")))
			_, lerr := os.Lstat(hostLink)
			if tt.allowed {
				if code != 0 || out.String() != "ok\n" || lerr != nil {
					t.Errorf("symlink refused: %d %q (host: %v)", code, out.String(), lerr)
				}
				return
			}
			if code != 1 || out.String() != "error: Operation not permitted\n" {
				t.Errorf("guest reported %d %q; want EPERM", code, out.String())
			}
			if !errors.Is(lerr, os.ErrNotExist) {
				t.Errorf("refused symlink exists on the host: %v", lerr)
			}
		})
	}
}

// TestGuardFS exercises the link and rename checks directly: the C library has no
// portable way to hard-link a symlink itself.
func TestGuardFS(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../..", filepath.Join(dir, "a", "b", "up")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := fsConfig([]Mount{{Source: dir, Target: "/"}})
	if err != nil || cfg == nil {
		t.Fatalf("fsConfig: %v", err)
	}
	g := &guardFS{FS: dirFS(dir), root: dir}
	if errno := g.Link("a/b/up", "up2"); errno == 0 {
		t.Error("hard link of a symlink was allowed")
	}
	if errno := g.Link("f", "f2"); errno != 0 {
		t.Errorf("hard link of a file: %v", errno)
	}
	if errno := g.Rename("a/b/up", "up3"); errno == 0 {
		t.Error("moving a climbing symlink to the root was allowed")
	}
	if errno := g.Rename("a/b/up", "a/b/up4"); errno != 0 {
		t.Errorf("renaming a symlink in place: %v", errno)
	}
	if errno := g.Symlink("x", "a/b/up4/fine"); errno != 0 { // a/b/up4 is the root: "x" stays inside
		t.Errorf("descending symlink through a symlinked directory: %v", errno)
	}
	if errno := g.Symlink("../x", "a/b/up4/evil2"); errno == 0 {
		t.Error("symlink climbing out through a symlinked directory was allowed")
	}
}
