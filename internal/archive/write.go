package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/ctxio"
)

// SaveEntry is one image to write, with the names it is saved under (full canonical names such
// as "docker.io/library/hello:1"). An entry without names is saved unnamed.
type SaveEntry struct {
	Names []string
	Image v1.Image
}

// ociLayoutContent is the content of the oci-layout member.
const ociLayoutContent = `{"imageLayoutVersion":"1.0.0"}`

// writeBlob is a blob to write: in memory (manifests, configs) or opened on demand (layers).
type writeBlob struct {
	digest v1.Hash
	size   int64
	data   []byte
	open   func() (io.ReadCloser, error)
	owner  string // the image that references it, for errors
}

// savedImage is an image planned for writing.
type savedImage struct {
	digest    v1.Hash
	config    v1.Hash
	configRaw []byte
	layers    []v1.Hash
	repoTags  []string
}

// writePlan is everything Write writes, decided before the first byte is written.
type writePlan struct {
	blobs    map[v1.Hash]*writeBlob
	index    v1.IndexManifest
	images   []*savedImage
	byDigest map[v1.Hash]*savedImage
	names    map[string]v1.Hash
}

// Write writes entries as a Docker-25-style archive that `docker load`, `ctr import`, skopeo
// (oci-archive: and docker-archive:) and Read accept: oci-layout, index.json with one manifest
// descriptor per name (annotations io.containerd.image.name = the full name and
// org.opencontainers.image.ref.name = its tag), blobs/sha256/*, and a manifest.json whose
// Config, RepoTags and Layers point at the blobs.
//
// Raw manifests and configs are written byte for byte and every blob is checked against its
// digest while it is written. The output is deterministic: the same entries give the same
// bytes (sorted members, zero times, uid/gid 0). On error, what was written is not an archive:
// write to a temporary file and rename it on success.
func Write(ctx context.Context, w io.Writer, entries []SaveEntry) error {
	p, err := planWrite(entries)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	if err := p.write(ctx, tw); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	return nil
}

func planWrite(entries []SaveEntry) (*writePlan, error) {
	if len(entries) == 0 {
		return nil, errors.New("writing image archive: no images to save")
	}
	p := &writePlan{
		blobs:    map[v1.Hash]*writeBlob{},
		index:    v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{}},
		byDigest: map[v1.Hash]*savedImage{},
		names:    map[string]v1.Hash{},
	}
	for i, e := range entries {
		if err := p.add(i, e); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// add plans one entry.
func (p *writePlan) add(i int, e SaveEntry) error {
	owner := fmt.Sprintf("image %d", i)
	if len(e.Names) > 0 {
		owner = fmt.Sprintf("image %s", e.Names[0])
	}
	if e.Image == nil {
		return fmt.Errorf("saving %s: no image", owner)
	}
	raw, err := e.Image.RawManifest()
	if err != nil {
		return fmt.Errorf("saving %s: reading its manifest: %w", owner, err)
	}
	mt, err := e.Image.MediaType()
	if err != nil {
		return fmt.Errorf("saving %s: reading its media type: %w", owner, err)
	}
	if mt == "" {
		mt = sniffMediaType(raw)
	}
	if !mt.IsImage() {
		return fmt.Errorf("saving %s: its manifest has media type %q, not an image manifest", owner, mt)
	}
	digest, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return fmt.Errorf("saving %s: its manifest does not parse: %w", owner, err)
	}
	si := p.byDigest[digest]
	if si == nil {
		if si, err = p.addImage(e.Image, owner, digest, raw, m); err != nil {
			return err
		}
	}
	platform, err := configPlatform(si.configRaw)
	if err != nil {
		return fmt.Errorf("saving %s: its config does not parse: %w", owner, err)
	}
	desc := v1.Descriptor{MediaType: mt, Size: size, Digest: digest, Platform: platform}
	if len(e.Names) == 0 {
		p.index.Manifests = append(p.index.Manifests, desc)
		return nil
	}
	for _, n := range e.Names {
		if prev, ok := p.names[n]; ok {
			if prev != digest {
				return fmt.Errorf("saving %s: the name %q is given to two different images (%s and %s)", owner, n, prev, digest)
			}
			continue
		}
		ref, err := name.ParseReference(n)
		if err != nil {
			return fmt.Errorf("saving %s: %q is not a valid image name: %w", owner, n, err)
		}
		p.names[n] = digest
		d := desc
		d.Annotations = map[string]string{annotationImageName: n}
		switch ref := ref.(type) {
		case name.Tag:
			d.Annotations[annotationRefName] = ref.TagStr()
			si.repoTags = append(si.repoTags, familiarName(n))
		case name.Digest:
			if ref.DigestStr() != digest.String() {
				return fmt.Errorf("saving %s: the name %q does not match the image digest %s", owner, n, digest)
			}
		}
		p.index.Manifests = append(p.index.Manifests, d)
	}
	return nil
}

