package registry

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/image"
)

// Artifact returns module as a CNCF Wasm OCI artifact
// (https://tag-runtime.cncf.io/wgs/wasm/deliverables/wasm-oci-artifact/): an OCI
// image manifest whose config has media type application/vnd.wasm.config.v0+json
// (created, architecture "wasm", os "wasip1", layerDigests) and whose one layer,
// application/wasm, is the module, titled moduleName.
//
// The manifest carries no artifactType: the layout names its type by the config
// media type, which OCI 1.1 says is the artifact's type when artifactType is
// absent, and which registries without OCI 1.1 artifact support accept.
func Artifact(module []byte, moduleName string, created time.Time) (v1.Image, error) {
	layer := static.NewLayer(module, image.MediaTypeWasmLayer)
	ld, err := layer.Digest()
	if err != nil {
		return nil, err
	}
	cfg := struct {
		Created      time.Time `json:"created"`
		Architecture string    `json:"architecture"`
		OS           string    `json:"os"`
		LayerDigests []string  `json:"layerDigests"`
	}{created.UTC(), "wasm", "wasip1", []string{ld.String()}}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cd, cn, err := v1.SHA256(bytes.NewReader(rawCfg))
	if err != nil {
		return nil, err
	}
	if moduleName == "" {
		moduleName = "module.wasm"
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: image.MediaTypeWasmConfig, Digest: cd, Size: cn},
		Layers: []v1.Descriptor{{MediaType: image.MediaTypeWasmLayer, Digest: ld, Size: int64(len(module)),
			Annotations: map[string]string{"org.opencontainers.image.title": moduleName}}},
	}
	rawManifest, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	img, err := partial.CompressedToImage(&artifactImage{manifest: rawManifest, config: rawCfg, layer: layer, layerDigest: ld})
	if err != nil {
		return nil, fmt.Errorf("making the Wasm artifact: %w", err)
	}
	return img, nil
}

type artifactImage struct {
	manifest, config []byte
	layer            v1.Layer
	layerDigest      v1.Hash
}

func (a *artifactImage) RawConfigFile() ([]byte, error)      { return a.config, nil }
func (a *artifactImage) RawManifest() ([]byte, error)        { return a.manifest, nil }
func (a *artifactImage) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }
func (a *artifactImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	if h == a.layerDigest {
		return a.layer, nil
	}
	if cd, _, err := v1.SHA256(bytes.NewReader(a.config)); err == nil && h == cd {
		return static.NewLayer(a.config, image.MediaTypeWasmConfig), nil
	}
	return nil, fmt.Errorf("the Wasm artifact has no layer %s", h)
}
