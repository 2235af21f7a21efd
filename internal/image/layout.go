package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"path"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Media types of the Wasm image layouts.
const (
	// MediaTypeWasmConfig is the config of a CNCF Wasm OCI artifact.
	MediaTypeWasmConfig types.MediaType = "application/vnd.wasm.config.v0+json"
	// MediaTypeWasmLayer is the module layer of a CNCF Wasm OCI artifact.
	MediaTypeWasmLayer types.MediaType = "application/wasm"
	// MediaTypeWasmToOCIConfig is the config written by wasm-to-oci.
	MediaTypeWasmToOCIConfig types.MediaType = "application/vnd.wasm.config.v1+json"
	// MediaTypeWasmToOCILayer is the module layer written by wasm-to-oci.
	MediaTypeWasmToOCILayer types.MediaType = "application/vnd.wasm.content.layer.v1+wasm"
)

// Layout tells which of the three Wasm image layouts an image uses.
type Layout int

const (
	// DockerStyle is what `docker buildx --platform wasi/wasm` writes: tar layers holding
	// the module, an image config whose Entrypoint names it.
	DockerStyle Layout = iota + 1
	// WasmArtifact is the CNCF Wasm OCI artifact: one application/wasm layer.
	WasmArtifact
	// WasmToOCI is the older wasm-to-oci layout: one
	// application/vnd.wasm.content.layer.v1+wasm layer.
	WasmToOCI
)

func (l Layout) String() string {
	switch l {
	case DockerStyle:
		return "docker"
	case WasmArtifact:
		return "wasm-artifact"
	case WasmToOCI:
		return "wasm-to-oci"
	}
	return "unknown"
}

var (
	// ErrNoModule is returned (wrapped) for an image that holds no Wasm module.
	ErrNoModule = errors.New("image holds no Wasm module")
	// ErrComponent is returned (wrapped) for a WebAssembly component (WASI preview 2).
	ErrComponent = errors.New("WebAssembly components (WASI preview 2) are not supported")
)

// Config is the part of an image configuration that decides how its container runs.
type Config struct {
	Entrypoint   []string            `json:",omitempty"`
	Cmd          []string            `json:",omitempty"`
	Env          []string            `json:",omitempty"`
	WorkingDir   string              `json:",omitempty"`
	User         string              `json:",omitempty"`
	StopSignal   string              `json:",omitempty"`
	Labels       map[string]string   `json:",omitempty"`
	ExposedPorts map[string]struct{} `json:",omitempty"`
}

// Wasm describes a Wasm image: its layout, platform, configuration and where its module is.
type Wasm struct {
	Layout       Layout
	OS           string
	Architecture string
	Created      time.Time
	Config       Config
	// ModuleLayer is, for the artifact layouts, the digest of the layer whose bytes are
	// the module. Zero for DockerStyle, whose module is a file inside the layers.
	ModuleLayer v1.Hash
	// ModuleName is, for the artifact layouts, the file name the module gets in the
	// container's root: the layer's org.opencontainers.image.title when it is a plain
	// file name, else "module.wasm".
	ModuleName string
}

// ManifestLayout is the layout Inspect gives an image with manifest m, when the image is
// a Wasm image at all: for DockerStyle that takes the config (its platform), which
// ManifestLayout does not read. A pull uses it to start unpacking before the config is
// in.
func ManifestLayout(m *v1.Manifest) Layout {
	for _, l := range m.Layers {
		if l.MediaType == MediaTypeWasmLayer {
			return WasmArtifact
		}
	}
	if m.Config.MediaType == MediaTypeWasmConfig {
		return WasmArtifact
	}
	for _, l := range m.Layers {
		if l.MediaType == MediaTypeWasmToOCILayer {
			return WasmToOCI
		}
	}
	if m.Config.MediaType == MediaTypeWasmToOCIConfig {
		return WasmToOCI
	}
	return DockerStyle
}

