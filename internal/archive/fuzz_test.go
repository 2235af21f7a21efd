package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func FuzzRead(f *testing.F) {
	img := randomImage(f, 1) // 512 random bytes: keep seeds small, the fuzzer minimises them
	wasm, _ := wasmImage(f)
	oci := writeArchive(f, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: img}, SaveEntry{Image: wasm})
	layer := makeTar(f, member{name: "f", body: []byte("x")})
	cfg := mustJSON(f, map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha(layer)}}})
	id := strings.Repeat("a", 64)
	classic := makeTar(f,
		member{name: "manifest.json", body: mustJSON(f, []dockerItem{{Config: sha(cfg) + ".json", RepoTags: []string{"a:1"}, Layers: []string{id + "/layer.tar"}}})},
		member{name: sha(cfg) + ".json", body: cfg},
		member{name: id + "/layer.tar", body: layer},
		member{name: strings.Repeat("b", 64) + "/layer.tar", typ: tar.TypeSymlink, link: "../" + id + "/layer.tar"},
	)
	f.Add(oci)
	f.Add(classic)
	f.Add(gzipBytes(f, classic))
	f.Add(makeTar(f, member{name: "../evil", body: []byte("x")}, member{name: "index.json", body: []byte(`{"manifests":[{}]}`)}))
	f.Add([]byte{})
	f.Add([]byte("BZh91AY&SY"))

	f.Fuzz(func(t *testing.T, data []byte) {
		parent := t.TempDir()
		tmp := filepath.Join(parent, "tmp")
		if err := os.Mkdir(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		a, err := Read(context.Background(), bytes.NewReader(data), tmp, Limits{MaxBytes: 4 << 20, MaxEntries: 1000})
		if err == nil {
			exercise(t, a.Entries())
			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
		} else if a != nil {
			t.Fatal("Read returned an archive and an error")
		}
		if left := dirEntries(t, parent); len(left) != 1 || left[0] != "tmp" {
			t.Fatalf("files outside tmpDir: %q", left)
		}
		if left := dirEntries(t, tmp); len(left) != 0 {
			t.Fatalf("files left in tmpDir: %q", left)
		}
	})
}

// exercise reads everything the entries offer; errors are fine, panics are not.
func exercise(t *testing.T, entries []Entry) {
	if len(entries) == 0 {
		t.Fatal("Read succeeded with no entries")
	}
	for _, e := range entries {
		if (e.Image == nil) == (e.Index == nil) {
			t.Fatalf("entry with image %v and index %v", e.Image, e.Index)
		}
		if e.Image != nil {
			exerciseImage(e.Image)
		}
		if e.Index != nil {
			m, err := e.Index.IndexManifest()
			if err != nil {
				continue
			}
			for _, d := range m.Manifests {
				if img, err := e.Index.Image(d.Digest); err == nil {
					exerciseImage(img)
				}
				e.Index.ImageIndex(d.Digest)
			}
		}
	}
}

func exerciseImage(img v1.Image) {
	img.Digest()
	img.ConfigFile()
	img.RawConfigFile()
	ls, err := img.Layers()
	if err != nil {
		return
	}
	for _, l := range ls {
		if rc, err := l.Compressed(); err == nil {
			io.Copy(io.Discard, rc)
			rc.Close()
		}
		if rc, err := l.Uncompressed(); err == nil {
			io.Copy(io.Discard, io.LimitReader(rc, 8<<20))
			rc.Close()
		}
	}
}
