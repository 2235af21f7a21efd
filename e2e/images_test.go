package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
)

// Images the tests use. Wasm images are built with `berth build` and exported with
// `berth save`; native ones (a runc baseline and the CRI pause image) are written here
// as OCI layouts around static binaries.
const (
	imgHello  = "docker.io/library/e2e-hello:1"        // C: stdout + stderr, exit code from argv[1] or $EXIT
	imgStdin  = "docker.io/library/e2e-stdin:1"        // C: echoes stdin lines until EOF
	imgSpin   = "docker.io/library/e2e-spin:1"         // Go: prints "spinning", then a tight loop forever
	imgSleep  = "docker.io/library/e2e-sleep:1"        // Go: "tick N" every 200 ms forever
	imgNative = "docker.io/library/e2e-hello-native:1" // the hello source, gcc -static, linux
	// pauseImage is the CRI sandbox image: a static pause(2) loop, imported locally (CRI
	// never pulls an image that is present).
	pauseImage = "registry.k8s.io/pause:3.10.2"
)

// helloSrc builds both as a wasm32-wasi guest and as a static native binary.
const helloSrc = `#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
	printf("hello stdout\n");
	fflush(stdout);
	fprintf(stderr, "hello stderr\n");
	const char *e = getenv("EXIT");
	return argc > 1 ? atoi(argv[1]) : (e ? atoi(e) : 0);
}
`

const stdinSrc = `#include <stdio.h>

int main(void) {
	char buf[512];
	printf("waiting for stdin\n");
	fflush(stdout);
	while (fgets(buf, sizeof buf, stdin)) {
		printf("got: %s", buf);
		fflush(stdout);
	}
	printf("stdin closed\n");
	return 0;
}
`

const spinSrc = `package main

import "fmt"

var n uint64

func main() {
	fmt.Println("spinning")
	for {
		n++
	}
}
`

const sleepSrc = `package main

import (
	"fmt"
	"time"
)

func main() {
	for i := 0; ; i++ {
		fmt.Printf("tick %d\n", i)
		time.Sleep(200 * time.Millisecond)
	}
}
`

const pauseSrc = `#include <signal.h>
#include <unistd.h>

static void done(int sig) { (void)sig; _exit(0); }

int main(void) {
	signal(SIGINT, done);
	signal(SIGTERM, done);
	for (;;)
		pause();
}
`

// wasmImages describes the Wasm test images: name, the module's path in the image,
// and how to build the module.
var wasmImages = []struct {
	name   string
	module string
	build  func(t *testing.T) string
}{
	{imgHello, "/hello.wasm", func(t *testing.T) string { return testguest.C(t, helloSrc) }},
	{imgStdin, "/stdin.wasm", func(t *testing.T) string { return testguest.C(t, stdinSrc) }},
	{imgSpin, "/spin.wasm", func(t *testing.T) string { return testguest.Go(t, spinSrc) }},
	{imgSleep, "/sleep.wasm", func(t *testing.T) string { return testguest.Go(t, sleepSrc) }},
}

// imageSet is where the archives of one test run are.
type imageSet struct {
	archives map[string]string // image name → OCI layout tar
	modules  map[string]string // image name → module path in the image (wasm) or binary (native)
	cri      map[string]string // image name → archive whose index also lists linux/<arch>
}

var imagesOnce once
var images imageSet

// testImages builds every test image once per run and returns the set.
func testImages(t *testing.T) imageSet {
	t.Helper()
	imagesOnce.get(t, func() (string, string, error) {
		return "", "", buildImages(t)
	})
	return images
}

