package service_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registrytest"
	"github.com/berth-dev/berth/internal/service"
	"github.com/berth-dev/berth/internal/testguest"
)

// fast retries, so that tests of failures do not wait seconds.
var fastRetry = registry.RetryPolicy{Attempts: 4, Base: time.Millisecond, Max: 20 * time.Millisecond}

func openService(t *testing.T, root string) *service.Service {
	t.Helper()
	s, err := service.Open(t.Context(), root, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

var (
	helloOnce sync.Once
	helloWasm []byte
)

func hello(t *testing.T) []byte {
	helloOnce.Do(func() { helloWasm = testguest.Read(t, testguest.C(t, testguest.CHello)) })
	if helloWasm == nil {
		t.Fatal("no hello guest")
	}
	return helloWasm
}

// runImage runs ref in s and returns its stdout.
func runImage(t *testing.T, s *service.Service, ref string) string {
	t.Helper()
	var out, errb bytes.Buffer
	_, code, err := s.Run(t.Context(), service.RunOptions{Image: ref, Remove: true, Stdout: &out, Stderr: &errb})
	if err != nil || code != 0 {
		t.Fatalf("run %s: code %d, %v, stderr %s", ref, code, err, errb.String())
	}
	return out.String()
}

// buildHello builds the hello guest as a Docker-style image named ref in s.
func buildHello(t *testing.T, s *service.Service, ref string) v1.Hash {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.wasm"), hello(t), 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"), 0o644)
	l, err := s.Build(t.Context(), build.Options{Context: dir}, []string{ref})
	if err != nil {
		t.Fatal(err)
	}
	return l.Digest
}

func tarLayer(t *testing.T, files map[string][]byte) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for n, data := range files {
		tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()
	// From memory: tarball.LayerFromReader buffers into a temp file it never removes.
	raw := b.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// dockerWasm is a Docker-style wasi/wasm image with the module at /app.wasm in its last
// layer, after extra layers of the given sizes (random bytes).
func dockerWasm(t *testing.T, module []byte, extra ...int) v1.Image {
	t.Helper()
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for i, n := range extra {
		data := make([]byte, n)
		for j := range data {
			data[j] = byte(j*7 + i)
		}
		var err error
		if img, err = mutate.AppendLayers(img, tarLayer(t, map[string][]byte{fmt.Sprintf("data%d", i): data})); err != nil {
			t.Fatal(err)
		}
	}
	img, err := mutate.AppendLayers(img, tarLayer(t, map[string][]byte{"app.wasm": module}))
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "wasip1", "wasm"
	cf.Config.Entrypoint = []string{"/app.wasm"}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

// wasmToOCI is the wasm-to-oci layout of module.
func wasmToOCI(t *testing.T, module []byte) v1.Image {
	t.Helper()
	img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
		mutate.Addendum{Layer: static.NewLayer(module, image.MediaTypeWasmToOCILayer)})
	if err != nil {
		t.Fatal(err)
	}
	return mutate.ConfigMediaType(img, image.MediaTypeWasmToOCIConfig)
}

func linuxImage(t *testing.T) v1.Image {
	t.Helper()
	img, err := random.Image(1024, 1)
	if err != nil {
		t.Fatal(err)
	}
	cf, _ := img.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

func write(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// proxy is a reverse proxy in front of a registry that counts requests and can
// damage them.
type proxy struct {
	srv   *httptest.Server
	Addr  string
	mu    sync.Mutex
	blobs map[string]int // GETs of each blob digest
	// fault, when set, may answer a request itself (returning true).
	fault atomic.Pointer[func(w http.ResponseWriter, r *http.Request) bool]
	// corrupt, when set, names a blob digest whose body gets one byte changed.
	corrupt atomic.Pointer[string]
}

func newProxy(t *testing.T, addr string) *proxy {
	t.Helper()
	u, _ := url.Parse("http://" + addr)
	p := &proxy{blobs: map[string]int{}}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if c := p.corrupt.Load(); c != nil && strings.HasSuffix(resp.Request.URL.Path, "/blobs/"+*c) && resp.StatusCode == 200 {
			resp.Body = &flipper{rc: resp.Body}
		}
		return nil
	}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if i := strings.Index(r.URL.Path, "/blobs/sha256:"); i >= 0 && r.Method == http.MethodGet {
			p.mu.Lock()
			p.blobs[r.URL.Path[i+len("/blobs/"):]]++
			p.mu.Unlock()
		}
		if f := p.fault.Load(); f != nil && (*f)(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.Addr = strings.TrimPrefix(p.srv.URL, "http://")
	return p
}

func (p *proxy) blobGets(d v1.Hash) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.blobs[d.String()]
}

func (p *proxy) totalBlobGets() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.blobs {
		n += c
	}
	return n
}

func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.blobs = map[string]int{}
}

