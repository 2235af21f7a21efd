// Package bundle prepares what a container runs from: the root filesystem unpacked from an image's
// layers ([Unpack]) and the per-container writable copy of it ([CopyTree]).
//
// # Notes
//
//   - Layers come from anywhere, so extraction is an attack surface. Every entry name is cleaned and
//     refused when it is absolute, holds a NUL or climbs out with "..". Device nodes, fifos and unknown
//     entry types are refused rather than skipped, so a bad image fails loudly. Sizes and entry counts
//     are bounded across all layers ([Limits]); a regular file's declared size is checked against the
//     budget before a byte of it is read, so a decompression bomb is stopped at its header.
//   - Every write goes through an [os.Root] opened on the temporary tree, so even if a check here had a
//     bug, the kernel-backed root refuses to create, open or follow anything outside it. Parent
//     directories are resolved by this package (following symlinks that stay inside), so the maps kept
//     for whiteouts and deferred metadata are keyed by real paths.
//   - Symlinks: a relative target is refused when, joined to the directory that really holds the link,
//     it climbs above the root. An absolute target such as "/usr/bin/x" is rewritten into the
//     equivalent relative one ("../usr/bin/x" from "bin"): the rootfs is later read by host processes,
//     and the host kernel would resolve an absolute target against the host's "/", not the image's.
//     Like a chroot, ".." at the image root stays at the root ("/../x" becomes "x"). After the last
//     layer every symlink is resolved the way the kernel would (through other symlinks); one that ends
//     outside the root fails the unpack, which catches combinations no single entry shows, such as
//     "s -> ." with "l -> s/../x".
//   - Hard links must name a regular file that is already in the tree; the link is made with
//     Root.Link, which does not follow a symlink in the last element.
//   - Whiteouts follow the OCI image spec: ".wh.NAME" removes NAME from lower layers (and from earlier
//     entries of the same layer, as containerd does); ".wh..wh..opq" removes everything in its
//     directory that the current layer did not itself create. Other ".wh..wh." names are AUFS
//     bookkeeping and are skipped. Whiteouts are never written out.
//   - Modes keep the permission bits only: setuid, setgid and sticky bits are dropped, and owners are
//     ignored, so unpacking works unprivileged and nothing in a rootfs can gain privileges on the host.
//     Directories are created owner-writable and get their final mode and mtime only after the last
//     layer, deepest first, so a read-only directory can still receive later entries. Symlink times are
//     not set (os.Root has no lchtimes); extended attributes are not kept.
//   - The tree is built in a hidden sibling of the target and renamed into place at the end, so a
//     reader never sees half a rootfs and a failure leaves nothing. The rename is not fenced against a
//     concurrent writer creating the same directory (POSIX rename replaces an empty directory); callers
//     serialise by image, as the store's lock does. Nothing is fsynced: a rootfs can always be
//     unpacked again.
//   - After a layer's tar ends, the rest of its stream (block padding) is drained, so a reader that
//     verifies a digest at EOF, as go-containerregistry's does, sees the whole blob. What is drained
//     counts toward Limits.MaxBytes.
package bundle

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/internal/ctxio"
	"github.com/berth-dev/berth/internal/fsutil"
)

// Layer is one image layer; go-containerregistry's v1.Layer satisfies it.
type Layer interface {
	// Uncompressed returns the layer's tar stream.
	Uncompressed() (io.ReadCloser, error)
}

// Limits bound what an extraction may write (decompression bombs, huge images). A field that is zero
// or negative takes its value from [DefaultLimits].
type Limits struct {
	// MaxBytes bounds the total bytes of regular file content, all layers together.
	MaxBytes int64
	// MaxEntries bounds the number of tar entries, all layers together.
	MaxEntries int
}

// DefaultLimits returns the limits used when none are given: 4 GiB of file content and 1<<20 entries.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 4 << 30, MaxEntries: 1 << 20}
}

// Options say how [Unpack] writes; the zero value gives the default limits and lets the kernel
// write the files back in its own time.
type Options struct {
	Limits
	// WriteBehind starts each file's write-out to the disk while it is written
	// (fsutil.WriteBehind), for a caller that syncs the tree right after (fsutil.SyncFS):
	// the sync then finds most of it written. Without it the write-out waits, as for any
	// file, and leaves the disk to writes that must reach it first.
	WriteBehind bool
}