func buildImages(t *testing.T) error {
	berth := berthBin(t)
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return fmt.Errorf("gcc not found (needed for the static native baseline and pause binaries): %w", err)
	}
	dir := filepath.Join(workDir, "images")
	root := filepath.Join(workDir, "berth-root")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	images = imageSet{archives: map[string]string{}, modules: map[string]string{}, cri: map[string]string{}}
	env := []string{"BERTH_ROOT=" + root, "BERTH_STATE=" + filepath.Join(workDir, "berth-state"), "SOURCE_DATE_EPOCH=0"}
	for _, im := range wasmImages {
		wasm := im.build(t)
		ctx := filepath.Join(dir, "ctx-"+shortName(im.name))
		if err := os.MkdirAll(ctx, 0o755); err != nil {
			return err
		}
		if err := copyFile(wasm, filepath.Join(ctx, "module.wasm")); err != nil {
			return err
		}
		df := fmt.Sprintf("FROM scratch\nCOPY module.wasm %s\nENTRYPOINT [%q]\n", im.module, im.module)
		if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
			return err
		}
		tag := strings.TrimPrefix(im.name, "docker.io/library/")
		if r := runCmd(t, cmdOpts{env: env, timeout: 2 * time.Minute}, berth, "build", "-q", "-t", tag, ctx); !r.ok() {
			return fmt.Errorf("berth build:\n%s", r)
		}
		out := filepath.Join(dir, shortName(im.name)+".tar")
		if r := runCmd(t, cmdOpts{env: env, timeout: time.Minute}, berth, "save", "-o", out, tag); !r.ok() {
			return fmt.Errorf("berth save:\n%s", r)
		}
		if err := checkSavedArchive(out, im.name); err != nil {
			return fmt.Errorf("berth save -o %s %s: %w", out, tag, err)
		}
		images.archives[im.name] = out
		images.modules[im.name] = im.module
		cri := filepath.Join(dir, shortName(im.name)+"-cri.tar")
		if err := withHostPlatform(out, cri); err != nil {
			return fmt.Errorf("making the CRI variant of %s: %w", out, err)
		}
		images.cri[im.name] = cri
	}
	for _, n := range []struct{ name, src, bin string }{
		{imgNative, helloSrc, "/hello"},
		{pauseImage, pauseSrc, "/pause"},
	} {
		src := filepath.Join(dir, shortName(n.name)+".c")
		exe := filepath.Join(dir, shortName(n.name)+".bin")
		if err := os.WriteFile(src, []byte(n.src), 0o644); err != nil {
			return err
		}
		if r := runCmd(t, cmdOpts{timeout: 2 * time.Minute}, gcc, "-static", "-O2", "-o", exe, src); !r.ok() {
			return fmt.Errorf("gcc -static (is libc6-dev installed?):\n%s", r)
		}
		b, err := os.ReadFile(exe)
		if err != nil {
			return err
		}
		out := filepath.Join(dir, shortName(n.name)+".tar")
		if err := writeNativeImage(out, n.name, n.bin, b); err != nil {
			return err
		}
		images.archives[n.name] = out
		images.modules[n.name] = n.bin
		images.cri[n.name] = out
	}
	return nil
}

// shortName is a file-name-safe form of an image name.
func shortName(name string) string {
	s := name[strings.LastIndex(name, "/")+1:]
	return strings.NewReplacer(":", "-", "@", "-").Replace(s)
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o755)
}

// ociIndex is the part of an OCI image index the tests read and write.
type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType,omitempty"`
	Manifests     []ociDescriptor `json:"manifests"`
}

type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *ociPlatform      `json:"platform,omitempty"`
}

type ociPlatform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
	annImageName  = "io.containerd.image.name"
	annRefName    = "org.opencontainers.image.ref.name"
)

// readTar returns the regular files of a tar archive in order.
func readTar(path string) ([]string, map[string][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var names []string
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, files, nil
		}
		if err != nil {
			return nil, nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, nil, err
		}
		names = append(names, h.Name)
		files[h.Name] = b
	}
}

// checkSavedArchive checks what ctr import and docker load need from `berth save`: an
// OCI layout whose index names the image by its full name (io.containerd.image.name,
// docker.io/library/x:1 — Docker needs the full form) with platform wasi/wasm.
func checkSavedArchive(path, fullName string) error {
	_, files, err := readTar(path)
	if err != nil {
		return fmt.Errorf("reading the archive: %w", err)
	}
	if _, ok := files["oci-layout"]; !ok {
		return fmt.Errorf("no oci-layout file: not an OCI image layout")
	}
	var idx ociIndex
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		return fmt.Errorf("index.json: %w", err)
	}
	for _, d := range idx.Manifests {
		if d.Annotations[annImageName] != fullName {
			continue
		}
		if d.Platform == nil || d.Platform.OS != "wasi" || d.Platform.Architecture != "wasm" {
			return fmt.Errorf("index.json names %s but its platform is %+v, want wasi/wasm", fullName, d.Platform)
		}
		return nil
	}
	return fmt.Errorf("index.json has no manifest with %s=%s (Docker and ctr need the full name):\n%s", annImageName, fullName, files["index.json"])
}

