package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/jsonlite"
)

// Annotations that carry an image's name in index.json.
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// parseIndex parses the index.json at path (used in messages only) in full, as the
// operations that write it back need it.
func parseIndex(path string, data []byte) (*v1.IndexManifest, error) {
	var idx v1.IndexManifest
	if err := decodeIndex(data, &idx); err != nil {
		return nil, badIndex(path, "%v", err)
	}
	if err := checkIndex(path, &idx); err != nil {
		return nil, err
	}
	return &idx, nil
}

// lookupIndex is the part of index.json a lookup reads.
//
// # Notes
//
//   - encoding/json builds the decoder of a type's whole tree on first use, and every
//     berth process decodes index.json once, on the path of `berth run`: ~0.2 ms in the
//     berth binary, most of it encoding/json's own first use. A lookup reads the file
//     with internal/jsonlite instead (decodeLookup), which reads the fields as
//     encoding/json would decode them into this type, except that a member named twice
//     is refused (FuzzIndex compares the two).
//   - Fields left out are not checked, so a lookup accepts an index whose unused fields
//     are malformed; the operations that rewrite index.json still parse it in full and
//     refuse it.
type lookupIndex struct {
	SchemaVersion int64           `json:"schemaVersion"`
	MediaType     types.MediaType `json:"mediaType"`
	Manifests     []lookupEntry   `json:"manifests"`
}

// lookupEntry is one entry of lookupIndex.Manifests.
type lookupEntry struct {
	MediaType   types.MediaType   `json:"mediaType"`
	Size        int64             `json:"size"`
	Digest      string            `json:"digest"`
	Annotations map[string]string `json:"annotations"`
}

// parseIndexLookup parses the index.json at path with the fields lookups use (media
// types, sizes, digests, annotations), checked as parseIndex checks them.
func parseIndexLookup(path string, data []byte) (*v1.IndexManifest, error) {
	li, err := decodeLookup(data)
	if err != nil {
		return nil, fmt.Errorf("image store index %s is damaged: %w: restore it from a backup or remove the image store directory", path, err)
	}
	idx := &v1.IndexManifest{SchemaVersion: li.SchemaVersion, MediaType: li.MediaType, Manifests: make([]v1.Descriptor, len(li.Manifests))}
	for i, m := range li.Manifests {
		d := v1.Descriptor{MediaType: m.MediaType, Size: m.Size, Annotations: m.Annotations}
		if m.Digest != "" {
			h, err := v1.NewHash(m.Digest)
			if err != nil {
				return nil, badIndex(path, "%v", err)
			}
			d.Digest = h
		}
		idx.Manifests[i] = d
	}
	if err := checkIndex(path, idx); err != nil {
		return nil, err
	}
	return idx, nil
}

// decodeIndex decodes one JSON value into v, refusing data after it.
func decodeIndex(data []byte, v any) error {
	return json.Unmarshal(data, v)
}

