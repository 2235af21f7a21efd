package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

func TestRoundTrip(t *testing.T) {
	rnd := randomImage(t, 2)
	rnd2 := randomImage(t, 1)
	wasm, wasmConfig := wasmImage(t)

	tests := []struct {
		name    string
		entries []SaveEntry
		// want lists, per index.json descriptor, the names, ref name and image.
		want []Entry
	}{
		{
			name:    "random image",
			entries: []SaveEntry{{Names: []string{"docker.io/library/hello:1"}, Image: rnd}},
			want:    []Entry{{Names: []string{"docker.io/library/hello:1"}, RefName: "1", Image: rnd}},
		},
		{
			name:    "wasm artifact",
			entries: []SaveEntry{{Names: []string{"ghcr.io/acme/wasm-app:v2"}, Image: wasm}},
			want:    []Entry{{Names: []string{"ghcr.io/acme/wasm-app:v2"}, RefName: "v2", Image: wasm}},
		},
		{
			name: "several images and names, one unnamed",
			entries: []SaveEntry{
				{Names: []string{"docker.io/library/hello:1", "registry.example:5000/team/hello:latest"}, Image: rnd},
				{Names: nil, Image: rnd2},
				{Names: []string{"docker.io/acme/wasm:1"}, Image: wasm},
			},
			want: []Entry{
				{Names: []string{"docker.io/library/hello:1"}, RefName: "1", Image: rnd},
				{Names: []string{"registry.example:5000/team/hello:latest"}, RefName: "latest", Image: rnd},
				{Image: rnd2},
				{Names: []string{"docker.io/acme/wasm:1"}, RefName: "1", Image: wasm},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := writeArchive(t, tt.entries...)
			a, err := readArchive(t, bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			got := a.Entries()
			if len(got) != len(tt.want) {
				t.Fatalf("%d entries, want %d", len(got), len(tt.want))
			}
			for i, w := range tt.want {
				g := got[i]
				if fmt.Sprint(g.Names) != fmt.Sprint(w.Names) || g.RefName != w.RefName {
					t.Errorf("entry %d: names %q ref %q, want %q ref %q", i, g.Names, g.RefName, w.Names, w.RefName)
				}
				if g.Image == nil || g.Index != nil {
					t.Fatalf("entry %d: want an image, got %+v", i, g)
				}
				sameImage(t, g.Image, w.Image)
			}
		})
	}

	t.Run("wasm layer is never gunzipped", func(t *testing.T) {
		a, err := readArchive(t, bytes.NewReader(writeArchive(t, SaveEntry{Names: []string{"docker.io/acme/wasm:1"}, Image: wasm})))
		if err != nil {
			t.Fatal(err)
		}
		img := a.Entries()[0].Image
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.Config.MediaType != wasmConfigType || m.Layers[0].MediaType != "application/wasm" {
			t.Fatalf("media types changed: %s, %s", m.Config.MediaType, m.Layers[0].MediaType)
		}
		cfg, _ := img.RawConfigFile()
		if !bytes.Equal(cfg, wasmConfig) {
			t.Fatalf("raw config %s, want %s", cfg, wasmConfig)
		}
		ls, _ := img.Layers()
		rc, err := ls[0].Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if b, _ := io.ReadAll(rc); !bytes.Equal(b, wasmModule) {
			t.Fatalf("uncompressed wasm layer %x, want %x", b, wasmModule)
		}
	})

	t.Run("random image validates", func(t *testing.T) {
		a, err := readArchive(t, bytes.NewReader(writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd})))
		if err != nil {
			t.Fatal(err)
		}
		if err := validate.Image(a.Entries()[0].Image); err != nil {
			t.Fatal(err)
		}
	})
}

