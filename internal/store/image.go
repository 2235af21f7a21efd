package store

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// Image returns the indexed image manifest as a v1.Image backed by the store.
// The manifest is read (and verified) now, the config and layers when asked
// for. Every blob read through the image is verified against its digest; a
// mismatch or a missing blob is a [*CorruptBlobError]. It returns ErrNotFound if
// manifest is not indexed.
func (s *Store) Image(ctx context.Context, manifest v1.Hash) (v1.Image, error) {
	unlock, err := s.lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	idx, err := s.readIndexLookup()
	if err != nil {
		return nil, err
	}
	d, ok := findDigest(idx, manifest)
	if !ok {
		return nil, fmt.Errorf("image %s: %w", manifest, ErrNotFound)
	}
	raw, err := s.readBlob(d.Digest, d.Size)
	if err != nil {
		return nil, fmt.Errorf("reading image %s: %w", manifest, err)
	}
	img, err := s.newImage(d, raw)
	if err != nil {
		return nil, err // not a typed nil
	}
	return img, nil
}

func (s *Store) newImage(d v1.Descriptor, raw []byte) (*storeImage, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: parsing manifest: %w", d.Digest, err)
	}
	mt := m.MediaType
	if mt == "" {
		mt = d.MediaType
	}
	if mt.IsIndex() || m.Config.Digest.Algorithm == "" {
		return nil, fmt.Errorf("image %s: manifest of media type %q is not an image manifest", d.Digest, mt)
	}
	return &storeImage{s: s, digest: d.Digest, mediaType: mt, raw: raw, manifest: m}, nil
}

// storeImage is a v1.Image whose blobs are files of the store.
type storeImage struct {
	s         *Store
	digest    v1.Hash
	mediaType types.MediaType
	raw       []byte
	manifest  *v1.Manifest
	// fresh holds the blobs PutBlob has just hashed (ImageFromManifest only):
	// reads of these files, while unchanged, check their size only.
	fresh map[v1.Hash]fileID

	mu        sync.Mutex
	rawConfig []byte
	diffIDs   []v1.Hash // from the config, if it has one per layer
	diffDone  bool
}

var _ v1.Image = (*storeImage)(nil)

func (i *storeImage) MediaType() (types.MediaType, error) { return i.mediaType, nil }
func (i *storeImage) Size() (int64, error)                { return int64(len(i.raw)), nil }
func (i *storeImage) Digest() (v1.Hash, error)            { return i.digest, nil }
func (i *storeImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *storeImage) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }
func (i *storeImage) ConfigName() (v1.Hash, error)        { return i.manifest.Config.Digest, nil }

// ConfigFile parses the raw config. Fields v1.ConfigFile does not model (those
// of a Wasm artifact config) are missing from the result, never from the store.
func (i *storeImage) ConfigFile() (*v1.ConfigFile, error) {
	raw, err := i.RawConfigFile()
	if err != nil {
		return nil, err
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: parsing config: %w", i.digest, err)
	}
	return cf, nil
}

func (i *storeImage) RawConfigFile() ([]byte, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.rawConfig == nil {
		c := i.manifest.Config
		b, err := i.s.readBlobFresh(c.Digest, c.Size, i.fresh)
		if err != nil {
			return nil, fmt.Errorf("image %s: reading config: %w", i.digest, err)
		}
		i.rawConfig = b
	}
	return i.rawConfig, nil
}

// configDiffIDs returns the config's diff IDs if there is one per manifest
// layer, else nil (Wasm artifact configs have none).
func (i *storeImage) configDiffIDs() ([]v1.Hash, error) {
	raw, err := i.RawConfigFile()
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if !i.diffDone {
		i.diffDone = true
		cf, err := v1.ParseConfigFile(bytes.NewReader(raw))
		if err == nil && len(cf.RootFS.DiffIDs) == len(i.manifest.Layers) {
			i.diffIDs = cf.RootFS.DiffIDs
		}
	}
	return i.diffIDs, nil
}

func (i *storeImage) Layers() ([]v1.Layer, error) {
	ls := make([]v1.Layer, len(i.manifest.Layers))
	for n := range i.manifest.Layers {
		ls[n] = &storeLayer{img: i, index: n, desc: i.manifest.Layers[n]}
	}
	return ls, nil
}

