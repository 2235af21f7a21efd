package shiminstall

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// ReadConfig reads the config at path. A missing file reads as empty, with exists
// false: Install then writes a minimal config.
func ReadConfig(path string) (data []byte, exists bool, err error) {
	data, err = os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return data, true, nil
}

// WriteConfig replaces the config at path with data atomically and returns the path
// of the backup it made, if it made one.
//
// # Notes
//
//   - Before berth changes a file for the first time, the file is copied to
//     path+BackupSuffix; an existing backup is never overwritten, so it keeps the
//     config as it was before berth ever touched it.
//   - The new content goes to a temporary file in the same directory, which is
//     synced, given the old file's mode and owner, and renamed over the old one; then
//     the directory is synced. containerd, reading at start-up, sees the old file or
//     the new one, never half of one.
//   - A symbolic link is followed: the file it points to is replaced, the link kept.
//   - A new file gets mode 0644 (and its directory 0755).
func WriteConfig(path string, data []byte) (backup string, err error) {
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	mode := fs.FileMode(0o644)
	uid, gid := -1, -1
	old, err := os.ReadFile(path)
	switch {
	case err == nil:
		fi, err := os.Stat(path)
		if err != nil {
			return "", err
		}
		mode = fi.Mode().Perm()
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			uid, gid = int(st.Uid), int(st.Gid)
		}
		bak := path + BackupSuffix
		if _, err := os.Lstat(bak); errors.Is(err, fs.ErrNotExist) {
			if err := writeAtomic(bak, old, mode, uid, gid); err != nil {
				return "", fmt.Errorf("backup of %s: %w", path, err)
			}
			backup = bak
		}
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return "", err
		}
	default:
		return "", err
	}
	return backup, writeAtomic(path, data, mode, uid, gid)
}

// writeAtomic writes data to path through a synced temporary file and a rename.
// uid and gid, when not -1, are given to the file (a failure to do so as a user that
// may not chown is ignored: the file then belongs to that user, as an edit would).
func writeAtomic(path string, data []byte, mode fs.FileMode, uid, gid int) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return err
	}
	if err = f.Chmod(mode); err != nil {
		return err
	}
	if uid >= 0 && (uid != os.Geteuid() || gid != os.Getegid()) {
		if cerr := f.Chown(uid, gid); cerr != nil && !errors.Is(cerr, fs.ErrPermission) {
			return cerr
		}
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) {
		return err
	}
	return nil
}

// InstallBinary copies the binary src (one of Binaries) into dir, under its own name,
// with mode 0755 and returns its path; changed is false when an identical file was
// already there.
//
// # Notes
//
//   - The copy is renamed into place, so shims that are running from the old file keep
//     running (a write into a running binary fails with ETXTBSY) and containerd never
//     execs a half-written one.
func InstallBinary(src, dir string) (dst string, changed bool, err error) {
	dst, current, err := BinaryCurrent(src, dir)
	if err != nil || current {
		return dst, false, err
	}
	in, err := os.Open(src)
	if err != nil {
		return dst, false, err
	}
	defer in.Close()
	data, err := io.ReadAll(in)
	if err != nil {
		return dst, false, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return dst, false, err
	}
	if err := writeAtomic(dst, data, 0o755, -1, -1); err != nil {
		return dst, false, err
	}
	return dst, true, nil
}

// BinaryCurrent tells whether dir already holds src under its name (the same file, or
// the same bytes with mode 0755); it fails when src is not a regular file.
func BinaryCurrent(src, dir string) (dst string, current bool, err error) {
	dst = filepath.Join(dir, filepath.Base(src))
	sfi, err := os.Stat(src)
	if err != nil {
		return dst, false, err
	}
	if !sfi.Mode().IsRegular() {
		return dst, false, fmt.Errorf("%s is not a regular file", src)
	}
	dfi, err := os.Stat(dst)
	if err != nil {
		return dst, false, nil
	}
	return dst, os.SameFile(sfi, dfi) ||
		dfi.Mode().Perm() == 0o755 && dfi.Size() == sfi.Size() && sameContent(src, dst), nil
}

// RemoveBinary removes the binary name from dir; removed is false when it was not there.
func RemoveBinary(dir, name string) (path string, removed bool, err error) {
	path = filepath.Join(dir, name)
	err = os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, false, nil
	}
	return path, err == nil, err
}

func sameContent(a, b string) bool {
	x, err := os.ReadFile(a)
	if err != nil {
		return false
	}
	y, err := os.ReadFile(b)
	return err == nil && bytes.Equal(x, y)
}

// ConfigVersionFor returns the config version to write for the containerd whose
// `containerd --version` printed out: 2 for containerd 1.x, 3 for 2.x and later.
func ConfigVersionFor(out string) (int, error) {
	for _, f := range strings.Fields(out) {
		major, rest, ok := strings.Cut(strings.TrimPrefix(f, "v"), ".")
		if !ok || rest == "" || rest[0] < '0' || rest[0] > '9' {
			continue
		}
		n, err := strconv.Atoi(major)
		if err != nil {
			continue
		}
		if n >= 2 {
			return 3, nil
		}
		return 2, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownContainerd, strings.TrimSpace(out))
}
