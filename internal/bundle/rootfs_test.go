package bundle

import (
	"os"
	"path/filepath"
	"testing"
)

// Files are read and checked inside the rootfs only: ".." and symlinks (direct or
// through a parent) cannot reach the host.
func TestRootFiles(t *testing.T) {
	root := t.TempDir()
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "secret"), []byte("host"), 0o644)
	os.MkdirAll(filepath.Join(root, "app"), 0o755)
	os.WriteFile(filepath.Join(root, "app", "m.wasm"), []byte("mod"), 0o644)
	os.Symlink(filepath.Join(host, "secret"), filepath.Join(root, "abs"))
	os.Symlink(host, filepath.Join(root, "dir"))
	for _, tt := range []struct {
		p    string
		want bool
	}{
		{"/app/m.wasm", true}, {"app/m.wasm", true}, {"/../../app/m.wasm", true},
		{"/app", false}, {"/none", false}, {"/abs", true /* the link itself exists */}, {"/dir/secret", false},
	} {
		if got := RootFileExists(root, tt.p); got != tt.want {
			t.Errorf("RootFileExists(%q) = %v, want %v", tt.p, got, tt.want)
		}
	}
	if b, err := ReadRootFile(root, "/../app/m.wasm"); err != nil || string(b) != "mod" {
		t.Fatalf("ReadRootFile = %q, %v", b, err)
	}
	for _, p := range []string{"/abs", "/dir/secret"} {
		if b, err := ReadRootFile(root, p); err == nil {
			t.Fatalf("ReadRootFile(%q) read the host file: %q", p, b)
		}
	}
	if !HasEnv([]string{"A=1", "PWD=/x"}, "PWD") || HasEnv([]string{"PWDX=1"}, "PWD") {
		t.Fatal("HasEnv")
	}
}
