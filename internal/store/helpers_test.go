package store

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// wasmModule is the smallest valid Wasm module (magic and version).
var wasmModule = []byte("\x00asm\x01\x00\x00\x00")

func openStore(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func randomImage(t testing.TB, size, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(size, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func mustDigest(t testing.TB, img v1.Image) v1.Hash {
	t.Helper()
	h, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// rawImage is a hand-built image: raw manifest and config bytes, as a Wasm
// artifact producer would write them.
type rawImage struct {
	manifest, config []byte
	layers           []v1.Layer
}

func (r *rawImage) RawConfigFile() ([]byte, error) { return r.config, nil }
func (r *rawImage) RawManifest() ([]byte, error)   { return r.manifest, nil }
func (r *rawImage) MediaType() (types.MediaType, error) {
	return types.OCIManifestSchema1, nil
}
func (r *rawImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range r.layers {
		if d, _ := l.Digest(); d == h {
			return l, nil
		}
	}
	return nil, fmt.Errorf("no layer %s", h)
}

// wasmArtifact builds an image with one layer of media type layerMT holding
// module and a config of media type configMT with Wasm-specific fields that
// v1.ConfigFile does not model (they must survive byte for byte).
func wasmArtifact(t testing.TB, module []byte, layerMT, configMT types.MediaType) v1.Image {
	t.Helper()
	layer := static.NewLayer(module, layerMT)
	ld, _ := layer.Digest()
	config := fmt.Appendf(nil, `{"created":"2024-01-01T00:00:00Z","architecture":"wasm","os":"wasip1","layerDigests":[%q],"component":{"exports":["wasi:cli/run"]}}`, ld)
	ch, _, _ := v1.SHA256(bytes.NewReader(config))
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"artifactType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d,"annotations":{"org.opencontainers.image.title":"module.wasm"}}]}`,
		types.OCIManifestSchema1, configMT, configMT, ch, len(config), layerMT, ld, len(module))
	img, err := partial.CompressedToImage(&rawImage{manifest: manifest, config: config, layers: []v1.Layer{layer}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// dockerWasmImage builds a Docker-style Wasm image: os wasi, arch wasm, one
// gzip tar layer holding the module at /app.wasm.
func dockerWasmImage(t testing.TB, module []byte) v1.Image {
	return tarWasmImage(t, module)
}

// uncompressedTarImage holds the module in a plain (uncompressed) tar layer.
func uncompressedTarImage(t testing.TB, module []byte) v1.Image {
	t.Helper()
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(tarOf(t, module), types.OCIUncompressedLayer))
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func tarOf(t testing.TB, module []byte) []byte {
	t.Helper()
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	if err := tw.WriteHeader(&tar.Header{Name: "app.wasm", Mode: 0o755, Size: int64(len(module)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write(module)
	tw.Close()
	return tb.Bytes()
}

// tarWasmImage is dockerWasmImage with layer options (compression, media type).
func tarWasmImage(t testing.TB, module []byte, opts ...tarball.LayerOption) v1.Image {
	t.Helper()
	tb := tarOf(t, module)
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(tb)), nil
	}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "wasi", "wasm"
	cf.Config.Entrypoint = []string{"/app.wasm"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// tempFiles lists DIR/tmp.
func tempFiles(t testing.TB, s *Store) []string {
	t.Helper()
	es, err := os.ReadDir(filepath.Join(s.Dir(), tmpDir))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// indexOnDisk parses DIR/index.json.
func indexOnDisk(t testing.TB, dir string) *v1.IndexManifest {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, indexFile))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := parseIndex(indexFile, data)
	if err != nil {
		t.Fatal(err)
	}
	return idx
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAll(rc io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
