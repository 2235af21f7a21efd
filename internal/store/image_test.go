package store

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
)

// TestUncompressedLayer reads layers of each compression, intact and damaged,
// through Image().
func TestUncompressedLayer(t *testing.T) {
	ctx := context.Background()
	tb := tarOf(t, testModule(256<<10)) // several zstd blocks, many bufio fills
	gz, zs := gzipOf(t, tb), zstdOf(t, tb)
	tests := []struct {
		name   string
		blob   []byte
		mt     types.MediaType
		damage func(path string) error // nil: the blob file stays intact
		// want is the uncompressed content when the read succeeds.
		want []byte
		// wantErr: an intact blob that does not decompress; the error wraps
		// wantErr (if set) and is no *CorruptBlobError.
		wantErr bool
		errIs   error
		// corrupt: the read fails with a *CorruptBlobError naming the blob.
		corrupt bool
	}{
		{name: "gzip", blob: gz, mt: types.OCILayer, want: tb},
		{name: "gzip, docker media type", blob: gz, mt: types.DockerLayer, want: tb},
		{name: "gzip, two members", blob: append(gzipOf(t, tb[:1000]), gzipOf(t, tb[1000:])...), mt: types.OCILayer, want: tb},
		{name: "zstd", blob: zs, mt: types.OCILayerZStd, want: tb},
		{name: "zstd, two frames", blob: append(zstdOf(t, tb[:1000]), zstdOf(t, tb[1000:])...), mt: types.OCILayerZStd, want: tb},
		{name: "uncompressed under gzip media type", blob: tb, mt: types.OCILayer, want: tb},
		{name: "uncompressed under zstd media type", blob: tb, mt: types.OCILayerZStd, want: tb},
		{name: "shorter than the magic, gzip media type", blob: []byte{0x1f}, mt: types.OCILayer, want: []byte{0x1f}},
		{name: "empty, gzip media type", blob: []byte{}, mt: types.OCILayer, want: []byte{}},

		{name: "truncated gzip stream", blob: gz[:len(gz)/2], mt: types.OCILayer, wantErr: true, errIs: io.ErrUnexpectedEOF},
		{name: "gzip magic, bad header", blob: []byte("\x1f\x8bnot gzip at all"), mt: types.OCILayer, wantErr: true, errIs: gzip.ErrHeader},
		{name: "truncated zstd stream", blob: zs[:len(zs)/2], mt: types.OCILayerZStd, wantErr: true},

		{name: "gzip, flipped byte", blob: gz, mt: types.OCILayer, damage: flipByte, corrupt: true},
		{name: "gzip, damaged magic", blob: gz, mt: types.OCILayer, damage: flipFirstByte, corrupt: true},
		{name: "gzip, truncated file", blob: gz, mt: types.OCILayer, damage: truncate, corrupt: true},
		{name: "zstd, flipped byte", blob: zs, mt: types.OCILayerZStd, damage: flipByte, corrupt: true},
		{name: "zstd, damaged magic", blob: zs, mt: types.OCILayerZStd, damage: flipFirstByte, corrupt: true},
		{name: "zstd, truncated file", blob: zs, mt: types.OCILayerZStd, damage: truncate, corrupt: true},
		{name: "zstd, extra bytes", blob: zs, mt: types.OCILayerZStd, damage: appendByte, corrupt: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The config records the diff ID of the content the blob should hold.
			diffID := tt.want
			if diffID == nil {
				diffID = tb
			}
			src := layerImage(t, tt.blob, tt.mt, sha256Of(diffID))
			s := openStore(t)
			d, err := s.AddImage(ctx, src, "x:1")
			if err != nil {
				t.Fatal(err)
			}
			ld := sha256Of(tt.blob)
			path := filepath.Join(s.Dir(), "blobs", "sha256", ld.Hex)
			if tt.damage != nil {
				if err := tt.damage(path); err != nil {
					t.Fatal(err)
				}
			}
			img, err := s.Image(ctx, d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			l, err := img.LayerByDigest(ld)
			if err != nil {
				t.Fatal(err)
			}
			if id, err := l.DiffID(); err != nil || id != sha256Of(diffID) {
				t.Errorf("DiffID = %s, %v; want %s", id, err, sha256Of(diffID))
			}
			rc, err := l.Uncompressed()
			var got []byte
			if err == nil {
				got, err = io.ReadAll(rc)
				if cerr := rc.Close(); cerr != nil {
					t.Errorf("Close: %v", cerr)
				}
				if u := rc.(*uncompressedReader); u.cr.f != nil || u.stop != nil {
					t.Error("Close left the blob file open or the decompressor running")
				}
			}

			var cbe *CorruptBlobError
			switch {
			case tt.corrupt:
				if !errors.As(err, &cbe) {
					t.Fatalf("Uncompressed read %d bytes, %v; want a *CorruptBlobError", len(got), err)
				}
				if cbe.Digest != ld || cbe.Path != path || !strings.Contains(err.Error(), ld.String()) {
					t.Errorf("CorruptBlobError names %s at %s (%q), want %s at %s", cbe.Digest, cbe.Path, err, ld, path)
				}
			case tt.wantErr:
				if err == nil || errors.As(err, &cbe) {
					t.Fatalf("Uncompressed read %d bytes, %v; want a decompression error that is no *CorruptBlobError", len(got), err)
				}
				if tt.errIs != nil && !errors.Is(err, tt.errIs) {
					t.Errorf("error %v does not wrap %v", err, tt.errIs)
				}
				if want := fmt.Sprintf("image %s: decompressing layer %s", d.Digest, ld); !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			default:
				if err != nil || !bytes.Equal(got, tt.want) {
					t.Fatalf("Uncompressed read %d bytes, %v; want %d bytes", len(got), err, len(tt.want))
				}
			}
		})
	}
}

