package bundle

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// CopyTree makes dst (which must not exist) a writable copy of src: directories, regular files
// (content copied, permission bits and mtime kept), symlinks (kept as symlinks, target unchanged).
// Hard links within src become separate copies. Anything else in src (device, fifo, socket) fails
// with [ErrUnsupportedEntry]. On failure dst is removed.
//
// It is on the hot path of `berth run`: it walks with one open directory per level (so each
// operation is a single *at system call, never a path walk), and file content is copied by the
// kernel (copy_file_range on Linux, which some filesystems turn into a reflink).
func CopyTree(ctx context.Context, dst, src string) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	srcRoot, err := os.OpenRoot(src)
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	defer srcRoot.Close()
	top, err := srcRoot.Stat(".")
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	if err := os.Mkdir(dst, 0o700); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("copy tree: %w; the copy's directory must not exist yet", err)
		}
		return fmt.Errorf("copy tree: %w", err)
	}
	defer func() {
		if err != nil {
			removeTree(dst)
		}
	}()
	dstRoot, err := os.OpenRoot(dst)
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	defer dstRoot.Close()
	if err := copyDir(ctx, dstRoot, srcRoot, src); err != nil {
		return err
	}
	if err := os.Chmod(dst, top.Mode().Perm()); err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	if err := os.Chtimes(dst, time.Time{}, top.ModTime()); err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	return nil
}

// copyDir copies the contents of src into dst (both open directories); srcPath names src in errors.
func copyDir(ctx context.Context, dst, src *os.Root, srcPath string) error {
	d, err := src.Open(".")
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	ents, err := d.ReadDir(-1)
	d.Close()
	if err != nil {
		return fmt.Errorf("copy tree: reading %s: %w", srcPath, err)
	}
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		name := e.Name()
		where := filepath.Join(srcPath, name)
		switch e.Type() {
		case 0:
			if err := copyFile(dst, src, name); err != nil {
				return fmt.Errorf("copy tree: %s: %w", where, err)
			}
		case fs.ModeDir:
			if err := copySubdir(ctx, dst, src, name, where); err != nil {
				return err
			}
		case fs.ModeSymlink:
			target, err := src.Readlink(name)
			if err == nil {
				err = dst.Symlink(target, name)
			}
			if err != nil {
				return fmt.Errorf("copy tree: %s: %w", where, err)
			}
		default:
			return fmt.Errorf("copy tree: %s (%v): %w", where, e.Type(), ErrUnsupportedEntry)
		}
	}
	return nil
}

func copySubdir(ctx context.Context, dst, src *os.Root, name, where string) error {
	info, err := src.Lstat(name)
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	if err := dst.Mkdir(name, 0o700); err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	s, err := src.OpenRoot(name)
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	defer s.Close()
	d, err := dst.OpenRoot(name)
	if err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	defer d.Close()
	if err := copyDir(ctx, d, s, where); err != nil {
		return err
	}
	// Mode and time last: a read-only directory must first receive its entries, and adding them
	// changes its mtime.
	if err := dst.Chmod(name, info.Mode().Perm()); err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	if err := dst.Chtimes(name, time.Time{}, info.ModTime()); err != nil {
		return fmt.Errorf("copy tree: %w", err)
	}
	return nil
}

func copyFile(dst, src *os.Root, name string) (err error) {
	in, err := src.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("changed type while copying: %w", ErrUnsupportedEntry)
	}
	out, err := dst.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = out.ReadFrom(in) // copy_file_range, or a plain copy where the kernel cannot
	if err == nil {
		err = out.Chmod(st.Mode().Perm())
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return dst.Chtimes(name, time.Time{}, st.ModTime())
}