func (l Limits) orDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

// Sentinel errors returned (wrapped in an [*EntryError]) by [Unpack], to be matched with errors.Is.
var (
	// ErrUnsafePath reports an entry that would reach outside the image root: an absolute name, a ".."
	// that climbs, a NUL in a name, a symlink that resolves outside, or a hard link to something that is
	// not a file already extracted.
	ErrUnsafePath = errors.New("path escapes the image root (refused)")
	// ErrUnsupportedEntry reports an entry type that has no place in a rootfs: device nodes, fifos,
	// sockets and unknown tar types.
	ErrUnsupportedEntry = errors.New("entry type not allowed in an image rootfs (refused)")
	// ErrTooLarge reports an image that exceeds [Limits]; the message names the limit and its value.
	ErrTooLarge = errors.New("image exceeds an unpack limit")
)

// EntryError says which layer (index into the slice given to [Unpack]) and which tar entry (its name
// as written in the archive) an extraction failed on.
type EntryError struct {
	Layer int
	Name  string
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("layer %d: entry %q: %v", e.Layer, e.Name, e.Err)
}

// Unwrap returns the underlying error, so errors.Is finds the sentinels.
func (e *EntryError) Unwrap() error { return e.Err }

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	// maxHops bounds symlink following; the kernel gives up after 40, so anything that resolves
	// inside within this many hops cannot be made to escape by the kernel either.
	maxHops = 255
)

// Unpack applies layers in order into dir, which must not exist yet. It builds the tree in a
// temporary sibling directory and renames it into place only when every layer applied, so a failure
// leaves nothing. dir's parent must exist.
//
// Errors about one entry are [*EntryError]s wrapping [ErrUnsafePath], [ErrUnsupportedEntry],
// [ErrTooLarge] or the filesystem's error; a malformed tar stream gives archive/tar's error, prefixed
// with the layer index.
func Unpack(ctx context.Context, dir string, layers []Layer, opts Options) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	if dir == "" {
		return errors.New("unpack: empty target directory")
	}
	if _, err := os.Lstat(dir); err == nil {
		return &fs.PathError{Op: "unpack", Path: dir, Err: fmt.Errorf("target %w; remove it or unpack elsewhere", fs.ErrExist)}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("unpack: %w", err)
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), "."+filepath.Base(dir)+".unpacking-")
	if err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	defer func() {
		if err != nil {
			removeTree(tmp)
		}
	}()
	root, err := os.OpenRoot(tmp)
	if err != nil {
		return fmt.Errorf("unpack into %s: %w", dir, err)
	}
	u := &unpacker{
		root:       root,
		lim:        opts.Limits.orDefaults(),
		behind:     opts.WriteBehind,
		realDirs:   map[string]bool{},
		dirMeta:    map[string]dirMeta{},
		links:      map[string]origin{},
		created:    map[string]bool{},
		createdAnc: map[string]bool{},
		buf:        make([]byte, 128<<10),
	}
	err = u.run(ctx, layers)
	if cerr := root.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("unpack into %s: %w", dir, cerr)
	}
	if err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil {
		return &fs.PathError{Op: "unpack", Path: dir, Err: fmt.Errorf("target %w (created while unpacking)", fs.ErrExist)}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("unpack: moving the finished rootfs into place: %w", err)
	}
	return nil
}

type dirMeta struct {
	perm         fs.FileMode
	atime, mtime time.Time
}

type origin struct {
	layer int
	name  string
}

type unpacker struct {
	root     *os.Root
	lim      Limits
	behind   bool // Options.WriteBehind
	layer    int
	rawName  string // the current entry's name as written in the archive
	nbytes   int64
	nentries int
	// realDirs caches paths known to be real directories reached without a symlink. It is cleared
	// whenever a directory is removed.
	realDirs map[string]bool
	// dirMeta holds the mode and times directories get at the end. It is overwritten whenever a
	// directory is (re)created, and stale entries are skipped at the end.
	dirMeta map[string]dirMeta
	// links records every symlink made, for the final resolution check and its error message.
	links map[string]origin
	// created and createdAnc hold the real paths the current layer made and their ancestors, for
	// opaque whiteouts.
	created, createdAnc map[string]bool
	buf                 []byte
}

