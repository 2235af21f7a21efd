package archive

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

const (
	// maxManifestSize bounds manifests and indexes read into memory (registries allow 4 MiB).
	maxManifestSize = 16 << 20
	// maxConfigSize bounds image configs read into memory.
	maxConfigSize = 64 << 20
)

// sniffMediaType guesses the media type of a manifest or index whose descriptor has none.
func sniffMediaType(raw []byte) types.MediaType {
	var probe struct {
		MediaType types.MediaType `json:"mediaType"`
		Manifests json.RawMessage `json:"manifests"`
		Config    json.RawMessage `json:"config"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	switch {
	case probe.MediaType != "":
		return probe.MediaType
	case probe.Manifests != nil:
		return types.OCIImageIndex
	case probe.Config != nil:
		return types.OCIManifestSchema1
	}
	return ""
}

// loadManifest reads the manifest or index desc points at and fills in desc.MediaType when it
// is empty. where names the referrer for errors.
func (s *blobStore) loadManifest(desc *v1.Descriptor, where string) ([]byte, error) {
	size, ok := s.has(desc.Digest)
	if !ok {
		return nil, fmt.Errorf("%s: %w", where, errMissing(desc.Digest))
	}
	if desc.Size != 0 && desc.Size != size {
		return nil, corruptf("%s: %s is %d bytes, its descriptor says %d (archive is corrupt)", where, blobPath(desc.Digest), size, desc.Size)
	}
	raw, err := s.readAll(desc.Digest, maxManifestSize)
	if err != nil {
		return nil, err
	}
	if desc.MediaType == "" {
		desc.MediaType = sniffMediaType(raw)
	}
	return raw, nil
}

// blobImage is an image whose manifest, config and layers are blobs of the store. It implements
// partial.CompressedImageCore.
type blobImage struct {
	st       *blobStore
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.Manifest
	diffIDs  map[v1.Hash]v1.Hash // verified diff IDs by layer digest (classic archives)
}

// newBlobImage checks that the manifest parses and that its config and (distributable) layers
// are in the store, and returns the image.
func newBlobImage(st *blobStore, desc v1.Descriptor, raw []byte, diffIDs map[v1.Hash]v1.Hash) (v1.Image, error) {
	name := blobPath(desc.Digest)
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, corruptf("%s: the image manifest does not parse: %w", name, err)
	}
	if m.Config.Digest == (v1.Hash{}) {
		return nil, corruptf("%s: the image manifest has no config", name)
	}
	check := func(d v1.Descriptor, what string) error {
		size, ok := st.has(d.Digest)
		if !ok {
			return corruptf("%s: %s %s is missing from the archive", name, what, blobPath(d.Digest))
		}
		if size != d.Size {
			return corruptf("%s: %s %s is %d bytes, the manifest says %d (archive is corrupt)", name, what, blobPath(d.Digest), size, d.Size)
		}
		return nil
	}
	if err := check(m.Config, "config"); err != nil {
		return nil, err
	}
	for _, l := range m.Layers {
		if _, ok := st.has(l.Digest); !ok && !l.MediaType.IsDistributable() {
			continue // foreign layers are not in archives
		}
		if err := check(l, "layer"); err != nil {
			return nil, err
		}
	}
	// The descriptor handed out describes the blob only: names in the archive's annotations
	// are the caller's business (Entry.Names, Entry.RefName).
	d := v1.Descriptor{MediaType: desc.MediaType, Size: int64(len(raw)), Digest: desc.Digest, Platform: desc.Platform, ArtifactType: desc.ArtifactType}
	return partial.CompressedToImage(&blobImage{st: st, desc: d, raw: raw, manifest: m, diffIDs: diffIDs})
}

func (i *blobImage) MediaType() (types.MediaType, error) { return i.desc.MediaType, nil }
func (i *blobImage) RawManifest() ([]byte, error)        { return bytes.Clone(i.raw), nil }
func (i *blobImage) Manifest() (*v1.Manifest, error)     { return i.manifest.DeepCopy(), nil }

func (i *blobImage) Descriptor() (*v1.Descriptor, error) {
	d := i.desc
	return &d, nil
}

func (i *blobImage) RawConfigFile() ([]byte, error) {
	return i.st.readAll(i.manifest.Config.Digest, maxConfigSize)
}

func (i *blobImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == i.manifest.Config.Digest {
		return &blobLayer{st: i.st, desc: i.manifest.Config}, nil
	}
	for _, l := range i.manifest.Layers {
		if l.Digest == h {
			if diffID, ok := i.diffIDs[h]; ok {
				return &verifiedLayer{blobLayer{st: i.st, desc: l}, diffID}, nil
			}
			return &blobLayer{st: i.st, desc: l}, nil
		}
	}
	return nil, fmt.Errorf("layer %s is not in image %s", h, i.desc.Digest)
}

// blobLayer is a layer (or config) blob of the store.
type blobLayer struct {
	st   *blobStore
	desc v1.Descriptor
}

func (l *blobLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *blobLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *blobLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }
func (l *blobLayer) Compressed() (io.ReadCloser, error)  { return l.st.open(l.desc.Digest) }
func (l *blobLayer) Descriptor() (*v1.Descriptor, error) {
	d := l.desc
	return &d, nil
}

// verifiedLayer is a blobLayer whose diff ID Read has checked.
type verifiedLayer struct {
	blobLayer
	diffID v1.Hash
}

func (l *verifiedLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }

// blobIndex is an image index whose manifest and children are blobs of the store.
type blobIndex struct {
	st       *blobStore
	desc     v1.Descriptor
	raw      []byte
	manifest *v1.IndexManifest
}

var _ v1.ImageIndex = (*blobIndex)(nil)

func newBlobIndex(st *blobStore, desc v1.Descriptor, raw []byte) (*blobIndex, error) {
	m, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, corruptf("%s: the image index does not parse: %w", blobPath(desc.Digest), err)
	}
	d := v1.Descriptor{MediaType: desc.MediaType, Size: int64(len(raw)), Digest: desc.Digest, Platform: desc.Platform, ArtifactType: desc.ArtifactType}
	return &blobIndex{st: st, desc: d, raw: raw, manifest: m}, nil
}

func (x *blobIndex) MediaType() (types.MediaType, error)       { return x.desc.MediaType, nil }
func (x *blobIndex) Digest() (v1.Hash, error)                  { return x.desc.Digest, nil }
func (x *blobIndex) Size() (int64, error)                      { return x.desc.Size, nil }
func (x *blobIndex) RawManifest() ([]byte, error)              { return bytes.Clone(x.raw), nil }
func (x *blobIndex) IndexManifest() (*v1.IndexManifest, error) { return x.manifest.DeepCopy(), nil }

func (x *blobIndex) Descriptor() (*v1.Descriptor, error) {
	d := x.desc
	return &d, nil
}

// child finds the descriptor of a child and reads its blob. A child that is not in the archive
// gives an error matching fs.ErrNotExist: archives often hold only some platforms of an index.
func (x *blobIndex) child(h v1.Hash) (v1.Descriptor, []byte, error) {
	for _, d := range x.manifest.Manifests {
		if d.Digest != h {
			continue
		}
		where := fmt.Sprintf("image index %s", x.desc.Digest)
		if d.Platform != nil {
			where += fmt.Sprintf(" (platform %s)", d.Platform)
		}
		raw, err := x.st.loadManifest(&d, where)
		return d, raw, err
	}
	return v1.Descriptor{}, nil, fmt.Errorf("image index %s has no manifest %s", x.desc.Digest, h)
}

func (x *blobIndex) Image(h v1.Hash) (v1.Image, error) {
	d, raw, err := x.child(h)
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsImage() {
		return nil, fmt.Errorf("image index %s: %s is a %s, not an image manifest", x.desc.Digest, h, d.MediaType)
	}
	return newBlobImage(x.st, d, raw, nil)
}

func (x *blobIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, raw, err := x.child(h)
	if err != nil {
		return nil, err
	}
	if !d.MediaType.IsIndex() {
		return nil, fmt.Errorf("image index %s: %s is a %s, not an image index", x.desc.Digest, h, d.MediaType)
	}
	return newBlobIndex(x.st, d, raw)
}
