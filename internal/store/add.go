package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/ctxio"
	"github.com/berth-dev/berth/internal/fsutil"
)

// AddImage writes every blob of img (layers as their compressed bytes, config,
// manifest) and records the image under names. With no names, the image gets a
// dangling entry unless its manifest is already indexed. A name that points at
// another image is moved; that image stays, dangling if it has no name left.
//
// Blobs are verified against the digests and sizes of the manifest while they
// stream; a mismatch returns a [*DigestError] and nothing of the image is
// indexed. AddImage holds the store's exclusive lock throughout, so that a
// concurrent GC cannot collect blobs that are written but not yet indexed.
// It returns the descriptor of the manifest (without annotations).
func (s *Store) AddImage(ctx context.Context, img v1.Image, names ...string) (v1.Descriptor, error) {
	for _, n := range names {
		if n == "" {
			return v1.Descriptor{}, errors.New("adding image: empty image name")
		}
	}
	rawManifest, err := img.RawManifest()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image: reading manifest: %w", err)
	}
	mdigest, msize, err := v1.SHA256(bytes.NewReader(rawManifest))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image: %w", err)
	}
	if claimed, err := img.Digest(); err == nil && claimed != mdigest {
		return v1.Descriptor{}, fmt.Errorf("adding image: %w", &DigestError{
			Blob: "manifest", Expected: claimed, Actual: mdigest, ExpectedSize: -1, ActualSize: msize})
	}
	m, err := v1.ParseManifest(bytes.NewReader(rawManifest))
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: parsing manifest: %w", mdigest, err)
	}
	mt := m.MediaType
	if mt == "" {
		if mt, err = img.MediaType(); err != nil || mt == "" {
			mt = types.OCIManifestSchema1
		}
	}
	if mt.IsIndex() || m.Config.Digest.Algorithm == "" {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: manifest of media type %q is not an image manifest", mdigest, mt)
	}
	desc := v1.Descriptor{MediaType: mt, Size: msize, Digest: mdigest, ArtifactType: m.ArtifactType}

	unlock, err := s.lock(ctx, true)
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: %w", mdigest, err)
	}
	defer unlock()
	// Blobs this Store has just hashed in PutBlob (an image of ImageFromManifest) are
	// not hashed again while their files are unchanged.
	var fresh map[v1.Hash]fileID
	if si, ok := img.(*storeImage); ok && si.s == s {
		fresh = si.fresh
	}

	// Blobs first (layers, config, manifest), then the index that refers to them.
	for i, l := range m.Layers {
		what := fmt.Sprintf("layer %d of %d", i+1, len(m.Layers))
		open := func() (io.ReadCloser, error) {
			layer, err := img.LayerByDigest(l.Digest)
			if err != nil {
				return nil, err
			}
			return layer.Compressed()
		}
		if s.sameFile(fresh, l.Digest, l.Size, nil) {
			continue
		}
		if err := s.putBlob(ctx, what, l, open); err != nil {
			return v1.Descriptor{}, fmt.Errorf("adding image %s: %w", mdigest, err)
		}
	}
	rawConfig, err := img.RawConfigFile()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: reading config: %w", mdigest, err)
	}
	if !s.sameFile(fresh, m.Config.Digest, m.Config.Size, nil) {
		if err := s.putBlob(ctx, "config", m.Config, bytesOpener(rawConfig)); err != nil {
			return v1.Descriptor{}, fmt.Errorf("adding image %s: %w", mdigest, err)
		}
	}
	if err := s.putBlob(ctx, "manifest", desc, bytesOpener(rawManifest)); err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: %w", mdigest, err)
	}
	if err := fsutil.SyncDir(filepath.Join(s.dir, blobsDir, mdigest.Algorithm)); err != nil {
		return v1.Descriptor{}, s.diskErr(fmt.Errorf("adding image %s: %w", mdigest, err))
	}

	idx, err := s.readIndex()
	if err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: %w", mdigest, err)
	}
	if len(names) == 0 {
		if _, ok := findDigest(idx, mdigest); !ok {
			idx.Manifests = append(idx.Manifests, desc)
		}
	}
	for _, n := range names {
		setName(idx, n, desc)
	}
	if err := s.writeIndex(idx); err != nil {
		return v1.Descriptor{}, fmt.Errorf("adding image %s: %w", mdigest, err)
	}
	return desc, nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// putBlob stores the blob d, read from open, unless an intact copy is present.