func TestWriteLayout(t *testing.T) {
	rnd := randomImage(t, 2)
	wasm, _ := wasmImage(t)
	entries := []SaveEntry{
		{Names: []string{"docker.io/library/hello:1", "docker.io/library/hello@" + mustDigest(t, rnd).String()}, Image: rnd},
		{Names: []string{"docker.io/acme/wasm:1"}, Image: wasm},
	}
	b := writeArchive(t, entries...)
	if again := writeArchive(t, entries...); !bytes.Equal(b, again) {
		t.Fatal("Write is not deterministic")
	}

	var names []string
	tr := tar.NewReader(bytes.NewReader(b))
	files := map[string][]byte{}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Uid != 0 || hdr.Gid != 0 || hdr.ModTime.Unix() != 0 || hdr.Uname != "" {
			t.Errorf("%s: uid %d gid %d mtime %v uname %q", hdr.Name, hdr.Uid, hdr.Gid, hdr.ModTime, hdr.Uname)
		}
		names = append(names, hdr.Name)
		files[hdr.Name], _ = io.ReadAll(tr)
	}
	if !sortedStrings(names) {
		t.Errorf("members not sorted: %q", names)
	}
	for _, n := range []string{"oci-layout", "index.json", "manifest.json", "blobs/", "blobs/sha256/"} {
		if _, ok := files[n]; !ok {
			t.Errorf("missing member %s", n)
		}
	}

	var idx v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		t.Fatal(err)
	}
	if len(idx.Manifests) != 3 {
		t.Fatalf("index.json has %d manifests, want 3 (one per name)", len(idx.Manifests))
	}
	wantAnn := []map[string]string{
		{annotationImageName: "docker.io/library/hello:1", annotationRefName: "1"},
		{annotationImageName: "docker.io/library/hello@" + mustDigest(t, rnd).String()},
		{annotationImageName: "docker.io/acme/wasm:1", annotationRefName: "1"},
	}
	for i, d := range idx.Manifests {
		if fmt.Sprint(d.Annotations) != fmt.Sprint(wantAnn[i]) {
			t.Errorf("manifests[%d].annotations = %v, want %v", i, d.Annotations, wantAnn[i])
		}
	}
	if p := idx.Manifests[2].Platform; p == nil || p.OS != "wasip1" || p.Architecture != "wasm" {
		t.Errorf("wasm descriptor platform %v, want wasip1/wasm", p)
	}

	var items []dockerItem
	if err := json.Unmarshal(files["manifest.json"], &items); err != nil {
		t.Fatal(err)
	}
	if len(items) != 2 || fmt.Sprint(items[0].RepoTags) != "[hello:1]" || fmt.Sprint(items[1].RepoTags) != "[acme/wasm:1]" {
		t.Fatalf("manifest.json = %+v", items)
	}
	cfg, _ := rnd.ConfigName()
	if items[0].Config != "blobs/sha256/"+cfg.Hex || len(items[0].Layers) != 2 {
		t.Errorf("manifest.json item 0 = %+v", items[0])
	}
	for _, it := range items {
		for _, p := range append([]string{it.Config}, it.Layers...) {
			if _, ok := files[p]; !ok {
				t.Errorf("manifest.json refers to %s, not in the archive", p)
			}
		}
	}
	raw, _ := rnd.RawManifest()
	if !bytes.Equal(files["blobs/sha256/"+mustDigest(t, rnd).Hex], raw) {
		t.Error("raw manifest not written byte for byte")
	}
}

func sortedStrings(s []string) bool {
	for i := 1; i < len(s); i++ {
		if s[i-1] > s[i] {
			return false
		}
	}
	return true
}

func TestWriteErrors(t *testing.T) {
	rnd := randomImage(t, 1)
	rnd2 := randomImage(t, 1)
	// An image whose layer bytes do not match the digest in its manifest.
	good := newRawConfigImage(t, []byte(`{"os":"wasip1","architecture":"wasm"}`), types.OCIConfigJSON, staticLayer(wasmModule))
	lying := &lyingImage{Image: good}

	tests := []struct {
		name    string
		entries []SaveEntry
		want    string
	}{
		{"no entries", nil, "no images to save"},
		{"nil image", []SaveEntry{{Names: []string{"a:1"}}}, "no image"},
		{"bad name", []SaveEntry{{Names: []string{"UPPER/case:1"}, Image: rnd}}, "not a valid image name"},
		{"name for two images", []SaveEntry{{Names: []string{"a:1"}, Image: rnd}, {Names: []string{"a:1"}, Image: rnd2}}, "given to two different images"},
		{"digest name of another image", []SaveEntry{{Names: []string{"a@" + mustDigest(t, rnd2).String()}, Image: rnd}}, "does not match the image digest"},
		{"layer does not match digest", []SaveEntry{{Names: []string{"a:1"}, Image: lying}}, "does not match its digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Write(context.Background(), io.Discard, tt.entries)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Write() = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		err := Write(ctx, io.Discard, []SaveEntry{{Names: []string{"a:1"}, Image: rnd}})
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Write() = %v, want context.Canceled", err)
		}
	})
}

