package cli_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/registrytest"
	"github.com/berth-dev/berth/internal/testguest"
)

var digestLine = regexp.MustCompile(`(?m)^1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+$`)

// berth push, pull and run --pull against the real registry, with docker's output.
func TestPullPushRun(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src := newEnv(t)
	src.buildImage("hello:1", testguest.C(t, testguest.CHello), "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n", nil)
	ref := reg.Addr + "/cli/hello:1"
	src.ok("tag", "hello:1", ref)

	out := src.ok("push", ref)
	m := digestLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "The push refers to repository ["+reg.Addr+"/cli/hello]") || !strings.Contains(out, ": done ") {
		t.Fatalf("push output:\n%s", out)
	}
	pushed := m[1]
	if out := src.ok("push", ref); !strings.Contains(out, ": layer already exists") {
		t.Fatalf("second push output:\n%s", out)
	}
	if out := src.ok("push", "-q", ref); strings.TrimSpace(out) != pushed {
		t.Fatalf("push -q printed %q, want %s", out, pushed)
	}

	dst := newEnv(t)
	out = dst.ok("pull", ref)
	for _, want := range []string{"1: Pulling from cli/hello\n", ": done ", "Digest: " + pushed + "\n",
		"Status: Downloaded newer image for " + ref + "\n", "\n" + ref + "\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pull output lacks %q:\n%s", want, out)
		}
	}
	if out := dst.ok("pull", ref); !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Fatalf("second pull output:\n%s", out)
	}
	if out := dst.ok("pull", "-q", ref); out != ref+"\n" {
		t.Fatalf("pull -q printed %q", out)
	}
	if _, errs, code := dst.berth("", "pull", reg.Addr+"/cli/missing:1"); code == 0 || !strings.Contains(errs, "not found") {
		t.Fatalf("pull of a missing image: exit %d, %s", code, errs)
	}
	if _, errs, code := dst.berth("", "pull", "--platform", "linux/amd64", ref); code == 0 || !strings.Contains(errs, "wasi/wasm") {
		t.Fatalf("pull --platform linux/amd64: exit %d, %s", code, errs)
	}

	// run pulls a missing image itself, as docker does.
	runner := newEnv(t)
	if _, errs, code := runner.berth("", "run", "--rm", "--pull", "never", ref); code != 125 || !strings.Contains(errs, "no such image") {
		t.Fatalf("run --pull never of a missing image: exit %d, %s", code, errs)
	}
	out, errs, code := runner.berth("", "run", "--rm", ref)
	if code != 0 || out != "hello from c\n" || !strings.Contains(errs, "Unable to find image '"+ref+"' locally") || !strings.Contains(errs, "Status: Downloaded newer image") {
		t.Fatalf("run of a missing image: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	out, errs, code = runner.berth("", "run", "--rm", ref)
	if code != 0 || out != "hello from c\n" || errs != "" {
		t.Fatalf("run of a stored image: exit %d, stdout %q, stderr %q (want no registry output)", code, out, errs)
	}
	out, errs, code = runner.berth("", "run", "--rm", "--pull", "always", ref)
	if code != 0 || out != "hello from c\n" || !strings.Contains(errs, "Image is up to date") {
		t.Fatalf("run --pull always: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	if _, errs, code := runner.berth("", "run", "--pull", "sometimes", ref); code != 125 || !strings.Contains(errs, "always, missing or never") {
		t.Fatalf("run --pull sometimes: exit %d, %s", code, errs)
	}

	// --format artifact, and --index-with a Linux image built elsewhere.
	art := reg.Addr + "/cli/hello-artifact:1"
	src.ok("tag", "hello:1", art)
	if out := src.ok("push", "--format", "artifact", art); !digestLine.MatchString(out) {
		t.Fatalf("push --format artifact output:\n%s", out)
	}
	if _, errs, code := src.berth("", "push", "--format", "zip", art); code == 0 || !strings.Contains(errs, "docker or artifact") {
		t.Fatalf("push --format zip: exit %d, %s", code, errs)
	}
	linux := reg.Addr + "/cli/app:linux"
	limg, _ := random.Image(512, 1)
	cf, _ := limg.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	limg, _ = mutate.ConfigFile(limg, cf)
	lref, _ := name.ParseReference(linux)
	if err := remote.Write(lref, limg); err != nil {
		t.Fatal(err)
	}
	multi := reg.Addr + "/cli/app:1"
	src.ok("tag", "hello:1", multi)
	out = src.ok("push", "--index-with", linux, multi)
	if !digestLine.MatchString(out) || !strings.Contains(out, "wasi/wasm image: digest: "+pushed) {
		t.Fatalf("push --index-with output:\n%s", out)
	}
	if out, errs, code := newEnv(t).berth("", "run", "--rm", multi); code != 0 || out != "hello from c\n" {
		t.Fatalf("run of the multi-platform tag: exit %d, %q, %s", code, out, errs)
	}
}

// Two berth processes pulling one image at once both succeed.
func TestConcurrentPullProcesses(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src := newEnv(t)
	src.buildImage("hello:1", testguest.C(t, testguest.CHello), "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n", nil)
	ref := reg.Addr + "/conc/hello:1"
	src.ok("tag", "hello:1", ref)
	src.ok("push", "-q", ref)
	dst := newEnv(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(t.Context(), exe, "pull", "-q", ref)
			cmd.Env = dst.environ()
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		}()
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil || outs[i] != ref+"\n" {
			t.Fatalf("pull %d: %v: %s", i, errs[i], outs[i])
		}
	}
	if out := dst.ok("run", "--rm", "--pull", "never", ref); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}
}