// flipper changes the 5th byte of a stream.
type flipper struct {
	rc io.ReadCloser
	n  int
}

func (f *flipper) Read(b []byte) (int, error) {
	n, err := f.rc.Read(b)
	for i := 0; i < n; i++ {
		if f.n+i == 4 {
			b[i] ^= 0xff
		}
	}
	f.n += n
	return n, err
}
func (f *flipper) Close() error { return f.rc.Close() }

func pullOpts() service.PullOptions {
	return service.PullOptions{Registry: registry.Options{Retry: fastRetry, Keychain: authn.NewMultiKeychain()}}
}

// Each layout pushed to the real registry (by berth, or as a peer writes it) is pulled
// into a fresh data root, precompiled, and runs.
func TestPushPullRoundtrip(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src := openService(t, t.TempDir())
	buildHello(t, src, "hello:1")
	ctx := t.Context()
	for _, tc := range []struct {
		name, ref, layout string
		push              func(ref string)
	}{
		{"berth push docker", "/rt/docker:1", "docker", func(ref string) {
			src.Tag(ctx, "hello:1", ref)
			if _, err := src.Push(ctx, ref, service.PushOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"berth push artifact", "/rt/artifact:1", "wasm-artifact", func(ref string) {
			src.Tag(ctx, "hello:1", ref)
			if _, err := src.Push(ctx, ref, service.PushOptions{Format: service.FormatArtifact}); err != nil {
				t.Fatal(err)
			}
		}},
		{"peer docker-style", "/rt/peer-docker:1", "docker", func(ref string) { write(t, ref, dockerWasm(t, hello(t))) }},
		{"peer CNCF artifact", "/rt/peer-artifact:1", "wasm-artifact", func(ref string) {
			img, err := registry.Artifact(hello(t), "hello.wasm", time.Unix(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			write(t, ref, img)
		}},
		{"peer wasm-to-oci", "/rt/w2o:1", "wasm-to-oci", func(ref string) { write(t, ref, wasmToOCI(t, hello(t))) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.Addr + tc.ref
			tc.push(ref)
			dst := openService(t, t.TempDir())
			res, err := dst.Pull(ctx, ref, pullOpts())
			if err != nil {
				t.Fatal(err)
			}
			if res.UpToDate || !strings.HasPrefix(res.RepoDigest, reg.Addr+tc.ref[:strings.LastIndex(tc.ref, ":")]+"@sha256:") {
				t.Fatalf("pull result %+v", res)
			}
			insp, err := dst.InspectImage(ctx, ref)
			if err != nil {
				t.Fatal(err)
			}
			if insp.Wasm.Layout != tc.layout || insp.Wasm.ModuleDigest == "" {
				t.Fatalf("layout %q module digest %q, want %s and a precompiled module", insp.Wasm.Layout, insp.Wasm.ModuleDigest, tc.layout)
			}
			if cached, _ := dst.Engine().Cached(ctx); len(cached) != 1 {
				t.Fatalf("compile cache after pull: %v, want the module", cached)
			}
			if out := runImage(t, dst, ref); out != "hello from c\n" {
				t.Fatalf("output %q", out)
			}
		})
	}
}

// The artifact berth pushes is the CNCF layout: config media type, one application/wasm
// layer holding the module, and a config naming the layer digests.
func TestPushArtifactManifest(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	s := openService(t, t.TempDir())
	buildHello(t, s, "hello:1")
	ref := reg.Addr + "/art/hello:1"
	s.Tag(t.Context(), "hello:1", ref)
	res, err := s.Push(t.Context(), ref, service.PushOptions{Format: service.FormatArtifact})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(ref)
	img, err := remote.Image(r)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if d := digestOf(t, img); d != res.Digest {
		t.Fatalf("registry has %s, push said %s", d, res.Digest)
	}
	if m.Config.MediaType != image.MediaTypeWasmConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != image.MediaTypeWasmLayer {
		t.Fatalf("manifest %+v", m)
	}
	raw, _ := img.RawConfigFile()
	if !strings.Contains(string(raw), `"layerDigests":["`+m.Layers[0].Digest.String()+`"]`) || !strings.Contains(string(raw), `"os":"wasip1"`) {
		t.Fatalf("config %s", raw)
	}
	l, _ := img.LayerByDigest(m.Layers[0].Digest)
	rc, _ := l.Compressed()
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, hello(t)) {
		t.Fatal("the layer is not the module")
	}
}

// push --index-with: one tag serves linux/amd64 and wasi/wasm; berth pulls the Wasm
// image from it, and a Linux-only image gets an error listing its platforms.
func TestIndexWithLinux(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	ctx := t.Context()
	linux := reg.Addr + "/multi/app:linux"
	write(t, linux, linuxImage(t))
	s := openService(t, t.TempDir())
	buildHello(t, s, "hello:1")
	ref := reg.Addr + "/multi/app:1"
	s.Tag(ctx, "hello:1", ref)
	res, err := s.Push(ctx, ref, service.PushOptions{IndexWith: linux})
	if err != nil {
		t.Fatal(err)
	}
	r, _ := name.ParseReference(ref)
	idx, err := remote.Index(r)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	var plats []string
	for _, d := range im.Manifests {
		plats = append(plats, d.Platform.OS+"/"+d.Platform.Architecture)
	}
	idxDigest, _ := idx.Digest()
	if strings.Join(plats, ",") != "wasi/wasm,linux/amd64" || idxDigest != res.Digest {
		t.Fatalf("index platforms %v (digest %s, push said %s)", plats, idxDigest, res.Digest)
	}

	dst := openService(t, t.TempDir())
	got, err := dst.Pull(ctx, ref, pullOpts())
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != res.Image || got.RepoDigest != reg.Addr+"/multi/app@"+res.Digest.String() {
		t.Fatalf("pulled %s as %s, want image %s from index %s", got.Digest, got.RepoDigest, res.Image, res.Digest)
	}
	if out := runImage(t, dst, ref); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}
	if insp, err := dst.InspectImage(ctx, ref); err != nil || len(insp.RepoDigests) != 1 || insp.RepoDigests[0] != got.RepoDigest {
		t.Fatalf("inspect: RepoDigests %v (%v), want [%s]", insp.RepoDigests, err, got.RepoDigest)
	}
	// By the index digest: no request needed, and run finds it.
	byDigest := reg.Addr + "/multi/app@" + res.Digest.String()
	if again, err := dst.Pull(ctx, byDigest, pullOpts()); err != nil || !again.UpToDate {
		t.Fatalf("pull by index digest: %+v, %v", again, err)
	}
	if out := runImage(t, dst, byDigest); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}

	// Linux only: an image, and an index.
	lidx := mutate.AppendManifests(empty.Index, mutate.IndexAddendum{Add: linuxImage(t),
		Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}}})
	lref, _ := name.ParseReference(reg.Addr + "/multi/app:linux-index")
	if err := remote.WriteIndex(lref, lidx); err != nil {
		t.Fatal(err)
	}
	for ref, want := range map[string]string{linux: "linux/amd64", lref.String(): "linux/arm64/v8"} {
		_, err := dst.Pull(ctx, ref, pullOpts())
		if !errors.Is(err, image.ErrNotWasm) || !strings.Contains(err.Error(), want) {
			t.Errorf("pull %s: %v, want ErrNotWasm naming %s", ref, err, want)
		}
	}
}

