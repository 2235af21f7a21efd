package cli_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/cli"
)

const shimConfigV2 = `# containerd 1.6 on a kubeadm node
version = 2

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"   # pinned
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = true
`

// shimInstallation is a berth executable with a shim binary beside it, as `make berth
// shim` leaves them in bin/, plus a config and a bin dir under a temporary root.
type shimInstallation struct {
	t                   *testing.T
	berth, shim         string
	config, binDir, env string
}

func newShimInstallation(t *testing.T, config string) *shimInstallation {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	s := &shimInstallation{t: t, berth: filepath.Join(bin, "berth"), shim: filepath.Join(bin, "containerd-shim-berth-v1")}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.berth, b, 0o755); err != nil {
		t.Fatal(err)
	}
	// The installer copies bytes; a small executable stands in for the shim binary
	// (cmd/containerd-shim-berth-v1 is built by `make shim`, not by this test).
	if err := os.WriteFile(filepath.Join(bin, "berth-guest"), []byte("#!/bin/sh\necho berth-guest stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.shim, []byte("#!/bin/sh\necho containerd-shim-berth-v1 stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	s.config = filepath.Join(root, "etc", "containerd", "config.toml")
	s.binDir = filepath.Join(root, "usr", "local", "bin")
	if config != "" {
		os.MkdirAll(filepath.Dir(s.config), 0o755)
		if err := os.WriteFile(s.config, []byte(config), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run execs the copied berth with args and returns stdout, stderr and the exit code.
func (s *shimInstallation) run(args ...string) (string, string, int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, s.berth, args...)
	c.Env = append(os.Environ(), "BERTH_TEST_MAIN=1", "BERTH_ROOT="+s.t.TempDir(), "BERTH_STATE="+s.t.TempDir())
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		s.t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (s *shimInstallation) ok(args ...string) string {
	s.t.Helper()
	out, errs, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("berth %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

func (s *shimInstallation) read(p string) string {
	s.t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		s.t.Fatal(err)
	}
	return string(b)
}

func mustContain(t *testing.T, what, s string, subs ...string) {
	t.Helper()
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			t.Errorf("%s does not contain %q:\n%s", what, sub, s)
		}
	}
}

func TestShimInstallUninstall(t *testing.T) {
	s := newShimInstallation(t, shimConfigV2)
	installed := filepath.Join(s.binDir, "containerd-shim-berth-v1")
	flags := []string{"--config", s.config, "--bin-dir", s.binDir}

	// --dry-run: a plan and a diff, and nothing written.
	out := s.ok(append([]string{"shim", "install", "--dry-run"}, flags...)...)
	mustContain(t, "dry run output", out,
		"dry run: nothing is written",
		"shim: would copy "+s.shim+" to "+installed,
		"config: would save the current config as "+s.config+".berth-bak",
		"--- "+s.config+"\n+++ "+s.config+"\n@@ -7,3 +7,10 @@\n",
		"+# added by berth shim install (and the empty line above)\n",
		"+[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n+  runtime_type = \"io.containerd.berth.v1\"\n"+
			"+[plugins.\"io.containerd.cri.v1.images\"]\n+  use_local_image_pull = true\n+# end berth\n",
	)
	if got := s.read(s.config); got != shimConfigV2 {
		t.Fatalf("--dry-run changed the config:\n%s", got)
	}
	for _, p := range []string{installed, s.config + ".berth-bak"} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("--dry-run wrote %s", p)
		}
	}

	// install.
	out = s.ok(append([]string{"shim", "install"}, flags...)...)
	mustContain(t, "install output", out,
		"shim: installed "+installed+" (from "+s.shim+")",
		`registered runtime "berth"`,
		"saved as "+s.config+".berth-bak",
		"systemctl restart containerd",
		"handler: berth",
	)
	edited := s.read(s.config)
	if !strings.HasPrefix(edited, shimConfigV2) || !strings.Contains(edited, `runtime_type = "io.containerd.berth.v1"`) {
		t.Fatalf("config after install:\n%s", edited)
	}
	if got := s.read(s.config + ".berth-bak"); got != shimConfigV2 {
		t.Errorf("backup:\n%s", got)
	}
	if fi, err := os.Stat(s.config); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("config mode %v, %v; want 0640 kept", fi.Mode(), err)
	}
	if fi, err := os.Stat(installed); err != nil || fi.Mode().Perm() != 0o755 || s.read(installed) != s.read(s.shim) {
		t.Errorf("installed shim: %v, %v", fi, err)
	}
	containerdSeesBerth(t, s.config)

	// install again: nothing changes.
	out = s.ok(append([]string{"shim", "install"}, flags...)...)
	mustContain(t, "second install output", out, "is up to date", "already registered", "nothing to restart")
	if got := s.read(s.config); got != edited {
		t.Errorf("second install changed the config:\n%s", got)
	}

	// uninstall --dry-run, then uninstall.
	out = s.ok(append([]string{"shim", "uninstall", "--dry-run"}, flags...)...)
	mustContain(t, "uninstall dry run", out, "-# end berth", "shim: would remove "+installed)
	if s.read(s.config) != edited {
		t.Fatal("uninstall --dry-run changed the config")
	}
	out = s.ok(append([]string{"shim", "uninstall"}, flags...)...)
	mustContain(t, "uninstall output", out, "removed 1 block(s)", "shim: removed "+installed, "systemctl restart containerd")
	if got := s.read(s.config); got != shimConfigV2 {
		t.Errorf("uninstall did not restore the config:\n%s", got)
	}
	if _, err := os.Stat(installed); err == nil {
		t.Error("the shim binary is still installed")
	}
	out = s.ok(append([]string{"shim", "uninstall"}, flags...)...)
	mustContain(t, "second uninstall", out, "nothing to remove", "is not there")
}

