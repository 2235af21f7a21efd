package store

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofrs/flock"
	"github.com/google/go-containerregistry/pkg/compression"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"golang.org/x/sys/unix"
)

func TestOpen(t *testing.T) {
	ctx := context.Background()
	t.Run("creates layout", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "a", "content")
		s, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		if s.Dir() != dir {
			t.Errorf("Dir() = %q, want %q", s.Dir(), dir)
		}
		data, err := os.ReadFile(filepath.Join(dir, "oci-layout"))
		if err != nil || string(data) != `{"imageLayoutVersion":"1.0.0"}` {
			t.Errorf("oci-layout = %q, %v", data, err)
		}
		if idx := indexOnDisk(t, dir); len(idx.Manifests) != 0 || idx.MediaType != types.OCIImageIndex {
			t.Errorf("new index = %+v", idx)
		}
		// go-containerregistry reads it as an OCI layout.
		if _, err := layout.ImageIndexFromPath(dir); err != nil {
			t.Errorf("layout.ImageIndexFromPath: %v", err)
		}
	})
	t.Run("relative dir becomes absolute", func(t *testing.T) {
		t.Chdir(t.TempDir())
		s, err := Open(ctx, "rel")
		if err != nil {
			t.Fatal(err)
		}
		if !filepath.IsAbs(s.Dir()) || filepath.Base(s.Dir()) != "rel" {
			t.Errorf("Dir() = %q", s.Dir())
		}
	})
	t.Run("reopen keeps images", func(t *testing.T) {
		s := openStore(t)
		desc, err := s.AddImage(ctx, randomImage(t, 64, 1), "x:1")
		if err != nil {
			t.Fatal(err)
		}
		s2, err := Open(ctx, s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if r, err := s2.Resolve(ctx, "x:1"); err != nil || r.Digest != desc.Digest {
			t.Errorf("Resolve after reopen = %v, %v", r, err)
		}
	})
	t.Run("directories made by the first write", func(t *testing.T) {
		// Opening an existing store makes no directory (one read, one stat); a store
		// whose tmp and blobs someone removed still takes images and collects garbage.
		s := openStore(t)
		if _, err := os.Stat(filepath.Join(s.Dir(), "blobs")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("blobs after Open: %v, want not there yet", err)
		}
		if _, _, err := s.GC(ctx); err != nil {
			t.Errorf("GC of a new store: %v", err)
		}
		desc, err := s.AddImage(ctx, randomImage(t, 64, 1), "x:1")
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"blobs/sha256", "tmp"} {
			if fi, err := os.Stat(filepath.Join(s.Dir(), d)); err != nil || !fi.IsDir() {
				t.Errorf("%s after AddImage: %v", d, err)
			}
		}
		for _, d := range []string{"blobs", "tmp"} {
			if err := os.RemoveAll(filepath.Join(s.Dir(), d)); err != nil {
				t.Fatal(err)
			}
		}
		s2, err := Open(ctx, s.Dir())
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s2.GC(ctx); err == nil {
			t.Error("GC with the indexed manifest gone succeeded, want a refusal")
		}
		if err := s2.Remove(ctx, desc.Digest); err != nil {
			t.Fatal(err)
		}
		if _, err := s2.AddImage(ctx, randomImage(t, 64, 1), "y:1"); err != nil {
			t.Errorf("AddImage with tmp and blobs removed: %v", err)
		}
		if _, _, err := s2.GC(ctx); err != nil {
			t.Errorf("GC: %v", err)
		}
	})
	bad := []struct {
		name, layout, want string
	}{
		{"future version", `{"imageLayoutVersion":"2.0.0"}`, `imageLayoutVersion "2.0.0"`},
		{"no version", `{}`, `imageLayoutVersion ""`},
		{"not json", `oops`, "not valid JSON"},
		{"canonical but a future version", `{"imageLayoutVersion":"2.0.0"}` + "\n", `imageLayoutVersion "2.0.0"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(tt.layout), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(ctx, dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), filepath.Join(dir, "oci-layout")) {
				t.Errorf("Open = %v, want error containing %q and the file name", err, tt.want)
			}
		})
	}
	t.Run("empty dir name", func(t *testing.T) {
		if _, err := Open(ctx, ""); err == nil {
			t.Error("Open(\"\") succeeded")
		}
	})
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	gzipMagicWasm := append([]byte{0x1f, 0x8b, 0x08, 0x00}, wasmModule...) // looks gzipped, is not
	tests := []struct {
		name string
		img  v1.Image
		// want is the uncompressed content of layer 0, nil to skip.
		want []byte
		// fastValidate: validate.Image reads layer contents with gzip only, so
		// for other layers only config, manifest and layer presence are validated
		// (the layer checks below cover the rest).
		fastValidate bool
	}{
		{"random docker image", randomImage(t, 512, 3), nil, false},
		{"random docker image, no layers", randomImage(t, 0, 0), nil, false},
		{"wasm artifact", wasmArtifact(t, wasmModule, "application/wasm", "application/vnd.wasm.config.v0+json"), wasmModule, false},
		{"wasm artifact with gzip-like bytes", wasmArtifact(t, gzipMagicWasm, "application/wasm", "application/vnd.wasm.config.v0+json"), gzipMagicWasm, false},
		{"wasm-to-oci", wasmArtifact(t, wasmModule, "application/vnd.wasm.content.layer.v1+wasm", "application/vnd.wasm.config.v1+json"), wasmModule, false},
		{"docker-style wasm (gzip tar)", dockerWasmImage(t, wasmModule), nil, false},
		{"zstd tar", tarWasmImage(t, wasmModule, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd)), nil, true},
		{"uncompressed tar", uncompressedTarImage(t, wasmModule), nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			desc, err := s.AddImage(ctx, tt.img, "example.com/img:1")
			if err != nil {
				t.Fatal(err)
			}
			wantRaw, _ := tt.img.RawManifest()
			wantCfg, _ := tt.img.RawConfigFile()
			if desc.Digest != mustDigest(t, tt.img) || desc.Size != int64(len(wantRaw)) {
				t.Errorf("AddImage = %+v, want digest %s size %d", desc, mustDigest(t, tt.img), len(wantRaw))
			}
			got, err := s.Image(ctx, desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			var opts []validate.Option
			if tt.fastValidate {
				opts = append(opts, validate.Fast)
			}
			if err := validate.Image(got, opts...); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			if raw, _ := got.RawManifest(); !bytes.Equal(raw, wantRaw) {
				t.Errorf("manifest changed:\n got %s\nwant %s", raw, wantRaw)
			}
			if cfg, _ := got.RawConfigFile(); !bytes.Equal(cfg, wantCfg) {
				t.Errorf("config changed:\n got %s\nwant %s", cfg, wantCfg)
			}
			if mt, _ := got.MediaType(); mt != desc.MediaType {
				t.Errorf("MediaType = %q, want %q", mt, desc.MediaType)
			}
			srcLayers, _ := tt.img.Layers()
			layers, err := got.Layers()
			if err != nil || len(layers) != len(srcLayers) {
				t.Fatalf("Layers = %d, %v; want %d", len(layers), err, len(srcLayers))
			}
			for i, l := range layers {
				wantDiff, _ := srcLayers[i].DiffID()
				diff, err := l.DiffID()
				if err != nil || diff != wantDiff {
					t.Errorf("layer %d DiffID = %s, %v; want %s", i, diff, err, wantDiff)
				}
				byDiff, err := got.LayerByDiffID(diff)
				if err != nil {
					t.Fatalf("LayerByDiffID(%s): %v", diff, err)
				}
				if d1, _ := byDiff.Digest(); d1 != mustLayerDigest(t, l) {
					t.Errorf("LayerByDiffID(%s) returned layer %s", diff, d1)
				}
				wantU, _ := readAll(srcLayers[i].Uncompressed())
				if i == 0 && tt.want != nil {
					// go-containerregistry's own layers sniff gzip magic; ours go by media type.
					wantU = tt.want
				}
				gotU, err := readAll(l.Uncompressed())
				if err != nil || !bytes.Equal(gotU, wantU) {
					t.Errorf("layer %d Uncompressed: %d bytes, %v; want %d bytes", i, len(gotU), err, len(wantU))
				}
			}
			// Images reports manifest + config + layers.
			recs, err := s.Images(ctx)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := tt.img.Manifest()
			size := int64(len(wantRaw)) + m.Config.Size
			for _, l := range m.Layers {
				size += l.Size
			}
			want := []Record{{Digest: desc.Digest, Names: []string{"example.com/img:1"}, Size: size}}
			if !reflect.DeepEqual(recs, want) {
				t.Errorf("Images = %+v, want %+v", recs, want)
			}
			if r, err := s.Resolve(ctx, "example.com/img:1"); err != nil || !reflect.DeepEqual(r, want[0]) {
				t.Errorf("Resolve = %+v, %v, want %+v", r, err, want[0])
			}
			// Other OCI tools read the same image.
			lp, err := layout.FromPath(s.Dir())
			if err != nil {
				t.Fatal(err)
			}
			other, err := lp.Image(desc.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if d, _ := other.Digest(); d != desc.Digest {
				t.Errorf("layout package sees digest %s", d)
			}
			if names := tempFiles(t, s); len(names) != 0 {
				t.Errorf("temp files left: %v", names)
			}
		})
	}
}

func mustLayerDigest(t *testing.T, l v1.Layer) v1.Hash {
	t.Helper()
	d, err := l.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestNames(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	a, b := randomImage(t, 64, 1), randomImage(t, 64, 1)
	da, err := s.AddImage(ctx, a, "x:1", "x:latest")
	if err != nil {
		t.Fatal(err)
	}
	db, err := s.AddImage(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	names := func() map[v1.Hash][]string {
		t.Helper()
		recs, err := s.Images(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[v1.Hash][]string{}
		for _, r := range recs {
			out[r.Digest] = r.Names
		}
		return out
	}
	check := func(step string, want map[v1.Hash][]string) {
		t.Helper()
		if got := names(); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: names = %v, want %v", step, got, want)
		}
	}
	check("added", map[v1.Hash][]string{da.Digest: {"x:1", "x:latest"}, db.Digest: nil})

	if err := s.Tag(ctx, "x:latest", db.Digest); err != nil {
		t.Fatal(err)
	}
	check("tag moves name", map[v1.Hash][]string{da.Digest: {"x:1"}, db.Digest: {"x:latest"}})

	if _, err := s.AddImage(ctx, b); err != nil {
		t.Fatal(err)
	}
	check("re-adding without names keeps names", map[v1.Hash][]string{da.Digest: {"x:1"}, db.Digest: {"x:latest"}})

	if _, err := s.AddImage(ctx, b, "x:1"); err != nil {
		t.Fatal(err)
	}
	check("add moves name, old image dangles", map[v1.Hash][]string{da.Digest: nil, db.Digest: {"x:1", "x:latest"}})

	if err := s.Untag(ctx, "x:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag(ctx, "x:latest"); err != nil {
		t.Fatal(err)
	}
	check("untag last name leaves image", map[v1.Hash][]string{da.Digest: nil, db.Digest: nil})

	if err := s.Remove(ctx, da.Digest); err != nil {
		t.Fatal(err)
	}
	check("remove", map[v1.Hash][]string{db.Digest: nil})

	errs := []struct {
		name string
		err  error
	}{
		{"Tag unknown digest", s.Tag(ctx, "y:1", da.Digest)},
		{"Untag unknown name", s.Untag(ctx, "nope:1")},
		{"Remove unknown", s.Remove(ctx, da.Digest)},
		{"Image unknown", func() error { _, err := s.Image(ctx, da.Digest); return err }()},
		{"Resolve unknown", func() error { _, err := s.Resolve(ctx, "nope:1"); return err }()},
	}
	for _, e := range errs {
		if !errors.Is(e.err, ErrNotFound) {
			t.Errorf("%s: %v, want ErrNotFound", e.name, e.err)
		}
	}
	if err := s.Tag(ctx, "", db.Digest); err == nil || errors.Is(err, ErrNotFound) {
		t.Errorf("Tag with empty name: %v", err)
	}
	if _, err := s.AddImage(ctx, a, ""); err == nil {
		t.Error("AddImage with empty name succeeded")
	}
}

func TestImagesOrder(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	var digests []v1.Hash
	for _, names := range [][]string{{"zeta:1"}, nil, {"beta:2", "alpha:1"}, nil, {"gamma:1"}} {
		d, err := s.AddImage(ctx, randomImage(t, 32, 1), names...)
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d.Digest)
	}
	recs, err := s.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, strings.Join(r.Names, ","))
		if r.Size <= 0 {
			t.Errorf("record %s has size %d", r.Digest, r.Size)
		}
	}
	want := []string{"alpha:1,beta:2", "gamma:1", "zeta:1", "", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Images order = %q, want %q", got, want)
	}
	if recs[0].Digest != digests[2] {
		t.Errorf("first record %s, want %s", recs[0].Digest, digests[2])
	}
	if a, b := recs[3].Digest.Hex, recs[4].Digest.Hex; a > b {
		t.Errorf("dangling images not sorted by digest: %s > %s", a, b)
	}
}

func TestResolve(t *testing.T) {
	// Unit table over crafted records, so that prefixes can collide.
	recs := []Record{
		{Digest: v1.Hash{Algorithm: "sha256", Hex: "abcd1111" + strings.Repeat("0", 56)}, Names: []string{"docker.io/library/a:1"}},
		{Digest: v1.Hash{Algorithm: "sha256", Hex: "abcd2222" + strings.Repeat("0", 56)}},
		{Digest: v1.Hash{Algorithm: "sha256", Hex: "ef01" + strings.Repeat("0", 60)}, Names: []string{"abcd"}},
	}
	tests := []struct {
		ref     string
		want    int // index into recs, -1 for error
		wantErr error
	}{
		{"docker.io/library/a:1", 0, nil},
		{"abcd", 2, nil}, // a name wins over an ID prefix
		{"abcd1", 0, nil},
		{"abcd2222", 1, nil},
		{"sha256:abcd1", 0, nil},
		{"sha256:" + recs[1].Digest.Hex, 1, nil},
		{recs[2].Digest.Hex, 2, nil},
		{"ef01", 2, nil},
		{"abc", -1, ErrNotFound}, // too short
		{"sha256:abcd", -1, ErrAmbiguous},
		{"ABCD1", -1, ErrNotFound},
		{"abcd9", -1, ErrNotFound},
		{"a:1", -1, ErrNotFound},
		{"", -1, ErrNotFound},
		{strings.Repeat("0", 65), -1, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			got, err := findRecord(recs, tt.ref)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("resolve(%q) = %v, %v; want %v", tt.ref, got, err, tt.wantErr)
				}
				if tt.wantErr == ErrAmbiguous {
					for _, want := range []string{recs[0].Digest.String(), recs[1].Digest.String(), "docker.io/library/a:1"} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("error %q does not list %s", err, want)
						}
					}
				}
				return
			}
			if err != nil || got.Digest != recs[tt.want].Digest {
				t.Errorf("resolve(%q) = %v, %v; want %s", tt.ref, got.Digest, err, recs[tt.want].Digest)
			}
		})
	}

	// And through a real store.
	ctx := context.Background()
	s := openStore(t)
	d, err := s.AddImage(ctx, randomImage(t, 32, 1), "docker.io/library/hello:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"docker.io/library/hello:1", d.Digest.String(), d.Digest.Hex[:12], d.Digest.Hex[:4]} {
		r, err := s.Resolve(ctx, ref)
		if err != nil || r.Digest != d.Digest || !reflect.DeepEqual(r.Names, []string{"docker.io/library/hello:1"}) || r.Size <= d.Size {
			t.Errorf("Resolve(%q) = %+v, %v", ref, r, err)
		}
		// Lookup finds the same image and leaves the size out.
		l, err := s.Lookup(ctx, ref)
		if err != nil || l.Digest != d.Digest || !reflect.DeepEqual(l.Names, r.Names) || l.Size != 0 {
			t.Errorf("Lookup(%q) = %+v, %v", ref, l, err)
		}
	}
	if _, err := s.Lookup(ctx, "docker.io/library/nope:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Lookup of a missing name = %v, want ErrNotFound", err)
	}
	// Several refs: the first that names an image wins; none is ErrNotFound.
	for _, refs := range [][]string{
		{"docker.io/library/nope:1", d.Digest.Hex[:8]},
		{"docker.io/library/hello:1", "docker.io/library/nope:1"},
	} {
		if r, err := s.Lookup(ctx, refs...); err != nil || r.Digest != d.Digest {
			t.Errorf("Lookup(%q) = %+v, %v", refs, r, err)
		}
	}
	miss := d.Digest.Hex[:3] + "0" // an id prefix no image has
	if d.Digest.Hex[3] == '0' {
		miss = d.Digest.Hex[:3] + "1"
	}
	for _, refs := range [][]string{nil, {"docker.io/library/nope:1", miss}} {
		if _, err := s.Lookup(ctx, refs...); !errors.Is(err, ErrNotFound) {
			t.Errorf("Lookup(%q) = %v, want ErrNotFound", refs, err)
		}
	}
}

// lyingImage returns other bytes for one blob than its manifest records.
type lyingImage struct {
	v1.Image
	layer  v1.Hash // if set, this layer's bytes get one byte changed
	config bool    // change the config bytes
	digest *v1.Hash
}

type lyingLayer struct{ v1.Layer }

func (l lyingLayer) Compressed() (io.ReadCloser, error) {
	b, err := readAll(l.Layer.Compressed())
	if err != nil {
		return nil, err
	}
	b[len(b)/2] ^= 0xff
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (i lyingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := i.Image.LayerByDigest(h)
	if err != nil || h != i.layer {
		return l, err
	}
	return lyingLayer{l}, nil
}

func (i lyingImage) RawConfigFile() ([]byte, error) {
	b, err := i.Image.RawConfigFile()
	if err != nil || !i.config {
		return b, err
	}
	return append([]byte(" "), b...), nil
}

func (i lyingImage) Digest() (v1.Hash, error) {
	if i.digest != nil {
		return *i.digest, nil
	}
	return i.Image.Digest()
}

func TestAddImageDigestMismatch(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 256, 2)
	m, _ := img.Manifest()
	other := hashOf('e')
	tests := []struct {
		name     string
		img      v1.Image
		blob     string
		expected v1.Hash
	}{
		{"layer", lyingImage{Image: img, layer: m.Layers[1].Digest}, "layer 2 of 2", m.Layers[1].Digest},
		{"config", lyingImage{Image: img, config: true}, "config", m.Config.Digest},
		{"manifest", lyingImage{Image: img, digest: &other}, "manifest", other},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			_, err := s.AddImage(ctx, tt.img, "x:1")
			var de *DigestError
			if !errors.As(err, &de) {
				t.Fatalf("AddImage = %v, want *DigestError", err)
			}
			if de.Blob != tt.blob || de.Expected != tt.expected || de.Actual == de.Expected {
				t.Errorf("DigestError = %+v", de)
			}
			if !strings.Contains(err.Error(), tt.expected.String()) || !strings.Contains(err.Error(), tt.blob) {
				t.Errorf("message %q does not name the blob", err)
			}
			if recs, _ := s.Images(ctx); len(recs) != 0 {
				t.Errorf("image indexed after mismatch: %+v", recs)
			}
			if names := tempFiles(t, s); len(names) != 0 {
				t.Errorf("temp files left: %v", names)
			}
			if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256", tt.expected.Hex)); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("mismatching blob stored: %v", err)
			}
		})
	}
}

// TestCorruption damages blob files and reads them through Image().
func TestCorruption(t *testing.T) {
	ctx := context.Background()
	img := randomImage(t, 4096, 2)
	m, _ := img.Manifest()
	layer := m.Layers[0].Digest
	zimg := tarWasmImage(t, wasmModule, tarball.WithCompression(compression.ZStd), tarball.WithMediaType(types.OCILayerZStd))
	zm, _ := zimg.Manifest()
	zlayer := zm.Layers[0].Digest
	tests := []struct {
		name   string
		blob   v1.Hash
		damage func(path string) error
		read   func(v1.Image) error
		src    v1.Image // nil: img
	}{
		{"flipped byte, compressed", layer, flipByte, readLayer(layer, false), nil},
		{"flipped byte, uncompressed", layer, flipByte, readLayer(layer, true), nil},
		{"truncated layer", layer, truncate, readLayer(layer, false), nil},
		{"extra bytes", layer, appendByte, readLayer(layer, true), nil},
		{"missing layer", layer, os.Remove, readLayer(layer, true), nil},
		{"flipped config", m.Config.Digest, flipByte, func(i v1.Image) error { _, err := i.ConfigFile(); return err }, nil},
		{"missing config", m.Config.Digest, os.Remove, func(i v1.Image) error { _, err := i.RawConfigFile(); return err }, nil},
		{"flipped manifest", mustDigest(t, img), flipByte, func(v1.Image) error { return nil }, nil},
		{"flipped byte, zstd uncompressed", zlayer, flipByte, readLayer(zlayer, true), zimg},
		{"truncated zstd, uncompressed", zlayer, truncate, readLayer(zlayer, true), zimg},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src := img
			if tt.src != nil {
				src = tt.src
			}
			s := openStore(t)
			d, err := s.AddImage(ctx, src, "x:1")
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(s.Dir(), "blobs", "sha256", tt.blob.Hex)
			if err := tt.damage(path); err != nil {
				t.Fatal(err)
			}
			got, err := s.Image(ctx, d.Digest)
			if err == nil {
				err = tt.read(got)
			}
			var cbe *CorruptBlobError
			if !errors.As(err, &cbe) {
				t.Fatalf("got %v, want *CorruptBlobError", err)
			}
			if cbe.Digest != tt.blob || cbe.Path != path {
				t.Errorf("CorruptBlobError names %s at %s, want %s at %s", cbe.Digest, cbe.Path, tt.blob, path)
			}
			for _, want := range []string{"corrupt", path, "berth rmi", "pull it again"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("message %q does not contain %q", err, want)
				}
			}
			if got != nil && validate.Image(got) == nil {
				t.Error("validate.Image passed on a damaged image")
			}
			if tt.name == "missing layer" && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing blob: errors.Is(err, fs.ErrNotExist) is false: %v", err)
			}
			// The advice works: remove and add again, even before a GC.
			if err := s.Remove(ctx, d.Digest); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddImage(ctx, src, "x:1"); err != nil {
				t.Fatal(err)
			}
			fixed, err := s.Image(ctx, d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.read(fixed); err != nil {
				t.Errorf("after re-adding: %v", err)
			}
			if err := validate.Image(fixed, validate.Fast); err != nil {
				t.Errorf("after re-adding: %v", err)
			}
		})
	}
}

func readLayer(h v1.Hash, uncompressed bool) func(v1.Image) error {
	return func(img v1.Image) error {
		l, err := img.LayerByDigest(h)
		if err != nil {
			return err
		}
		if uncompressed {
			_, err = readAll(l.Uncompressed())
		} else {
			_, err = readAll(l.Compressed())
		}
		return err
	}
}

func flipByte(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[len(b)/2] ^= 0x01
	return os.WriteFile(path, b, 0o644)
}

func truncate(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	return os.Truncate(path, fi.Size()-10)
}

func appendByte(path string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write([]byte{0})
	return err
}

// TestDiffIDMismatch: intact blobs, but a config whose diff ID is wrong.
func TestDiffIDMismatch(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	img := dockerWasmImage(t, wasmModule)
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.RootFS.DiffIDs[0] = hashOf('d')
	bad, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.AddImage(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Image(ctx, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	ls, _ := got.Layers()
	_, err = readAll(ls[0].Uncompressed())
	var cbe *CorruptBlobError
	if err == nil || errors.As(err, &cbe) || !strings.Contains(err.Error(), "image config records "+hashOf('d').String()) {
		t.Errorf("Uncompressed with wrong diff ID: %v", err)
	}
}

func TestGC(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	keep, drop := randomImage(t, 128, 2), randomImage(t, 128, 2)
	dk, err := s.AddImage(ctx, keep, "keep:1")
	if err != nil {
		t.Fatal(err)
	}
	dd, err := s.AddImage(ctx, drop, "drop:1")
	if err != nil {
		t.Fatal(err)
	}

	// Nothing unreachable yet.
	if removed, freed, err := s.GC(ctx); err != nil || len(removed) != 0 || freed != 0 {
		t.Fatalf("first GC = %v, %d, %v", removed, freed, err)
	}

	// Temp files: one stale, one fresh.
	stale := filepath.Join(s.Dir(), tmpDir, "blob-stale")
	fresh := filepath.Join(s.Dir(), tmpDir, "blob-fresh")
	for _, p := range []string{stale, fresh} {
		if err := os.WriteFile(p, make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(stale, old, old); err != nil {
		t.Fatal(err)
	}

	if err := s.Remove(ctx, dd.Digest); err != nil {
		t.Fatal(err)
	}
	m, _ := drop.Manifest()
	want := []v1.Hash{dd.Digest, m.Config.Digest}
	wantFreed := dd.Size + m.Config.Size + 100
	for _, l := range m.Layers {
		want = append(want, l.Digest)
		wantFreed += l.Size
	}
	removed, freed, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !sameHashes(removed, want) || freed != wantFreed {
		t.Errorf("GC = %v, %d; want %v, %d", removed, freed, want, wantFreed)
	}
	for i := 1; i < len(removed); i++ {
		if removed[i-1].Hex > removed[i].Hex {
			t.Errorf("removed not sorted: %v", removed)
		}
	}
	if _, err := os.Stat(stale); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale temp file kept: %v", err)
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Errorf("fresh temp file removed: %v", err)
	}
	got, err := s.Image(ctx, dk.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(got); err != nil {
		t.Errorf("kept image damaged by GC: %v", err)
	}
	if removed, _, err := s.GC(ctx); err != nil || len(removed) != 0 {
		t.Errorf("second GC = %v, %v", removed, err)
	}
}

func sameHashes(a, b []v1.Hash) bool {
	set := map[v1.Hash]int{}
	for _, h := range a {
		set[h]++
	}
	for _, h := range b {
		set[h]--
	}
	for _, n := range set {
		if n != 0 {
			return false
		}
	}
	return len(a) == len(b)
}

// TestForeignIndexEntries: entries other tools write (an image index with
// children, a short ref.name) are kept by GC, skipped by Images, and survive
// rewrites of index.json.
func TestForeignIndexEntries(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	child := randomImage(t, 64, 1)
	dc, err := s.AddImage(ctx, child)
	if err != nil {
		t.Fatal(err)
	}
	// An image index blob referring to the child and to a missing platform.
	indexBlob := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":` + strconv.FormatInt(dc.Size, 10) + `,"digest":"` + dc.Digest.String() + `"},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":5,"digest":"` + hashOf('9').String() + `"}]}`)
	ih, isz, _ := v1.SHA256(bytes.NewReader(indexBlob))
	if err := os.WriteFile(filepath.Join(s.Dir(), "blobs", "sha256", ih.Hex), indexBlob, 0o644); err != nil {
		t.Fatal(err)
	}
	idx := indexOnDisk(t, s.Dir())
	// Forget the child's own entry; only the index refers to it now.
	idx.Manifests = []v1.Descriptor{{MediaType: types.OCIImageIndex, Size: isz, Digest: ih,
		Annotations: map[string]string{annotationRefName: "latest"}}}
	writeJSON(t, filepath.Join(s.Dir(), indexFile), idx)

	removed, _, err := s.GC(ctx)
	if err != nil || len(removed) != 0 {
		t.Fatalf("GC = %v, %v; want nothing removed", removed, err)
	}
	recs, err := s.Images(ctx)
	if err != nil || len(recs) != 0 {
		t.Errorf("Images = %+v, %v; want the index skipped", recs, err)
	}
	if _, err := s.AddImage(ctx, randomImage(t, 32, 1), "x:1"); err != nil {
		t.Fatal(err)
	}
	after := indexOnDisk(t, s.Dir())
	found := false
	for _, d := range after.Manifests {
		if d.Digest == ih && descName(d) == "latest" {
			found = true
		}
	}
	if !found {
		t.Errorf("foreign entry lost: %+v", after.Manifests)
	}
}