// lyingImage returns other bytes for its layers than its manifest promises.
type lyingImage struct{ v1.Image }

func (l *lyingImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	return staticLayerWithDigest([]byte("\x00asm\x01\x00\x00\x01"), h), nil
}

func TestReadIndex(t *testing.T) {
	wasm, _ := wasmImage(t)
	linux := randomImage(t, 1)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: wasm, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "wasip1", Architecture: "wasm"}}},
		mutate.IndexAddendum{Add: linux, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
	)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{annotationRefName: "1"})); err != nil {
		t.Fatal(err)
	}

	t.Run("complete", func(t *testing.T) {
		a, err := readArchive(t, bytes.NewReader(tarDir(t, dir)))
		if err != nil {
			t.Fatal(err)
		}
		e := a.Entries()
		if len(e) != 1 || e[0].Index == nil || e[0].Image != nil {
			t.Fatalf("entries = %+v, want one index", e)
		}
		if len(e[0].Names) != 0 || e[0].RefName != "1" {
			t.Errorf("names %q ref %q, want none and ref 1", e[0].Names, e[0].RefName)
		}
		if g, w := mustDigest(t, e[0].Index), mustDigest(t, idx); g != w {
			t.Fatalf("index digest %s, want %s", g, w)
		}
		img, err := e[0].Index.Image(mustDigest(t, wasm))
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, wasm)
		d, err := partial.Descriptor(img)
		if err != nil || d.Platform == nil || d.Platform.OS != "wasip1" {
			t.Errorf("child descriptor %+v, %v: want platform wasip1/wasm", d, err)
		}
		img, err = e[0].Index.Image(mustDigest(t, linux))
		if err != nil {
			t.Fatal(err)
		}
		sameImage(t, img, linux)
		if err := validate.Image(img); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("only one platform in the archive", func(t *testing.T) {
		part := t.TempDir()
		if err := os.CopyFS(part, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(filepath.Join(part, "blobs", "sha256", mustDigest(t, linux).Hex)); err != nil {
			t.Fatal(err)
		}
		a, err := readArchive(t, bytes.NewReader(tarDir(t, part)))
		if err != nil {
			t.Fatal(err)
		}
		ix := a.Entries()[0].Index
		if _, err := ix.Image(mustDigest(t, wasm)); err != nil {
			t.Fatal(err)
		}
		_, err = ix.Image(mustDigest(t, linux))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "linux/amd64") {
			t.Fatalf("Image(missing platform) = %v, want fs.ErrNotExist naming the platform", err)
		}
	})
}