func (u *unpacker) run(ctx context.Context, layers []Layer) error {
	for i, l := range layers {
		if l == nil {
			return fmt.Errorf("layer %d: nil layer", i)
		}
		if err := u.applyLayer(ctx, i, l); err != nil {
			return err
		}
	}
	return u.finish()
}

func (u *unpacker) applyLayer(ctx context.Context, i int, l Layer) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("layer %d: %w", i, err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		return fmt.Errorf("layer %d: opening: %w", i, err)
	}
	defer func() {
		if cerr := rc.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("layer %d: closing: %w", i, cerr)
		}
	}()
	u.layer = i
	clear(u.created)
	clear(u.createdAnc)
	tr := tar.NewReader(rc)
	for {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("layer %d: reading tar: %w", i, err)
		}
		if err := u.entry(ctx, tr, hdr); err != nil {
			return &EntryError{Layer: i, Name: hdr.Name, Err: err}
		}
	}
	// Drain the padding after the end-of-archive marker, within the byte budget.
	left := u.lim.MaxBytes - u.nbytes
	n, err := io.CopyBuffer(io.Discard, io.LimitReader(ctxio.Reader(ctx, rc), min(left, math.MaxInt64-1)+1), u.buf)
	if err != nil {
		return fmt.Errorf("layer %d: reading past the end of the tar: %w", i, err)
	}
	if n > left {
		return fmt.Errorf("layer %d: %w: trailing data after the tar brings the total past %d bytes (Limits.MaxBytes)", i, ErrTooLarge, u.lim.MaxBytes)
	}
	u.nbytes += n
	return nil
}

func (u *unpacker) entry(ctx context.Context, tr *tar.Reader, hdr *tar.Header) error {
	u.nentries++
	if u.nentries > u.lim.MaxEntries {
		return fmt.Errorf("%w: more than %d tar entries (Limits.MaxEntries)", ErrTooLarge, u.lim.MaxEntries)
	}
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil // PAX global header: archive/tar has read it; nothing to extract
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	u.rawName = hdr.Name
	if hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeGNUSparse {
		// Reserve the declared size before reading a byte of it. Whiteout files count too: their
		// content is read (and discarded) by archive/tar all the same.
		if hdr.Size > u.lim.MaxBytes-u.nbytes {
			return fmt.Errorf("%w: %d bytes of file content would bring the total past %d bytes (Limits.MaxBytes)",
				ErrTooLarge, hdr.Size, u.lim.MaxBytes)
		}
		u.nbytes += hdr.Size
	}
	if base := path.Base(name); strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(path.Dir(name), base)
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return u.mkdir(name, hdr)
	case tar.TypeReg, tar.TypeGNUSparse:
		return u.writeFile(ctx, name, hdr, tr)
	case tar.TypeSymlink:
		return u.symlink(name, hdr.Linkname)
	case tar.TypeLink:
		return u.hardlink(name, hdr.Linkname)
	case tar.TypeChar:
		return fmt.Errorf("character device: %w", ErrUnsupportedEntry)
	case tar.TypeBlock:
		return fmt.Errorf("block device: %w", ErrUnsupportedEntry)
	case tar.TypeFifo:
		return fmt.Errorf("fifo: %w", ErrUnsupportedEntry)
	default:
		return fmt.Errorf("tar type flag %q: %w", hdr.Typeflag, ErrUnsupportedEntry)
	}
}

// cleanName turns an entry name into a clean relative path ("." for the root), refusing absolute
// names, NULs and ".." that climbs.
func cleanName(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("name holds a NUL byte: %w", ErrUnsafePath)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("absolute name: %w", ErrUnsafePath)
	}
	c := path.Clean(name)
	if climbs(c) {
		return "", ErrUnsafePath
	}
	return c, nil
}

// climbs reports whether a cleaned relative path leaves its starting directory.
func climbs(clean string) bool {
	return clean == ".." || strings.HasPrefix(clean, "../") || strings.HasPrefix(clean, "/")
}

