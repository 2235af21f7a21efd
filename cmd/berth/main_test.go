package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testguest"
)

// binaries builds the core berth (-tags berth_core) as DIR/berth and the complete one
// as DIR/berth-full, as `make berth` installs them, and returns DIR.
func binaries(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, b := range []struct{ out, tags string }{{"berth", "berth_core"}, {"berth-full", ""}} {
		args := []string{"build", "-trimpath", "-o", filepath.Join(dir, b.out)}
		if b.tags != "" {
			args = append(args, "-tags", b.tags)
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go %q: %v\n%s", args, err, out)
		}
	}
	return dir
}

// The core build links none of what only the complete berth needs: that is what makes it
// start sooner. A new import that brings one of these back fails here, naming it.
func TestCoreBuildLinksNoRegistryClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "berth_core", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	deps := strings.Fields(string(out))
	forbidden := []string{
		"github.com/berth-dev/berth/internal/registry", "github.com/berth-dev/berth/internal/credentials",
		"github.com/berth-dev/berth/internal/archive", "github.com/berth-dev/berth/internal/build",
		"github.com/berth-dev/berth/internal/shiminstall",
		"github.com/google/go-containerregistry/pkg/v1/remote", "github.com/google/go-containerregistry/pkg/name",
		"github.com/google/go-containerregistry/pkg/v1/partial", "github.com/opencontainers/go-digest",
		"github.com/docker/cli/cli/config", "net/http", "crypto/tls", "github.com/pelletier/go-toml/v2",
	}
	for _, f := range forbidden {
		for _, d := range deps {
			if d == f {
				t.Errorf("the core build links %s", f)
			}
		}
	}
	// And the complete build still has them: the test would pass vacuously otherwise.
	out, err = exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "github.com/berth-dev/berth/internal/registry\n") {
		t.Errorf("the complete build does not link internal/registry:\n%s", out)
	}
}

// result is one berth invocation's outcome.
type result struct {
	stdout, stderr string
	code           int
}

func berth(t *testing.T, bin, root string, args ...string) result {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "BERTH_ROOT="+root, "BERTH_STATE="+filepath.Join(root, "state"))
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("berth %q: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()}
}

// The core berth runs containers of stored images itself and hands every other command
// to berth-full beside it, with the same arguments, output and exit status; without
// berth-full it says what is missing.
func TestCoreDelegates(t *testing.T) {
	dir := binaries(t)
	core := filepath.Join(dir, "berth")
	root := t.TempDir()
	ctx := t.TempDir()
	module := testguest.C(t, "#include <stdio.h>\nint main(int argc, char **argv){ printf(\"hi %s\\n\", argc > 1 ? argv[1] : \"\"); return 3; }")
	os.WriteFile(filepath.Join(ctx, "app.wasm"), testguest.Read(t, module), 0o644)
	os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"), 0o644)

	// With berth-full beside it.
	if r := berth(t, core, root, "build", "-q", "-t", "app:1", ctx); r.code != 0 || !strings.HasPrefix(r.stdout, "sha256:") {
		t.Fatalf("build through the core berth: %+v", r)
	}
	if r := berth(t, core, root, "image", "ls", "--format", "{{.Repository}}:{{.Tag}}"); r.code != 0 || r.stdout != "app:1\n" {
		t.Fatalf("image ls: %+v", r)
	}
	if r := berth(t, core, root, "--help"); r.code != 0 || !strings.Contains(r.stdout, "pull") || !strings.Contains(r.stdout, "build") {
		t.Errorf("--help lists the complete berth's commands: %+v", r)
	}

	// Without it: what the core berth carries still works, the rest says what is missing.
	if err := os.Remove(filepath.Join(dir, "berth-full")); err != nil {
		t.Fatal(err)
	}
	carried := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"run", "--rm", "app:1", "x"}, 3, "hi x\n"},
		{[]string{"run", "--rm", "--pull", "never", "app:1", "y"}, 3, "hi y\n"},
		{[]string{"images", "--format", "{{.Repository}}"}, 0, "app\n"},
		{[]string{"version"}, 0, ""},
	}
	for _, c := range carried {
		r := berth(t, core, root, c.args...)
		if r.code != c.code || (c.out != "" && r.stdout != c.out) {
			t.Errorf("berth %q without berth-full: %+v, want exit %d and %q", c.args, r, c.code, c.out)
		}
	}
	handed := []struct {
		args []string
		code int
	}{
		{[]string{"pull", "127.0.0.1:1/app:1"}, 1},
		{[]string{"image", "save", "-o", filepath.Join(root, "x.tar"), "app:1"}, 1},
		{[]string{"run", "--rm", "--pull", "always", "app:1"}, 125},
		{[]string{"run", "--rm", "missing:1"}, 125},
		{[]string{"run", "--rm", "--insecure-registry", "reg.lan", "app:1"}, 125},
		{[]string{"nosuchcommand"}, 1},
	}
	for _, h := range handed {
		r := berth(t, core, root, h.args...)
		if r.code != h.code || !strings.Contains(r.stderr, "berth-full") || r.stdout != "" {
			t.Errorf("berth %q without berth-full: %+v, want exit %d and an error naming berth-full", h.args, r, h.code)
		}
		if strings.Contains(r.stderr, "Unable to find image") {
			t.Errorf("berth %q printed the pull's message before handing it on: %q", h.args, r.stderr)
		}
	}
}
