package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Annotations that carry an image's name in index.json.
const (
	annotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// parseIndex parses the index.json at path (used in messages only).
func parseIndex(path string, data []byte) (*v1.IndexManifest, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("image store index %s is damaged: %s: restore it from a backup or remove the image store directory", path, fmt.Sprintf(format, args...))
	}
	var idx v1.IndexManifest
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&idx); err != nil {
		return nil, bad("%v", err)
	}
	if dec.More() {
		return nil, bad("unexpected data after the JSON object")
	}
	if idx.SchemaVersion != 2 {
		return nil, bad("schemaVersion is %d, want 2", idx.SchemaVersion)
	}
	if idx.MediaType != "" && !idx.MediaType.IsIndex() {
		return nil, bad("mediaType is %q, want %q", idx.MediaType, types.OCIImageIndex)
	}
	for i, d := range idx.Manifests {
		if d.Digest.Algorithm == "" {
			return nil, bad("manifests[%d] has no digest", i)
		}
		if d.Size < 0 {
			return nil, bad("manifests[%d] (%s) has negative size %d", i, d.Digest, d.Size)
		}
	}
	return &idx, nil
}

// readIndex reads and parses index.json. The caller holds the lock.
func (s *Store) readIndex() (*v1.IndexManifest, error) {
	p := filepath.Join(s.dir, indexFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image store index %s is missing: restore it from a backup or remove the image store directory", p)
	}
	if err != nil {
		return nil, fmt.Errorf("reading image store index: %w", err)
	}
	return parseIndex(p, data)
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