func (i *storeImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	for n, d := range i.manifest.Layers {
		if d.Digest == h {
			return &storeLayer{img: i, index: n, desc: d}, nil
		}
	}
	if h == i.manifest.Config.Digest {
		raw, err := i.RawConfigFile()
		if err != nil {
			return nil, err
		}
		return &configLayer{desc: i.manifest.Config, raw: raw}, nil
	}
	return nil, fmt.Errorf("image %s has no layer %s", i.digest, h)
}

func (i *storeImage) LayerByDiffID(h v1.Hash) (v1.Layer, error) {
	ls, _ := i.Layers()
	for _, l := range ls {
		d, err := l.DiffID()
		if err != nil {
			return nil, err
		}
		if d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("image %s has no layer with diff ID %s", i.digest, h)
}

// storeLayer is a layer of a storeImage.
type storeLayer struct {
	img   *storeImage
	index int
	desc  v1.Descriptor
}

var _ v1.Layer = (*storeLayer)(nil)

func (l *storeLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *storeLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *storeLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

// Descriptor keeps the manifest's descriptor (annotations, URLs) for callers
// such as partial.Descriptor.
func (l *storeLayer) Descriptor() (*v1.Descriptor, error) {
	d := l.desc
	return &d, nil
}

func (l *storeLayer) Compressed() (io.ReadCloser, error) {
	r, err := l.img.s.openBlobFresh(l.desc.Digest, l.desc.Size, l.img.fresh)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer %s: %w", l.img.digest, l.desc.Digest, err)
	}
	return r, nil
}

// compressed reports whether a layer of media type mt is stored compressed.
// The media type decides: Wasm modules and plain tars are never decompressed.
func compressed(mt types.MediaType) bool {
	s := string(mt)
	return strings.HasSuffix(s, "gzip") || strings.HasSuffix(s, "zstd")
}

func (l *storeLayer) DiffID() (v1.Hash, error) {
	if !compressed(l.desc.MediaType) {
		return l.desc.Digest, nil
	}
	ids, err := l.img.configDiffIDs()
	if err != nil {
		return v1.Hash{}, err
	}
	if ids != nil {
		return ids[l.index], nil
	}
	r, err := l.Uncompressed()
	if err != nil {
		return v1.Hash{}, err
	}
	defer r.Close()
	h, _, err := v1.SHA256(r)
	return h, err
}

func (l *storeLayer) Uncompressed() (io.ReadCloser, error) {
	cr, err := l.img.s.openBlobFresh(l.desc.Digest, l.desc.Size, l.img.fresh)
	if err != nil {
		return nil, fmt.Errorf("image %s: layer %s: %w", l.img.digest, l.desc.Digest, err)
	}
	if !compressed(l.desc.MediaType) {
		return cr, nil
	}
	var want v1.Hash
	if ids, err := l.img.configDiffIDs(); err == nil && ids != nil {
		want = ids[l.index]
	}
	r, stop, err := decompress(cr)
	if err != nil {
		err = l.decompressErr(cr, err)
		cr.Close()
		return nil, err
	}
	u := &uncompressedReader{l: l, r: r, stop: stop, cr: cr, want: want}
	if want.Algorithm == "sha256" {
		u.h = sha256.New()
	}
	return u, nil
}

// decompressErr explains a decompression error: if the compressed blob does not
// match its digest, that is the cause (*CorruptBlobError).
func (l *storeLayer) decompressErr(cr *verifyReader, err error) error {
	var cbe *CorruptBlobError
	if errors.As(err, &cbe) {
		return fmt.Errorf("image %s: layer %s: %w", l.img.digest, l.desc.Digest, cbe)
	}
	if _, derr := io.Copy(io.Discard, cr); errors.As(derr, &cbe) {
		return fmt.Errorf("image %s: layer %s: %w", l.img.digest, l.desc.Digest, cbe)
	}
	return fmt.Errorf("image %s: decompressing layer %s: %w", l.img.digest, l.desc.Digest, err)
}

// Magic numbers that start a gzip member (RFC 1952) and a zstd frame (RFC 8878).
const (
	gzipMagic = "\x1f\x8b"
	zstdMagic = "\x28\xb5\x2f\xfd"
)

// decompress returns the uncompressed content of the compressed layer stream
// cr, and a func that releases the decompressor (nil if there is none to
// release). It picks the format by the first bytes of the stream: gzip, zstd,
// else the bytes as they are.
//
// # Notes
//
//   - It does what go-containerregistry's partial.CompressedToLayer does, without
//     importing it: partial pulls in go-digest and image-spec, whose init
//     functions (go-digest compiles regexps) every process that links this
//     package pays at start, berth's core build (cmd/berth) included.
//   - Sniffing, not the media type, picks the decompressor, as in
//     go-containerregistry: layers of a "compressed" media type sometimes hold
//     plain tar bytes. The media type still decides whether to decompress at all
//     (see [compressed]).
//   - The zstd decoder runs with concurrency 1, so it reads cr only inside the
//     caller's Read calls. With more, a goroutine of its own reads ahead, and
//     could still be reading the verifying reader (not safe for concurrent use)
//     when decompressErr or uncompressedReader drain it after an error. The
//     layers berth decompresses hold Wasm modules, small enough that parallel
//     block decoding gains little.
func decompress(cr io.Reader) (io.Reader, func(), error) {
	br := bufio.NewReader(cr)
	head, err := br.Peek(len(zstdMagic))
	if err != nil && err != io.EOF { // io.EOF: a stream shorter than the magic
		return nil, nil, err
	}
	switch {
	case strings.HasPrefix(string(head), gzipMagic):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("reading gzip header: %w", err)
		}
		return zr, nil, nil
	case strings.HasPrefix(string(head), zstdMagic):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, nil, fmt.Errorf("starting zstd decoder: %w", err)
		}
		return zr, zr.Close, nil
	}
	return br, nil, nil
}

