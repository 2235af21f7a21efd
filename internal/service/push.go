//go:build !berth_core

package service

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
)

// Push formats.
const (
	// FormatDocker pushes the image as stored (what `docker buildx --platform
	// wasi/wasm` writes, for images berth built).
	FormatDocker = "docker"
	// FormatArtifact pushes the CNCF Wasm OCI artifact of the image's module.
	FormatArtifact = "artifact"
)

// PushOptions are the options of [Service.Push].
type PushOptions struct {
	Registry registry.Options
	// Format is FormatDocker (the default) or FormatArtifact.
	Format string
	// IndexWith, when set, names an image or index already in a registry (built
	// for other platforms): the push writes the Wasm image, then an OCI index
	// tagged with the name that lists it beside IndexWith's platforms.
	IndexWith string
	// Progress, when set, is called as layers upload.
	Progress func(registry.Progress)
}

// Pushed is the result of a push.
type Pushed struct {
	// Name is the full name pushed, e.g. "127.0.0.1:5000/app:1".
	Name string
	// Tag is its tag.
	Tag string
	// Digest and Size are those of the manifest the tag now names (the index
	// with IndexWith).
	Digest v1.Hash
	Size   int64
	// Image is the digest of the Wasm image manifest pushed (Digest without
	// IndexWith).
	Image v1.Hash
}

// Push writes the stored image ref to the registry its name names.
func (s *Service) Push(ctx context.Context, ref string, o PushOptions) (*Pushed, error) {
	n, err := image.ParseName(ref)
	if err != nil {
		return nil, err
	}
	if n.Digest != "" {
		return nil, fmt.Errorf("%w %q: push takes NAME[:TAG]; tag the image first (berth tag IMAGE NAME:TAG)", image.ErrInvalidName, ref)
	}
	rec, err := s.store.Lookup(ctx, n.String())
	if err != nil {
		return nil, fmt.Errorf("%w: %s: push needs an image of that name (berth tag IMAGE %s)", ErrImageNotFound, ref, ref)
	}
	img, err := s.store.Image(ctx, rec.Digest)
	if err != nil {
		return nil, err
	}
	meta, err := s.prepare(ctx, img)
	if err != nil {
		return nil, err
	}
	switch o.Format {
	case "", FormatDocker:
	case FormatArtifact:
		if img, err = s.artifactOf(rec.Digest, meta); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("push: unknown --format %q: use docker or artifact", o.Format)
	}
	c := registry.New(o.Registry)
	r, err := c.ParseReference(n.String())
	if err != nil {
		return nil, err
	}
	out := &Pushed{Name: n.String(), Tag: n.Tag}
	if out.Image, err = img.Digest(); err != nil {
		return nil, err
	}
	var d v1.Descriptor
	if o.IndexWith != "" {
		with, err := c.ParseReference(o.IndexWith)
		if err != nil {
			return nil, fmt.Errorf("--index-with: %w", err)
		}
		p := v1.Platform{OS: meta.OS, Architecture: meta.Architecture}
		if o.Format == FormatArtifact {
			p = v1.Platform{OS: "wasip1", Architecture: "wasm"}
		}
		d, err = c.PushIndex(ctx, r, img, p, with, o.Progress)
		if err != nil {
			return nil, err
		}
	} else if d, err = c.Push(ctx, r, img, o.Progress); err != nil {
		return nil, err
	}
	out.Digest, out.Size = d.Digest, d.Size
	return out, nil
}

// artifactOf converts the stored image to the CNCF Wasm OCI artifact of its module.
func (s *Service) artifactOf(digest v1.Hash, meta *snapshotMeta) (v1.Image, error) {
	if meta.Module == "" {
		return nil, fmt.Errorf("%w: the image names no module (no Entrypoint or Cmd), so it has no Wasm artifact form; push it with --format docker", ErrBadImage)
	}
	module, err := bundle.ReadRootFile(filepath.Join(s.snapshotDir(digest), "rootfs"), meta.Module)
	if err != nil {
		return nil, fmt.Errorf("reading the module %s of image %s: %w", meta.Module, digest, err)
	}
	var created time.Time
	if meta.Created != "" {
		created, _ = time.Parse(time.RFC3339, meta.Created)
	}
	return registry.Artifact(module, path.Base(meta.Module), created)
}
