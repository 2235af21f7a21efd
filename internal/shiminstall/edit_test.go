package shiminstall

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
)

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// runtimeType parses text and returns the runtime_type registered as name, for
// config version v.
func runtimeType(t *testing.T, text string, v int, name string) string {
	t.Helper()
	tree := map[string]any{}
	if err := toml.Unmarshal([]byte(text), &tree); err != nil {
		t.Fatalf("output does not parse: %v\n%s", err, text)
	}
	m, ok := lookup(tree, runtimePath(v, name))
	if !ok {
		return ""
	}
	s, _ := m["runtime_type"].(string)
	return s
}

// roundTrip installs, checks the second install changes nothing, uninstalls and
// checks the input came back byte for byte.
func roundTrip(t *testing.T, in string, o Options) *Result {
	t.Helper()
	res, err := Install([]byte(in), o)
	if err != nil {
		t.Fatalf("Install: %v", err)
	}
	if !res.Changed || string(res.Output) == in {
		t.Fatalf("Install changed nothing: %+v", res)
	}
	if got := runtimeType(t, string(res.Output), res.Version, RuntimeName); got != RuntimeType {
		t.Fatalf("berth runtime_type = %q in\n%s", got, res.Output)
	}
	inPlace := strings.Contains(in, "[plugins.'io.containerd.cri.v1.images']") || strings.Contains(in, LocalPullKey)
	if !strings.HasPrefix(string(res.Output), in) && len(o.RuntimeOptions) == 0 && !o.Force && !inPlace {
		t.Errorf("Install did not keep the input as the output's head:\n%s", res.Output)
	}
	again, err := Install(res.Output, o)
	if err != nil {
		t.Fatalf("second Install: %v", err)
	}
	if again.Changed || string(again.Output) != string(res.Output) || !strings.Contains(again.Message, "already registered") {
		t.Fatalf("second Install: changed=%v message=%q", again.Changed, again.Message)
	}
	un, err := Uninstall(res.Output)
	if err != nil {
		t.Fatalf("Uninstall: %v\n%s", err, res.Output)
	}
	if string(un.Output) != in {
		t.Fatalf("Uninstall did not restore the input.\n--- want\n%q\n--- got\n%q", in, un.Output)
	}
	return res
}

// localPullTable is what Install appends for containerd 2.x when the config has no
// [plugins.'io.containerd.cri.v1.images'] table.
const localPullTable = "[plugins.'io.containerd.cri.v1.images']\n  use_local_image_pull = true\n"

// localPullTableV2 is the same in a version 2 config (containerd 2.x migrates those
// and keeps the table; containerd 1.x ignores it).
const localPullTableV2 = "[plugins.\"io.containerd.cri.v1.images\"]\n  use_local_image_pull = true\n"

func TestInstallGolden(t *testing.T) {
	tests := []struct {
		name, in string
		o        Options
		want     string
	}{
		{
			name: "v2 with comments",
			in:   "# mine\nversion = 2 # two\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\" # keep\n",
			want: "# mine\nversion = 2 # two\n\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\" # keep\n" +
				"\n# added by berth shim install (and the empty line above)\n" +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  runtime_type = \"io.containerd.berth.v1\"\n" +
				localPullTableV2 + "# end berth\n",
		},
		{
			name: "v3, ends with an empty line",
			in:   "version = 3\n[plugins.'io.containerd.cri.v1.runtime']\n  enable_cdi = true\n\n",
			want: "version = 3\n[plugins.'io.containerd.cri.v1.runtime']\n  enable_cdi = true\n\n" +
				"# added by berth shim install\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n" +
				localPullTable + "# end berth\n",
		},
		{
			name: "v4 (containerd 2.2+)",
			in:   "version = 4\n",
			want: "version = 4\n\n# added by berth shim install (and the empty line above)\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n" +
				localPullTable + "# end berth\n",
		},
		{
			name: "v2 without runtimes keeps runc",
			in:   "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.10\"",
			want: "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.10\"\n" +
				"# added by berth shim install (and the line break above)\n" +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n" +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  runtime_type = \"io.containerd.berth.v1\"\n" +
				localPullTableV2 + "# end berth\n",
		},
		{
			name: "empty, default version",
			in:   "",
			want: "# added by berth shim install\nversion = 2\n" +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.runc]\n  runtime_type = \"io.containerd.runc.v2\"\n" +
				"[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  runtime_type = \"io.containerd.berth.v1\"\n" +
				localPullTableV2 + "# end berth\n",
		},
		{
			name: "only comments, version 3",
			in:   "# nothing here yet\n",
			o:    Options{Version: 3},
			want: "# nothing here yet\n\n# added by berth shim install (and the empty line above)\nversion = 3\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n" +
				localPullTable + "# end berth\n",
		},
		{
			name: "runtime options hook",
			in:   "version = 3\n",
			o:    Options{RuntimeOptions: map[string]any{"Debug": true, "Level": "info"}},
			want: "version = 3\n\n# added by berth shim install (and the empty line above)\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth.options]\n  Debug = true\n  Level = 'info'\n" +
				localPullTable + "# end berth\n",
		},
		{
			name: "v3 with the images table: the key goes under its header",
			in:   "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  snapshotter = 'overlayfs'\n",
			want: "version = 3\n[plugins.'io.containerd.cri.v1.images']\n# added by berth shim install\n  use_local_image_pull = true\n# end berth\n  snapshotter = 'overlayfs'\n" +
				"\n# added by berth shim install (and the empty line above)\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n# end berth\n",
		},
		{
			name: "v3 with use_local_image_pull = false (as containerd config default writes it): replaced in place",
			in:   "version = 3\n[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n    use_local_image_pull = false # the default\n    stats_collect_period = 10\n",
			want: "version = 3\n[plugins]\n  [plugins.'io.containerd.cri.v1.images']\n" +
				"# added by berth shim install: replaced lines, restored by berth shim uninstall\n" +
				"#|     use_local_image_pull = false # the default\n    use_local_image_pull = true\n# end berth\n" +
				"    stats_collect_period = 10\n" +
				"\n# added by berth shim install (and the empty line above)\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n# end berth\n",
		},
		{
			name: "v3 with use_local_image_pull = true already",
			in:   "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  use_local_image_pull = true\n",
			want: "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  use_local_image_pull = true\n" +
				"\n# added by berth shim install (and the empty line above)\n" +
				"[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n# end berth\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := roundTrip(t, tt.in, tt.o)
			if string(res.Output) != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", res.Output, tt.want)
			}
		})
	}
}