// The bytes are hashed while they stream; a mismatch is a *DigestError and
// leaves nothing behind.
func (s *Store) putBlob(ctx context.Context, what string, d v1.Descriptor, open func() (io.ReadCloser, error)) error {
	dst, err := s.blobPath(d.Digest)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if s.blobIntact(ctx, d) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return s.diskErr(fmt.Errorf("%s: %w", what, err))
	}
	rc, err := open()
	if err != nil {
		return fmt.Errorf("%s %s: reading from the image source: %w", what, d.Digest, err)
	}
	defer rc.Close()
	h, err := v1.Hasher(d.Digest.Algorithm)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	var hw io.Writer = h
	if vr, ok := rc.(*verifiedReader); ok && vr.digest == d.Digest {
		hw = nil // the reader checks the digest (see Verified)
	}
	f, err := s.createTemp("blob-*")
	if err != nil {
		return s.diskErr(fmt.Errorf("%s %s: creating temp file: %w", what, d.Digest, err))
	}
	var r io.Reader = ctxio.Reader(ctx, rc)
	if d.Size >= 0 {
		r = io.LimitReader(r, d.Size+1) // bound what a lying source can write
	}
	return s.commitTemp(f, func(w io.Writer) error {
		w = fsutil.WriteBehind(f) // the fsync at the end finds most of it written
		ew := &errWriter{w: w}
		if hw != nil {
			ew.w = io.MultiWriter(w, hw)
		}
		n, err := io.CopyBuffer(ew, r, make([]byte, copyBuf))
		if ew.err != nil {
			return fmt.Errorf("%s %s: writing %s: %w", what, d.Digest, f.Name(), ew.err)
		}
		if err != nil {
			return fmt.Errorf("%s %s: reading from the image source: %w", what, d.Digest, err)
		}
		var got v1.Hash // unknown: the reader checks it, and failed the read if it did not match
		if hw == nil && (d.Size < 0 || n == d.Size) {
			got = d.Digest
		}
		if hw != nil {
			got = v1.Hash{Algorithm: d.Digest.Algorithm, Hex: fmt.Sprintf("%x", h.Sum(nil))}
		}
		if got != d.Digest || (d.Size >= 0 && n != d.Size) {
			return &DigestError{Blob: what, Expected: d.Digest, Actual: got, ExpectedSize: d.Size, ActualSize: n}
		}
		return nil
	}, dst)
}

// blobIntact reports whether the blob of d exists with the right content.
func (s *Store) blobIntact(ctx context.Context, d v1.Descriptor) bool {
	r, err := s.openBlob(d.Digest, d.Size)
	if err != nil {
		return false
	}
	defer r.Close()
	_, err = io.Copy(io.Discard, ctxio.Reader(ctx, r))
	return err == nil
}

// Tag points name at the indexed image manifest, moving it from any other image.
// It returns ErrNotFound if manifest is not indexed.
func (s *Store) Tag(ctx context.Context, name string, manifest v1.Hash) error {
	if name == "" {
		return errors.New("tagging image: empty image name")
	}
	return s.mutate(ctx, func(idx *v1.IndexManifest) error {
		d, ok := findDigest(idx, manifest)
		if !ok {
			return fmt.Errorf("tagging image %s as %s: %w", manifest, name, ErrNotFound)
		}
		setName(idx, name, d)
		return nil
	})
}

// Untag removes name. The image stays, dangling if it has no name left.
// It returns ErrNotFound if no image has that name.
func (s *Store) Untag(ctx context.Context, name string) error {
	return s.mutate(ctx, func(idx *v1.IndexManifest) error {
		if !removeName(idx, name) {
			return fmt.Errorf("untagging %s: %w", name, ErrNotFound)
		}
		return nil
	})
}

// Remove drops every index entry (every name) of the image manifest. It does
// not delete blobs; [Store.GC] does. It returns ErrNotFound if manifest is not
// indexed.
func (s *Store) Remove(ctx context.Context, manifest v1.Hash) error {
	return s.mutate(ctx, func(idx *v1.IndexManifest) error {
		if !removeDigest(idx, manifest) {
			return fmt.Errorf("removing image %s: %w", manifest, ErrNotFound)
		}
		return nil
	})
}

// mutate runs change on the index under the exclusive lock and writes the result.
func (s *Store) mutate(ctx context.Context, change func(*v1.IndexManifest) error) error {
	unlock, err := s.lock(ctx, true)
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := change(idx); err != nil {
		return err
	}
	return s.writeIndex(idx)
}

// errWriter remembers a write error, so that it can be told from a read error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	n, err := e.w.Write(p)
	if err != nil {
		e.err = err
	}
	return n, err
}

// copyBuf is the buffer of a blob write: large, so that a download of many megabytes
// makes few write calls (and few hand-offs to a pull's unpacking, see PutBlob's callers).
const copyBuf = 1 << 20
