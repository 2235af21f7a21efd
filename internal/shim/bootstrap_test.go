package shim

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// params encodes a BootstrapParams as containerd 2.4.2 writes it (bootstrap.proto):
// every field, the log level negative, an extension, the optional socket_dir.
func params(version string) []byte {
	var b []byte
	str := func(n protowire.Number, s string) {
		b = protowire.AppendTag(b, n, protowire.BytesType)
		b = protowire.AppendString(b, s)
	}
	str(1, "b69e2053cf3606b557c4f01a62d6a7b8bac495db528dfd9cf14ee258440d1c3f")
	str(2, "k8s.io")
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	debug := int64(-4) // LOG_LEVEL_DEBUG, an int32 enum: ten bytes on the wire
	b = protowire.AppendVarint(b, uint64(debug))
	if version != "" {
		str(4, version)
	}
	str(5, "/run/containerd/containerd.sock.ttrpc")
	str(6, "/run/containerd/containerd.sock")
	str(7, "/usr/bin/containerd")
	any, _ := proto.Marshal(&anypb.Any{TypeUrl: "containerd.runc.v1.Options", Value: []byte{0x08, 0x01}})
	var ext []byte
	ext = protowire.AppendTag(ext, 1, protowire.BytesType)
	ext = protowire.AppendBytes(ext, any)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, ext)
	str(9, "/run/containerd/s")
	return b
}

func TestParseBootstrapParams(t *testing.T) {
	options, _ := proto.Marshal(&anypb.Any{TypeUrl: "containerd.runc.v1.Options", Value: []byte("\x08\x01")})
	for _, tc := range []struct {
		name string
		in   []byte
		want string // "" = refused with errNotParams
	}{
		{"containerd 2.4.2", params("2.4.2"), "2.4.2"},
		{"a v-prefixed pre-release", params("v2.3.0-rc.1"), "v2.3.0-rc.1"},
		{"params without a version", params(""), ""},
		{"runtime options (containerd 1.7 to 2.2)", options, ""},
		{"nothing (containerd 1.6, or no options)", nil, ""},
		{"a plain address", []byte("unix:///run/containerd/s/ab12"), ""},
		{"JSON", []byte(`{"version":2,"address":"unix:///x","protocol":"ttrpc"}`), ""},
		{"truncated params", params("2.4.2")[:90], ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseBootstrapParams(tc.in)
			if tc.want == "" {
				if !errors.Is(err, errNotParams) {
					t.Fatalf("parseBootstrapParams = %q, %v; want errNotParams", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("parseBootstrapParams = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestSpeaksTaskV3(t *testing.T) {
	for v, want := range map[string]bool{
		"2.4.2": true, "v2.3.0-rc.1": true, "2.0.0": true, "10.1": true,
		"1.7.35": false, "v1.6.20": false, "": false, "two": false, "-2.1": false,
	} {
		if got := speaksTaskV3(v); got != want {
			t.Errorf("speaksTaskV3(%q) = %v, want %v", v, got, want)
		}
	}
}

// TestBootstrapResult decodes the answer field by field as bootstrap.proto defines it.
func TestBootstrapResult(t *testing.T) {
	const addr = "unix:///run/containerd/s/0123456789abcdef"
	b := bootstrapResult(addr)
	got := map[protowire.Number]any{}
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatal(protowire.ParseError(n))
		}
		b = b[n:]
		switch typ {
		case protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			got[num], b = v, b[n:]
		case protowire.BytesType:
			v, n := protowire.ConsumeString(b)
			got[num], b = v, b[n:]
		default:
			t.Fatalf("field %d has wire type %d", num, typ)
		}
	}
	want := map[protowire.Number]any{1: uint64(3), 2: addr, 3: "ttrpc"}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("field %d = %v, want %v", k, got[k], v)
		}
	}
}

// TestReadBootstrap: stdin as containerd leaves it for each version, and as a terminal
// or /dev/null, which must not be waited on.
func TestReadBootstrap(t *testing.T) {
	pipe := func(b []byte) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		go func() { w.Write(b); w.Close() }()
		t.Cleanup(func() { r.Close() })
		return r
	}
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	file := filepath.Join(t.TempDir(), "params")
	os.WriteFile(file, params("2.3.1"), 0o600)
	regular, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()
	for _, tc := range []struct {
		name string
		f    *os.File
		want string
	}{
		{"params on a pipe (containerd 2.3+)", pipe(params("2.4.2")), "2.4.2"},
		{"runtime options on a pipe (containerd 1.7)", pipe([]byte("\x0a\x03abc")), ""},
		{"an empty pipe", pipe(nil), ""},
		{"params in a file", regular, "2.3.1"},
		{"/dev/null (containerd 1.6, berth)", devNull, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readBootstrap(tc.f)
			if err != nil || got != tc.want {
				t.Fatalf("readBootstrap = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	big := pipe(make([]byte, maxBootstrapParams+1))
	if _, err := readBootstrap(big); err == nil {
		t.Error("readBootstrap of more than maxBootstrapParams bytes: no error")
	}
}

func FuzzParseBootstrapParams(f *testing.F) {
	f.Add(params("2.4.2"))
	f.Add([]byte("unix:///run/containerd/s/ab12"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseBootstrapParams(b)
		if err == nil && v == "" {
			t.Fatal("no error and no version")
		}
		if err != nil && !errors.Is(err, errNotParams) {
			t.Fatalf("error %v is not errNotParams", err)
		}
	})
}

// TestReadAnnotations: `start` reads the group annotation of a full spec as the CRI
// plugin writes it, and says what is wrong with a missing or broken config.json.
func TestReadAnnotations(t *testing.T) {
	dir := t.TempDir()
	spec := `{"ociVersion":"1.3.0","process":{"args":["/pause"],"cwd":"/"},"root":{"path":"rootfs"},` +
		`"linux":{"namespaces":[{"type":"network","path":"/var/run/netns/cni-1"}],"resources":{"memory":{"limit":1048576}}},` +
		`"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-id":"sb1"}}`
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(spec), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := readAnnotations(dir)
	if err != nil || got[annotationSandboxID] != "sb1" || got[annotationContainerType] != containerTypeSandbox {
		t.Fatalf("readAnnotations = %v, %v", got, err)
	}
	if _, err := readAnnotations(t.TempDir()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("no config.json: %v, want ErrNotExist", err)
	}
	os.WriteFile(filepath.Join(dir, "config.json"), []byte(`{"annotations":`), 0o600)
	if _, err := readAnnotations(dir); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("a truncated config.json: %v, want an error naming it", err)
	}
}
