package shiminstall

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte("version = 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bak, err := WriteConfig(path, []byte("version = 2\n# one\n"))
	if err != nil {
		t.Fatal(err)
	}
	if bak != path+BackupSuffix {
		t.Errorf("backup %q", bak)
	}
	bak, err = WriteConfig(path, []byte("version = 2\n# two\n"))
	if err != nil || bak != "" {
		t.Fatalf("second write: backup %q, %v", bak, err)
	}
	for p, want := range map[string]string{path: "version = 2\n# two\n", path + BackupSuffix: "version = 2\n"} {
		b, err := os.ReadFile(p)
		if err != nil || string(b) != want {
			t.Errorf("%s = %q, %v; want %q", p, b, err, want)
		}
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", p, fi.Mode(), err)
		}
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestWriteConfigNewFileAndSymlink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "containerd", "config.toml")
	bak, err := WriteConfig(path, []byte("version = 3\n"))
	if err != nil || bak != "" {
		t.Fatalf("backup %q, %v", bak, err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v", fi, err)
	}
	link := filepath.Join(dir, "link.toml")
	if err := os.Symlink(path, link); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteConfig(link, []byte("version = 3\n# via link\n")); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced: %v, %v", fi, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "version = 3\n# via link\n" {
		t.Errorf("target = %q", b)
	}
}

func TestInstallBinary(t *testing.T) {
	src := filepath.Join(t.TempDir(), ShimBinary)
	if err := os.WriteFile(src, []byte("#!/bin/sh\necho shim v1\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "usr", "local", "bin")
	dst, changed, err := InstallBinary(src, bin)
	if err != nil || !changed || dst != filepath.Join(bin, ShimBinary) {
		t.Fatalf("InstallBinary = %q, %v, %v", dst, changed, err)
	}
	if fi, err := os.Stat(dst); err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("mode %v, %v", fi, err)
	}
	if _, changed, err := InstallBinary(src, bin); err != nil || changed {
		t.Errorf("same binary again: changed=%v, %v", changed, err)
	}
	if _, changed, err := InstallBinary(dst, bin); err != nil || changed {
		t.Errorf("binary onto itself: changed=%v, %v", changed, err)
	}
	// A running shim keeps its inode: the new binary is renamed over the old one.
	old, _ := os.Stat(dst)
	os.WriteFile(src, []byte("#!/bin/sh\necho shim v2\n"), 0o700)
	if _, changed, err := InstallBinary(src, bin); err != nil || !changed {
		t.Fatalf("new binary: changed=%v, %v", changed, err)
	}
	if now, _ := os.Stat(dst); os.SameFile(old, now) {
		t.Error("binary rewritten in place, not replaced")
	}
	if b, _ := os.ReadFile(dst); string(b) != "#!/bin/sh\necho shim v2\n" {
		t.Errorf("content %q", b)
	}
	if _, removed, err := RemoveBinary(bin, ShimBinary); err != nil || !removed {
		t.Errorf("RemoveBinary: %v, %v", removed, err)
	}
	if _, removed, err := RemoveBinary(bin, ShimBinary); err != nil || removed {
		t.Errorf("RemoveBinary again: %v, %v", removed, err)
	}
	if _, _, err := InstallBinary(bin, t.TempDir()); err == nil {
		t.Error("a directory was installed as the shim")
	}
}

func TestReadConfigMissing(t *testing.T) {
	b, exists, err := ReadConfig(filepath.Join(t.TempDir(), "nope.toml"))
	if err != nil || exists || b != nil {
		t.Errorf("ReadConfig = %q, %v, %v", b, exists, err)
	}
}