// TestUncompressedDiffIDMismatch: a config whose diff ID does not match the
// decompressed content, for each way of decompressing.
func TestUncompressedDiffIDMismatch(t *testing.T) {
	ctx := context.Background()
	tb := tarOf(t, testModule(4<<10))
	wrong := hashOf('d')
	for _, tt := range []struct {
		name string
		blob []byte
		mt   types.MediaType
	}{
		{"gzip", gzipOf(t, tb), types.OCILayer},
		{"zstd", zstdOf(t, tb), types.OCILayerZStd},
		{"uncompressed under gzip media type", tb, types.OCILayer},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := openStore(t)
			d, err := s.AddImage(ctx, layerImage(t, tt.blob, tt.mt, wrong))
			if err != nil {
				t.Fatal(err)
			}
			img, err := s.Image(ctx, d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			l, err := img.LayerByDigest(sha256Of(tt.blob))
			if err != nil {
				t.Fatal(err)
			}
			_, err = readAll(l.Uncompressed())
			var cbe *CorruptBlobError
			if err == nil || errors.As(err, &cbe) || !strings.Contains(err.Error(), "image config records "+wrong.String()) {
				t.Errorf("Uncompressed with wrong diff ID: %v", err)
			}
		})
	}
}

// TestConfigLayer: LayerByDigest of the config digest is the raw config, with
// the manifest's descriptor.
func TestConfigLayer(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		img  v1.Image
	}{
		{"wasm artifact", wasmArtifact(t, wasmModule, "application/wasm", "application/vnd.wasm.config.v0+json")},
		{"docker-style wasm", dockerWasmImage(t, wasmModule)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t)
			d, err := s.AddImage(ctx, tt.img)
			if err != nil {
				t.Fatal(err)
			}
			img, err := s.Image(ctx, d.Digest)
			if err != nil {
				t.Fatal(err)
			}
			m, _ := tt.img.Manifest()
			raw, _ := tt.img.RawConfigFile()
			l, err := img.LayerByDigest(m.Config.Digest)
			if err != nil {
				t.Fatal(err)
			}
			dg, _ := l.Digest()
			diff, _ := l.DiffID()
			size, _ := l.Size()
			mt, _ := l.MediaType()
			if dg != m.Config.Digest || diff != m.Config.Digest || size != m.Config.Size || mt != m.Config.MediaType {
				t.Errorf("config layer is %s (diff ID %s), %d bytes, %q; want %s, %d bytes, %q",
					dg, diff, size, mt, m.Config.Digest, m.Config.Size, m.Config.MediaType)
			}
			for what, open := range map[string]func() (io.ReadCloser, error){"Compressed": l.Compressed, "Uncompressed": l.Uncompressed} {
				if b, err := readAll(open()); err != nil || !bytes.Equal(b, raw) {
					t.Errorf("%s = %q, %v; want %q", what, b, err, raw)
				}
			}
		})
	}
}

// TestConfigFileUnparsable: a config that is no JSON is stored as is; ConfigFile
// fails and names the image.
func TestConfigFileUnparsable(t *testing.T) {
	ctx := context.Background()
	config := []byte("not json")
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[]}`,
		types.OCIManifestSchema1, types.OCIConfigJSON, sha256Of(config), len(config))
	src, err := partial.CompressedToImage(&rawImage{manifest: manifest, config: config})
	if err != nil {
		t.Fatal(err)
	}
	s := openStore(t)
	d, err := s.AddImage(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Image(ctx, d.Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err == nil || !strings.Contains(err.Error(), d.Digest.String()) || !strings.Contains(err.Error(), "parsing config") {
		t.Errorf("ConfigFile = %+v, %v; want a parse error naming the image", cf, err)
	}
}

// layerImage builds an image of one layer, blob, of media type mt, whose config
// records diffID.
func layerImage(t testing.TB, blob []byte, mt types.MediaType, diffID v1.Hash) v1.Image {
	t.Helper()
	config := fmt.Appendf(nil, `{"architecture":"wasm","os":"wasip1","rootfs":{"type":"layers","diff_ids":[%q]}}`, diffID)
	manifest := fmt.Appendf(nil, `{"schemaVersion":2,"mediaType":%q,"config":{"mediaType":%q,"digest":%q,"size":%d},"layers":[{"mediaType":%q,"digest":%q,"size":%d}]}`,
		types.OCIManifestSchema1, types.OCIConfigJSON, sha256Of(config), len(config), mt, sha256Of(blob), len(blob))
	img, err := partial.CompressedToImage(&rawImage{manifest: manifest, config: config, layers: []v1.Layer{static.NewLayer(blob, mt)}})
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testModule returns n bytes, half incompressible, half repetitive.
func testModule(n int) []byte {
	b := make([]byte, n)
	rand.NewChaCha8([32]byte{'b', 'e', 'r', 't', 'h'}).Read(b[:n/2])
	copy(b[n/2:], bytes.Repeat([]byte("wasm module "), n/2/12+1))
	return b
}

func gzipOf(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdOf(t testing.TB, b []byte) []byte {
	t.Helper()
	zw, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer zw.Close()
	return zw.EncodeAll(b, nil)
}

func sha256Of(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: fmt.Sprintf("%x", sum)}
}

func flipFirstByte(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b[0] ^= 0x01
	return os.WriteFile(path, b, 0o644)
}
