package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxDepth bounds how deep GC follows indexes of indexes.
const maxDepth = 8

// GC deletes the blobs that index.json does not reach (through manifests,
// configs, layers, and the children of indexes) and temp files older than an
// hour. It returns the digests of the deleted blobs, sorted, and the bytes freed
// (blobs and temp files).
//
// GC refuses to run, deleting nothing, when a manifest listed in index.json is
// missing or corrupt: it could not tell which blobs that image needs. The error
// names the image to remove.
func (s *Store) GC(ctx context.Context) (removed []v1.Hash, freed int64, err error) {
	unlock, err := s.lock(ctx, true)
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	keep, err := s.reachable(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("collecting garbage: %w", err)
	}

	dir := filepath.Join(s.dir, blobsDir, "sha256")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // missing: no blob written yet
		return nil, 0, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, e := range entries {
		h := v1.Hash{Algorithm: "sha256", Hex: e.Name()}
		if _, err := v1.NewHash(h.String()); err != nil || keep[h] || !e.Type().IsRegular() {
			continue // not a blob name, or still needed
		}
		if err := ctx.Err(); err != nil {
			return removed, freed, err
		}
		info, err := e.Info()
		if err != nil {
			continue // vanished
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			return removed, freed, fmt.Errorf("collecting garbage: %w", err)
		}
		removed = append(removed, h)
		freed += info.Size()
	}
	sort.Slice(removed, func(i, j int) bool { return removed[i].Hex < removed[j].Hex })

	n, err := s.removeStaleTemps(time.Now().Add(-staleTemp))
	freed += n
	return removed, freed, err
}

// DropBlobs deletes those of digests that index.json does not reach, and returns
// them: the blobs a pull wrote for an image it then refused. Unlike GC it leaves
// every other blob alone, such as those of a pull that was cut short and may resume.
// Like GC it deletes nothing when an indexed manifest is missing or corrupt.
func (s *Store) DropBlobs(ctx context.Context, digests []v1.Hash) (removed []v1.Hash, err error) {
	if len(digests) == 0 {
		return nil, nil
	}
	unlock, err := s.lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	keep, err := s.reachable(ctx)
	if err != nil {
		return nil, fmt.Errorf("dropping blobs: %w", err)
	}
	for _, h := range digests {
		if keep[h] {
			continue
		}
		p, err := s.blobPath(h)
		if err != nil {
			continue // not a digest this store names blobs by
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("dropping blob %s: %w", h, err)
		} else if err == nil {
			keep[h] = true // named twice: removed once
			removed = append(removed, h)
		}
	}
	return removed, nil
}

// reachable returns the blobs index.json reaches. The caller holds the lock.
func (s *Store) reachable(ctx context.Context) (map[v1.Hash]bool, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	keep := map[v1.Hash]bool{}
	for _, d := range idx.Manifests {
		if err := s.mark(ctx, d, keep, 0); err != nil {
			return nil, fmt.Errorf("image %s: %w", d.Digest, err)
		}
	}
	return keep, nil
}

// mark adds d and everything it refers to to keep. A missing child of an index
// is tolerated (partial multi-platform copies), a missing image manifest is not.
func (s *Store) mark(ctx context.Context, d v1.Descriptor, keep map[v1.Hash]bool, depth int) error {
	if keep[d.Digest] {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	keep[d.Digest] = true
	if depth > maxDepth {
		return fmt.Errorf("manifests nested deeper than %d levels at %s", maxDepth, d.Digest)
	}
	raw, err := s.readBlob(d.Digest, d.Size)
	if err != nil {
		if depth > 0 && notExist(err) {
			return nil
		}
		return err
	}
	refs, err := parseRefs(raw)
	if err != nil {
		p, _ := s.blobPath(d.Digest)
		return fmt.Errorf("manifest %s is not valid JSON (%v): remove the image with `berth rmi`", p, err)
	}
	if refs.Config != nil {
		keep[refs.Config.Digest] = true
	}
	for _, l := range refs.Layers {
		keep[l.Digest] = true
	}
	for _, b := range refs.Blobs {
		keep[b.Digest] = true
	}
	for _, c := range refs.Manifests {
		if err := s.mark(ctx, c, keep, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// removeStaleTemps removes temp files last modified before cutoff.
func (s *Store) removeStaleTemps(cutoff time.Time) (freed int64, err error) {
	dir := filepath.Join(s.dir, tmpDir)
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) { // missing: made on the first write
		return 0, fmt.Errorf("collecting garbage: %w", err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil || !info.ModTime().Before(cutoff) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return freed, fmt.Errorf("collecting garbage: %w", err)
		}
		freed += info.Size()
	}
	return freed, nil
}

// manifestRefs lists the descriptors a manifest or index refers to. It accepts
// any JSON with config/layers/blobs/manifests/subject, so that GC also keeps
// the children of indexes and artifacts written by other tools.
type manifestRefs struct {
	Config    *v1.Descriptor  `json:"config"`
	Layers    []v1.Descriptor `json:"layers"`
	Blobs     []v1.Descriptor `json:"blobs"`
	Manifests []v1.Descriptor `json:"manifests"`
}

func parseRefs(raw []byte) (*manifestRefs, error) {
	var r manifestRefs
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, err
	}
	return &r, nil
}
