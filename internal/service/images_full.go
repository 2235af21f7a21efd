//go:build !berth_core

package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/store"
)

// Load reads an image archive (OCI layout or `docker save` format, optionally gzipped)
// and adds its Wasm images. Every image is checked (a Wasm platform, a module that
// compiles) before any is added, so a bad archive adds nothing.
func (s *Service) Load(ctx context.Context, r io.Reader) ([]Loaded, error) {
	if err := s.ensureDir("tmp"); err != nil {
		return nil, err
	}
	a, err := archive.Read(ctx, r, filepath.Join(s.root, "tmp"), archive.DefaultLimits())
	if err != nil {
		return nil, err
	}
	defer a.Close()
	type pending struct {
		img   v1.Image
		names []string
	}
	var todo []pending
	for i, e := range a.Entries() {
		img := e.Image
		if e.Index != nil {
			if img, err = image.SelectFromIndex(e.Index); err != nil {
				return nil, fmt.Errorf("archive image %d %v: %w", i+1, e.Names, err)
			}
		}
		if img == nil {
			continue
		}
		var names []string
		for _, n := range e.Names {
			pn, err := image.ParseName(n)
			if err != nil {
				return nil, fmt.Errorf("archive image %d: %w", i+1, err)
			}
			names = append(names, pn.String())
		}
		if _, err := s.prepare(ctx, img); err != nil {
			return nil, fmt.Errorf("archive image %d %v: %w", i+1, e.Names, err)
		}
		todo = append(todo, pending{img, names})
	}
	if len(todo) == 0 {
		return nil, fmt.Errorf("%w: the archive holds no image", archive.ErrFormat)
	}
	var out []Loaded
	for _, p := range todo {
		d, err := s.addImage(ctx, p.img, p.names)
		if err != nil {
			return out, err
		}
		out = append(out, Loaded{Digest: d.Digest, Names: familiar(p.names)})
	}
	return out, nil
}

// Build builds an image (see internal/build) and adds it to the store under tags.
func (s *Service) Build(ctx context.Context, opts build.Options, tags []string) (Loaded, error) {
	var names []string
	for _, t := range tags {
		n, err := image.ParseName(t)
		if err != nil {
			return Loaded{}, err
		}
		if n.Digest != "" {
			return Loaded{}, fmt.Errorf("%w %q: a build tag cannot hold a digest", image.ErrInvalidName, t)
		}
		names = append(names, n.String())
	}
	img, err := build.Build(ctx, opts)
	if err != nil {
		return Loaded{}, err
	}
	if _, err := s.prepare(ctx, img); err != nil {
		return Loaded{}, err
	}
	d, err := s.addImage(ctx, img, names)
	if err != nil {
		return Loaded{}, err
	}
	return Loaded{Digest: d.Digest, Names: familiar(names)}, nil
}

// addImage adds a prepared image to the store. When that fails and the store did not
// already hold the image, its snapshot (and compiled code no other image uses) goes too,
// so a failed build or load leaves nothing behind.
func (s *Service) addImage(ctx context.Context, img v1.Image, names []string) (v1.Descriptor, error) {
	d, err := s.store.AddImage(ctx, img, names...)
	if err == nil {
		return d, nil
	}
	if digest, derr := img.Digest(); derr == nil {
		if _, rerr := s.store.Resolve(ctx, digest.String()); errors.Is(rerr, store.ErrNotFound) {
			_ = s.removeSnapshot(context.WithoutCancel(ctx), digest)
		}
	}
	return d, err
}

// Save writes the named images to w as an archive `docker load`, `ctr import` and
// `berth load` read.
func (s *Service) Save(ctx context.Context, w io.Writer, refs []string) error {
	var entries []archive.SaveEntry
	for _, ref := range refs {
		r, err := s.resolveImage(ctx, ref)
		if err != nil {
			return err
		}
		img, err := s.store.Image(ctx, r.Digest)
		if err != nil {
			return err
		}
		names := r.Names
		if n, err := image.ParseName(ref); err == nil && n.Digest == "" {
			names = []string{n.String()} // save under the name asked for, as docker does
		}
		entries = append(entries, archive.SaveEntry{Names: names, Image: img})
	}
	return archive.Write(ctx, w, entries)
}
