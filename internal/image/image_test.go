package image

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func strp(s string) *string { return &s }

func TestProcess(t *testing.T) {
	img := Config{Entrypoint: []string{"/app.wasm"}, Cmd: []string{"serve"}, Env: []string{"A=1", "B=2"}, WorkingDir: "/srv"}
	exists := func(p string) bool { return p == "/hello.wasm" || p == "/srv/app.wasm" }
	tests := []struct {
		name string
		cfg  Config
		o    Overrides
		want Process
		err  error
	}{
		{name: "image defaults", cfg: img,
			want: Process{Args: []string{"/app.wasm", "serve"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv"}},
		{name: "args replace cmd", cfg: img, o: Overrides{Args: []string{"x", "y"}},
			want: Process{Args: []string{"/app.wasm", "x", "y"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv"}},
		{name: "entrypoint drops image cmd", cfg: img, o: Overrides{Entrypoint: strp("/other.wasm")},
			want: Process{Args: []string{"/other.wasm"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv"}},
		{name: "entrypoint plus args", cfg: img, o: Overrides{Entrypoint: strp("/other.wasm"), Args: []string{"a"}},
			want: Process{Args: []string{"/other.wasm", "a"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv"}},
		{name: "empty entrypoint resets, args become command", cfg: img, o: Overrides{Entrypoint: strp(""), Args: []string{"/hello.wasm"}},
			want: Process{Args: []string{"/hello.wasm"}, Env: []string{"A=1", "B=2"}, Cwd: "/srv"}},
		{name: "cmd only image", cfg: Config{Cmd: []string{"/hello.wasm", "a"}},
			want: Process{Args: []string{"/hello.wasm", "a"}, Cwd: "/"}},
		{name: "env override in place and append", cfg: img, o: Overrides{Env: []string{"B=3", "C=4"}},
			want: Process{Args: []string{"/app.wasm", "serve"}, Env: []string{"A=1", "B=3", "C=4"}, Cwd: "/srv"}},
		{name: "workdir flag", cfg: img, o: Overrides{WorkingDir: "/tmp/"},
			want: Process{Args: []string{"/app.wasm", "serve"}, Env: []string{"A=1", "B=2"}, Cwd: "/tmp"}},
		{name: "relative entrypoint in workdir", cfg: Config{Entrypoint: []string{"app.wasm"}, WorkingDir: "/srv"},
			want: Process{Args: []string{"/srv/app.wasm"}, Cwd: "/srv"}},
		{name: "relative entrypoint falls back to root", cfg: Config{Entrypoint: []string{"hello.wasm"}, WorkingDir: "/srv"},
			want: Process{Args: []string{"/hello.wasm"}, Cwd: "/srv"}},
		{name: "nothing to run", cfg: Config{}, err: ErrNoCommand},
		{name: "relative workdir refused", cfg: img, o: Overrides{WorkingDir: "rel"}, err: errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.cfg.Process(tt.o, exists)
			if tt.err != nil {
				if err == nil || (tt.err != errAny && !errors.Is(err, tt.err)) {
					t.Fatalf("err = %v, want %v", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v\nwant %+v", got, tt.want)
			}
		})
	}
	// The image's slices are not modified.
	if img.Env[1] != "B=2" || len(img.Cmd) != 1 {
		t.Fatal("Process modified the image config")
	}
}

var errAny = errors.New("any error")

func dockerStyle(t *testing.T, os, arch string) v1.Image {
	t.Helper()
	img, err := random.Image(100, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = os, arch
	cf.Config.Entrypoint = []string{"/hello.wasm"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func artifact(t *testing.T, layerType, configType types.MediaType, config string) v1.Image {
	t.Helper()
	l := static.NewLayer([]byte("\x00asm\x01\x00\x00\x00"), layerType)
	img, err := mutate.Append(empty.Image, mutate.Addendum{Layer: l, Annotations: map[string]string{"org.opencontainers.image.title": "app.wasm"}})
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, configType)
	return &rawConfigImage{Image: img, raw: []byte(config)}
}

// rawConfigImage replaces the config blob with raw bytes (Wasm artifacts have no Docker config).
type rawConfigImage struct {
	v1.Image
	raw []byte
}

func (r *rawConfigImage) RawConfigFile() ([]byte, error) { return r.raw, nil }

func TestInspect(t *testing.T) {
	tests := []struct {
		name   string
		img    v1.Image
		layout Layout
		err    error
		msg    string
	}{
		{name: "docker wasi/wasm", img: dockerStyle(t, "wasi", "wasm"), layout: DockerStyle},
		{name: "docker wasip1/wasm32", img: dockerStyle(t, "wasip1", "wasm32"), layout: DockerStyle},
		{name: "linux image", img: dockerStyle(t, "linux", "amd64"), err: ErrNotWasm, msg: "linux/amd64"},
		{name: "cncf artifact", img: artifact(t, MediaTypeWasmLayer, MediaTypeWasmConfig, `{"architecture":"wasm","os":"wasip1","layerDigests":[]}`), layout: WasmArtifact},
		{name: "cncf component", img: artifact(t, MediaTypeWasmLayer, MediaTypeWasmConfig, `{"architecture":"wasm","os":"wasip2","component":{"exports":[]}}`), err: ErrComponent},
		{name: "wasm-to-oci", img: artifact(t, MediaTypeWasmToOCILayer, MediaTypeWasmToOCIConfig, `{}`), layout: WasmToOCI},
		{name: "artifact config without layer", img: artifact(t, "application/octet-stream", MediaTypeWasmConfig, `{}`), err: ErrNoModule},
		{name: "artifact bad config", img: artifact(t, MediaTypeWasmLayer, MediaTypeWasmConfig, `{`), err: errAny, msg: "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := Inspect(tt.img)
			if tt.err != nil {
				if err == nil || (tt.err != errAny && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %v containing %q", err, tt.err, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Layout != tt.layout {
				t.Fatalf("layout %v, want %v", w.Layout, tt.layout)
			}
			if m, _ := tt.img.Manifest(); ManifestLayout(m) != w.Layout {
				t.Fatalf("ManifestLayout %v, Inspect %v", ManifestLayout(m), w.Layout)
			}
			if w.Layout != DockerStyle && (w.ModuleName != "app.wasm" || w.ModuleLayer.Hex == "") {
				t.Fatalf("module %q %v", w.ModuleName, w.ModuleLayer)
			}
			if w.Layout == DockerStyle && w.Config.Entrypoint[0] != "/hello.wasm" {
				t.Fatalf("config %+v", w.Config)
			}
		})
	}
}

func index(t *testing.T, imgs map[string]v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for p, img := range imgs {
		os, arch, _ := strings.Cut(p, "/")
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: os, Architecture: arch}}})
	}
	return mutate.AppendManifests(empty.Index, adds...)
}

func TestSelectFromIndex(t *testing.T) {
	wasm := dockerStyle(t, "wasi", "wasm")
	linux := dockerStyle(t, "linux", "amd64")
	arm := dockerStyle(t, "linux", "arm64")
	got, err := SelectFromIndex(index(t, map[string]v1.Image{"linux/amd64": linux, "wasi/wasm": wasm}))
	if err != nil {
		t.Fatal(err)
	}
	wd, _ := wasm.Digest()
	gd, _ := got.Digest()
	if wd != gd {
		t.Fatalf("picked %v, want the wasi/wasm image %v", gd, wd)
	}
	_, err = SelectFromIndex(index(t, map[string]v1.Image{"linux/amd64": linux, "linux/arm64": arm}))
	if !errors.Is(err, ErrNotWasm) || !strings.Contains(err.Error(), "linux/amd64, linux/arm64") {
		t.Fatalf("err = %v, want ErrNotWasm listing the platforms", err)
	}
	// Nested index.
	nested := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: index(t, map[string]v1.Image{"wasip1/wasm32": wasm})})
	if _, err := SelectFromIndex(nested); err != nil {
		t.Fatal(err)
	}
}

func TestMergeEnv(t *testing.T) {
	got := MergeEnv([]string{"A=1", "B=2", "A2"}, []string{"A=x", "A2=y", "C="})
	want := []string{"A=x", "B=2", "A2=y", "C="}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}
