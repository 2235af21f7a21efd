package engine

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/tetratelabs/wazero"
	experimentalsys "github.com/tetratelabs/wazero/experimental/sys"
	"github.com/tetratelabs/wazero/experimental/sysfs"
)

// Mount makes a host directory visible to the guest.
type Mount struct {
	// Source is the host directory.
	Source string
	// Target is the guest path it appears at, "/" for the guest's root.
	Target string
	// ReadOnly refuses every change through the mount: writes, creation, removal,
	// renames, links and symlinks fail with EROFS.
	ReadOnly bool
}

// fsConfig builds the guest file system from mounts. It stats each source so a missing
// directory is reported by name instead of surfacing as a preopen failure.
func fsConfig(mounts []Mount) (wazero.FSConfig, error) {
	cfg := wazero.NewFSConfig()
	for _, m := range mounts {
		if m.Target == "" || m.Target[0] != '/' {
			return nil, fmt.Errorf("mount %s: target %q must be an absolute guest path", m.Source, m.Target)
		}
		src, err := filepath.Abs(m.Source)
		if err != nil {
			return nil, fmt.Errorf("mount %s: %w", m.Source, err)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("mount source: %w", err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("mount source %s is not a directory", src)
		}
		var fsys experimentalsys.FS = &guardFS{FS: sysfs.DirFS(src), root: src}
		if m.ReadOnly {
			fsys = &readOnlyFS{sysfs.ReadFS{FS: fsys}}
		}
		cfg = cfg.(sysfs.FSConfig).WithSysFSMount(fsys, m.Target)
	}
	return cfg, nil
}

// readOnlyFS is sysfs.ReadFS (what wazero's WithReadOnlyDirMount uses) except that opening
// a file for writing fails with EROFS instead of ENOSYS, so the guest's error message reads
// "Read-only file system" rather than "Function not implemented".
type readOnlyFS struct{ sysfs.ReadFS }

func (r *readOnlyFS) OpenFile(p string, flag experimentalsys.Oflag, perm fs.FileMode) (experimentalsys.File, experimentalsys.Errno) {
	f, errno := r.ReadFS.OpenFile(p, flag, perm)
	if errno == experimentalsys.ENOSYS {
		errno = experimentalsys.EROFS
	}
	return f, errno
}

// guardFS is the interim guard against guest-made symlinks that lead out of a mount (see
// the package documentation). Paths given to it are relative to root and already cleaned
// by wazero, which refuses ".." that climbs above the mount lexically; the kernel, however,
// follows symlinks, so the links themselves must not point out.
type guardFS struct {
	experimentalsys.FS
	root string // absolute host path of the mount's source
}

// Symlink refuses a link whose target is absolute, or that climbs (with "..") above the
// mount from the link's real directory, or that uses ".." after a normal component (which
// would be resolved through the symlinks on the way, not lexically).
func (g *guardFS) Symlink(target, link string) experimentalsys.Errno {
	if errno := g.checkTarget(target, path.Dir(link)); errno != 0 {
		return errno
	}
	return g.FS.Symlink(target, link)
}

// Link refuses to hard-link a symlink: Linux's link(2) does not follow it, so the copy
// would resolve its relative target from a new place.
func (g *guardFS) Link(oldPath, newPath string) experimentalsys.Errno {
	if st, errno := g.FS.Lstat(oldPath); errno == 0 && st.Mode&fs.ModeSymlink != 0 {
		return experimentalsys.EPERM
	}
	return g.FS.Link(oldPath, newPath)
}

// Rename re-checks a symlink's target from its new directory, for the same reason as Link.
func (g *guardFS) Rename(from, to string) experimentalsys.Errno {
	if st, errno := g.FS.Lstat(from); errno == 0 && st.Mode&fs.ModeSymlink != 0 {
		target, errno := g.FS.Readlink(from)
		if errno != 0 {
			return errno
		}
		if errno := g.checkTarget(target, path.Dir(to)); errno != 0 {
			return errno
		}
	}
	return g.FS.Rename(from, to)
}

// checkTarget decides whether a symlink to target placed in dir (relative to the mount's
// root) stays inside the mount.
func (g *guardFS) checkTarget(target, dir string) experimentalsys.Errno {
	if target == "" {
		return experimentalsys.ENOENT
	}
	if strings.HasPrefix(target, "/") {
		return experimentalsys.EPERM
	}
	up, seenName := 0, false
	for c := range strings.SplitSeq(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if seenName {
				return experimentalsys.EPERM
			}
			up++
		default:
			seenName = true
		}
	}
	if up == 0 {
		return 0 // descends only: stays below the link's directory
	}
	depth, errno := g.realDepth(dir)
	if errno != 0 {
		return errno
	}
	if up > depth {
		return experimentalsys.EPERM
	}
	return 0
}

// realDepth returns how many directories dir (relative to the mount's root) lies below the
// root once host symlinks on the way are resolved.
func (g *guardFS) realDepth(dir string) (int, experimentalsys.Errno) {
	root, err := filepath.EvalSymlinks(g.root)
	if err != nil {
		return 0, experimentalsys.UnwrapOSError(err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(g.root, filepath.FromSlash(dir)))
	if err != nil {
		return 0, experimentalsys.UnwrapOSError(err)
	}
	rel, err := filepath.Rel(root, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return 0, experimentalsys.EPERM // already outside the mount
	}
	if rel == "." {
		return 0, 0
	}
	return strings.Count(rel, string(filepath.Separator)) + 1, 0
}