// configLayer is the config blob as a v1.Layer, for LayerByDigest of the config
// digest. Digest, size and media type are those of the manifest's config
// descriptor; the blob is the raw config, already verified.
type configLayer struct {
	desc v1.Descriptor
	raw  []byte
}

var _ v1.Layer = (*configLayer)(nil)

func (c *configLayer) Digest() (v1.Hash, error)            { return c.desc.Digest, nil }
func (c *configLayer) DiffID() (v1.Hash, error)            { return c.desc.Digest, nil }
func (c *configLayer) Size() (int64, error)                { return c.desc.Size, nil }
func (c *configLayer) MediaType() (types.MediaType, error) { return c.desc.MediaType, nil }

func (c *configLayer) Descriptor() (*v1.Descriptor, error) {
	d := c.desc
	return &d, nil
}

func (c *configLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.raw)), nil
}

func (c *configLayer) Uncompressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(c.raw)), nil
}

// uncompressedReader verifies the uncompressed stream against the diff ID and,
// at its end, that the compressed stream was complete and intact.
type uncompressedReader struct {
	l    *storeLayer
	r    io.Reader // from decompress
	stop func()    // from decompress
	cr   *verifyReader
	want v1.Hash
	h    hash.Hash
	done error
}

func (u *uncompressedReader) Read(p []byte) (int, error) {
	if u.done != nil {
		return 0, u.done
	}
	n, err := u.r.Read(p)
	if u.h != nil {
		u.h.Write(p[:n])
	}
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		// The decompressor may stop before the compressed EOF; read the rest so
		// that the compressed digest is checked too.
		if _, derr := io.Copy(io.Discard, u.cr); derr != nil {
			u.done = u.l.decompressErr(u.cr, derr)
		} else if u.h != nil {
			if got := hex.EncodeToString(u.h.Sum(nil)); got != u.want.Hex {
				u.done = fmt.Errorf("image %s: layer %s: uncompressed content has digest sha256:%s but the image config records %s: the image is invalid; rebuild it or pull it again",
					u.l.img.digest, u.l.desc.Digest, got, u.want)
			}
		}
		if u.done == nil {
			u.done = io.EOF
		}
	default:
		u.done = u.l.decompressErr(u.cr, err)
	}
	return n, u.done
}

// Close releases the decompressor and closes the blob file; its error is the
// file's (a decompression error was already returned by Read).
func (u *uncompressedReader) Close() error {
	if u.stop != nil {
		u.stop()
		u.stop = nil
	}
	return u.cr.Close()
}

// Record describes a stored image.
type Record struct {
	// Digest is the digest of the image manifest: the image ID.
	Digest v1.Hash
	// Names are the image's names, sorted; none for a dangling image.
	Names []string
	// Size is the size of the manifest, config and layers (compressed) in bytes.
	Size int64
}