// containerdSeesBerth loads the config with Debian's containerd 1.6, when installed,
// without starting it.
func containerdSeesBerth(t *testing.T, config string) {
	t.Helper()
	bin, err := exec.LookPath("containerd")
	if err != nil {
		t.Log("no containerd on PATH: the edited config was not loaded by containerd")
		return
	}
	out, err := exec.Command(bin, "--config", config, "config", "dump").CombinedOutput()
	if err != nil {
		t.Fatalf("containerd config dump: %v\n%s", err, out)
	}
	dump := string(out)
	if !strings.Contains(dump, `runtime_type = "io.containerd.berth.v1"`) && !strings.Contains(dump, `runtime_type = 'io.containerd.berth.v1'`) {
		t.Errorf("containerd does not see the berth runtime:\n%s", dump)
	}
}

func TestShimInstallNewConfig(t *testing.T) {
	s := newShimInstallation(t, "")
	out := s.ok("shim", "install", "--config", s.config, "--bin-dir", "", "--config-version", "3", "--dry-run")
	mustContain(t, "dry run", out, "would create "+s.config, "--- /dev/null", "+version = 3\n")
	if _, err := os.Stat(s.config); err == nil {
		t.Fatal("--dry-run created the config")
	}
	out = s.ok("shim", "install", "--config", s.config, "--bin-dir", "", "--config-version", "3")
	mustContain(t, "install", out, "config: created "+s.config)
	mustContain(t, "config", s.read(s.config), "version = 3\n", "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n")
	if fi, err := os.Stat(s.config); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("new config mode %v, %v", fi, err)
	}
}

