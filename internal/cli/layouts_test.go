package cli_test

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/testguest"
)

// ociTar writes an OCI image layout holding what add puts in it and returns it as a tar file.
func ociTar(t *testing.T, add func(p layout.Path)) string {
	t.Helper()
	dir := t.TempDir()
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	add(p)
	out := filepath.Join(t.TempDir(), "img.tar")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		fi, _ := d.Info()
		h, _ := tar.FileInfoHeader(fi, "")
		h.Name = filepath.ToSlash(rel)
		if d.IsDir() {
			h.Name += "/"
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if d.Type().IsRegular() {
			src, _ := os.Open(path)
			defer src.Close()
			_, err = io.Copy(tw, src)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// rawConfig replaces an image's config blob with raw bytes, as Wasm artifacts carry.
type rawConfig struct {
	v1.Image
	raw []byte
}

func (r *rawConfig) RawConfigFile() ([]byte, error) { return r.raw, nil }
func (r *rawConfig) ConfigName() (v1.Hash, error) {
	h, _, err := v1.SHA256(strings.NewReader(string(r.raw)))
	return h, err
}
func (r *rawConfig) Manifest() (*v1.Manifest, error) {
	m, err := r.Image.Manifest()
	if err != nil {
		return nil, err
	}
	m = m.DeepCopy()
	h, _ := r.ConfigName()
	m.Config.Digest, m.Config.Size = h, int64(len(r.raw))
	return m, nil
}
func (r *rawConfig) RawManifest() ([]byte, error) {
	m, err := r.Manifest()
	if err != nil {
		return nil, err
	}
	return jsonMarshal(m)
}
func (r *rawConfig) Digest() (v1.Hash, error) {
	b, err := r.RawManifest()
	if err != nil {
		return v1.Hash{}, err
	}
	h, _, err := v1.SHA256(strings.NewReader(string(b)))
	return h, err
}

func artifactImage(t *testing.T, wasm []byte, layerType, configType types.MediaType, config string) v1.Image {
	t.Helper()
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(wasm, layerType),
		Annotations: map[string]string{"org.opencontainers.image.title": "app.wasm"}})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), configType)
	return &rawConfig{Image: img, raw: []byte(config)}
}

func TestLoadWasmLayouts(t *testing.T) {
	e := newEnv(t)
	wasm := testguest.Read(t, testguest.C(t, testguest.CHello))
	named := func(n string) layout.Option {
		return layout.WithAnnotations(map[string]string{"io.containerd.image.name": n})
	}
	cases := []struct {
		name string
		img  v1.Image
	}{
		{"docker.io/library/cncf:1", artifactImage(t, wasm, "application/wasm", "application/vnd.wasm.config.v0+json",
			`{"created":"2024-01-02T03:04:05Z","architecture":"wasm","os":"wasip1","layerDigests":[]}`)},
		{"docker.io/library/w2o:1", artifactImage(t, wasm, "application/vnd.wasm.content.layer.v1+wasm", "application/vnd.wasm.config.v1+json", `{}`)},
	}
	for _, c := range cases {
		tarPath := ociTar(t, func(p layout.Path) {
			if err := p.AppendImage(c.img, named(c.name)); err != nil {
				t.Fatal(err)
			}
		})
		short := strings.TrimPrefix(c.name, "docker.io/library/")
		if out := e.ok("load", "-i", tarPath); !strings.Contains(out, "Loaded image: "+short) {
			t.Fatalf("load %s: %q", c.name, out)
		}
		if out := e.ok("run", "--rm", short); out != "hello from c\n" {
			t.Fatalf("run %s: %q", short, out)
		}
	}

	// A multi-platform index: berth picks wasi/wasm beside linux/amd64.
	linux, _ := random.Image(64, 1)
	wasmImg := dockerWasmImage(t, wasm)
	idx := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: linux, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: wasmImg, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "wasi", Architecture: "wasm"}}})
	tarPath := ociTar(t, func(p layout.Path) {
		if err := p.AppendIndex(idx, named("docker.io/library/multi:1")); err != nil {
			t.Fatal(err)
		}
	})
	e.ok("load", "-i", tarPath)
	if out := e.ok("run", "--rm", "multi:1"); out != "hello from c\n" {
		t.Fatalf("run multi: %q", out)
	}

	// A Linux-only index gets an error naming its platforms, and loads nothing.
	before := e.ok("images", "-q")
	linuxOnly := mutate.AppendManifests(empty.Index,
		mutate.IndexAddendum{Add: linux, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}})
	tarPath = ociTar(t, func(p layout.Path) {
		if err := p.AppendIndex(linuxOnly, named("docker.io/library/linux:1")); err != nil {
			t.Fatal(err)
		}
	})
	_, errs, code := e.berth("", "load", "-i", tarPath)
	if code == 0 || !strings.Contains(errs, "linux/amd64") || !strings.Contains(errs, "wasi/wasm") {
		t.Fatalf("linux-only load: exit %d %q", code, errs)
	}
	if after := e.ok("images", "-q"); after != before {
		t.Fatalf("a refused load changed the store: %q -> %q", before, after)
	}
	// An image whose Entrypoint names no module in it is refused at load.
	bad := dockerWasmImage(t, wasm)
	cf, _ := bad.ConfigFile()
	cf = cf.DeepCopy()
	cf.Config.Entrypoint = []string{"/missing.wasm"}
	bad, _ = mutate.ConfigFile(bad, cf)
	tarPath = ociTar(t, func(p layout.Path) { p.AppendImage(bad, named("docker.io/library/bad:1")) })
	if _, errs, code := e.berth("", "load", "-i", tarPath); code == 0 || !strings.Contains(errs, "/missing.wasm") {
		t.Fatalf("load of an image without its module: exit %d %q", code, errs)
	}
	// A malformed module is refused at load, naming it.
	tarPath = ociTar(t, func(p layout.Path) {
		p.AppendImage(dockerWasmImage(t, []byte("\x00asm junk")), named("docker.io/library/junk:1"))
	})
	if _, errs, code := e.berth("", "load", "-i", tarPath); code == 0 || !strings.Contains(errs, "WebAssembly") {
		t.Fatalf("load of a malformed module: exit %d %q", code, errs)
	}
}

