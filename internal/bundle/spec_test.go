package bundle

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The compact writer and the runtime-spec types agree: what WriteSpec writes, ReadSpec
// reads back field for field, with and without the optional parts.
func TestSpecRoundTrip(t *testing.T) {
	for _, o := range []SpecOptions{
		{Args: []string{"/app.wasm"}, Cwd: "/"},
		{Args: []string{"/app.wasm", "x"}, Env: []string{"A=1"}, Cwd: "/srv", Hostname: "h",
			Mounts:      []Mount{{Source: "/host", Destination: "/data", ReadOnly: true}, {Source: "/h2", Destination: "/w"}},
			MemoryLimit: 64 << 20, Annotations: map[string]string{AnnotationModuleDigest: "sha256:ab"}},
	} {
		want := NewSpec(o)
		dir := t.TempDir()
		if _, ok := compact(want); !ok {
			t.Fatalf("NewSpec(%+v) is not written compactly", o)
		}
		if err := WriteSpec(dir, want, false); err != nil {
			t.Fatal(err)
		}
		got, err := ReadSpec(dir)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
		if m := BindMounts(got); len(m) != len(o.Mounts) || (len(m) > 0 && m[0] != o.Mounts[0]) {
			t.Fatalf("BindMounts = %+v, want %+v", m, o.Mounts)
		}
		if MemoryLimit(got) != o.MemoryLimit {
			t.Fatalf("MemoryLimit = %d", MemoryLimit(got))
		}
	}
	// A spec with fields the compact form lacks is written in full.
	full := NewSpec(SpecOptions{Args: []string{"/a.wasm"}, Cwd: "/"})
	full.Process.Terminal = true
	full.Mounts = append(full.Mounts, specs.Mount{Destination: "/proc", Type: "proc", Source: "proc"})
	if _, ok := compact(full); ok {
		t.Fatal("a spec with process.terminal was written compactly")
	}
	dir := t.TempDir()
	if err := WriteSpec(dir, full, false); err != nil {
		t.Fatal(err)
	}
	got, _ := ReadSpec(dir)
	if len(got.Mounts) != 1 || len(BindMounts(got)) != 0 {
		t.Fatalf("full spec: mounts %+v", got.Mounts)
	}
}
