package archive

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// member is a tar member of a test archive.
type member struct {
	name string
	body []byte
	typ  byte   // tar.TypeReg when zero
	link string // for links
}

func makeTar(t testing.TB, members ...member) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, m := range members {
		typ := m.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		hdr := &tar.Header{Typeflag: typ, Name: m.name, Linkname: m.link, Mode: 0o644, ModTime: time.Unix(0, 0)}
		if typ == tar.TypeReg {
			hdr.Size = int64(len(m.body))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(m.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readTar returns the regular members of a tar, in order.
func readTar(t testing.TB, b []byte) []member {
	t.Helper()
	var out []member
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, member{name: hdr.Name, body: body, typ: hdr.Typeflag, link: hdr.Linkname})
	}
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wasmModule is the smallest valid WebAssembly module.
var wasmModule = []byte("\x00asm\x01\x00\x00\x00")

const wasmConfigType types.MediaType = "application/vnd.wasm.config.v0+json"

// rawConfigImage is an image whose config is given as raw bytes: mutate.ConfigFile would
// re-serialise it through v1.ConfigFile and drop fields such as layerDigests.
type rawConfigImage struct {
	config   []byte
	layers   []v1.Layer
	manifest []byte
}

func newRawConfigImage(t testing.TB, config []byte, configType types.MediaType, layers ...v1.Layer) v1.Image {
	t.Helper()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: configType, Size: int64(len(config)), Digest: v1.Hash{Algorithm: "sha256", Hex: sha(config)}},
		Layers:        []v1.Descriptor{},
	}
	for _, l := range layers {
		d, err := partial.Descriptor(l)
		if err != nil {
			t.Fatal(err)
		}
		m.Layers = append(m.Layers, *d)
	}
	img, err := partial.CompressedToImage(&rawConfigImage{config: config, layers: layers, manifest: mustJSON(t, m)})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func (i *rawConfigImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (i *rawConfigImage) RawManifest() ([]byte, error)        { return i.manifest, nil }
func (i *rawConfigImage) RawConfigFile() ([]byte, error)      { return i.config, nil }
func (i *rawConfigImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.layers {
		if d, _ := l.Digest(); d == h {
			return l, nil
		}
	}
	if h.Hex == sha(i.config) {
		return static.NewLayer(i.config, types.OCIConfigJSON), nil
	}
	return nil, fmt.Errorf("no layer %s", h)
}

// wasmImage returns a CNCF Wasm OCI artifact: config application/vnd.wasm.config.v0+json with
// fields v1.ConfigFile does not know, one application/wasm layer. The image is built with an
// ordinary image config type and then given the Wasm config type with mutate.ConfigMediaType,
// which keeps the raw config bytes of non-image config types.
func wasmImage(t testing.TB) (v1.Image, []byte) {
	t.Helper()
	layer := static.NewLayer(wasmModule, "application/wasm")
	ld, err := layer.Digest()
	if err != nil {
		t.Fatal(err)
	}
	config := fmt.Appendf(nil, `{"architecture":"wasm","os":"wasip1","layerDigests":[%q]}`, ld)
	img := mutate.ConfigMediaType(newRawConfigImage(t, config, types.OCIConfigJSON, layer), wasmConfigType)
	raw, err := img.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, config) {
		t.Fatalf("mutate.ConfigMediaType changed the raw config:\n%s\nwant\n%s", raw, config)
	}
	return img, config
}

func randomImage(t testing.TB, layers int64) v1.Image {
	t.Helper()
	img, err := random.Image(512, layers)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func writeArchive(t testing.TB, entries ...SaveEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, entries); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// readArchive reads b with a fresh tmpDir and closes the archive at the end of the test.
func readArchive(t testing.TB, r io.Reader) (*Archive, error) {
	t.Helper()
	a, err := Read(context.Background(), r, t.TempDir(), Limits{})
	if err == nil {
		t.Cleanup(func() {
			if err := a.Close(); err != nil {
				t.Error(err)
			}
		})
	}
	return a, err
}

func mustDigest(t testing.TB, d interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	h, err := d.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// layerBlobs returns the compressed bytes of the layers of an image.
func layerBlobs(t testing.TB, img v1.Image) [][]byte {
	t.Helper()
	ls, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// sameImage checks that got has the digest, raw config and layer bytes of want.
func sameImage(t testing.TB, got, want v1.Image) {
	t.Helper()
	if g, w := mustDigest(t, got), mustDigest(t, want); g != w {
		t.Fatalf("digest %s, want %s", g, w)
	}
	gc, err := got.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := want.RawConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gc, wc) {
		t.Fatalf("config %s, want %s", gc, wc)
	}
	gl, wl := layerBlobs(t, got), layerBlobs(t, want)
	if len(gl) != len(wl) {
		t.Fatalf("%d layers, want %d", len(gl), len(wl))
	}
	for i := range gl {
		if !bytes.Equal(gl[i], wl[i]) {
			t.Fatalf("layer %d differs", i)
		}
	}
}

// dirEntries lists everything under dir, relative to it.
func dirEntries(t testing.TB, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// tarDir makes a tar of a directory tree (regular files and directories), sorted.
func tarDir(t testing.TB, dir string) []byte {
	t.Helper()
	var members []member
	for _, rel := range dirEntries(t, dir) {
		p := filepath.Join(dir, rel)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.IsDir() {
			members = append(members, member{name: filepath.ToSlash(rel) + "/", typ: tar.TypeDir})
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		members = append(members, member{name: filepath.ToSlash(rel), body: b})
	}
	return makeTar(t, members...)
}

func staticLayer(b []byte) v1.Layer { return static.NewLayer(b, "application/wasm") }

// fakeDigestLayer claims a digest its content does not have.
type fakeDigestLayer struct {
	v1.Layer
	h v1.Hash
}

func (l *fakeDigestLayer) Digest() (v1.Hash, error) { return l.h, nil }

func staticLayerWithDigest(b []byte, h v1.Hash) v1.Layer {
	return &fakeDigestLayer{Layer: staticLayer(b), h: h}
}
