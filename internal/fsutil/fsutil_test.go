package fsutil

import (
	"errors"
	"os"
	"path/filepath"
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