func TestReadDockerSave(t *testing.T) {
	layer1 := makeTar(t, member{name: "app.wasm", body: wasmModule})
	layer2 := makeTar(t, member{name: "etc/hello", body: []byte("hello\n")})
	layer2gz := gzipBytes(t, layer2)
	config := func(diffIDs ...[]byte) []byte {
		var ids []string
		for _, d := range diffIDs {
			ids = append(ids, "sha256:"+sha(d))
		}
		return mustJSON(t, map[string]any{
			"os": "wasi", "architecture": "wasm",
			"config": map[string]any{"Entrypoint": []string{"/app.wasm"}},
			"rootfs": map[string]any{"type": "layers", "diff_ids": ids},
		})
	}
	cfgA := config(layer1, layer2)
	cfgB := config(layer1)
	idL1, idL2, idB := strings.Repeat("1", 64), strings.Repeat("2", 64), strings.Repeat("3", 64)
	manifest := mustJSON(t, []dockerItem{
		{Config: sha(cfgA) + ".json", RepoTags: []string{"hello:1", "docker.io/acme/hello:latest"}, Layers: []string{idL1 + "/layer.tar", idL2 + "/layer.tar"}},
		{Config: sha(cfgB) + ".json", RepoTags: nil, Layers: []string{idB + "/layer.tar"}},
	})
	members := []member{
		{name: "./", typ: tar.TypeDir},
		{name: idL1 + "/", typ: tar.TypeDir},
		{name: idL1 + "/VERSION", body: []byte("1.0")},
		{name: idL1 + "/json", body: []byte("{}")},
		{name: idL1 + "/layer.tar", body: layer1},
		{name: idL2 + "/layer.tar", body: layer2gz},
		// docker save links a layer shared by two images.
		{name: idB + "/layer.tar", typ: tar.TypeSymlink, link: "../" + idL1 + "/layer.tar"},
		{name: "./" + sha(cfgA) + ".json", body: cfgA},
		{name: sha(cfgB) + ".json", body: cfgB},
		{name: "manifest.json", body: manifest},
		{name: "repositories", body: []byte(`{"hello":{"1":"` + idL2 + `"}}`)},
	}
	a, err := readArchive(t, bytes.NewReader(makeTar(t, members...)))
	if err != nil {
		t.Fatal(err)
	}
	e := a.Entries()
	if len(e) != 2 {
		t.Fatalf("%d entries, want 2", len(e))
	}
	if fmt.Sprint(e[0].Names) != "[hello:1 docker.io/acme/hello:latest]" || len(e[1].Names) != 0 {
		t.Errorf("names %q and %q", e[0].Names, e[1].Names)
	}
	for i, want := range []struct {
		config []byte
		layers [][]byte
		types  []types.MediaType
	}{
		{cfgA, [][]byte{layer1, layer2gz}, []types.MediaType{types.OCIUncompressedLayer, types.OCILayer}},
		{cfgB, [][]byte{layer1}, []types.MediaType{types.OCIUncompressedLayer}},
	} {
		img := e[i].Image
		if cfg, _ := img.RawConfigFile(); !bytes.Equal(cfg, want.config) {
			t.Errorf("image %d: config %s", i, cfg)
		}
		blobs := layerBlobs(t, img)
		m, _ := img.Manifest()
		for j := range want.layers {
			if !bytes.Equal(blobs[j], want.layers[j]) || m.Layers[j].MediaType != want.types[j] {
				t.Errorf("image %d layer %d: %s, %d bytes", i, j, m.Layers[j].MediaType, len(blobs[j]))
			}
		}
		// validate.Image assumes gzip layers: check the diff IDs and contents here.
		if err := validate.Image(img, validate.Fast); err != nil {
			t.Errorf("image %d: %v", i, err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		ls, _ := img.Layers()
		for j, l := range ls {
			if d, err := l.DiffID(); err != nil || d != cf.RootFS.DiffIDs[j] {
				t.Errorf("image %d layer %d: DiffID %s, %v; want %s", i, j, d, err, cf.RootFS.DiffIDs[j])
			}
			rc, err := l.Uncompressed()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(rc)
			rc.Close()
			if want := [][]byte{layer1, layer2}[j]; !bytes.Equal(b, want) {
				t.Errorf("image %d layer %d: uncompressed content differs", i, j)
			}
			if l2, err := img.LayerByDiffID(cf.RootFS.DiffIDs[j]); err != nil || mustDigest(t, l2) != mustDigest(t, l) {
				t.Errorf("image %d: LayerByDiffID(%s) = %v", i, cf.RootFS.DiffIDs[j], err)
			}
		}
	}

	t.Run("gzip, bytes at a time, from a pipe", func(t *testing.T) {
		gz := gzipBytes(t, makeTar(t, members...))
		pr, pw := io.Pipe()
		go func() { _, err := io.Copy(pw, iotest.HalfReader(bytes.NewReader(gz))); pw.CloseWithError(err) }()
		a, err := readArchive(t, pr)
		if err != nil {
			t.Fatal(err)
		}
		if got := mustDigest(t, a.Entries()[0].Image); got != mustDigest(t, e[0].Image) {
			t.Fatalf("digest from gzip %s, want %s", got, mustDigest(t, e[0].Image))
		}
	})
}

func TestReadDocker25Names(t *testing.T) {
	rnd := randomImage(t, 1)
	b := writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1", "docker.io/library/hello:2"}, Image: rnd})

	// Strip the containerd name from index.json: names then come from manifest.json.
	var members []member
	for _, m := range readTar(t, b) {
		if m.name == "index.json" {
			var idx v1.IndexManifest
			json.Unmarshal(m.body, &idx)
			for i := range idx.Manifests {
				delete(idx.Manifests[i].Annotations, annotationImageName)
			}
			m.body = mustJSON(t, idx)
		}
		members = append(members, m)
	}
	a, err := readArchive(t, bytes.NewReader(makeTar(t, members...)))
	if err != nil {
		t.Fatal(err)
	}
	e := a.Entries()
	if len(e) != 2 || fmt.Sprint(e[0].Names) != "[hello:1]" || fmt.Sprint(e[1].Names) != "[hello:2]" {
		t.Fatalf("entries %+v, want names from manifest.json matched by ref name", e)
	}
}

func TestReadDocker25IncompleteManifest(t *testing.T) {
	// Docker 25.0.0 wrote OCI manifests without their (non-foreign) layers; manifest.json was
	// complete. Read takes the image from manifest.json then.
	rnd := randomImage(t, 2)
	b := writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd})
	m, _ := rnd.Manifest()
	m.Layers = nil
	broken := mustJSON(t, m)
	var members []member
	for _, mem := range readTar(t, b) {
		if mem.name == "index.json" {
			var idx v1.IndexManifest
			json.Unmarshal(mem.body, &idx)
			idx.Manifests[0].Digest = v1.Hash{Algorithm: "sha256", Hex: sha(broken)}
			idx.Manifests[0].Size = int64(len(broken))
			mem.body = mustJSON(t, idx)
		}
		members = append(members, mem)
	}
	members = append(members, member{name: "blobs/sha256/" + sha(broken), body: broken})
	a, err := readArchive(t, bytes.NewReader(makeTar(t, members...)))
	if err != nil {
		t.Fatal(err)
	}
	img := a.Entries()[0].Image
	if ls, _ := img.Layers(); len(ls) != 2 {
		t.Fatalf("%d layers, want 2 from manifest.json", len(ls))
	}
	if err := validate.Image(img); err != nil {
		t.Fatal(err)
	}
}