// DropBlobs deletes the named blobs that no indexed image reaches, and no other.
func TestDropBlobs(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	kept, dropped, other := randomImage(t, 128, 2), randomImage(t, 128, 2), randomImage(t, 128, 1)
	dk, err := s.AddImage(ctx, kept, "kept:1")
	if err != nil {
		t.Fatal(err)
	}
	dd, err := s.AddImage(ctx, dropped, "dropped:1")
	if err != nil {
		t.Fatal(err)
	}
	do, err := s.AddImage(ctx, other, "other:1")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []v1.Hash{dd.Digest, do.Digest} { // both unreachable now
		if err := s.Remove(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	blobs := func(img v1.Image, d v1.Hash) []v1.Hash {
		m, _ := img.Manifest()
		out := []v1.Hash{d, m.Config.Digest}
		for _, l := range m.Layers {
			out = append(out, l.Digest)
		}
		return out
	}
	bogus := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)} // not in the store
	ask := append(append(blobs(dropped, dd.Digest), blobs(kept, dk.Digest)...), bogus, dd.Digest)
	removed, err := s.DropBlobs(ctx, ask)
	if err != nil {
		t.Fatal(err)
	}
	if want := blobs(dropped, dd.Digest); !slices.Equal(removed, want) {
		t.Fatalf("DropBlobs removed %v, want the unreachable ones asked for, %v", removed, want)
	}
	for _, h := range append(blobs(kept, dk.Digest), blobs(other, do.Digest)...) {
		if _, err := os.Stat(filepath.Join(s.Dir(), "blobs", "sha256", h.Hex)); err != nil {
			t.Errorf("blob %s: %v, want it kept", h, err)
		}
	}
	if _, err := s.Image(ctx, dk.Digest); err != nil {
		t.Fatalf("the kept image: %v", err)
	}
}

