package bundle

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/jsonlite/jsonlitetest"
)

// TestSpecFileFields fails when specFile or specs.Mount gains a field: specFile.marshal
// writes them by hand.
func TestSpecFileFields(t *testing.T) {
	var names []string
	var walk func(reflect.Type, string)
	walk = func(typ reflect.Type, prefix string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < typ.NumField(); i++ {
			f := typ.Field(i)
			names = append(names, prefix+f.Name+" "+f.Tag.Get("json"))
			walk(f.Type, prefix+f.Name+".")
		}
	}
	walk(reflect.TypeOf(specFile{}), "")
	want := []string{"Version ociVersion", "Process process", "Process.Args args", "Process.Env env,omitempty", "Process.Cwd cwd",
		"Root root", "Root.Path path", "Root.Readonly readonly,omitempty", "Hostname hostname,omitempty",
		"Mounts mounts,omitempty", "Mounts.Destination destination", "Mounts.Type type,omitempty", "Mounts.Source source,omitempty",
		"Mounts.Options options,omitempty", "Mounts.UIDMappings uidMappings,omitempty", "Mounts.UIDMappings.ContainerID containerID",
		"Mounts.UIDMappings.HostID hostID", "Mounts.UIDMappings.Size size", "Mounts.GIDMappings gidMappings,omitempty",
		"Mounts.GIDMappings.ContainerID containerID", "Mounts.GIDMappings.HostID hostID", "Mounts.GIDMappings.Size size",
		"Linux linux,omitempty", "Linux.Resources resources,omitempty", "Linux.Resources.Memory memory,omitempty",
		"Linux.Resources.Memory.Limit limit,omitempty", "Annotations annotations,omitempty"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("specFile's fields are\n%q\nupdate specFile.marshal and this test (want\n%q)", names, want)
	}
}

func TestSpecFileMarshalMatchesEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	g := jsonlitetest.Gen{R: r}
	str, list := g.String, g.List
	for i := 0; i < 2000; i++ {
		var mounts []Mount
		for j := r.IntN(3); j > 0; j-- {
			mounts = append(mounts, Mount{Source: str(), Destination: str(), ReadOnly: r.IntN(2) == 0})
		}
		var ann map[string]string
		if r.IntN(3) > 0 {
			ann = map[string]string{}
			for j := r.IntN(4); j > 0; j-- {
				ann[str()+str()] = str()
			}
		}
		s := NewSpec(SpecOptions{Args: list(), Env: list(), Cwd: str(), Hostname: str(), Mounts: mounts,
			MemoryLimit: int64(r.IntN(3)) << 20, Annotations: ann})
		s.Root.Readonly = r.IntN(2) == 0
		if r.IntN(4) == 0 && len(s.Mounts) > 0 {
			s.Mounts[0].Type, s.Mounts[0].Options = "", nil
		}
		f, ok := compact(s)
		if !ok {
			t.Fatalf("compact refused %+v", s)
		}
		want, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if got := f.marshal(); !bytes.Equal(got, want) {
			t.Fatalf("marshal:\n%s\nencoding/json:\n%s", got, want)
		}
	}
	// Empty nested objects, which NewSpec does not make.
	f := &specFile{Linux: &specFileLinux{}}
	want, _ := json.MarshalIndent(f, "", "  ")
	if got := f.marshal(); !bytes.Equal(got, want) {
		t.Errorf("marshal:\n%s\nencoding/json:\n%s", got, want)
	}
	// Mounts with ID mappings are written by encoding/json.
	s := NewSpec(SpecOptions{Args: []string{"/a.wasm"}, Mounts: []Mount{{Source: "/s", Destination: "/d"}}})
	s.Mounts[0].UIDMappings = []specs.LinuxIDMapping{{ContainerID: 0, HostID: 1000, Size: 1}}
	if _, ok := compact(s); ok {
		t.Error("compact accepted a mount with uidMappings, which specFile.marshal does not write")
	}
}