func TestPullErrors(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	auth := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	s := openService(t, t.TempDir())
	ctx := t.Context()
	for _, tc := range []struct {
		name, ref string
		kind      error
		words     []string
	}{
		{"no such repository", reg.Addr + "/nope/none:1", registry.ErrNotFound, []string{"not found", reg.Addr}},
		{"no such tag", reg.Addr + "/nope/none:2", registry.ErrNotFound, []string{"not found"}},
		{"no credentials", auth.Addr + "/private/app:1", registry.ErrUnauthorized, []string{"berth login " + auth.Addr}},
		{"bad name", "UPPER/case", image.ErrInvalidName, []string{"UPPER"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "no such tag" {
				write(t, reg.Addr+"/nope/none:1x", dockerWasm(t, hello(t)))
			}
			_, err := s.Pull(ctx, tc.ref, pullOpts())
			if !errors.Is(err, tc.kind) {
				t.Fatalf("err = %v, want %v", err, tc.kind)
			}
			for _, w := range tc.words {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
	// With the right credentials the private registry works; with wrong ones it says so.
	ref := auth.Addr + "/private/app:1"
	buildHello(t, s, ref)
	if _, err := s.Push(ctx, ref, service.PushOptions{Registry: registry.Options{Keychain: staticKeychain{"alice", "secret"}}}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Push(ctx, ref, service.PushOptions{Registry: registry.Options{Keychain: staticKeychain{"alice", "wrong"}, Retry: fastRetry}})
	if !errors.Is(err, registry.ErrUnauthorized) || !strings.Contains(err.Error(), "berth login") {
		t.Fatalf("wrong password: %v", err)
	}
	dst := openService(t, t.TempDir())
	o := pullOpts()
	o.Registry.Keychain = staticKeychain{"alice", "secret"}
	if _, err := dst.Pull(ctx, ref, o); err != nil {
		t.Fatal(err)
	}
}

type staticKeychain struct{ user, pass string }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return authn.FromConfig(authn.AuthConfig{Username: k.user, Password: k.pass}), nil
}

// A pull of an image already present reads no blob; the first pull read each once.
func TestPullPresentReadsNoBlob(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	ref := p.Addr + "/present/app:1"
	img := dockerWasm(t, hello(t), 1<<20)
	write(t, ref, img)
	s := openService(t, t.TempDir())
	if _, err := s.Pull(t.Context(), ref, pullOpts()); err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		if n := p.blobGets(l.Digest); n != 1 {
			t.Errorf("first pull fetched layer %s %d times, want 1", l.Digest, n)
		}
	}
	p.reset()
	start := time.Now()
	res, err := s.Pull(t.Context(), ref, pullOpts())
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if !res.UpToDate || p.totalBlobGets() != 0 {
		t.Fatalf("second pull: up to date %v, %d blob requests", res.UpToDate, p.totalBlobGets())
	}
	t.Logf("pull of a present image: %v", took)
}

// Two pulls of one image at once (two services on one root, as two processes would be):
// both succeed and each layer is downloaded once.
func TestConcurrentPullsDownloadOnce(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	ref := p.Addr + "/conc/app:1"
	img := dockerWasm(t, hello(t), 2<<20, 1<<20)
	write(t, ref, img)
	root := t.TempDir()
	a, b := openService(t, root), openService(t, root)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, s := range []*service.Service{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = s.Pull(t.Context(), ref, pullOpts())
		}()
	}
	wg.Wait()
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("pulls: %v, %v", errs[0], errs[1])
	}
	m, _ := img.Manifest()
	for _, l := range m.Layers {
		if n := p.blobGets(l.Digest); n != 1 {
			t.Errorf("layer %s downloaded %d times, want 1", l.Digest, n)
		}
	}
	if out := runImage(t, a, ref); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}
}