func entryPerm(hdr *tar.Header) fs.FileMode {
	return fs.FileMode(hdr.Mode & 0o777)
}

func entryTimes(hdr *tar.Header) (atime, mtime time.Time) {
	atime = hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	return atime, hdr.ModTime
}

// join joins a real directory path (as resolveDir returns it) and one name.
func join(dir, name string) string {
	if dir == "." {
		return name
	}
	return dir + "/" + name
}

// resolveDir returns the real path of directory name (cleaned, relative), following symlinks inside
// the root. With create, missing directories are made (as implicit parents are); without it, a
// missing one gives an error matching fs.ErrNotExist.
func (u *unpacker) resolveDir(name string, create bool) (string, error) {
	if name == "." || u.realDirs[name] {
		return name, nil
	}
	comps := strings.Split(name, "/")
	cur := "."
	hops := 0
	for i := 0; i < len(comps); i++ {
		c := comps[i]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == "." {
				return "", fmt.Errorf("parent %q resolves outside the root: %w", name, ErrUnsafePath)
			}
			cur = path.Dir(cur)
			continue
		}
		next := join(cur, c)
		if u.realDirs[next] {
			cur = next
			continue
		}
		fi, err := u.root.Lstat(next)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			if !create {
				return "", err
			}
			if err := u.root.Mkdir(next, 0o755); err != nil {
				return "", err
			}
			u.dirMeta[next] = dirMeta{perm: 0o755}
		case err != nil:
			return "", err
		case fi.IsDir():
		case fi.Mode()&fs.ModeSymlink != 0:
			hops++
			if hops > maxHops {
				return "", fmt.Errorf("parent %q: too many levels of symbolic links: %w", name, syscall.ELOOP)
			}
			target, err := u.root.Readlink(next)
			if err != nil {
				return "", err
			}
			if strings.HasPrefix(target, "/") {
				cur, target = ".", target[1:]
			}
			comps = append(strings.Split(target, "/"), comps[i+1:]...)
			i = -1
			continue
		default:
			return "", fmt.Errorf("parent %q: %q is not a directory: %w", name, next, syscall.ENOTDIR)
		}
		u.realDirs[next] = true
		cur = next
	}
	return cur, nil
}

// place resolves (creating) the parent of name and returns the real path for the entry and what
// is there now (nil when nothing).
func (u *unpacker) place(name string) (string, fs.FileInfo, error) {
	parent, err := u.resolveDir(path.Dir(name), true)
	if err != nil {
		return "", nil, err
	}
	p := join(parent, path.Base(name))
	fi, err := u.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	return p, fi, nil
}

// remove deletes p (whatever it is) and forgets what the caches knew about it.
func (u *unpacker) remove(p string, fi fs.FileInfo) error {
	if err := u.root.RemoveAll(p); err != nil {
		return err
	}
	if fi.IsDir() {
		clear(u.realDirs)
	} else {
		delete(u.realDirs, p)
		delete(u.links, p)
	}
	return nil
}

func (u *unpacker) markCreated(p string) {
	u.created[p] = true
	for a := path.Dir(p); a != "." && !u.createdAnc[a]; a = path.Dir(a) {
		u.createdAnc[a] = true
	}
}

func (u *unpacker) mkdir(name string, hdr *tar.Header) error {
	atime, mtime := entryTimes(hdr)
	meta := dirMeta{perm: entryPerm(hdr), atime: atime, mtime: mtime}
	if name == "." {
		u.dirMeta["."] = meta
		return nil
	}
	p, fi, err := u.place(name)
	if err != nil {
		return err
	}
	if fi != nil && !fi.IsDir() {
		if err := u.remove(p, fi); err != nil {
			return err
		}
		fi = nil
	}
	if fi == nil {
		if err := u.root.Mkdir(p, 0o755); err != nil {
			return err
		}
	}
	u.realDirs[p] = true
	u.dirMeta[p] = meta
	u.markCreated(p)
	return nil
}

