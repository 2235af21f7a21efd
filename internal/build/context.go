package build

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// buildContext is the directory COPY and ADD read from. All access goes
// through an os.Root, and symbolic links are resolved by hand first, so that
// the error can name the link that leaves the context.
type buildContext struct {
	dir    string // as given, for messages
	root   *os.Root
	ignore *ignoreMatcher
}

func openContext(dir string) (*buildContext, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening build context: %w", err)
	}
	return &buildContext{dir: dir, root: root}, nil
}

func (c *buildContext) Close() error { return c.root.Close() }

// maxSymlinks bounds symbolic link resolution, as Linux's ELOOP does.
const maxSymlinks = 40

// cleanSource turns a COPY source as written into a clean context-relative
// path ("." for the root). Absolute paths are relative to the context, as in
// Docker; a path that climbs out with ".." is refused.
func (c *buildContext) cleanSource(src string) (string, error) {
	rel := path.Clean(strings.TrimLeft(src, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", errorf(ErrOutsideContext, "source %s is outside the build context %s: COPY can only read files inside the context directory", src, c.dir)
	}
	return rel, nil
}

// resolve follows the symbolic links in the context-relative path p and
// returns the path with none left. A link that is absolute or climbs out of
// the context is an error that names it.
func (c *buildContext) resolve(p string) (string, error) {
	parts := splitPath(p)
	resolved := ""
	hops := 0
	for len(parts) > 0 {
		next := joinRel(resolved, parts[0])
		parts = parts[1:]
		fi, err := c.root.Lstat(next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > maxSymlinks {
			return "", fmt.Errorf("too many levels of symbolic links at %s", next)
		}
		target, err := c.root.Readlink(next)
		if err != nil {
			return "", err
		}
		t, ok := linkTarget(next, target)
		if !ok {
			return "", errorf(ErrOutsideContext, "symbolic link %s points to %s, outside the build context %s", next, target, c.dir)
		}
		parts = append(splitPath(t), parts...)
		resolved = ""
	}
	if resolved == "" {
		return ".", nil
	}
	return resolved, nil
}

// linkTarget returns where a link at context-relative path link with the
// given target points, relative to the context, and false when that is
// outside the context (absolute targets always are: on the host they name
// a file outside the context directory).
func linkTarget(link, target string) (string, bool) {
	if path.IsAbs(target) || target == "" {
		return "", false
	}
	t := path.Join(path.Dir(link), target)
	if t == ".." || strings.HasPrefix(t, "../") {
		return "", false
	}
	return t, true
}

func splitPath(p string) []string {
	if p == "." || p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

func joinRel(dir, name string) string {
	if dir == "" || dir == "." {
		return name
	}
	return dir + "/" + name
}

func (c *buildContext) readDir(rel string) ([]fs.DirEntry, error) {
	f, err := c.root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	// The OS lists directories in any order; the image must not depend on it.
	slices.SortFunc(ents, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return ents, nil
}

// source is one COPY source after wildcard expansion: Name is the path as
// matched (its base name names the copy), Real the same path with symbolic
// links resolved.
type source struct {
	Name string
	Real string
	Info fs.FileInfo
}

func hasMeta(s string) bool { return strings.ContainsAny(s, `*?[\`) }

// sources expands one COPY source argument into the context paths it names.
// wildcard reports whether the argument was a pattern.
func (c *buildContext) sources(ctx context.Context, cmd, arg string) (srcs []source, wildcard bool, err error) {
	rel, err := c.cleanSource(arg)
	if err != nil {
		return nil, false, err
	}
	if hasMeta(rel) {
		if _, err := path.Match(rel, ""); err != nil {
			return nil, true, fmt.Errorf("%s source %s is not a valid pattern: %w", cmd, arg, err)
		}
		names, err := c.glob(ctx, rel)
		if err != nil {
			return nil, true, err
		}
		if len(names) > 0 {
			for _, n := range names {
				s, err := c.stat(cmd, arg, n)
				if err != nil {
					return nil, true, err
				}
				srcs = append(srcs, s)
			}
			return srcs, true, nil
		}
		// A file may really be called "a[1].wasm": try the literal name.
		if _, err := c.root.Lstat(rel); err != nil {
			return nil, true, errorf(ErrNotFound, "%s source %s matches no file in the build context %s", cmd, arg, c.dir)
		}
	}
	s, err := c.stat(cmd, arg, rel)
	if err != nil {
		return nil, false, err
	}
	return []source{s}, false, nil
}

// stat resolves one source path and checks it against .dockerignore.
func (c *buildContext) stat(cmd, arg, rel string) (source, error) {
	notFound := func() error {
		return errorf(ErrNotFound, "%s source %s not found in the build context %s", cmd, arg, c.dir)
	}
	if c.ignore.excluded(rel) {
		return source{}, errorf(ErrNotFound, "%s source %s is excluded from the build context %s by .dockerignore", cmd, arg, c.dir)
	}
	real, err := c.resolve(rel)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return source{}, notFound()
		}
		return source{}, fmt.Errorf("%s source %s: %w", cmd, arg, err)
	}
	if real != rel && c.ignore.excluded(real) {
		return source{}, errorf(ErrNotFound, "%s source %s is a link to %s, which .dockerignore excludes from the build context %s", cmd, arg, real, c.dir)
	}
	fi, err := c.root.Lstat(real)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return source{}, notFound()
		}
		return source{}, fmt.Errorf("%s source %s: %w", cmd, arg, err)
	}
	return source{Name: rel, Real: real, Info: fi}, nil
}

// glob matches a clean relative pattern element by element (path.Match on
// each), in sorted order, skipping what .dockerignore excludes.
func (c *buildContext) glob(ctx context.Context, pattern string) ([]string, error) {
	dirs := []string{"."}
	elems := splitPath(pattern)
	for i, elem := range elems {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		last := i == len(elems)-1
		var next []string
		for _, d := range dirs {
			if !hasMeta(elem) {
				p := joinRel(d, elem)
				if _, err := c.root.Lstat(p); err == nil && !c.ignore.excluded(p) {
					next = append(next, p)
				}
				continue
			}
			real, err := c.resolve(d)
			if err != nil {
				return nil, fmt.Errorf("matching %s: %w", pattern, err)
			}
			ents, err := c.readDir(real)
			if err != nil {
				return nil, fmt.Errorf("matching %s: %w", pattern, err)
			}
			for _, e := range ents {
				if ok, _ := path.Match(elem, e.Name()); !ok {
					continue
				}
				p := joinRel(d, e.Name())
				if c.ignore.excluded(p) {
					continue
				}
				next = append(next, p)
			}
		}
		if !last {
			// Only directories (or links to them) can hold the next element.
			kept := next[:0]
			for _, p := range next {
				real, err := c.resolve(p)
				if err != nil {
					if errors.Is(err, ErrOutsideContext) {
						return nil, err
					}
					continue
				}
				if fi, err := c.root.Stat(real); err == nil && fi.IsDir() {
					kept = append(kept, p)
				}
			}
			next = kept
		}
		dirs = next
	}
	return dirs, nil
}

// readFile reads a context file whose path has no symbolic links left.
func (c *buildContext) readFile(rel string) ([]byte, error) {
	return c.root.ReadFile(rel)
}

// readHead reads up to n bytes from the start of a context file.
func (c *buildContext) readHead(rel string, n int) ([]byte, error) {
	f, err := c.root.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, n)
	k, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:k], nil
}