func TestReadErrors(t *testing.T) {
	rnd := randomImage(t, 1)
	good := writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd})
	goodMembers := readTar(t, good)
	layerDigest := mustDigest(t, must(rnd.Layers())[0])
	with := func(extra ...member) []byte {
		return makeTar(t, append(append([]member{}, goodMembers...), extra...)...)
	}
	without := func(name string) []byte {
		var ms []member
		for _, m := range goodMembers {
			if m.name != name {
				ms = append(ms, m)
			}
		}
		return makeTar(t, ms...)
	}
	layer := makeTar(t, member{name: "f", body: []byte("x")})
	cfg := mustJSON(t, map[string]any{"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + sha(layer)}}})
	dockerOnly := func(layerName string, layerMembers ...member) []byte {
		ms := []member{
			{name: "manifest.json", body: mustJSON(t, []dockerItem{{Config: sha(cfg) + ".json", RepoTags: []string{"a:1"}, Layers: []string{layerName}}})},
			{name: sha(cfg) + ".json", body: cfg},
		}
		return makeTar(t, append(ms, layerMembers...)...)
	}
	hexA := strings.Repeat("a", 64)

	tests := []struct {
		name  string
		input []byte
		kind  error
		want  string
	}{
		{"empty", nil, ErrFormat, "archive is empty"},
		{"not a tar", bytes.Repeat([]byte("not a tar "), 100), ErrFormat, "not a tar file"},
		{"zstd", []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0}, ErrFormat, "zstd -d"},
		{"tar without image", makeTar(t, member{name: "hello.txt", body: []byte("hi")}), ErrFormat, "neither index.json nor manifest.json"},
		{"layout in a directory", makeTar(t, member{name: "hello/index.json", body: []byte("{}")}), ErrFormat, "tar of the directory hello/"},
		{"blob digest mismatch", with(member{name: "blobs/sha256/" + hexA, body: []byte("not a")}), ErrCorrupt, "blobs/sha256/" + hexA + ": digest mismatch (archive is corrupt or truncated)"},
		{"config json mismatch", with(member{name: hexA + ".json", body: []byte("{}")}), ErrCorrupt, hexA + ".json: digest mismatch"},
		{"missing layer blob", without("blobs/sha256/" + layerDigest.Hex), ErrCorrupt, "layer blobs/sha256/" + layerDigest.Hex + " is missing from the archive"},
		{"missing manifest blob", without("blobs/sha256/" + mustDigest(t, rnd).Hex), ErrCorrupt, "index.json: manifests[0]: blobs/sha256/" + mustDigest(t, rnd).Hex + " is missing from the archive"},
		{"bad index.json", with(member{name: "index.json", body: []byte("{")}), ErrCorrupt, "index.json: does not parse"},
		{"docker layer missing", dockerOnly(hexA + "/layer.tar"), ErrCorrupt, `manifest.json: layer "` + hexA + `/layer.tar" is missing from the archive`},
		{"docker layer not a name berth reads", dockerOnly("layers/x.tar", member{name: "layers/x.tar", body: layer}), ErrCorrupt, "is not a member berth reads"},
		{"docker layer diff_id mismatch", dockerOnly(hexA+"/layer.tar", member{name: hexA + "/layer.tar", body: makeTar(t)}), ErrCorrupt, "does not match diff_id"},
		{"docker layer dangling link", dockerOnly(hexA+"/layer.tar", member{name: hexA + "/layer.tar", typ: tar.TypeSymlink, link: "nothing.tar"}), ErrCorrupt, "which is not a file in the archive"},
		{"link with a digest name to other content", with(member{name: "blobs/sha256/" + hexA, typ: tar.TypeLink, link: "blobs/sha256/" + layerDigest.Hex}), ErrCorrupt, "digest mismatch"},
		{"docker diff_ids count", makeTar(t,
			member{name: "manifest.json", body: mustJSON(t, []dockerItem{{Config: sha(cfg) + ".json", Layers: nil}})},
			member{name: sha(cfg) + ".json", body: cfg}), ErrCorrupt, "lists 0 layers but its config"},
		{"index.json is a link", makeTar(t, member{name: "index.json", typ: tar.TypeSymlink, link: "x"}), ErrCorrupt, "index.json: is a link"},
		{"index.json is a fifo", makeTar(t, member{name: "index.json", typ: tar.TypeFifo}), ErrCorrupt, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmp := t.TempDir()
			a, err := Read(context.Background(), bytes.NewReader(tt.input), tmp, Limits{})
			if err == nil {
				a.Close()
				t.Fatal("Read() succeeded, want an error")
			}
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Read() = %v, want %v containing %q", err, tt.kind, tt.want)
			}
			if left := dirEntries(t, tmp); len(left) != 0 {
				t.Fatalf("Read left %q in tmpDir after failing", left)
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestReadTruncated(t *testing.T) {
	rnd := randomImage(t, 1)
	b := writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd})
	gz := gzipBytes(t, b)

	// Cut at every block boundary (member boundaries included) and in the middle of blocks.
	var cuts []int
	for n := 1; n < len(b); n += 256 {
		cuts = append(cuts, n-1)
	}
	cuts = append(cuts, len(b)-512, len(b)-1024, len(b)-1)
	for _, n := range cuts {
		_, err := Read(context.Background(), bytes.NewReader(b[:n]), t.TempDir(), Limits{})
		if n == 0 {
			if !errors.Is(err, ErrFormat) {
				t.Fatalf("cut at 0: %v, want ErrFormat", err)
			}
			continue
		}
		if !errors.Is(err, ErrCorrupt) || err.Error() != "archive is truncated" {
			t.Fatalf("cut at %d of %d: Read() = %v, want \"archive is truncated\"", n, len(b), err)
		}
	}
	for _, n := range []int{10, len(gz) / 2, len(gz) - 8, len(gz) - 1} {
		_, err := Read(context.Background(), bytes.NewReader(gz[:n]), t.TempDir(), Limits{})
		if !errors.Is(err, ErrCorrupt) || err.Error() != "archive is truncated" {
			t.Fatalf("gzip cut at %d of %d: Read() = %v, want \"archive is truncated\"", n, len(gz), err)
		}
	}
	// Zero padding after the gzip stream is accepted.
	if a, err := Read(context.Background(), bytes.NewReader(append(bytes.Clone(gz), make([]byte, 512)...)), t.TempDir(), Limits{}); err != nil {
		t.Fatalf("gzip with trailing zeros: %v", err)
	} else {
		a.Close()
	}
	// A damaged gzip checksum is corruption too.
	bad := bytes.Clone(gz)
	bad[len(bad)-6] ^= 0xff
	if _, err := Read(context.Background(), bytes.NewReader(bad), t.TempDir(), Limits{}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("bad gzip checksum: Read() = %v, want ErrCorrupt", err)
	}
}

func TestReadUnsafeNames(t *testing.T) {
	rnd := randomImage(t, 1)
	good := readTar(t, writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd}))
	parent := t.TempDir()
	tmp := filepath.Join(parent, "tmp")
	if err := os.Mkdir(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		extra  member
		wantOK bool
	}{
		{"dotdot", member{name: "../evil", body: []byte("evil")}, false},
		{"dotdot deep", member{name: "blobs/../../evil", body: []byte("evil")}, false},
		{"absolute", member{name: filepath.Join(parent, "abs"), body: []byte("evil")}, false},
		{"dotdot backslash", member{name: `..\evil`, body: []byte("evil")}, false},
		{"symlink out", member{name: strings.Repeat("b", 64) + "/layer.tar", typ: tar.TypeSymlink, link: "../../evil"}, false},
		{"symlink absolute", member{name: strings.Repeat("b", 64) + "/layer.tar", typ: tar.TypeSymlink, link: "/etc/passwd"}, false},
		{"hardlink out", member{name: strings.Repeat("b", 64) + "/layer.tar", typ: tar.TypeLink, link: "../evil"}, false},
		{"ignored symlink", member{name: "evil", typ: tar.TypeSymlink, link: "/etc"}, true},
		{"ignored odd name", member{name: "blobs/sha256/NOTHEX", body: []byte("x")}, true},
		{"ignored device", member{name: "dev/null", typ: tar.TypeChar}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The unsafe member comes first, before anything else of the archive.
			b := makeTar(t, append([]member{tt.extra}, good...)...)
			a, err := Read(context.Background(), bytes.NewReader(b), tmp, Limits{})
			if tt.wantOK {
				if err != nil {
					t.Fatal(err)
				}
				if len(a.Entries()) != 1 {
					t.Fatalf("%d entries", len(a.Entries()))
				}
				if err := a.Close(); err != nil {
					t.Fatal(err)
				}
			} else if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "unsafe archive") {
				t.Fatalf("Read() = %v, want an unsafe archive error", err)
			}
			if got := dirEntries(t, parent); len(got) != 1 || got[0] != "tmp" {
				t.Fatalf("files outside tmpDir after Read: %q", got)
			}
			if left := dirEntries(t, tmp); len(left) != 0 {
				t.Fatalf("Read left %q in tmpDir", left)
			}
			if _, err := os.Lstat("/evil"); err == nil {
				t.Fatal("/evil exists")
			}
		})
	}
}

