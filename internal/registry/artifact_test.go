package registry

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/image"
)

func TestArtifact(t *testing.T) {
	module := []byte("\x00asm\x01\x00\x00\x00")
	img, err := Artifact(module, "app.wasm", time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	w, err := image.Inspect(img)
	if err != nil {
		t.Fatal(err)
	}
	if w.Layout != image.WasmArtifact || w.ModuleName != "app.wasm" || w.OS != "wasip1" || w.Architecture != "wasm" {
		t.Fatalf("Inspect = %+v", w)
	}
	m, _ := img.Manifest()
	raw, _ := img.RawConfigFile()
	if m.Config.MediaType != image.MediaTypeWasmConfig || m.ArtifactType != "" ||
		!strings.Contains(string(raw), `"layerDigests":["`+w.ModuleLayer.String()+`"]`) {
		t.Fatalf("manifest %+v config %s", m, raw)
	}
	l, err := img.LayerByDigest(w.ModuleLayer)
	if err != nil {
		t.Fatal(err)
	}
	rc, _ := l.Compressed()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, module) {
		t.Fatal("the layer is not the module")
	}
	if _, err := img.LayerByDigest(m.Config.Digest); err != nil { // ggcr asks for the config as a layer
		t.Fatal(err)
	}
}
