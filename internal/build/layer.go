package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// node is one entry of the image's file system as COPY, ADD and WORKDIR
// build it up. Regular files keep only the context path of their content,
// which is read when the layer is written.
type node struct {
	typ      byte // tar.TypeReg, tar.TypeDir or tar.TypeSymlink
	mode     int64
	uid, gid int
	src      string // regular files: context-relative path without links
	data     []byte // regular files not read from a context (a lone .wasm)
	link     string // symlinks: the target as written
}

// tree is the squashed file system of the image, keyed by clean absolute
// path without the leading slash. The root directory is implicit.
type tree map[string]*node

// imagePath cleans an absolute image path into a tree key ("" for /).
func imagePath(p string) string {
	return strings.TrimPrefix(path.Clean("/"+p), "/")
}

// mkdirAll makes p and its missing parents directories (root-owned, 0755).
func (t tree) mkdirAll(p string) error {
	if p == "" {
		return nil
	}
	if err := t.mkdirAll(parentOf(p)); err != nil {
		return err
	}
	n, ok := t[p]
	switch {
	case !ok:
		t[p] = &node{typ: tar.TypeDir, mode: 0o755}
		return nil
	case n.typ == tar.TypeDir:
		return nil
	case n.typ == tar.TypeSymlink:
		return fmt.Errorf("/%s is a symbolic link in the image; berth does not follow links when it copies, so write the path without the link", p)
	default:
		return fmt.Errorf("cannot create directory /%s: a file of that name is already in the image", p)
	}
}

func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// put places n at p, creating the parents. A directory replaces nothing but
// a directory; a file or link replaces a file or link.
func (t tree) put(p string, n *node) error {
	if p == "" {
		if n.typ != tar.TypeDir {
			return fmt.Errorf("cannot replace the root directory with a file")
		}
		return nil
	}
	if err := t.mkdirAll(parentOf(p)); err != nil {
		return err
	}
	old, ok := t[p]
	switch {
	case !ok:
	case old.typ == tar.TypeDir && n.typ != tar.TypeDir:
		return fmt.Errorf("cannot replace directory /%s with a file", p)
	case old.typ != tar.TypeDir && n.typ == tar.TypeDir:
		return fmt.Errorf("cannot replace file /%s with a directory", p)
	}
	t[p] = n
	return nil
}

func (t tree) isDir(p string) bool {
	if p == "" {
		return true
	}
	n, ok := t[p]
	return ok && n.typ == tar.TypeDir
}

// lookup finds the node at image path p, following symbolic links inside
// the image. It returns the resolved path too.
func (t tree) lookup(p string) (string, *node, bool) {
	p = imagePath(p)
	for hops := 0; hops <= maxSymlinks; hops++ {
		// Resolve links in the parents first.
		parts := splitPath(p)
		cur := ""
		restarted := false
		for i, part := range parts {
			cur = joinRel(cur, part)
			if cur == "." {
				cur = ""
			}
			n, ok := t[cur]
			if !ok {
				return "", nil, false
			}
			if n.typ == tar.TypeSymlink {
				var target string
				if path.IsAbs(n.link) {
					target = n.link
				} else {
					target = path.Join("/", parentOf(cur), n.link)
				}
				p = imagePath(path.Join(append([]string{target}, parts[i+1:]...)...))
				restarted = true
				break
			}
		}
		if !restarted {
			if p == "" {
				return "", &node{typ: tar.TypeDir, mode: 0o755}, true
			}
			return p, t[p], true
		}
	}
	return "", nil, false
}

// writeLayer writes the tree as one reproducible gzip-compressed tar layer:
// entries sorted by path, owners and times fixed, gzip level and header
// fixed. File contents are read from the build context now.
func (t tree) writeLayer(ctx context.Context, bc *buildContext, created time.Time) (v1.Layer, error) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := t[k]
		hdr := &tar.Header{
			Typeflag: n.typ,
			Name:     k,
			Mode:     n.mode,
			Uid:      n.uid,
			Gid:      n.gid,
			ModTime:  created,
			Format:   tar.FormatPAX,
		}
		var data []byte
		switch n.typ {
		case tar.TypeDir:
			hdr.Name += "/"
		case tar.TypeSymlink:
			hdr.Linkname = n.link
		case tar.TypeReg:
			data = n.data
			if data == nil {
				var err error
				if data, err = bc.readFile(n.src); err != nil {
					return nil, fmt.Errorf("reading %s from the build context: %w", n.src, err)
				}
			}
			hdr.Size = int64(len(data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("writing layer entry /%s: %w", k, err)
		}
		if _, err := tw.Write(data); err != nil {
			return nil, fmt.Errorf("writing layer entry /%s: %w", k, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}

	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzipLevel)
	if err != nil {
		return nil, err
	}
	// zw.Header stays zero: no name, no mtime, so only content counts.
	if _, err := zw.Write(tarBuf.Bytes()); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	diffID, _, err := v1.SHA256(bytes.NewReader(tarBuf.Bytes()))
	if err != nil {
		return nil, err
	}
	blob := gz.Bytes()
	digest, _, err := v1.SHA256(bytes.NewReader(blob))
	if err != nil {
		return nil, err
	}
	return &gzipLayer{blob: blob, digest: digest, diffID: diffID}, nil
}

// gzipLayer is a v1.Layer over an in-memory gzip blob. (tarball's layers
// carry an empty annotations map that does not survive a JSON round trip,
// which validate.Image reports as a manifest mismatch.)
type gzipLayer struct {
	blob           []byte
	digest, diffID v1.Hash
}

func (l *gzipLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *gzipLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *gzipLayer) Size() (int64, error)     { return int64(len(l.blob)), nil }
func (l *gzipLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}

func (l *gzipLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.blob)), nil
}

func (l *gzipLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.blob))
}

// gzipLevel is fixed: a different level gives different bytes and so a
// different layer digest.
const gzipLevel = gzip.DefaultCompression
