package registry

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/image"
)

// Status is the state of one blob in a transfer.
type Status int

// Blob states, in order.
const (
	Waiting Status = iota
	Moving         // downloading or uploading
	Present        // already there: skipped
	Done
)

// Progress is an update on one blob of a pull or push.
type Progress struct {
	Digest v1.Hash
	// What is "layer 1 of 2" or "config".
	What   string
	Status Status
	// Current bytes moved of Total.
	Current, Total int64
}

// Push writes img to ref (its blobs first, those the registry lacks only, then
// the manifest) and returns the manifest's descriptor. progress, when set, is
// called from several goroutines (serialised) as layers upload.
func (c *Client) Push(ctx context.Context, ref name.Reference, img v1.Image, progress func(Progress)) (v1.Descriptor, error) {
	host := ref.Context().RegistryStr()
	if progress != nil {
		var err error
		if img, err = withUploadProgress(img, progress); err != nil {
			return v1.Descriptor{}, classify("push", host, ref.String(), err)
		}
	}
	if err := remote.Write(ref, img, c.options(ctx)...); err != nil {
		return v1.Descriptor{}, classify("push", host, ref.String(), err)
	}
	reportSkipped(img)
	return describe(img)
}

func describe(img v1.Image) (v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := img.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: mt, Digest: d, Size: n}, nil
}

// PushIndex pushes wasm (for platform) and then an OCI index tagged ref that
// lists it beside the platforms of with, an image or index already in a
// registry (built elsewhere, typically for Linux). with's own Wasm entries are
// left out: the index has one Wasm image, wasm. Blobs of with the target
// repository lacks are mounted (same registry) or copied.
func (c *Client) PushIndex(ctx context.Context, ref name.Reference, wasm v1.Image, platform v1.Platform, with name.Reference, progress func(Progress)) (v1.Descriptor, error) {
	host := ref.Context().RegistryStr()
	other, err := remote.Get(with, c.options(ctx)...)
	if err != nil {
		return v1.Descriptor{}, classify("push", with.Context().RegistryStr(), with.String(), err)
	}
	var adds []mutate.IndexAddendum
	if other.MediaType.IsIndex() {
		idx, err := other.ImageIndex()
		if err != nil {
			return v1.Descriptor{}, classify("push", host, with.String(), err)
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return v1.Descriptor{}, classify("push", host, with.String(), err)
		}
		for _, d := range m.Manifests {
			if d.Platform != nil && image.IsWasmPlatform(d.Platform.OS, d.Platform.Architecture) {
				continue
			}
			var a mutate.Appendable
			if d.MediaType.IsIndex() {
				a, err = idx.ImageIndex(d.Digest)
			} else {
				a, err = idx.Image(d.Digest)
			}
			if err != nil {
				return v1.Descriptor{}, classify("push", host, with.String(), err)
			}
			adds = append(adds, mutate.IndexAddendum{Add: a, Descriptor: d})
		}
	} else {
		img, err := other.Image()
		if err != nil {
			return v1.Descriptor{}, classify("push", host, with.String(), err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return v1.Descriptor{}, classify("push", host, with.String(), err)
		}
		if image.IsWasmPlatform(cf.OS, cf.Architecture) {
			return v1.Descriptor{}, fmt.Errorf("push %s: %s is itself a Wasm image (%s/%s): --index-with names the image for the other platforms, for example linux/amd64", ref, with, cf.OS, cf.Architecture)
		}
		d := other.Descriptor
		d.Platform = &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant, OSVersion: cf.OSVersion}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: d})
	}
	if progress != nil {
		if wasm, err = withUploadProgress(wasm, progress); err != nil {
			return v1.Descriptor{}, classify("push", host, ref.String(), err)
		}
	}
	if err := remote.Write(ref.Context().Digest(mustDigest(wasm)), wasm, c.options(ctx)...); err != nil {
		return v1.Descriptor{}, classify("push", host, ref.String(), err)
	}
	reportSkipped(wasm)
	wd, err := describe(wasm)
	if err != nil {
		return v1.Descriptor{}, err
	}
	wd.Platform = &platform
	adds = append([]mutate.IndexAddendum{{Add: wasm, Descriptor: wd}}, adds...)
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	if err := remote.WriteIndex(ref, idx, c.options(ctx)...); err != nil {
		return v1.Descriptor{}, classify("push", host, ref.String(), err)
	}
	d, err := idx.Digest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	n, err := idx.Size()
	if err != nil {
		return v1.Descriptor{}, err
	}
	return v1.Descriptor{MediaType: types.OCIImageIndex, Digest: d, Size: n}, nil
}

