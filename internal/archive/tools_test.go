package archive

import (
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// lookPath skips the test when a tool is not installed.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("%s is not installed", name)
	}
	return p
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out
}

// TestReadGNUTar reads an OCI layout tarred by GNU tar ("./" prefixes, padding to 10 KiB
// records), compressed by the gzip and bzip2 tools.
func TestReadGNUTar(t *testing.T) {
	tarBin := lookPath(t, "tar")
	wasm, _ := wasmImage(t)
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := lp.AppendImage(wasm, layout.WithAnnotations(map[string]string{annotationRefName: "1"})); err != nil {
		t.Fatal(err)
	}
	plain := run(t, tarBin, "-C", dir, "-cf", "-", ".")
	inputs := map[string][]byte{"tar": plain, "tar.gz": gzipBytes(t, plain)}
	if bz, err := exec.LookPath("bzip2"); err == nil {
		f := filepath.Join(t.TempDir(), "a.tar")
		os.WriteFile(f, plain, 0o644)
		inputs["tar.bz2"] = run(t, bz, "-c", f)
	}
	for name, b := range inputs {
		t.Run(name, func(t *testing.T) {
			a, err := readArchive(t, bytes.NewReader(b))
			if err != nil {
				t.Fatal(err)
			}
			e := a.Entries()
			if len(e) != 1 || e[0].RefName != "1" || e[0].Image == nil {
				t.Fatalf("entries %+v", e)
			}
			sameImage(t, e[0].Image, wasm)
		})
	}
}

// writeArchiveFile writes a Write archive to a file.
func writeArchiveFile(t *testing.T, entries ...SaveEntry) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(p, writeArchive(t, entries...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSkopeoReadsWrite checks that skopeo reads what Write produces, through both its
// oci-archive: and docker-archive: transports.
func TestSkopeoReadsWrite(t *testing.T) {
	skopeo := lookPath(t, "skopeo")
	rnd := randomImage(t, 2)
	wasm, _ := wasmImage(t)
	for name, img := range map[string]SaveEntry{
		"random": {Names: []string{"docker.io/library/hello:1"}, Image: rnd},
		"wasm":   {Names: []string{"docker.io/acme/wasm:1"}, Image: wasm},
	} {
		t.Run(name, func(t *testing.T) {
			p := writeArchiveFile(t, img)
			raw := run(t, skopeo, "inspect", "--raw", "oci-archive:"+p)
			want, _ := img.Image.RawManifest()
			if !bytes.Equal(bytes.TrimSpace(raw), bytes.TrimSpace(want)) {
				t.Fatalf("skopeo oci-archive: manifest\n%s\nwant\n%s", raw, want)
			}
			cfg := run(t, skopeo, "inspect", "--config", "--raw", "oci-archive:"+p)
			wantCfg, _ := img.Image.RawConfigFile()
			if !bytes.Equal(bytes.TrimSpace(cfg), bytes.TrimSpace(wantCfg)) {
				t.Fatalf("skopeo oci-archive: config\n%s\nwant\n%s", cfg, wantCfg)
			}
			if name == "random" {
				// docker-archive: reads manifest.json; its layers must be tars.
				run(t, skopeo, "inspect", "docker-archive:"+p)
			}
		})
	}
}

// TestCraneReadsWrite checks that crane reads manifest.json of what Write produces.
func TestCraneReadsWrite(t *testing.T) {
	crane := lookPath(t, "crane")
	p := writeArchiveFile(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: randomImage(t, 2)})
	run(t, crane, "validate", "--tarball", p)
}

// TestReadWriteOutputGzipped reads a gzip-compressed Write archive from a non-seekable reader.
func TestReadWriteOutputGzipped(t *testing.T) {
	rnd := randomImage(t, 1)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := Write(context.Background(), zw, []SaveEntry{{Names: []string{"docker.io/library/hello:1"}, Image: rnd}}); err != nil {
		t.Fatal(err)
	}
	zw.Close()
	a, err := readArchive(t, struct{ *bytes.Buffer }{&buf})
	if err != nil {
		t.Fatal(err)
	}
	sameImage(t, a.Entries()[0].Image, rnd)
}

// TestReadSkopeoArchives reads archives skopeo writes: docker-archive (manifest.json with
// <hex>.tar layers) and oci-archive, copied from an archive Write produced.
func TestReadSkopeoArchives(t *testing.T) {
	skopeo := lookPath(t, "skopeo")
	rnd := randomImage(t, 2)
	wasm, _ := wasmImage(t)
	src := writeArchiveFile(t, SaveEntry{Names: []string{"docker.io/library/hello:1"}, Image: rnd})
	wasmSrc := writeArchiveFile(t, SaveEntry{Names: []string{"docker.io/acme/wasm:1"}, Image: wasm})
	dir := t.TempDir()
	tests := []struct {
		name, src, dest string
		img             SaveEntry
		sameDigest      bool
	}{
		{"docker-archive", src, "docker-archive:" + filepath.Join(dir, "d.tar") + ":docker.io/library/hello:1", SaveEntry{Image: rnd}, false},
		// skopeo converts the Docker media types of random.Image to OCI ones: a new digest.
		{"oci-archive", src, "oci-archive:" + filepath.Join(dir, "o.tar") + ":1", SaveEntry{Image: rnd}, false},
		{"oci-archive wasm", wasmSrc, "oci-archive:" + filepath.Join(dir, "w.tar") + ":1", SaveEntry{Image: wasm}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, skopeo, "copy", "--quiet", "oci-archive:"+tt.src, tt.dest)
			file := strings.Split(tt.dest, ":")[1]
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			a, err := readArchive(t, f)
			if err != nil {
				t.Fatal(err)
			}
			e := a.Entries()
			if len(e) != 1 || e[0].Image == nil {
				t.Fatalf("entries %+v", e)
			}
			if strings.HasPrefix(tt.dest, "oci-archive:") && e[0].RefName != "1" {
				t.Errorf("ref name %q, want 1", e[0].RefName)
			}
			if strings.HasPrefix(tt.dest, "docker-archive:") && !strings.Contains(strings.Join(e[0].Names, ","), "hello:1") {
				t.Errorf("names %q", e[0].Names)
			}
			if tt.sameDigest {
				sameImage(t, e[0].Image, tt.img.Image)
				return
			}
			// The diff IDs must survive; docker-archive keeps the config too (the conversion
			// to OCI re-serialises it).
			gotCfg, _ := e[0].Image.RawConfigFile()
			wantCfg, _ := tt.img.Image.RawConfigFile()
			if strings.HasPrefix(tt.dest, "docker-archive:") && !bytes.Equal(gotCfg, wantCfg) {
				t.Errorf("config differs:\n%s\nwant\n%s", gotCfg, wantCfg)
			}
			cf, _ := e[0].Image.ConfigFile()
			ls, _ := e[0].Image.Layers()
			for i, l := range ls {
				if d, err := l.DiffID(); err != nil || d != cf.RootFS.DiffIDs[i] {
					t.Errorf("layer %d: diff ID %s, %v", i, d, err)
				}
			}
		})
	}
}