// A pull cut off after its first layer indexes nothing; the next pull downloads only
// the layers that were not complete.
func TestInterruptedPullResumes(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	ref := p.Addr + "/resume/app:1"
	img := dockerWasm(t, hello(t), 1<<20, 1<<20)
	write(t, ref, img)
	m, _ := img.Manifest()
	s := openService(t, t.TempDir())
	ctx, cancel := context.WithCancel(t.Context())
	o := pullOpts()
	o.Registry.Jobs = 1 // one layer after the other
	var first v1.Hash
	o.Progress = func(u registry.Progress) {
		if u.Status == registry.Done && first.Hex == "" {
			first = u.Digest
			cancel()
		}
	}
	if _, err := s.Pull(ctx, ref, o); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted pull: %v", err)
	}
	if imgs, _ := s.Images(t.Context()); len(imgs) != 0 {
		t.Fatalf("an interrupted pull indexed %v", imgs)
	}
	if first != m.Layers[0].Digest {
		t.Fatalf("first completed layer %s, want %s", first, m.Layers[0].Digest)
	}
	p.reset()
	if _, err := s.Pull(t.Context(), ref, pullOpts()); err != nil {
		t.Fatal(err)
	}
	if n := p.blobGets(m.Layers[0].Digest); n != 0 {
		t.Errorf("the completed layer was downloaded again (%d times)", n)
	}
	for _, l := range m.Layers[1:] {
		if n := p.blobGets(l.Digest); n != 1 {
			t.Errorf("layer %s downloaded %d times, want 1", l.Digest, n)
		}
	}
	if out := runImage(t, s, ref); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}
}