// decodeLookup reads index.json's data into a lookupIndex, as decodeIndex would, but
// for a member named twice (see lookupIndex).
func decodeLookup(data []byte) (*lookupIndex, error) {
	v, err := jsonlite.Parse(data)
	if err != nil {
		return nil, err
	}
	root, err := v.AsObject("the index")
	if err != nil {
		return nil, err
	}
	var li lookupIndex
	var errs []error
	field := func(o jsonlite.Value, name string) jsonlite.Value {
		f, err := o.Field(name)
		errs = append(errs, err)
		return f
	}
	li.SchemaVersion, err = field(root, "schemaVersion").AsInt64("schemaVersion")
	errs = append(errs, err)
	mt, err := field(root, "mediaType").AsString("mediaType")
	li.MediaType = types.MediaType(mt)
	errs = append(errs, err)
	ms := field(root, "manifests")
	if ms.Kind != jsonlite.Array && ms.Kind != jsonlite.Null {
		errs = append(errs, fmt.Errorf("%w: manifests is a %s, want an array", jsonlite.ErrType, ms.Kind))
	}
	li.Manifests = make([]lookupEntry, len(ms.Items))
	for i, item := range ms.Items {
		what := fmt.Sprintf("manifests[%d]", i)
		d, err := item.AsObject(what)
		errs = append(errs, err)
		e := &li.Manifests[i]
		mt, err := field(d, "mediaType").AsString(what + ".mediaType")
		e.MediaType = types.MediaType(mt)
		errs = append(errs, err)
		e.Size, err = field(d, "size").AsInt64(what + ".size")
		errs = append(errs, err)
		e.Digest, err = field(d, "digest").AsString(what + ".digest")
		errs = append(errs, err)
		e.Annotations, err = field(d, "annotations").AsStringMap(what + ".annotations")
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &li, nil
}

func badIndex(path, format string, args ...any) error {
	return fmt.Errorf("image store index %s is damaged: %s: restore it from a backup or remove the image store directory", path, fmt.Sprintf(format, args...))
}

// checkIndex checks what JSON decoding does not: the schema, the media type and that
// every entry has a digest and a size.
func checkIndex(path string, idx *v1.IndexManifest) error {
	if idx.SchemaVersion != 2 {
		return badIndex(path, "schemaVersion is %d, want 2", idx.SchemaVersion)
	}
	if idx.MediaType != "" && !idx.MediaType.IsIndex() {
		return badIndex(path, "mediaType is %q, want %q", idx.MediaType, types.OCIImageIndex)
	}
	for i, d := range idx.Manifests {
		if d.Digest.Algorithm == "" {
			return badIndex(path, "manifests[%d] has no digest", i)
		}
		if d.Size < 0 {
			return badIndex(path, "manifests[%d] (%s) has negative size %d", i, d.Digest, d.Size)
		}
	}
	return nil
}

// readIndex reads and parses index.json in full. The caller holds the lock.
func (s *Store) readIndex() (*v1.IndexManifest, error) { return s.readIndexWith(parseIndex) }

// readIndexLookup reads index.json for a lookup (see lookupIndex). The caller holds the lock.
func (s *Store) readIndexLookup() (*v1.IndexManifest, error) {
	return s.readIndexWith(parseIndexLookup)
}

func (s *Store) readIndexWith(parse func(string, []byte) (*v1.IndexManifest, error)) (*v1.IndexManifest, error) {
	p := filepath.Join(s.dir, indexFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image store index %s is missing: restore it from a backup or remove the image store directory", p)
	}
	if err != nil {
		return nil, fmt.Errorf("reading image store index: %w", err)
	}
	return parse(p, data)
}

// writeIndex normalises idx and writes it atomically. The caller holds the
// exclusive lock.
func (s *Store) writeIndex(idx *v1.IndexManifest) error {
	idx.SchemaVersion = 2
	idx.MediaType = types.OCIImageIndex
	normalize(idx)
	data, err := json.MarshalIndent(idx, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding image store index: %w", err)
	}
	return s.writeFileAtomic(indexFile, append(data, '\n'))
}

// descName returns the image name a descriptor carries, "" if none.
func descName(d v1.Descriptor) string {
	if n := d.Annotations[annotationContainerdName]; n != "" {
		return n
	}
	return d.Annotations[annotationRefName]
}

// stripName returns a copy of d without name annotations.
func stripName(d v1.Descriptor) v1.Descriptor {
	var ann map[string]string
	for k, v := range d.Annotations {
		if k == annotationRefName || k == annotationContainerdName {
			continue
		}
		if ann == nil {
			ann = map[string]string{}
		}
		ann[k] = v
	}
	d.Annotations = ann
	return d
}

// withName returns a copy of d named name.
func withName(d v1.Descriptor, name string) v1.Descriptor {
	d = stripName(d)
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	d.Annotations[annotationRefName] = name
	d.Annotations[annotationContainerdName] = name
	return d
}

// findDigest returns the first entry for h.
func findDigest(idx *v1.IndexManifest, h v1.Hash) (v1.Descriptor, bool) {
	for _, d := range idx.Manifests {
		if d.Digest == h {
			return d, true
		}
	}
	return v1.Descriptor{}, false
}

// removeName drops the entries named name. An image that loses its last name
// stays as a dangling entry. It reports whether name was there.
func removeName(idx *v1.IndexManifest, name string) bool {
	keep := idx.Manifests[:0:0]
	var removed []v1.Descriptor
	for _, d := range idx.Manifests {
		if descName(d) == name {
			removed = append(removed, d)
		} else {
			keep = append(keep, d)
		}
	}
	for _, d := range removed {
		if _, ok := findDigest(&v1.IndexManifest{Manifests: keep}, d.Digest); !ok {
			keep = append(keep, stripName(d))
		}
	}
	idx.Manifests = keep
	return len(removed) > 0
}

// setName points name at the image d, moving it from any other image.
func setName(idx *v1.IndexManifest, name string, d v1.Descriptor) {
	removeName(idx, name)
	idx.Manifests = append(idx.Manifests, withName(d, name))
	normalize(idx)
}

// removeDigest drops every entry of h and reports whether there was one.
func removeDigest(idx *v1.IndexManifest, h v1.Hash) bool {
	keep := idx.Manifests[:0:0]
	for _, d := range idx.Manifests {
		if d.Digest != h {
			keep = append(keep, d)
		}
	}
	found := len(keep) != len(idx.Manifests)
	idx.Manifests = keep
	return found
}

// normalize drops duplicate (digest, name) entries and dangling entries of
// images that have a name, and sorts: named entries by name, then dangling
// ones by digest.
func normalize(idx *v1.IndexManifest) {
	type key struct {
		h    v1.Hash
		name string
	}
	named := map[v1.Hash]bool{}
	for _, d := range idx.Manifests {
		if descName(d) != "" {
			named[d.Digest] = true
		}
	}
	seen := map[key]bool{}
	out := make([]v1.Descriptor, 0, len(idx.Manifests))
	for _, d := range idx.Manifests {
		n := descName(d)
		if n == "" && named[d.Digest] {
			continue
		}
		k := key{d.Digest, n}
		if seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		ni, nj := descName(out[i]), descName(out[j])
		if (ni == "") != (nj == "") {
			return ni != ""
		}
		if ni != nj {
			return ni < nj
		}
		return out[i].Digest.String() < out[j].Digest.String()
	})
	idx.Manifests = out
}
