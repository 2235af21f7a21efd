package cli_test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/paths"
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
		c.Env = e.environ()
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

// A running --rm container lives in the state directory: ps lists it, inspect finds it,
// and nothing of it is in the data root. Killed (a crash), it stays there, shown as
// exited, until rm removes it.
func TestRunRmLivesInStateDir(t *testing.T) {
	e := newEnv(t)
	// A C guest (quick to compile under -race) that waits for a line on stdin.
	waiter := testguest.C(t, "#include <stdio.h>\nint main(void){ char b[8]; return fgets(b, sizeof b, stdin) ? 0 : 1; }")
	e.buildImage("probe:1", waiter, "FROM scratch\nCOPY app.wasm /probe.wasm\nENTRYPOINT [\"/probe.wasm\"]\n", nil)
	self, _ := os.Executable()
	c := exec.Command(self, "run", "--rm", "-i", "--name", "live", "probe:1")
	c.Env = e.environ()
	stdin, _ := c.StdinPipe() // kept open: the guest blocks reading it
	defer stdin.Close()
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(e.ok("ps", "--format", "{{.Names}} {{.Status}}"), "live Up") {
		if time.Now().After(deadline) {
			c.Process.Kill()
			t.Fatalf("container never ran: %s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	id := strings.TrimSpace(e.ok("ps", "-q", "--no-trunc"))
	var got []struct {
		ID         string
		HostConfig struct{ AutoRemove bool }
	}
	if err := json.Unmarshal([]byte(e.ok("inspect", "live")), &got); err != nil || len(got) != 1 || got[0].ID != id || !got[0].HostConfig.AutoRemove {
		t.Fatalf("inspect live: %+v, %v", got, err)
	}
	state := paths.StateFor(e.state, e.root)
	for _, f := range []string{"container.json", "rootfs/probe.wasm"} {
		if _, err := os.Stat(filepath.Join(state, "containers", id, f)); err != nil {
			t.Errorf("%s of the running --rm container: %v", f, err)
		}
	}
	// Nothing runs a foreground --rm container's bundle but this process, which has its
	// spec in memory: no config.json is written.
	if _, err := os.Stat(filepath.Join(state, "containers", id, "config.json")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("config.json of the running --rm container: %v, want none", err)
	}
	// DIR/containers/lock orders name changes in both places; nothing else goes there.
	if ents, _ := os.ReadDir(filepath.Join(e.root, "containers")); len(ents) != 1 || ents[0].Name() != "lock" {
		t.Errorf("the --rm container wrote into the data root: %v", ents)
	}

	c.Process.Kill() // a crash: nothing removes the container
	c.Wait()
	if ps := e.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(ps, "live Exited (137)") {
		t.Fatalf("ps -a after a crash: %q", ps)
	}
	if ps := e.ok("ps", "-q"); ps != "" {
		t.Fatalf("ps lists a dead container as running: %q", ps)
	}
	e.ok("rm", "live")
	if ps := e.ok("ps", "-a", "-q"); ps != "" {
		t.Fatalf("ps -a after rm: %q", ps)
	}
	if _, err := os.Stat(filepath.Join(state, "containers", id)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("rm left the container's directory: %v", err)
	}
	// The name is free again, for a container that is kept this time.
	if _, _, code := e.berth("x\n", "run", "-i", "--name", "live", "probe:1"); code != 0 {
		t.Fatalf("run --name live again: exit %d", code)
	}
	if _, err := os.Stat(filepath.Join(e.root, "containers", "names", "live")); err != nil {
		t.Fatalf("a kept container's name is not in the data root: %v", err)
	}
}

// A state directory another user could write to is refused, naming it and the way out.
func TestStateDirMustBePrivate(t *testing.T) {
	e := newEnv(t)
	if err := os.Chmod(e.state, 0o777); err != nil {
		t.Fatal(err)
	}
	_, errs, code := e.berth("", "ps")
	if code == 0 || !strings.Contains(errs, e.state) || !strings.Contains(errs, "BERTH_STATE") {
		t.Fatalf("ps with a world-writable state directory: exit %d, %q", code, errs)
	}
	// A state directory that does not exist yet is made, private.
	e.state = filepath.Join(t.TempDir(), "new", "state")
	e.ok("ps")
	if fi, err := os.Stat(e.state); err != nil || fi.Mode().Perm()&0o022 != 0 {
		t.Fatalf("made state directory: %v, %v", fi, err)
	}
}