// addImage plans the blobs of an image not planned yet.
func (p *writePlan) addImage(img v1.Image, owner string, digest v1.Hash, raw []byte, m *v1.Manifest) (*savedImage, error) {
	cfg, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("saving %s: reading its config: %w", owner, err)
	}
	if err := checkDigest(cfg, m.Config.Digest); err != nil || int64(len(cfg)) != m.Config.Size {
		return nil, fmt.Errorf("saving %s: its config does not match the digest and size in its manifest (%s, %d bytes)", owner, m.Config.Digest, m.Config.Size)
	}
	si := &savedImage{digest: digest, config: m.Config.Digest, configRaw: cfg}
	p.addBlob(&writeBlob{digest: digest, size: int64(len(raw)), data: raw, owner: owner})
	p.addBlob(&writeBlob{digest: m.Config.Digest, size: m.Config.Size, data: cfg, owner: owner})
	for _, l := range m.Layers {
		if _, err := v1.Hasher(l.Digest.Algorithm); err != nil {
			return nil, fmt.Errorf("saving %s: layer %s: %w", owner, l.Digest, err)
		}
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return nil, fmt.Errorf("saving %s: layer %s: %w", owner, l.Digest, err)
		}
		si.layers = append(si.layers, l.Digest)
		p.addBlob(&writeBlob{digest: l.Digest, size: l.Size, open: layer.Compressed, owner: owner})
	}
	p.images = append(p.images, si)
	p.byDigest[digest] = si
	return si, nil
}

func (p *writePlan) addBlob(b *writeBlob) {
	if prev, ok := p.blobs[b.digest]; !ok || prev.data == nil && b.data != nil {
		p.blobs[b.digest] = b
	}
}

func checkDigest(b []byte, want v1.Hash) error {
	hasher, err := v1.Hasher(want.Algorithm)
	if err != nil {
		return err
	}
	hasher.Write(b)
	if hex.EncodeToString(hasher.Sum(nil)) != want.Hex {
		return errMismatch
	}
	return nil
}

// configPlatform returns the platform an image config declares, if any.
func configPlatform(cfg []byte) (*v1.Platform, error) {
	var c struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
		Variant      string `json:"variant"`
		OSVersion    string `json:"os.version"`
	}
	if err := json.Unmarshal(cfg, &c); err != nil {
		return nil, err
	}
	if c.OS == "" || c.Architecture == "" {
		return nil, nil
	}
	return &v1.Platform{OS: c.OS, Architecture: c.Architecture, Variant: c.Variant, OSVersion: c.OSVersion}, nil
}

// familiarName shortens a canonical Docker Hub name the way docker save writes RepoTags
// ("docker.io/library/hello:1" becomes "hello:1").
func familiarName(n string) string {
	if rest, ok := strings.CutPrefix(n, "docker.io/"); ok {
		n = rest
		if rest, ok := strings.CutPrefix(n, "library/"); ok && !strings.Contains(rest, "/") {
			n = rest
		}
	}
	return n
}

// write writes the planned archive, members sorted by name.
func (p *writePlan) write(ctx context.Context, tw *tar.Writer) error {
	digests := make([]v1.Hash, 0, len(p.blobs))
	algs := map[string]bool{}
	for h := range p.blobs {
		digests = append(digests, h)
		algs[h.Algorithm] = true
	}
	slices.SortFunc(digests, func(a, b v1.Hash) int { return strings.Compare(blobPath(a), blobPath(b)) })

	if err := writeDir(tw, "blobs/"); err != nil {
		return err
	}
	for _, alg := range slices.Sorted(maps.Keys(algs)) {
		if err := writeDir(tw, "blobs/"+alg+"/"); err != nil {
			return err
		}
		for _, h := range digests {
			if h.Algorithm != alg {
				continue
			}
			if err := ctx.Err(); err != nil {
				return fmt.Errorf("writing image archive: %w", err)
			}
			if err := p.blobs[h].write(ctx, tw); err != nil {
				return err
			}
		}
	}

	index, err := json.Marshal(p.index)
	if err != nil {
		return err
	}
	if err := writeBytes(tw, memberIndex, index); err != nil {
		return err
	}
	type item struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	items := make([]item, 0, len(p.images))
	for _, si := range p.images {
		it := item{Config: blobPath(si.config), RepoTags: si.repoTags, Layers: []string{}}
		for _, l := range si.layers {
			it.Layers = append(it.Layers, blobPath(l))
		}
		items = append(items, it)
	}
	manifest, err := json.Marshal(items)
	if err != nil {
		return err
	}
	if err := writeBytes(tw, memberManifest, append(manifest, '\n')); err != nil {
		return err
	}
	return writeBytes(tw, memberOCILayout, []byte(ociLayoutContent))
}

// epoch is the modification time of every member, for reproducible archives.
var epoch = time.Unix(0, 0)

func writeDir(tw *tar.Writer, name string) error {
	err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch})
	if err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	return nil
}

func writeBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: epoch}); err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("writing image archive: %s: %w", name, err)
	}
	return nil
}

// write writes a blob, checking its size and digest.
func (b *writeBlob) write(ctx context.Context, tw *tar.Writer) error {
	name := blobPath(b.digest)
	if b.data != nil {
		return writeBytes(tw, name, b.data)
	}
	rc, err := b.open()
	if err != nil {
		return fmt.Errorf("saving %s: reading layer %s: %w", b.owner, b.digest, err)
	}
	defer rc.Close()
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: b.size, ModTime: epoch}); err != nil {
		return fmt.Errorf("writing image archive: %w", err)
	}
	hasher, err := v1.Hasher(b.digest.Algorithm)
	if err != nil {
		return err
	}
	src := ctxio.Reader(ctx, rc)
	n, err := io.CopyN(tw, io.TeeReader(src, hasher), b.size)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("saving %s: copying layer %s: %w", b.owner, b.digest, err)
	}
	var extra [1]byte
	if m, _ := io.ReadFull(src, extra[:]); n != b.size || m != 0 {
		return fmt.Errorf("saving %s: layer %s is not %d bytes as its manifest says", b.owner, b.digest, b.size)
	}
	if hex.EncodeToString(hasher.Sum(nil)) != b.digest.Hex {
		return fmt.Errorf("saving %s: layer %s does not match its digest", b.owner, b.digest)
	}
	return nil
}