func TestInstallRealisticConfigs(t *testing.T) {
	tests := []struct {
		file    string
		version int
	}{
		{"v2-kind.toml", 2},
		{"v3-k8s.toml", 3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			in := readTestdata(t, tt.file)
			res := roundTrip(t, in, Options{Version: 5 - tt.version}) // Version only counts for empty files
			if res.Version != tt.version {
				t.Errorf("version %d, want %d", res.Version, tt.version)
			}
			if got := runtimeType(t, string(res.Output), tt.version, "runc"); got != "io.containerd.runc.v2" {
				t.Errorf("runc runtime_type = %q", got)
			}
			if strings.Count(string(res.Output), "runtimes.runc]") != 1 {
				t.Errorf("runc was added although the config names its runtimes:\n%s", res.Output)
			}
			// Every line of the input is still there, in order, at the head.
			if !strings.HasPrefix(string(res.Output), in) {
				t.Errorf("input not kept byte for byte")
			}
		})
	}
}

// Existing entries, whatever their spelling, are found.
func TestInstallFindsExistingEntry(t *testing.T) {
	tests := []struct {
		name, in string
	}{
		{"table, double quotes", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\nruntime_type = \"io.containerd.berth.v1\"\n"},
		{"table, single quotes", "version = 2\n[plugins.'io.containerd.grpc.v1.cri'.containerd.runtimes.berth]\nruntime_type = 'io.containerd.berth.v1'\n"},
		{"quoted name", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.\"berth\"]\nruntime_type = \"\"\"io.containerd.berth.v1\"\"\"\n"},
		{"dotted at top level", "version = 3\nplugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth.runtime_type = 'io.containerd.berth.v1'\n"},
		{"dotted in parent", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\nruntimes.berth.runtime_type = \"io.containerd.berth.v1\"\n"},
		{"inline", "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\nruntimes = { berth = { runtime_type = 'io.containerd.berth.v1' } }\n"},
		{"our own block", "version = 3\n# added by berth shim install\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\nruntime_type = 'io.containerd.berth.v1'\n# end berth\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Install([]byte(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Changed || string(res.Output) != tt.in || !strings.Contains(res.Message, "already registered") {
				t.Fatalf("changed=%v message=%q", res.Changed, res.Message)
			}
			if !strings.Contains(res.Message, "line ") || strings.Contains(res.Message, "line 0") {
				t.Errorf("message names no line: %q", res.Message)
			}
		})
	}
}