// A blob served with one byte changed is refused with an error naming the blob and the
// registry; nothing is indexed and no blob file stays.
func TestPullBadBlob(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	ref := p.Addr + "/bad/app:1"
	img := dockerWasm(t, hello(t), 4096)
	write(t, ref, img)
	m, _ := img.Manifest()
	bad := m.Layers[0].Digest.String()
	p.corrupt.Store(&bad)
	root := t.TempDir()
	s := openService(t, root)
	_, err := s.Pull(t.Context(), ref, pullOpts())
	var be *registry.BlobError
	if !errors.Is(err, registry.ErrBadBlob) || !errors.As(err, &be) || be.Digest.String() != bad || be.Host != p.Addr {
		t.Fatalf("err = %v, want a BlobError for %s from %s", err, bad, p.Addr)
	}
	if !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), p.Addr) {
		t.Fatalf("error %q does not name the blob and the registry", err)
	}
	if _, err := os.Stat(filepath.Join(root, "content", "blobs", "sha256", m.Layers[0].Digest.Hex)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the bad blob is in the store: %v", err)
	}
	if imgs, _ := s.Images(t.Context()); len(imgs) != 0 {
		t.Fatalf("indexed %v", imgs)
	}
	p.corrupt.Store(nil)
	if _, err := s.Pull(t.Context(), ref, pullOpts()); err != nil {
		t.Fatalf("pull after the registry healed: %v", err)
	}
}

// Transient failures are retried; a failure that lasts gets a clear error.
func TestPullRetries(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	ref := p.Addr + "/retry/app:1"
	write(t, ref, dockerWasm(t, hello(t)))
	for _, tc := range []struct {
		name     string
		failures int32 // manifest requests answered with 503 (or reset) first
		reset    bool
		wantErr  error
	}{
		{"503 twice", 2, false, nil},
		{"reset twice", 2, true, nil},
		{"503 always", 1000, false, registry.ErrRetriesExhausted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n atomic.Int32
			f := func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.Contains(r.URL.Path, "/manifests/") || n.Add(1) > tc.failures {
					return false
				}
				if tc.reset {
					conn, _, _ := w.(http.Hijacker).Hijack()
					conn.Close()
					return true
				}
				w.Header().Set("Retry-After", "0")
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			p.fault.Store(&f)
			defer p.fault.Store(nil)
			s := openService(t, t.TempDir())
			_, err := s.Pull(t.Context(), ref, pullOpts())
			if tc.wantErr == nil && err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != nil && (!errors.Is(err, tc.wantErr) || !strings.Contains(err.Error(), "503")) {
				t.Fatalf("err = %v, want %v naming the status", err, tc.wantErr)
			}
		})
	}
}

// A layer whose download is cut off half-way (after the headers) is downloaded again;
// nothing of the cut copy stays.
func TestPullBlobCutShort(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	ref := p.Addr + "/cut/app:1"
	img := dockerWasm(t, hello(t), 256<<10)
	write(t, ref, img)
	m, _ := img.Manifest()
	layer := m.Layers[0]
	var cuts atomic.Int32
	f := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest.String()) || cuts.Add(1) > 2 {
			return false
		}
		conn, buf, _ := w.(http.Hijacker).Hijack()
		fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", layer.Size)
		buf.Write(make([]byte, layer.Size/2))
		buf.Flush()
		conn.Close()
		return true
	}
	p.fault.Store(&f)
	root := t.TempDir()
	s := openService(t, root)
	if _, err := s.Pull(t.Context(), ref, pullOpts()); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(filepath.Join(root, "content", "tmp")); len(left) != 0 {
		t.Fatalf("temp files left: %v", left)
	}
	if n := p.blobGets(layer.Digest); n != 3 {
		t.Fatalf("the layer was fetched %d times, want 3 (two cut, one whole)", n)
	}
	if out := runImage(t, s, ref); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}
}
