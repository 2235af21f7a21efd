package shiminstall

import (
	"os"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

// FuzzInstall: Install then Uninstall on any text never panics; when Install succeeds
// its output parses as TOML and Uninstall gives the input back byte for byte.
func FuzzInstall(f *testing.F) {
	for _, name := range []string{"v2-kind.toml", "v3-k8s.toml"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b), false, uint8(0))
	}
	for _, s := range []string{
		"",
		"# only a comment",
		"version = 2\r\n[a]\r\nb = 1",
		"version = 3\nplugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth.runtime_type = 'x'\n",
		"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  runtime_type = \"io.containerd.wasmtime.v1\"\n\n[x]\n",
		"version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes = { berth = { runtime_type = 'y' } }\n",
		"version = 3\ns = '''\n# added by berth shim install\n'''\n# end berth\n",
		"version = 2\nx = [\n  1, # c\n]\n\n# trailing\n",
		"version = 3\n[plugins.'io.containerd.cri.v1.images']\n  use_local_image_pull = false # x\n  snapshotter = 'overlayfs'",
		"version = 3\n[plugins.'io.containerd.cri.v1.images']\r\n",
		"version = 4\n[plugins]\n'io.containerd.cri.v1.images'.use_local_image_pull = false\n",
	} {
		f.Add(s, true, uint8(3))
	}
	f.Fuzz(func(t *testing.T, in string, force bool, v uint8) {
		res, err := Install([]byte(in), Options{Force: force, Version: int(v % 4)})
		if err != nil {
			return
		}
		tree := map[string]any{}
		if err := toml.Unmarshal(res.Output, &tree); err != nil {
			t.Fatalf("Install output does not parse: %v\n%q", err, res.Output)
		}
		un, err := Uninstall(res.Output)
		if err != nil {
			t.Fatalf("Uninstall: %v\ninput %q\noutput %q", err, in, res.Output)
		}
		if res.Changed && string(un.Output) != in {
			t.Fatalf("Uninstall did not restore the input\ninput  %q\noutput %q\nback   %q", in, res.Output, un.Output)
		}
	})
}