func mustDigest(img v1.Image) string {
	d, err := img.Digest()
	if err != nil {
		return "sha256:invalid"
	}
	return d.String()
}

// withUploadProgress returns img whose layers report the bytes read from them
// (that is, uploaded) to progress. Layers ggcr finds in the registry are never
// read: reportSkipped reports them as Present once the push is done.
func withUploadProgress(img v1.Image, progress func(Progress)) (v1.Image, error) {
	m, err := img.Manifest()
	if err != nil {
		return nil, err
	}
	p := &progressImage{Image: img, report: serialise(progress), what: map[v1.Hash]string{}, opened: map[v1.Hash]bool{}, layers: m.Layers}
	for i, l := range m.Layers {
		p.what[l.Digest] = fmt.Sprintf("layer %d of %d", i+1, len(m.Layers))
	}
	return p, nil
}

// reportSkipped reports the layers of a progressImage that were never read.
func reportSkipped(img v1.Image) {
	p, ok := img.(*progressImage)
	if !ok {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.layers {
		if !p.opened[l.Digest] {
			p.report(Progress{Digest: l.Digest, What: p.what[l.Digest], Status: Present, Current: l.Size, Total: l.Size})
		}
	}
}

func serialise(f func(Progress)) func(Progress) {
	var mu sync.Mutex
	return func(p Progress) {
		mu.Lock()
		defer mu.Unlock()
		f(p)
	}
}

// progressImage is an image whose layers count what is read from them.
type progressImage struct {
	v1.Image
	report func(Progress)
	what   map[v1.Hash]string
	layers []v1.Descriptor

	mu     sync.Mutex
	opened map[v1.Hash]bool
}

func (p *progressImage) Layers() ([]v1.Layer, error) {
	ls, err := p.Image.Layers()
	if err != nil {
		return nil, err
	}
	out := make([]v1.Layer, len(ls))
	for i, l := range ls {
		out[i] = p.wrap(l)
	}
	return out, nil
}

func (p *progressImage) LayerByDigest(h v1.Hash) (v1.Layer, error) {
	l, err := p.Image.LayerByDigest(h)
	if err != nil {
		return nil, err
	}
	return p.wrap(l), nil
}

func (p *progressImage) wrap(l v1.Layer) v1.Layer {
	d, err := l.Digest()
	if err != nil {
		return l
	}
	what, ok := p.what[d]
	if !ok {
		return l // the config: not reported
	}
	return &progressLayer{Layer: l, report: p.report, what: what, opened: func() {
		p.mu.Lock()
		p.opened[d] = true
		p.mu.Unlock()
	}}
}

// progressLayer reports the bytes read from its compressed stream.
type progressLayer struct {
	v1.Layer
	report func(Progress)
	what   string
	opened func()
}

func (l *progressLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	l.opened()
	d, _ := l.Digest()
	n, _ := l.Size()
	return &CountingReader{R: rc, Report: func(cur int64, eof bool) {
		st := Moving
		if eof {
			st = Done
		}
		l.report(Progress{Digest: d, What: l.what, Status: st, Current: cur, Total: n})
	}}, nil
}

// CountingReader reports how many bytes were read through it, at most every
// 64 KiB and at EOF.
type CountingReader struct {
	R      io.ReadCloser
	Report func(n int64, eof bool)
	n, at  int64
}

func (c *CountingReader) Read(p []byte) (int, error) {
	n, err := c.R.Read(p)
	c.n += int64(n)
	if err == io.EOF {
		c.Report(c.n, true)
	} else if c.n-c.at >= 64<<10 {
		c.at = c.n
		c.Report(c.n, false)
	}
	return n, err
}

// Close closes the underlying reader.
func (c *CountingReader) Close() error { return c.R.Close() }