func (u *unpacker) writeFile(ctx context.Context, name string, hdr *tar.Header, r io.Reader) error {
	if name == "." {
		return fmt.Errorf("a file cannot replace the image root: %w", ErrUnsafePath)
	}
	p, fi, err := u.place(name)
	if err != nil {
		return err
	}
	if fi != nil {
		if err := u.remove(p, fi); err != nil {
			return err
		}
	}
	// O_EXCL: never open through whatever might sit at p (the kernel refuses a symlink there).
	f, err := u.root.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	// The LimitReader is a second guard: archive/tar already stops at hdr.Size, which was checked
	// against the budget.
	var w io.Writer = writerOnly{f}
	if u.behind {
		w = writerOnly{fsutil.WriteBehind(f)}
	}
	n, err := io.CopyBuffer(w, io.LimitReader(ctxio.Reader(ctx, r), hdr.Size), u.buf)
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err == nil {
		err = f.Chmod(entryPerm(hdr))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	atime, mtime := entryTimes(hdr)
	if err := u.root.Chtimes(p, atime, mtime); err != nil {
		return err
	}
	u.markCreated(p)
	return nil
}

func (u *unpacker) symlink(name, target string) error {
	if name == "." {
		return fmt.Errorf("a symlink cannot replace the image root: %w", ErrUnsafePath)
	}
	if target == "" {
		return fmt.Errorf("symlink with an empty target: %w", ErrUnsupportedEntry)
	}
	if strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("symlink target holds a NUL byte: %w", ErrUnsafePath)
	}
	p, fi, err := u.place(name)
	if err != nil {
		return err
	}
	dir := path.Dir(p)
	if strings.HasPrefix(target, "/") {
		target = relTarget(dir, target)
	} else if climbs(path.Join(dir, target)) {
		return fmt.Errorf("symlink to %q: %w", target, ErrUnsafePath)
	}
	if fi != nil {
		if err := u.remove(p, fi); err != nil {
			return err
		}
	}
	if err := u.root.Symlink(target, p); err != nil {
		return err
	}
	u.links[p] = origin{layer: u.layer, name: u.rawName}
	u.markCreated(p)
	return nil
}

// relTarget rewrites absolute symlink target abs, for a link in real directory dir, into the
// relative target that names the same place inside the root.
func relTarget(dir, abs string) string {
	to := strings.Split(strings.TrimPrefix(path.Clean(abs), "/"), "/")
	if to[0] == "" {
		to = nil // "/"
	}
	var from []string
	if dir != "." {
		from = strings.Split(dir, "/")
	}
	common := 0
	for common < len(from) && common < len(to) && from[common] == to[common] {
		common++
	}
	parts := make([]string, 0, len(from)-common+len(to)-common)
	for range from[common:] {
		parts = append(parts, "..")
	}
	parts = append(parts, to[common:]...)
	if len(parts) == 0 {
		return "."
	}
	return strings.Join(parts, "/")
}

func (u *unpacker) hardlink(name, target string) error {
	if name == "." {
		return fmt.Errorf("a hard link cannot replace the image root: %w", ErrUnsafePath)
	}
	tname, err := cleanName(target)
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", target, err)
	}
	notFile := fmt.Errorf("hard link to %q, which is not a regular file extracted before it: %w", target, ErrUnsafePath)
	if tname == "." {
		return notFile
	}
	tdir, err := u.resolveDir(path.Dir(tname), false)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return notFile
	}
	if err != nil {
		return fmt.Errorf("hard link to %q: %w", target, err)
	}
	tp := join(tdir, path.Base(tname))
	tfi, err := u.root.Lstat(tp)
	if errors.Is(err, fs.ErrNotExist) {
		return notFile
	}
	if err != nil {
		return err
	}
	if !tfi.Mode().IsRegular() {
		return notFile
	}
	p, fi, err := u.place(name)
	if err != nil {
		return err
	}
	if p == tp {
		return nil // a link to itself: already there
	}
	if fi != nil {
		if err := u.remove(p, fi); err != nil {
			return err
		}
	}
	if err := u.root.Link(tp, p); err != nil {
		return err
	}
	u.markCreated(p)
	return nil
}

func (u *unpacker) whiteout(dir, base string) error {
	if base == whiteoutOpaque {
		d, err := u.resolveDir(dir, false)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		if err != nil {
			return err
		}
		return u.clearExcept(d)
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil // AUFS bookkeeping (.wh..wh.plnk and the like)
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	if victim == "" || victim == "." || victim == ".." {
		return fmt.Errorf("whiteout of %q: %w", victim, ErrUnsafePath)
	}
	d, err := u.resolveDir(dir, false)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil // nothing below to hide
	}
	if err != nil {
		return err
	}
	p := join(d, victim)
	fi, err := u.root.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return u.remove(p, fi)
}

