package image

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrNotWasm is returned (wrapped) for an image or index with no wasi/wasm platform.
var ErrNotWasm = errors.New("not a Wasm image")

// IsWasmPlatform reports whether os/arch name a WASI Wasm platform:
// os "wasi" or "wasip1", architecture "wasm" or "wasm32".
func IsWasmPlatform(os, arch string) bool {
	return (os == "wasi" || os == "wasip1") && (arch == "wasm" || arch == "wasm32")
}

// SelectFromIndex returns the wasi/wasm image of a multi-platform index. An index
// without one gets an error that lists the platforms it has.
//
// Nested indexes are searched depth-first.
func SelectFromIndex(idx v1.ImageIndex) (v1.Image, error) {
	img, seen, err := selectFromIndex(idx, 0)
	if err != nil {
		return nil, err
	}
	if img == nil {
		return nil, fmt.Errorf("%w: the index has no wasi/wasm image, only %s; berth runs WebAssembly images (build one with --platform wasi/wasm)", ErrNotWasm, platformList(seen))
	}
	return img, nil
}

func selectFromIndex(idx v1.ImageIndex, depth int) (v1.Image, []string, error) {
	if depth > 4 {
		return nil, nil, fmt.Errorf("image index nested too deeply")
	}
	m, err := idx.IndexManifest()
	if err != nil {
		return nil, nil, fmt.Errorf("reading image index: %w", err)
	}
	var seen []string
	for _, d := range m.Manifests {
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, nil, fmt.Errorf("reading nested index %s: %w", d.Digest, err)
			}
			img, s, err := selectFromIndex(child, depth+1)
			if err != nil || img != nil {
				return img, nil, err
			}
			seen = append(seen, s...)
		case d.Platform != nil && IsWasmPlatform(d.Platform.OS, d.Platform.Architecture):
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, nil, fmt.Errorf("reading image %s: %w", d.Digest, err)
			}
			return img, nil, nil
		case d.Platform != nil:
			if d.Platform.OS == "unknown" { // attestation manifests of buildx
				continue
			}
			seen = append(seen, platformString(d.Platform.OS, d.Platform.Architecture, d.Platform.Variant))
		default:
			// A descriptor without a platform may still be a Wasm artifact.
			if !d.MediaType.IsImage() && d.ArtifactType == "" {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				continue
			}
			if _, err := Inspect(img); err == nil {
				return img, nil, nil
			}
			seen = append(seen, "unknown")
		}
	}
	return nil, seen, nil
}

func platformString(os, arch, variant string) string {
	s := os + "/" + arch
	if variant != "" {
		s += "/" + variant
	}
	return s
}

func platformList(p []string) string {
	if len(p) == 0 {
		return "no platforms"
	}
	sort.Strings(p)
	p = compact(p)
	return strings.Join(p, ", ")
}

func compact(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