// withHostPlatform writes a copy of a saved Wasm image whose index.json names an image
// index that lists the image's manifest twice: as wasi/wasm and as linux/<GOARCH>.
//
// # Notes
//
// The CRI plugin (containerd 1.6 and 2.4) keeps images for the host platform only
// (platforms.Default()): a wasi/wasm-only image is invisible to crictl and
// `ctr image import` unpacks only linux/amd64 (so a container's snapshot has no parent).
// Listing the same manifest under the host platform too makes the image visible and
// unpacked; the manifest, config and layer are unchanged. `berth save` writes wasi/wasm
// only, so this is the tests' doing, not berth's.
func withHostPlatform(src, dst string) error {
	names, files, err := readTar(src)
	if err != nil {
		return err
	}
	var idx ociIndex
	if err := json.Unmarshal(files["index.json"], &idx); err != nil {
		return err
	}
	var out ociIndex
	out.SchemaVersion, out.MediaType = 2, mediaIndex
	blobs := map[string][]byte{}
	for _, d := range idx.Manifests {
		name := d.Annotations[annImageName]
		if name == "" || d.MediaType != mediaManifest {
			out.Manifests = append(out.Manifests, d)
			continue
		}
		wasm, host := d, d
		wasm.Annotations, host.Annotations = nil, nil
		wasm.Platform = &ociPlatform{OS: "wasi", Architecture: "wasm"}
		host.Platform = &ociPlatform{OS: "linux", Architecture: runtime.GOARCH}
		inner, err := json.Marshal(ociIndex{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []ociDescriptor{wasm, host}})
		if err != nil {
			return err
		}
		dg := sha256.Sum256(inner)
		hexd := hex.EncodeToString(dg[:])
		blobs["blobs/sha256/"+hexd] = inner
		out.Manifests = append(out.Manifests, ociDescriptor{MediaType: mediaIndex, Digest: "sha256:" + hexd,
			Size: int64(len(inner)), Annotations: d.Annotations})
	}
	ib, err := json.Marshal(out)
	if err != nil {
		return err
	}
	files["index.json"] = ib
	for n, b := range blobs {
		names = append(names, n)
		files[n] = b
	}
	var kept []string
	for _, n := range names {
		if n != "manifest.json" { // docker-save form: would name the manifest alone
			kept = append(kept, n)
		}
	}
	return writeTar(dst, kept, files)
}

func writeTar(path string, names []string, files map[string][]byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		b := files[n]
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// writeNativeImage writes an OCI image layout tar for linux/<GOARCH> holding one
// executable at binPath, which is also the entrypoint.
func writeNativeImage(path, name, binPath string, bin []byte) error {
	var layer bytes.Buffer
	lw := tar.NewWriter(&layer)
	if err := lw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(binPath, "/"), Mode: 0o755, Size: int64(len(bin)),
		Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	if _, err := lw.Write(bin); err != nil {
		return err
	}
	if err := lw.Close(); err != nil {
		return err
	}
	return writeLinuxImage(path, name, layer.Bytes(), []string{binPath}, []string{"PATH=/"})
}

// writeLinuxImage writes an OCI image layout tar for linux/<GOARCH> named name, with
// one uncompressed tar layer and the given entrypoint and environment.
func writeLinuxImage(path, name string, layer []byte, entrypoint, env []string) error {
	blobs := map[string][]byte{}
	put := func(b []byte) (string, int64) {
		d := sha256.Sum256(b)
		h := hex.EncodeToString(d[:])
		blobs["blobs/sha256/"+h] = b
		return "sha256:" + h, int64(len(b))
	}
	layerDigest, layerSize := put(layer)
	config, err := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config":       map[string]any{"Entrypoint": entrypoint, "Env": env},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{layerDigest}},
	})
	if err != nil {
		return err
	}
	configDigest, configSize := put(config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        ociDescriptor{MediaType: mediaConfig, Digest: configDigest, Size: configSize},
		"layers":        []ociDescriptor{{MediaType: mediaLayer, Digest: layerDigest, Size: layerSize}},
	})
	if err != nil {
		return err
	}
	manifestDigest, manifestSize := put(manifest)
	tag := name[strings.LastIndex(name, ":")+1:]
	idx, err := json.Marshal(ociIndex{SchemaVersion: 2, MediaType: mediaIndex, Manifests: []ociDescriptor{{
		MediaType: mediaManifest, Digest: manifestDigest, Size: manifestSize,
		Annotations: map[string]string{annImageName: name, annRefName: tag},
		Platform:    &ociPlatform{OS: "linux", Architecture: runtime.GOARCH},
	}}})
	if err != nil {
		return err
	}
	files := map[string][]byte{"oci-layout": []byte(`{"imageLayoutVersion":"1.0.0"}`), "index.json": idx}
	names := []string{"oci-layout", "index.json"}
	for n, b := range blobs {
		names = append(names, n)
		files[n] = b
	}
	return writeTar(path, names, files)
}