// Images lists the stored images, sorted by first name, dangling images last.
func (s *Store) Images(ctx context.Context) ([]Record, error) {
	unlock, err := s.lock(ctx, false)
	if err != nil {
		return nil, err
	}
	defer unlock()
	idx, err := s.readIndexLookup()
	if err != nil {
		return nil, err
	}
	return s.records(idx, true), nil
}

// records groups the image entries of idx by manifest, in index order
// (normalize sorts named entries first).
// records lists the images of idx; with sizes, each costs a read of its manifest.
func (s *Store) records(idx *v1.IndexManifest, sizes bool) []Record {
	normalize(idx)
	var out []Record
	at := map[v1.Hash]int{}
	for _, d := range idx.Manifests {
		if d.MediaType.IsIndex() {
			continue // written by another tool; not an image
		}
		i, ok := at[d.Digest]
		if !ok {
			i = len(out)
			at[d.Digest] = i
			r := Record{Digest: d.Digest}
			if sizes {
				r.Size = s.imageSize(d)
			}
			out = append(out, r)
		}
		if n := descName(d); n != "" {
			out[i].Names = append(out[i].Names, n)
		}
	}
	return out
}

// imageSize sums manifest, config and layer sizes. If the manifest cannot be
// read, it counts the manifest only (see the package notes).
func (s *Store) imageSize(d v1.Descriptor) int64 {
	raw, err := s.readBlob(d.Digest, d.Size)
	if err != nil {
		return d.Size
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return d.Size
	}
	n := int64(len(raw)) + m.Config.Size
	for _, l := range m.Layers {
		n += l.Size
	}
	return n
}

// Resolve finds an image by exact name, by "sha256:<hex>" (the image ID), or by
// a unique prefix of at least 4 hex digits of the image ID. It returns
// ErrNotFound, or ErrAmbiguous with the candidates in the message. With several
// refs, it tries them in order on one read of index.json and returns the first
// image found; an error other than ErrNotFound ends the search.
func (s *Store) Resolve(ctx context.Context, refs ...string) (Record, error) {
	return s.resolve(ctx, refs, true)
}

// Lookup is Resolve without the Size (it is 0): it reads index.json and nothing else,
// for `berth run`, which needs only the digest.
func (s *Store) Lookup(ctx context.Context, refs ...string) (Record, error) {
	return s.resolve(ctx, refs, false)
}

func (s *Store) resolve(ctx context.Context, refs []string, size bool) (Record, error) {
	unlock, err := s.lock(ctx, false)
	if err != nil {
		return Record{}, err
	}
	defer unlock()
	idx, err := s.readIndexLookup()
	if err != nil {
		return Record{}, err
	}
	// Find the image first, then read only its manifest for the size.
	recs := s.records(idx, false)
	r, err := Record{}, fmt.Errorf("image: no reference given: %w", ErrNotFound)
	for _, ref := range refs {
		if r, err = findRecord(recs, ref); !errors.Is(err, ErrNotFound) {
			break
		}
	}
	if err != nil || !size {
		return r, err
	}
	for _, d := range idx.Manifests {
		if d.Digest == r.Digest {
			r.Size = s.imageSize(d)
			break
		}
	}
	return r, nil
}

func findRecord(recs []Record, ref string) (Record, error) {
	for _, r := range recs {
		for _, n := range r.Names {
			if n == ref {
				return r, nil
			}
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if !isHex(prefix) || len(prefix) < 4 || len(prefix) > 64 {
		return Record{}, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	}
	var found []Record
	for _, r := range recs {
		if r.Digest.Algorithm == "sha256" && strings.HasPrefix(r.Digest.Hex, prefix) {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 0:
		return Record{}, fmt.Errorf("image %q: %w", ref, ErrNotFound)
	case 1:
		return found[0], nil
	}
	cands := make([]string, len(found))
	for i, r := range found {
		cands[i] = r.Digest.String()
		if len(r.Names) > 0 {
			cands[i] += " (" + strings.Join(r.Names, ", ") + ")"
		}
	}
	return Record{}, fmt.Errorf("image ID prefix %q is %w: it matches %d images: %s; give more digits",
		ref, ErrAmbiguous, len(found), strings.Join(cands, "; "))
}

func isHex(s string) bool {
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