// clearExcept removes from real directory d everything the current layer did not create, keeping
// (and descending into) directories that hold this layer's entries.
func (u *unpacker) clearExcept(d string) error {
	f, err := u.root.Open(d)
	if err != nil {
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		p := join(d, n)
		fi, err := u.root.Lstat(p)
		if err != nil {
			return err
		}
		keep := u.created[p] || u.createdAnc[p]
		switch {
		case keep && fi.IsDir():
			if err := u.clearExcept(p); err != nil {
				return err
			}
		case keep:
		default:
			if err := u.remove(p, fi); err != nil {
				return err
			}
		}
	}
	return nil
}

// finish checks every symlink against the whole tree and applies directory modes and times.
func (u *unpacker) finish() error {
	for _, p := range slices.Sorted(maps.Keys(u.links)) {
		fi, err := u.root.Lstat(p)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			continue
		}
		if err := u.checkResolves(p); err != nil {
			o := u.links[p]
			return &EntryError{Layer: o.layer, Name: o.name, Err: err}
		}
	}
	dirs := make([]string, 0, len(u.dirMeta))
	for p := range u.dirMeta {
		if p != "." {
			dirs = append(dirs, p)
		}
	}
	slices.SortFunc(dirs, func(a, b string) int {
		if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
			return db - da // deepest first
		}
		return strings.Compare(a, b)
	})
	for _, p := range dirs {
		fi, err := u.root.Lstat(p)
		if err != nil || !fi.IsDir() {
			continue // removed or replaced after it was recorded
		}
		if err := u.applyDirMeta(p, u.dirMeta[p]); err != nil {
			return err
		}
	}
	rootMeta, ok := u.dirMeta["."]
	if !ok {
		rootMeta = dirMeta{perm: 0o755}
	}
	return u.applyDirMeta(".", rootMeta)
}

func (u *unpacker) applyDirMeta(p string, m dirMeta) error {
	if err := u.root.Chmod(p, m.perm); err != nil {
		return err
	}
	if !m.mtime.IsZero() {
		return u.root.Chtimes(p, m.atime, m.mtime)
	}
	return nil
}

// checkResolves follows symlink p the way the kernel would, through every symlink on the way, and
// reports ErrUnsafePath if that ever climbs above the root. Missing components are resolved
// lexically; loops are not escapes (the kernel gives ELOOP).
func (u *unpacker) checkResolves(p string) error {
	target, err := u.root.Readlink(p)
	if err != nil {
		return err
	}
	escape := fmt.Errorf("symlink to %q resolves outside the root through other symlinks: %w", target, ErrUnsafePath)
	cur := path.Dir(p)
	pending := strings.Split(target, "/")
	if strings.HasPrefix(target, "/") {
		cur = "."
	}
	hops := 0
	for len(pending) > 0 {
		c := pending[0]
		pending = pending[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if cur == "." {
				return escape
			}
			cur = path.Dir(cur)
			continue
		}
		next := join(cur, c)
		fi, err := u.root.Lstat(next)
		if err != nil {
			if climbs(path.Join(append([]string{next}, pending...)...)) {
				return escape
			}
			return nil
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			hops++
			if hops > maxHops {
				return nil
			}
			t, err := u.root.Readlink(next)
			if err != nil {
				return err
			}
			if strings.HasPrefix(t, "/") {
				cur = "."
			}
			pending = append(strings.Split(t, "/"), pending...)
			continue
		}
		cur = next
	}
	return nil
}

// writerOnly hides ReadFrom so io.CopyBuffer uses the given buffer.
type writerOnly struct{ io.Writer }

// removeTree removes path; if that fails (a directory without write permission), it makes every
// directory owner-writable and tries again.
func removeTree(p string) {
	if os.RemoveAll(p) == nil {
		return
	}
	_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			_ = os.Chmod(q, 0o700)
		}
		return nil
	})
	_ = os.RemoveAll(p)
}