func TestGCRefusesWithBrokenManifest(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	d, err := s.AddImage(ctx, randomImage(t, 64, 1), "x:1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddImage(ctx, randomImage(t, 64, 1)); err != nil {
		t.Fatal(err)
	}
	if err := s.Untag(ctx, "x:1"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(s.Dir(), "blobs", "sha256", d.Digest.Hex)
	if err := flipByte(path); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256"))
	_, _, err = s.GC(ctx)
	var cbe *CorruptBlobError
	if !errors.As(err, &cbe) || cbe.Digest != d.Digest {
		t.Fatalf("GC = %v, want *CorruptBlobError for %s", err, d.Digest)
	}
	after, _ := os.ReadDir(filepath.Join(s.Dir(), "blobs", "sha256"))
	if len(after) != len(before) {
		t.Errorf("GC deleted blobs although it failed: %d -> %d", len(before), len(after))
	}
	// Images still lists the broken image so that it can be removed.
	recs, err := s.Images(ctx)
	if err != nil || len(recs) != 2 {
		t.Errorf("Images = %+v, %v", recs, err)
	}
	if err := s.Remove(ctx, d.Digest); err != nil {
		t.Fatal(err)
	}
	if removed, _, err := s.GC(ctx); err != nil || len(removed) != 3 {
		t.Errorf("GC after rmi = %v, %v; want 3 blobs removed", removed, err)
	}
}

func TestDamagedIndex(t *testing.T) {
	ctx := context.Background()
	s := openStore(t)
	if err := os.WriteFile(filepath.Join(s.Dir(), indexFile), []byte(`{"schemaVersion":2,"manifests":[{"digest":"sha256:zz"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	calls := map[string]error{
		"Images":  func() error { _, err := s.Images(ctx); return err }(),
		"Resolve": func() error { _, err := s.Resolve(ctx, "x"); return err }(),
		"Tag":     s.Tag(ctx, "x", hashOf('a')),
		"GC":      func() error { _, _, err := s.GC(ctx); return err }(),
		"AddImage": func() error {
			_, err := s.AddImage(ctx, randomImage(t, 16, 1), "x")
			return err
		}(),
	}
	for name, err := range calls {
		if err == nil || !strings.Contains(err.Error(), filepath.Join(s.Dir(), indexFile)) {
			t.Errorf("%s: %v, want an error naming index.json", name, err)
		}
	}
}

func TestLockHonoursContext(t *testing.T) {
	s := openStore(t)
	d, err := s.AddImage(context.Background(), randomImage(t, 16, 1), "x:1")
	if err != nil {
		t.Fatal(err)
	}
	lockPath := filepath.Join(s.Dir(), lockFile)
	short := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
		t.Cleanup(cancel)
		return ctx
	}
	reads := map[string]func(context.Context) error{
		"Images":  func(ctx context.Context) error { _, err := s.Images(ctx); return err },
		"Resolve": func(ctx context.Context) error { _, err := s.Resolve(ctx, "x:1"); return err },
		"Image":   func(ctx context.Context) error { _, err := s.Image(ctx, d.Digest); return err },
	}
	writes := map[string]func(context.Context) error{
		"AddImage": func(ctx context.Context) error { _, err := s.AddImage(ctx, randomImage(t, 16, 1)); return err },
		"Tag":      func(ctx context.Context) error { return s.Tag(ctx, "y:1", d.Digest) },
		"Untag":    func(ctx context.Context) error { return s.Untag(ctx, "x:1") },
		"Remove":   func(ctx context.Context) error { return s.Remove(ctx, d.Digest) },
		"GC":       func(ctx context.Context) error { _, _, err := s.GC(ctx); return err },
	}

	// Another holder of the shared lock: reads proceed, writes wait and give up.
	shared := flock.New(lockPath)
	if err := shared.RLock(); err != nil {
		t.Fatal(err)
	}
	for name, f := range reads {
		if err := f(short()); err != nil {
			t.Errorf("%s under a shared lock: %v", name, err)
		}
	}
	for name, f := range writes {
		if err := f(short()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s under a shared lock: %v, want DeadlineExceeded", name, err)
		}
	}
	shared.Unlock()

	// An exclusive holder blocks everyone.
	excl := flock.New(lockPath)
	if err := excl.Lock(); err != nil {
		t.Fatal(err)
	}
	for name, f := range reads {
		if err := f(short()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s under an exclusive lock: %v, want DeadlineExceeded", name, err)
		}
	}
	excl.Unlock()
	if r, err := s.Resolve(context.Background(), "x:1"); err != nil || r.Digest != d.Digest {
		t.Errorf("after unlock: %v, %v", r, err)
	}
}

// TestDiskFull fills a small tmpfs.
func TestDiskFull(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=256k"); err != nil {
		t.Fatalf("mounting a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting %s: %v", dir, err)
		}
	})
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	small, err := s.AddImage(ctx, randomImage(t, 1024, 1), "small:1")
	if err != nil {
		t.Fatal(err)
	}
	big := randomImage(t, 100<<10, 4) // random bytes do not compress: ~400 KiB
	_, err = s.AddImage(ctx, big, "big:1")
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("AddImage on a full disk = %v, want ENOSPC", err)
	}
	t.Log(err)
	for _, want := range []string{"full", s.Dir()} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q does not contain %q", err, want)
		}
	}
	if names := tempFiles(t, s); len(names) != 0 {
		t.Errorf("temp files left: %v", names)
	}
	recs, err := s.Images(ctx)
	if err != nil || len(recs) != 1 || recs[0].Digest != small.Digest {
		t.Errorf("Images after ENOSPC = %+v, %v; want only small:1", recs, err)
	}
	// GC frees the partial image's blobs; the store keeps working.
	removed, freed, err := s.GC(ctx)
	if err != nil || len(removed) == 0 || freed <= 0 {
		t.Errorf("GC = %v, %d, %v", removed, freed, err)
	}
	if _, err := s.AddImage(ctx, randomImage(t, 1024, 2), "small:2"); err != nil {
		t.Errorf("AddImage after GC: %v", err)
	}
	img, err := s.Image(ctx, small.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Error(err)
	}
}
