package cli_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/testguest"
)

// A SIGTERM to a foreground `berth run --rm` ends it with 128+15 and removes the container.
func TestSignalEndsForegroundRun(t *testing.T) {
	e := newEnv(t)
	probe := testguest.Go(t, probeSrc)
	e.buildImage("probe:1", probe, "FROM scratch\nCOPY app.wasm /probe.wasm\nENTRYPOINT [\"/probe.wasm\"]\n", nil)
	self, _ := os.Executable()
	for _, rm := range []bool{true, false} {
		args := []string{"run", "-i", "--name", "sig", "probe:1", "stdin"}
		if rm {
			args = append([]string{"run", "--rm"}, args[1:]...)
		}
		c := exec.Command(self, args...)
		c.Env = append(os.Environ(), "BERTH_TEST_MAIN=1", "BERTH_ROOT="+e.root)
		stdin, _ := c.StdinPipe() // kept open: the guest blocks reading it
		var out bytes.Buffer
		c.Stdout, c.Stderr = &out, &out
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// Wait until the container is running, then stop it.
		deadline := time.Now().Add(30 * time.Second)
		for !strings.Contains(e.ok("ps", "--format", "{{.Names}}"), "sig") {
			if time.Now().After(deadline) {
				t.Fatalf("container never ran: %s", out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		c.Process.Signal(syscall.SIGTERM)
		err := c.Wait()
		stdin.Close()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 143 {
			t.Fatalf("rm=%v: exit %v, want 143; output %s", rm, err, out.String())
		}
		ps := e.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}")
		if rm && ps != "" {
			t.Fatalf("--rm left a container: %q", ps)
		}
		if !rm {
			if !strings.HasPrefix(ps, "sig Exited (143)") {
				t.Fatalf("ps after SIGTERM: %q", ps)
			}
			e.ok("rm", "sig")
		}
	}
}

// A layer entry that climbs out of the root is refused at load, naming the entry.
func TestLoadLayerTraversal(t *testing.T) {
	e := newEnv(t)
	wasm := testguest.Read(t, testguest.C(t, testguest.CHello))
	for _, tc := range []struct{ name, entry, link string }{
		{"dotdot", "../../escape.wasm", ""},
		{"absolute", "/abs.wasm", ""},
		{"symlink out", "evil", "../../../etc/passwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			tw.WriteHeader(&tar.Header{Name: "hello.wasm", Mode: 0o755, Size: int64(len(wasm)), Typeflag: tar.TypeReg})
			tw.Write(wasm)
			if tc.link != "" {
				tw.WriteHeader(&tar.Header{Name: tc.entry, Typeflag: tar.TypeSymlink, Linkname: tc.link})
			} else {
				tw.WriteHeader(&tar.Header{Name: tc.entry, Mode: 0o644, Size: 1, Typeflag: tar.TypeReg})
				tw.Write([]byte("x"))
			}
			tw.Close()
			img, _ := mutate.Append(empty.Image, mutate.Addendum{Layer: static.NewLayer(buf.Bytes(), types.OCIUncompressedLayer)})
			cf, _ := img.ConfigFile()
			cf = cf.DeepCopy()
			cf.OS, cf.Architecture = "wasi", "wasm"
			cf.Config.Entrypoint = []string{"/hello.wasm"}
			img, _ = mutate.ConfigFile(mutate.MediaType(img, types.OCIManifestSchema1), cf)
			tarPath := ociTar(t, func(p layout.Path) {
				p.AppendImage(img, layout.WithAnnotations(map[string]string{"io.containerd.image.name": "docker.io/library/evil:1"}))
			})
			_, errs, code := e.berth("", "load", "-i", tarPath)
			if code == 0 || !strings.Contains(errs, "escapes the image root") && !strings.Contains(errs, "refused") {
				t.Fatalf("exit %d, stderr %q", code, errs)
			}
			if out := e.ok("images", "-q"); out != "" {
				t.Fatalf("refused image was stored: %q", out)
			}
		})
	}
}

func TestPlatformFlag(t *testing.T) {
	e := newEnv(t)
	for _, args := range [][]string{{"run", "--platform", "linux/amd64", "x"}, {"build", "--platform", "linux/amd64", "."}} {
		_, errs, code := e.berth("", args...)
		if code == 0 || !strings.Contains(errs, "wasi/wasm") {
			t.Fatalf("%v: exit %d %q", args, code, errs)
		}
	}
}