func TestInstallConflict(t *testing.T) {
	tests := []struct {
		name, in string
		line     string
		// forceErr is the error --force gives; nil: --force replaces the entry.
		forceErr error
	}{
		{
			name: "table",
			in:   "version = 2\n# wasmtime\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  # old\n  runtime_type = \"io.containerd.wasmtime.v1\"\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth.options]\n  Foo = 1\n\n# next\n[grpc]\n  uid = 0\n",
			line: "line 5 ",
		},
		{
			name: "dotted, last line without newline",
			in:   "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\nsnapshotter = 'overlayfs'\nruntimes.berth.runtime_type = 'io.containerd.wasmtime.v1'",
			line: "line 4 ",
		},
		{
			name: "no runtime_type, CRLF",
			in:   "version = 2\r\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\r\n  privileged_without_host_devices = true\r\n",
			line: "line 2 ",
		},
		{
			name:     "inline",
			in:       "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\nruntimes = { berth = { runtime_type = 'x' }, runc = { runtime_type = 'io.containerd.runc.v2' } }\n",
			line:     "line 3 ",
			forceErr: ErrManualEdit,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Install([]byte(tt.in), Options{})
			if !errors.Is(err, ErrConflict) {
				t.Fatalf("err = %v, want ErrConflict", err)
			}
			if !strings.Contains(err.Error(), tt.line) || !strings.Contains(err.Error(), "--force") {
				t.Errorf("error does not name %q and --force: %v", tt.line, err)
			}
			if tt.forceErr != nil {
				if _, err := Install([]byte(tt.in), Options{Force: true}); !errors.Is(err, tt.forceErr) {
					t.Fatalf("forced: err = %v, want %v", err, tt.forceErr)
				}
				return
			}
			res := roundTrip(t, tt.in, Options{Force: true})
			if !strings.Contains(string(res.Output), savedPrefix) {
				t.Errorf("replaced lines not kept:\n%s", res.Output)
			}
			// The [grpc] table after the replaced one still holds its key.
			tree := map[string]any{}
			toml.Unmarshal(res.Output, &tree)
			if g, ok := tree["grpc"].(map[string]any); strings.Contains(tt.in, "[grpc]") && (!ok || g["uid"] != int64(0)) {
				t.Errorf("[grpc] lost: %v", tree["grpc"])
			}
			if _, ok := lookup(tree, append(runtimePath(res.Version, RuntimeName), "options")); ok {
				t.Errorf("the replaced runtime's options survived:\n%s", res.Output)
			}
		})
	}
}

func TestInstallRefuses(t *testing.T) {
	tests := []struct {
		name, in string
		o        Options
		want     error
		msg      string
	}{
		{"version 1 (no version key)", "[plugins.cri.containerd]\n  snapshotter = \"overlayfs\"\n", Options{}, ErrConfigV1, "containerd config migrate"},
		{"version = 1", "version = 1\n", Options{}, ErrConfigV1, "migrate"},
		{"version 5", "version = 5\n", Options{}, ErrUnsupportedVersion, "version = 5"},
		{"version string", "version = \"2\"\n", Options{}, ErrUnsupportedVersion, "not an integer"},
		{"asked version 1 for an empty file", "", Options{Version: 1}, ErrUnsupportedVersion, ""},
		{"not TOML", "version = 2\n[plugins\n", Options{}, ErrInvalidConfig, ""},
		{"duplicate table", "version = 2\n[a]\n[a]\n", Options{}, ErrInvalidConfig, ""},
		{"inline parent", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\ncontainerd = { snapshotter = \"overlayfs\" }\n", Options{}, ErrManualEdit, "line 3"},
		{"parent is a value", "version = 3\nplugins = 1\n", Options{}, ErrManualEdit, "line 2"},
		{"stale block", "version = 3\n# added by berth shim install\n# end berth\n", Options{}, ErrMarkers, "line 2"},
		{"unterminated block", "version = 3\n# added by berth shim install\n", Options{}, ErrMarkers, "line 2"},
		{"nested blocks", "version = 3\n# added by berth shim install\n# added by berth shim install\n# end berth\n# end berth\n", Options{}, ErrMarkers, "line 3"},
		{"nested option table", "version = 3\n", Options{RuntimeOptions: map[string]any{"x": map[string]any{"y": 1}}}, ErrBadOption, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Install([]byte(tt.in), tt.o)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v (result %+v), want %v", err, res, tt.want)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not say %q", err, tt.msg)
			}
		})
	}
}

