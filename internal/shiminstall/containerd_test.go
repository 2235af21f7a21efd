package shiminstall

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"
)

// containerds returns the containerd binaries to check edited configs with, mapped to
// the config version each writes by default: the one on PATH (Debian's 1.6.20 here),
// those listed in $BERTH_TEST_CONTAINERD (separated by ':'), and those the project's
// scripts build into ~/.cache/berth-ci/bin/containerd-v*/.
func containerds(t *testing.T) map[string]int {
	var cands []string
	if p, err := exec.LookPath("containerd"); err == nil {
		cands = append(cands, p)
	}
	cands = append(cands, filepath.SplitList(os.Getenv("BERTH_TEST_CONTAINERD"))...)
	if home, err := os.UserHomeDir(); err == nil {
		m, _ := filepath.Glob(filepath.Join(home, ".cache", "berth-ci", "bin", "containerd-v*", "containerd"))
		cands = append(cands, m...)
	}
	found := map[string]int{}
	for _, c := range cands {
		if c == "" {
			continue
		}
		out, err := exec.Command(c, "--version").Output()
		if err != nil {
			continue
		}
		v, err := ConfigVersionFor(string(out))
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		found[c] = v
		t.Logf("%s: %s", c, strings.TrimSpace(string(out)))
	}
	return found
}

// dump runs `containerd --config path config dump`, which loads and decodes the
// config as containerd's start-up does, without starting it, and parses its output.
func dump(t *testing.T, bin, path string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, "--config", path, "config", "dump")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		b, _ := os.ReadFile(path)
		t.Fatalf("%s config dump: %v\n%s\nconfig:\n%s", bin, err, stderr.String(), b)
	}
	tree := map[string]any{}
	if err := toml.Unmarshal(out, &tree); err != nil {
		t.Fatalf("config dump output does not parse: %v", err)
	}
	return tree
}

// TestRealContainerd checks that containerd itself reads the edited configs and sees
// the berth runtime next to runc, and no berth runtime after Uninstall.
func TestRealContainerd(t *testing.T) {
	bins := containerds(t)
	if len(bins) == 0 {
		t.Skip("no containerd binary (apt-get install containerd, or set BERTH_TEST_CONTAINERD)")
	}
	for bin, native := range bins {
		inputs := map[string]string{
			"v2-kind.toml": readTestdata(t, "v2-kind.toml"),
			"empty":        "",
			"dotted parent": "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n" +
				"containerd.snapshotter = \"overlayfs\"\ncontainerd.runtimes.runc.runtime_type = \"io.containerd.runc.v2\"\n",
			"v2 without runtimes": "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"registry.k8s.io/pause:3.10\"\n",
		}
		if native == 3 {
			inputs["v3-k8s.toml"] = readTestdata(t, "v3-k8s.toml")
		}
		def, err := exec.Command(bin, "config", "default").Output()
		if err != nil {
			t.Fatalf("%s config default: %v", bin, err)
		}
		inputs["config default"] = string(def)

		for name, in := range inputs {
			t.Run(strings.ReplaceAll(strings.TrimPrefix(bin, "/"), "/", "_")+"/"+name, func(t *testing.T) {
				res, err := Install([]byte(in), Options{Version: native})
				if err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(t.TempDir(), "config.toml")
				if err := os.WriteFile(path, res.Output, 0o644); err != nil {
					t.Fatal(err)
				}
				// containerd 2.x migrates a version 2 config and dumps version 3.
				tree := dump(t, bin, path)
				for rt, want := range map[string]string{RuntimeName: RuntimeType, "runc": "io.containerd.runc.v2"} {
					m, ok := lookup(tree, runtimePath(native, rt))
					if got, _ := m["runtime_type"].(string); !ok || got != want {
						t.Errorf("containerd sees runtime %q with runtime_type %q, want %q", rt, got, want)
					}
				}
				// containerd 2.x: CRI pulls with its client, which unpacks wasi/wasm.
				if on := localPullOn(tree); native >= 3 && !on {
					t.Errorf("containerd does not see %s = true after Install", LocalPullKey)
				}
				un, err := Uninstall(res.Output)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, un.Output, 0o644); err != nil {
					t.Fatal(err)
				}
				if in == "" {
					return // an empty file is version 1 to containerd; nothing more to see
				}
				if _, ok := lookup(dump(t, bin, path), runtimePath(native, RuntimeName)); ok {
					t.Error("containerd still sees berth after Uninstall")
				}
			})
		}
	}
}
