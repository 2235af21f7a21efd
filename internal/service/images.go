package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

// ErrImageNotFound is returned (wrapped) for an image name or id the store does not have.
var ErrImageNotFound = errors.New("no such image")

// ErrConflict is returned (wrapped) when an image cannot be removed without -f.
var ErrConflict = errors.New("conflict")

// Loaded is one image added to the store.
type Loaded struct {
	Digest v1.Hash
	Names  []string // familiar names, e.g. "hello:1"
}

// ImageSummary is one row of `berth images`.
type ImageSummary struct {
	Repository string // familiar, "<none>" when dangling
	Tag        string // "<none>" when dangling
	Digest     v1.Hash
	Created    time.Time
	Size       int64
}

// Images lists the stored images, one row per name.
func (s *Service) Images(ctx context.Context) ([]ImageSummary, error) {
	recs, err := s.store.Images(ctx)
	if err != nil {
		return nil, err
	}
	var out []ImageSummary
	for _, r := range recs {
		row := ImageSummary{Repository: "<none>", Tag: "<none>", Digest: r.Digest, Size: r.Size}
		if m, err := s.readMeta(r.Digest); err == nil && m.Created != "" {
			row.Created, _ = time.Parse(time.RFC3339, m.Created)
		}
		if len(r.Names) == 0 {
			out = append(out, row)
		}
		for _, n := range r.Names {
			pn, err := image.ParseName(n)
			if err != nil {
				continue
			}
			row.Repository, row.Tag = pn.FamiliarRepository(), pn.Tag
			if row.Tag == "" {
				row.Tag = "<none>"
			}
			out = append(out, row)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// resolveImage finds an image by name, digest or id prefix. Its Size is left 0 (see
// resolveImageSize): sizing reads the manifest, which only `image inspect` shows.
func (s *Service) resolveImage(ctx context.Context, ref string) (store.Record, error) {
	return s.findImage(ctx, ref, s.store.Lookup)
}

// resolveImageSize is resolveImage with the image's Size.
func (s *Service) resolveImageSize(ctx context.Context, ref string) (store.Record, error) {
	return s.findImage(ctx, ref, s.store.Resolve)
}

// findImage tries ref as a name (normalised: "hello:1" is docker.io/library/hello:1),
// then as it was given (an id or id prefix), on one read of the store's index.
func (s *Service) findImage(ctx context.Context, ref string, resolve func(context.Context, ...string) (store.Record, error)) (store.Record, error) {
	keys := make([]string, 0, 2)
	if n, err := image.ParseName(ref); err == nil {
		key := n.String()
		if n.Digest != "" {
			key = n.Digest // the store resolves "sha256:…" itself
		}
		keys = append(keys, key)
	}
	r, err := resolve(ctx, append(keys, ref)...)
	if errors.Is(err, store.ErrNotFound) {
		// A reference by the digest of an index an image was pulled from.
		if n, perr := image.ParseName(ref); perr == nil && n.Digest != "" {
			if h, ok := s.findRepoDigest(n); ok {
				if r, err := resolve(ctx, h.String()); err == nil {
					return r, nil
				}
			}
		}
		return store.Record{}, fmt.Errorf("%w: %s; pull it (berth pull %s), build it (berth build -t %s DIR) or load it (berth load -i FILE)", ErrImageNotFound, ref, ref, ref)
	}
	return r, err
}

// Tag gives the image src the name target.
func (s *Service) Tag(ctx context.Context, src, target string) error {
	r, err := s.resolveImage(ctx, src)
	if err != nil {
		return err
	}
	n, err := image.ParseName(target)
	if err != nil {
		return err
	}
	if n.Digest != "" {
		return fmt.Errorf("%w %q: a tag cannot hold a digest", image.ErrInvalidName, target)
	}
	return s.store.Tag(ctx, n.String(), r.Digest)
}

// RemoveResult lists what `rmi` did, in Docker's words.
type RemoveResult struct {
	Untagged []string
	Deleted  []v1.Hash
}

// RemoveImage removes a name, or the whole image when ref is its id or its last name.
// An image used by a container is refused unless force.
func (s *Service) RemoveImage(ctx context.Context, ref string, force bool) (*RemoveResult, error) {
	unlock, err := s.snapLock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	r, err := s.resolveImage(ctx, ref)
	if err != nil {
		return nil, err
	}
	res := &RemoveResult{}
	byName := ""
	if n, err := image.ParseName(ref); err == nil && n.Digest == "" {
		for _, name := range r.Names {
			if name == n.String() {
				byName = name
			}
		}
	}
	if byName != "" && len(r.Names) > 1 {
		if err := s.store.Untag(ctx, byName); err != nil {
			return nil, err
		}
		res.Untagged = append(res.Untagged, familiar([]string{byName})...)
		return res, nil
	}
	if byName == "" && len(r.Names) > 1 && !force {
		return nil, fmt.Errorf("%w: image %s is named %v; remove the names one by one or use -f", ErrConflict, r.Digest.Hex[:12], familiar(r.Names))
	}
	if users, err := s.containersUsing(ctx, r.Digest); err != nil {
		return nil, err
	} else if len(users) > 0 && !force {
		return nil, fmt.Errorf("%w: image %s is used by container %s; remove the container (berth rm %s) or use -f", ErrConflict, ref, users[0], users[0])
	}
	if err := s.store.Remove(ctx, r.Digest); err != nil {
		return nil, err
	}
	res.Untagged = familiar(r.Names)
	res.Deleted = append(res.Deleted, r.Digest)
	if err := s.removeSnapshot(ctx, r.Digest); err != nil {
		return res, err
	}
	_, _, err = s.store.GC(ctx)
	return res, err
}

func (s *Service) containersUsing(ctx context.Context, digest v1.Hash) ([]string, error) {
	cs, err := s.containers.List(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, c := range cs {
		if c.ImageDigest == digest.String() {
			names = append(names, c.Name)
		}
	}
	return names, nil
}

// PruneImages removes dangling images (all unused ones with all) and unreferenced blobs.
func (s *Service) PruneImages(ctx context.Context, all bool) (deleted []v1.Hash, reclaimed int64, err error) {
	unlock, err := s.snapLock(ctx, true)
	if err != nil {
		return nil, 0, err
	}
	defer unlock()
	recs, err := s.store.Images(ctx)
	if err != nil {
		return nil, 0, err
	}
	for _, r := range recs {
		if len(r.Names) > 0 && !all {
			continue
		}
		if users, err := s.containersUsing(ctx, r.Digest); err != nil {
			return deleted, reclaimed, err
		} else if len(users) > 0 {
			continue
		}
		if err := s.store.Remove(ctx, r.Digest); err != nil {
			return deleted, reclaimed, err
		}
		if err := s.removeSnapshot(ctx, r.Digest); err != nil {
			return deleted, reclaimed, err
		}
		deleted = append(deleted, r.Digest)
	}
	_, freed, err := s.store.GC(ctx)
	return deleted, freed, err
}

// ImageInspect is `berth image inspect` output, in Docker's shape where it applies.
type ImageInspect struct {
	ID           string `json:"Id"`
	RepoTags     []string
	RepoDigests  []string // familiar references by digest the image was pulled as
	Created      string   `json:",omitempty"`
	Architecture string
	Os           string
	Size         int64
	Config       image.Config
	RootFS       struct {
		Type   string
		Layers []string `json:",omitempty"`
	}
	Wasm struct {
		Layout       string
		Module       string `json:",omitempty"`
		ModuleDigest string `json:",omitempty"`
	}
}

// InspectImage returns the description of an image.
func (s *Service) InspectImage(ctx context.Context, ref string) (*ImageInspect, error) {
	r, err := s.resolveImageSize(ctx, ref)
	if err != nil {
		return nil, err
	}
	img, err := s.store.Image(ctx, r.Digest)
	if err != nil {
		return nil, err
	}
	m, err := s.prepare(ctx, img)
	if err != nil {
		return nil, err
	}
	out := &ImageInspect{ID: r.Digest.String(), RepoTags: familiar(r.Names), RepoDigests: familiar(s.repoDigests(r.Digest)), Created: m.Created,
		Architecture: m.Architecture, Os: m.OS, Size: r.Size, Config: m.Config}
	out.RootFS.Type = "layers"
	if m.Layout == image.DockerStyle.String() {
		if cf, err := img.ConfigFile(); err == nil {
			for _, d := range cf.RootFS.DiffIDs {
				out.RootFS.Layers = append(out.RootFS.Layers, d.String())
			}
		}
	}
	out.Wasm.Layout, out.Wasm.Module, out.Wasm.ModuleDigest = m.Layout, m.Module, m.ModuleDigest
	return out, nil
}

// repoDigestsFile is the file of a snapshot that lists the references by digest
// (NAME@sha256:…) the image was pulled as: a tag may name an index, whose digest
// is not the image's. It makes "already up to date" one HEAD request.
const repoDigestsFile = "repodigests.json"

func (s *Service) repoDigests(img v1.Hash) []string {
	b, err := os.ReadFile(filepath.Join(s.snapshotDir(img), repoDigestsFile))
	if err != nil {
		return nil
	}
	var out []string
	_ = json.Unmarshal(b, &out)
	return out
}

// findRepoDigest returns the stored image pulled as n (a reference by digest),
// by the digests its snapshots record.
func (s *Service) findRepoDigest(n image.Name) (v1.Hash, bool) {
	if n.Digest == "" {
		return v1.Hash{}, false
	}
	ents, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil {
		return v1.Hash{}, false
	}
	want := n.Repository() + "@" + n.Digest
	for _, e := range ents {
		h, err := v1.NewHash("sha256:" + e.Name())
		if err != nil {
			continue
		}
		if slices.Contains(s.repoDigests(h), want) {
			return h, true
		}
	}
	return v1.Hash{}, false
}

func familiar(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if pn, err := image.ParseName(n); err == nil {
			out = append(out, pn.Familiar())
		}
	}
	return out
}
