package fsutil

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestPrivateDir(t *testing.T) {
	tests := []struct {
		name    string
		setup   func(t *testing.T, p string)
		wantErr bool
	}{
		{"missing: made", func(t *testing.T, p string) {}, false},
		{"own private directory", func(t *testing.T, p string) { os.Mkdir(p, 0o711) }, false},
		{"a file", func(t *testing.T, p string) { os.WriteFile(p, nil, 0o600) }, true},
		{"writable by others", func(t *testing.T, p string) { os.Mkdir(p, 0o700); os.Chmod(p, 0o777) }, true},
		{"writable by the group", func(t *testing.T, p string) { os.Mkdir(p, 0o700); os.Chmod(p, 0o770) }, true},
		{"symlink to an own directory", func(t *testing.T, p string) {
			d := filepath.Join(t.TempDir(), "real")
			os.Mkdir(d, 0o700)
			os.Symlink(d, p)
		}, false},
		{"another user's", func(t *testing.T, p string) {
			if os.Geteuid() != 0 {
				t.Skip("needs root to give a directory away")
			}
			os.Mkdir(p, 0o700)
			if err := os.Chown(p, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "a", "state")
			os.MkdirAll(filepath.Dir(p), 0o755)
			tt.setup(t, p)
			err := PrivateDir(p, 0o700, "state directory")
			if tt.wantErr {
				if !errors.Is(err, ErrNotPrivate) {
					t.Fatalf("PrivateDir = %v, want ErrNotPrivate", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			fi, err := os.Stat(p)
			if err != nil || !fi.IsDir() || fi.Mode().Perm()&0o077 != 0 && fi.Mode().Perm() != 0o711 {
				t.Fatalf("after PrivateDir: %v, %v", fi.Mode(), err)
			}
		})
	}
}

func TestBootID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name, path, want, err string
	}{
		{"an ID and a newline", write("ok", "5c6ed3a4-4c1b-4e0e-9d59-6c1f1e0f4a10\n"), "5c6ed3a4-4c1b-4e0e-9d59-6c1f1e0f4a10", ""},
		{"empty", write("empty", "\n"), "", "is empty"},
		{"too long", write("long", strings.Repeat("x", 65)), "", "more than an ID"},
		{"missing", filepath.Join(dir, "missing"), "", "no such file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readBootID(tt.path)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("readBootID = %q, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("readBootID = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
	if runtime.GOOS == "linux" {
		a, err := BootID()
		if err != nil {
			t.Skipf("no boot ID here: %v", err)
		}
		b, _ := BootID()
		if a != b || len(a) != 36 {
			t.Fatalf("BootID = %q then %q; want one UUID", a, b)
		}
	}
}