// dockerWasmImage is a Docker-style wasi/wasm image with the module at /hello.wasm.
func dockerWasmImage(t *testing.T, wasm []byte) v1.Image {
	t.Helper()
	layer := static.NewLayer(tarBytes(t, "hello.wasm", wasm), types.OCIUncompressedLayer)
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: layer})
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "wasi", "wasm"
	cf.Config.Entrypoint = []string{"hello.wasm"}
	img, err = mutate.ConfigFile(mutate.MediaType(img, types.OCIManifestSchema1), cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func tarBytes(t *testing.T, name string, b []byte) []byte {
	var sb strings.Builder
	tw := tar.NewWriter(&sb)
	tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), Typeflag: tar.TypeReg})
	tw.Write(b)
	tw.Close()
	return []byte(sb.String())
}

// A full disk during load leaves no half-written image and a usable root.
func TestLoadFullDisk(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("mounting a small tmpfs needs root")
	}
	e := newEnv(t)
	if err := unix.Mount("tmpfs", e.root, "tmpfs", 0, "size=3m"); err != nil {
		t.Skipf("cannot mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(e.root, unix.MNT_DETACH) })
	big := testguest.Go(t, testguest.GoHello) // ~2.5 MB: module + snapshot + blob do not fit in 3 MB
	tarPath := ociTar(t, func(p layout.Path) {
		p.AppendImage(dockerWasmImage(t, testguest.Read(t, big)), layout.WithAnnotations(map[string]string{"io.containerd.image.name": "docker.io/library/big:1"}))
	})
	_, errs, code := e.berth("", "load", "-i", tarPath)
	if code == 0 || !strings.Contains(errs, "no space left") {
		t.Fatalf("load onto a full disk: exit %d %q", code, errs)
	}
	if out := e.ok("images", "-q"); out != "" {
		t.Fatalf("a failed load left an image: %q", out)
	}
	snaps, _ := os.ReadDir(filepath.Join(e.root, "snapshots"))
	for _, s := range snaps {
		if s.IsDir() {
			t.Fatalf("a failed load left a snapshot: %s", s.Name())
		}
	}
	tmp, _ := os.ReadDir(filepath.Join(e.root, "tmp"))
	if len(tmp) != 0 {
		t.Fatalf("a failed load left temp files: %v", tmp)
	}
	// The root still works.
	small := testguest.C(t, testguest.CHello)
	e.buildImage("small:1", small, "FROM scratch\nCOPY app.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n", nil)
	if out := e.ok("run", "--rm", "small:1"); out != "hello from c\n" {
		t.Fatalf("run after the full disk: %q", out)
	}
}

func (r *rawConfig) Size() (int64, error) {
	b, err := r.RawManifest()
	return int64(len(b)), err
}