func TestInstallWarnings(t *testing.T) {
	in := "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\nimports = [\"/etc/containerd/conf.d/*.toml\"]\n"
	res, err := Install([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 2 || !strings.Contains(res.Warnings[0], "CRI plugin") || !strings.Contains(res.Warnings[1], "imports") {
		t.Errorf("warnings: %q", res.Warnings)
	}
}

func TestInstallDottedParentAcceptsTable(t *testing.T) {
	// containerd defined through dotted keys: TOML lets a [table] add a sub-table.
	in := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\"]\ncontainerd.snapshotter = \"native\"\ncontainerd.runtimes.runc.runtime_type = \"io.containerd.runc.v2\"\n"
	roundTrip(t, in, Options{})
}

func TestUninstall(t *testing.T) {
	t.Run("nothing added", func(t *testing.T) {
		in := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\nruntime_type = \"io.containerd.berth.v1\"\n"
		res, err := Uninstall([]byte(in))
		if err != nil {
			t.Fatal(err)
		}
		if res.Changed || string(res.Output) != in || !strings.Contains(res.Message, "line 3 was not added") {
			t.Errorf("changed=%v message=%q", res.Changed, res.Message)
		}
	})
	t.Run("keeps edits made after install", func(t *testing.T) {
		in := readTestdata(t, "v3-k8s.toml")
		res, err := Install([]byte(in), Options{})
		if err != nil {
			t.Fatal(err)
		}
		edited := strings.Replace(string(res.Output), "state = '/run/containerd'", "state = '/run/containerd' # edited", 1) + "\n[debug]\n  level = 'debug'\n"
		un, err := Uninstall([]byte(edited))
		if err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(in, "state = '/run/containerd'", "state = '/run/containerd' # edited", 1) + "\n[debug]\n  level = 'debug'\n"
		if string(un.Output) != want {
			t.Errorf("got\n%s\nwant\n%s", un.Output, want)
		}
	})
	t.Run("markers inside a string are not markers", func(t *testing.T) {
		in := "version = 3\nnote = '''\n# added by berth shim install\n'''\n"
		roundTrip(t, in, Options{})
	})
	t.Run("not TOML", func(t *testing.T) {
		if _, err := Uninstall([]byte("[")); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestConfigVersionFor(t *testing.T) {
	tests := []struct {
		out  string
		want int
	}{
		{"containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3\n", 2},
		{"containerd containerd.io 1.7.27 05044ec0a9a75232cad458027ca83437aae3f4da\n", 2},
		{"containerd github.com/containerd/containerd/v2 2.4.2+unknown \n", 3},
		{"containerd github.com/containerd/containerd/v2 v2.0.0 207ad711eabd375a01713109a8a197d197ff6542\n", 3},
	}
	for _, tt := range tests {
		got, err := ConfigVersionFor(tt.out)
		if err != nil || got != tt.want {
			t.Errorf("ConfigVersionFor(%q) = %d, %v; want %d", tt.out, got, err, tt.want)
		}
	}
	if _, err := ConfigVersionFor("containerd github.com/containerd/containerd\n"); !errors.Is(err, ErrUnknownContainerd) {
		t.Errorf("err = %v", err)
	}
}

// A use_local_image_pull that berth does not edit (set from another table, or in an
// inline table) is left alone: berth is registered and the user told to set it.
func TestInstallLocalPullByHand(t *testing.T) {
	tests := []struct{ name, in string }{
		{"dotted from [plugins]", "version = 3\n[plugins]\n  'io.containerd.cri.v1.images'.use_local_image_pull = false\n"},
		{"inline table", "version = 3\n[plugins]\n  'io.containerd.cri.v1.images' = { use_local_image_pull = false }\n"},
		{"over two lines", "version = 3\n[plugins.'io.containerd.cri.v1.images']\n  use_local_image_pull = [\n false]\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Install([]byte(tt.in), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if got := runtimeType(t, string(res.Output), 3, RuntimeName); got != RuntimeType {
				t.Fatalf("berth not registered:\n%s", res.Output)
			}
			if !strings.HasPrefix(string(res.Output), tt.in) || strings.Contains(res.Message, LocalPullKey) {
				t.Errorf("the config's %s was edited (message %q):\n%s", LocalPullKey, res.Message, res.Output)
			}
			if len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], LocalPullKey) || !strings.Contains(res.Warnings[0], "by hand") {
				t.Errorf("warnings %q: want one that says to set %s by hand", res.Warnings, LocalPullKey)
			}
			un, err := Uninstall(res.Output)
			if err != nil || string(un.Output) != tt.in {
				t.Errorf("Uninstall: %v\n%q", err, un.Output)
			}
		})
	}
}

// A config that registers berth (an older install, or by hand) without
// use_local_image_pull is left as it is, with a warning; version 2 needs no setting.
func TestInstallRegisteredWithoutLocalPull(t *testing.T) {
	in := "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.berth]\n  runtime_type = 'io.containerd.berth.v1'\n"
	res, err := Install([]byte(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed || len(res.Warnings) != 1 || !strings.Contains(res.Warnings[0], LocalPullKey) {
		t.Errorf("changed=%v warnings=%q: want unchanged with a %s warning", res.Changed, res.Warnings, LocalPullKey)
	}
	v2 := "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd.runtimes.berth]\n  runtime_type = \"io.containerd.berth.v1\"\n"
	if res, err := Install([]byte(v2), Options{}); err != nil || len(res.Warnings) != 0 {
		t.Errorf("version 2: err %v, warnings %q: want none (containerd 1.x pulls with its client)", err, res.Warnings)
	}
}