// Inspect classifies img as one of the three Wasm layouts and returns what a run needs.
// An image for another platform gets an error (wrapping ErrNotWasm) that names its platform.
func Inspect(img v1.Image) (*Wasm, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, fmt.Errorf("reading image manifest: %w", err)
	}
	var wasmLayer, w2oLayer *v1.Descriptor
	for i := range m.Layers {
		switch m.Layers[i].MediaType {
		case MediaTypeWasmLayer:
			if wasmLayer == nil {
				wasmLayer = &m.Layers[i]
			}
		case MediaTypeWasmToOCILayer:
			if w2oLayer == nil {
				w2oLayer = &m.Layers[i]
			}
		}
	}
	switch {
	case m.Config.MediaType == MediaTypeWasmConfig || wasmLayer != nil:
		return inspectArtifact(img, m, wasmLayer)
	case m.Config.MediaType == MediaTypeWasmToOCIConfig || w2oLayer != nil:
		if w2oLayer == nil {
			return nil, fmt.Errorf("%w: the wasm-to-oci image has no %s layer", ErrNoModule, MediaTypeWasmToOCILayer)
		}
		return &Wasm{Layout: WasmToOCI, OS: "wasi", Architecture: "wasm",
			ModuleLayer: w2oLayer.Digest, ModuleName: moduleName(w2oLayer)}, nil
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading image config: %w", err)
	}
	if !IsWasmPlatform(cf.OS, cf.Architecture) {
		return nil, fmt.Errorf("%w: the image is for %s, not wasi/wasm; berth runs WebAssembly images (build one with --platform wasi/wasm)",
			ErrNotWasm, platformString(cf.OS, cf.Architecture, cf.Variant))
	}
	if len(m.Layers) == 0 {
		return nil, fmt.Errorf("%w: the image has no layers", ErrNoModule)
	}
	return &Wasm{
		Layout:       DockerStyle,
		OS:           cf.OS,
		Architecture: cf.Architecture,
		Created:      cf.Created.Time,
		Config: Config{
			Entrypoint:   cf.Config.Entrypoint,
			Cmd:          cf.Config.Cmd,
			Env:          cf.Config.Env,
			WorkingDir:   cf.Config.WorkingDir,
			User:         cf.Config.User,
			StopSignal:   cf.Config.StopSignal,
			Labels:       cf.Config.Labels,
			ExposedPorts: cf.Config.ExposedPorts,
		},
	}, nil
}

// wasmConfig is the config of a CNCF Wasm OCI artifact.
type wasmConfig struct {
	Created      time.Time       `json:"created"`
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Component    json.RawMessage `json:"component,omitempty"`
}

func inspectArtifact(img v1.Image, m *v1.Manifest, layer *v1.Descriptor) (*Wasm, error) {
	raw, err := img.RawConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading Wasm artifact config: %w", err)
	}
	var c wasmConfig
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("Wasm artifact config %s is not valid JSON: %w", m.Config.Digest, err)
		}
	}
	if c.OS == "wasip2" || (len(c.Component) > 0 && string(c.Component) != "null") {
		return nil, fmt.Errorf("%w: berth runs WASI preview 1 modules", ErrComponent)
	}
	if c.OS != "" && c.Architecture != "" && !IsWasmPlatform(c.OS, c.Architecture) {
		return nil, fmt.Errorf("%w: the Wasm artifact is for %s/%s", ErrNotWasm, c.OS, c.Architecture)
	}
	if layer == nil {
		return nil, fmt.Errorf("%w: the Wasm artifact has no %s layer", ErrNoModule, MediaTypeWasmLayer)
	}
	w := &Wasm{Layout: WasmArtifact, OS: c.OS, Architecture: c.Architecture, Created: c.Created,
		ModuleLayer: layer.Digest, ModuleName: moduleName(layer)}
	if w.OS == "" {
		w.OS = "wasip1"
	}
	if w.Architecture == "" {
		w.Architecture = "wasm"
	}
	return w, nil
}

func moduleName(d *v1.Descriptor) string {
	t := d.Annotations["org.opencontainers.image.title"]
	if t != "" && t == path.Base(t) && t != "." && t != ".." && t != "/" {
		return t
	}
	return "module.wasm"
}