func TestShimInstallErrors(t *testing.T) {
	tests := []struct {
		name, config string
		args         []string
		want         []string
	}{
		{
			name:   "conflicting runtime",
			config: "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  runtime_type = \"io.containerd.wasmtime.v1\"\n",
			want:   []string{"berth: ", "line 4 registers runtime \"berth\" with runtime_type \"io.containerd.wasmtime.v1\"", "--force"},
		},
		{
			name:   "version 1",
			config: "[plugins.cri]\n  sandbox_image = \"pause\"\n",
			want:   []string{"version 1 is not supported", "containerd config migrate"},
		},
		{
			name: "bad --config-version",
			args: []string{"--config-version", "4"},
			want: []string{"invalid flag value: --config-version 4"},
		},
		{
			name: "bad --restart-containerd",
			args: []string{"--restart-containerd", "systemd"},
			want: []string{"--restart-containerd", `unknown mode "systemd"`, `"none" or "signal"`},
		},
		{
			// Checked before anything is written: a wrong socket leaves the node as it was.
			name:   "--restart-containerd signal without containerd",
			config: "version = 2\n",
			args:   []string{"--restart-containerd", "signal", "--containerd-socket", "/nonexistent/containerd.sock"},
			want:   []string{"finding the containerd that serves /nonexistent/containerd.sock"},
		},
		{
			name:   "--config-version against the file's",
			config: "version = 2\n",
			args:   []string{"--config-version", "3"},
			want:   []string{"is a version 2 config", "containerd config migrate"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newShimInstallation(t, tt.config)
			args := append([]string{"shim", "install", "--config", s.config, "--bin-dir", s.binDir}, tt.args...)
			out, errs, code := s.run(args...)
			if code != 1 {
				t.Fatalf("exit %d, want 1\n%s%s", code, out, errs)
			}
			mustContain(t, "stderr", errs, tt.want...)
			if _, err := os.Stat(filepath.Join(s.binDir, "containerd-shim-berth-v1")); err == nil {
				t.Error("the shim was installed although the config was refused")
			}
			if tt.config != "" && s.read(s.config) != tt.config {
				t.Error("the config was changed")
			}
		})
	}
}

// In process, the shim is found on the PATH the App sees when it is not next to
// the executable (the test binary).
func TestShimInstallFindsShimOnPath(t *testing.T) {
	pathDir := t.TempDir()
	shim := filepath.Join(pathDir, "containerd-shim-berth-v1")
	os.WriteFile(shim, []byte("#!/bin/sh\n"), 0o755)
	os.WriteFile(filepath.Join(pathDir, "berth-guest"), []byte("#!/bin/sh\n"), 0o755)
	root := t.TempDir()
	config, binDir := filepath.Join(root, "config.toml"), filepath.Join(root, "bin")
	var out, errb bytes.Buffer
	app := &cli.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Getenv: func(k string) string {
		if k == "PATH" {
			return "relative/dir" + string(os.PathListSeparator) + pathDir
		}
		return os.Getenv(k)
	}}
	if code := app.Main(context.Background(), []string{"shim", "install", "--config", config, "--bin-dir", binDir}); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errb.String())
	}
	mustContain(t, "output", out.String(), "(from "+shim+")", "config: created "+config)
	// No containerd on that PATH: a new config is version 2.
	b, _ := os.ReadFile(config)
	mustContain(t, "config", string(b), "version = 2\n", `runtime_type = "io.containerd.runc.v2"`)

	out.Reset()
	errb.Reset()
	app.Getenv = func(k string) string {
		if k == "PATH" {
			return t.TempDir()
		}
		return os.Getenv(k)
	}
	if code := app.Main(context.Background(), []string{"shim", "install", "--config", config, "--bin-dir", binDir}); code != 1 {
		t.Fatalf("exit %d without a shim anywhere\n%s%s", code, out.String(), errb.String())
	}
	mustContain(t, "stderr", errb.String(), "cannot find containerd-shim-berth-v1", "make shim")
}

// --restart-containerd signal acts only when the config changes: a second install (a
// rescheduled installer pod) neither looks for containerd nor restarts it.
func TestShimInstallSignalUnchanged(t *testing.T) {
	s := newShimInstallation(t, shimConfigV2)
	flags := []string{"--config", s.config, "--bin-dir", s.binDir}
	s.ok(append([]string{"shim", "install"}, flags...)...)
	out := s.ok(append([]string{"shim", "install", "--restart-containerd", "signal", "--containerd-socket", "/nonexistent/containerd.sock"}, flags...)...)
	mustContain(t, "second install", out, "already registered", "containerd: config unchanged, not restarted", "nothing to restart")
}