func TestReadLimits(t *testing.T) {
	rnd := randomImage(t, 2)
	b := writeArchive(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd})
	members := len(readTar(t, b))
	var total int64
	for _, m := range readTar(t, b) {
		total += int64(len(m.body))
	}
	bomb := gzipBytes(t, makeTar(t, member{name: "zeros", body: make([]byte, 4<<20)}))
	tests := []struct {
		name  string
		input []byte
		lim   Limits
		ok    bool
	}{
		{"exact limits", b, Limits{MaxBytes: total, MaxEntries: members}, true},
		{"one member too many", b, Limits{MaxEntries: members - 1}, false},
		{"one byte too many", b, Limits{MaxBytes: total - 1}, false},
		{"gzip bomb", bomb, Limits{MaxBytes: 1 << 20}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := Read(context.Background(), bytes.NewReader(tt.input), t.TempDir(), tt.lim)
			if tt.ok {
				if err != nil {
					t.Fatal(err)
				}
				a.Close()
				return
			}
			if !errors.Is(err, ErrLimit) {
				t.Fatalf("Read() = %v, want ErrLimit", err)
			}
		})
	}
	if d := DefaultLimits(); d.MaxBytes != 8<<30 || d.MaxEntries != 100000 {
		t.Errorf("DefaultLimits() = %+v", d)
	}
}

func TestArchiveClose(t *testing.T) {
	rnd := randomImage(t, 1)
	tmp := t.TempDir()
	a, err := Read(context.Background(), bytes.NewReader(writeArchive(t, SaveEntry{Names: []string{"a:1"}, Image: rnd})), tmp, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if len(dirEntries(t, tmp)) == 0 {
		t.Fatal("no temporary copy while open")
	}
	img := a.Entries()[0].Image
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Fatalf("Close left %q", left)
	}
	if _, err := img.RawConfigFile(); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("RawConfigFile after Close = %v, want an error saying the archive is closed", err)
	}
}

func TestReadCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b := writeArchive(t, SaveEntry{Names: []string{"a:1"}, Image: randomImage(t, 1)})
	tmp := t.TempDir()
	if _, err := Read(ctx, bytes.NewReader(b), tmp, Limits{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Read() = %v, want context.Canceled", err)
	}
	if left := dirEntries(t, tmp); len(left) != 0 {
		t.Fatalf("Read left %q", left)
	}
}
