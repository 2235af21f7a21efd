package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/jsonlite"
)

func hashOf(c byte) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: strings.Repeat(string(c), 64)}
}

// entries renders an index as "name=digest-char" strings ("-" for dangling).
func entries(idx *v1.IndexManifest) []string {
	out := []string{}
	for _, d := range idx.Manifests {
		n := descName(d)
		if n == "" {
			n = "-"
		}
		if d.Annotations[annotationRefName] != d.Annotations[annotationContainerdName] {
			n += "(annotations differ)"
		}
		out = append(out, n+"="+d.Digest.Hex[:1])
	}
	return out
}

func TestIndexOps(t *testing.T) {
	desc := func(c byte) v1.Descriptor {
		return v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 10, Digest: hashOf(c)}
	}
	type op func(*v1.IndexManifest) bool
	set := func(name string, c byte) op {
		return func(idx *v1.IndexManifest) bool { setName(idx, name, desc(c)); return true }
	}
	rmName := func(name string) op {
		return func(idx *v1.IndexManifest) bool { ok := removeName(idx, name); normalize(idx); return ok }
	}
	rmDigest := func(c byte) op {
		return func(idx *v1.IndexManifest) bool { ok := removeDigest(idx, hashOf(c)); normalize(idx); return ok }
	}
	tests := []struct {
		name   string
		start  []v1.Descriptor
		ops    []op
		wantOK []bool
		want   []string
	}{
		{"name a new image", nil, []op{set("x:1", 'a')}, []bool{true}, []string{"x:1=a"}},
		{"second name", nil, []op{set("x:1", 'a'), set("x:2", 'a')}, []bool{true, true}, []string{"x:1=a", "x:2=a"}},
		{"same name twice", nil, []op{set("x:1", 'a'), set("x:1", 'a')}, []bool{true, true}, []string{"x:1=a"}},
		{"dangling entry replaced by name", []v1.Descriptor{desc('a')}, []op{set("x:1", 'a')}, []bool{true}, []string{"x:1=a"}},
		{"move leaves old image dangling", nil, []op{set("x:1", 'a'), set("x:1", 'b')}, []bool{true, true}, []string{"x:1=b", "-=a"}},
		{"move keeps other names of old image", nil, []op{set("x:1", 'a'), set("y:1", 'a'), set("x:1", 'b')}, []bool{true, true, true}, []string{"x:1=b", "y:1=a"}},
		{"untag last name leaves dangling", nil, []op{set("x:1", 'a'), rmName("x:1")}, []bool{true, true}, []string{"-=a"}},
		{"untag unknown", nil, []op{set("x:1", 'a'), rmName("nope")}, []bool{true, false}, []string{"x:1=a"}},
		{"remove drops all names", nil, []op{set("x:1", 'a'), set("y:1", 'a'), set("z:1", 'b'), rmDigest('a')}, []bool{true, true, true, true}, []string{"z:1=b"}},
		{"remove dangling", []v1.Descriptor{desc('a')}, []op{rmDigest('a')}, []bool{true}, []string{}},
		{"remove unknown", nil, []op{set("x:1", 'a'), rmDigest('c')}, []bool{true, false}, []string{"x:1=a"}},
		{"sorted, dangling last", []v1.Descriptor{desc('c'), desc('d')}, []op{set("z", 'a'), set("b", 'b')}, []bool{true, true}, []string{"b=b", "z=a", "-=c", "-=d"}},
		{"duplicate dangling collapse", []v1.Descriptor{desc('a'), desc('a')}, []op{rmName("none")}, []bool{false}, []string{"-=a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx := &v1.IndexManifest{Manifests: append([]v1.Descriptor(nil), tt.start...)}
			for i, o := range tt.ops {
				if got := o(idx); got != tt.wantOK[i] {
					t.Errorf("op %d returned %v, want %v", i, got, tt.wantOK[i])
				}
			}
			if got := entries(idx); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("index = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDescNameFallsBackToOCIRefName(t *testing.T) {
	d := v1.Descriptor{Annotations: map[string]string{annotationRefName: "latest", "other": "kept"}}
	if got := descName(d); got != "latest" {
		t.Errorf("descName = %q, want %q", got, "latest")
	}
	named := withName(d, "docker.io/library/x:1")
	if named.Annotations["other"] != "kept" || descName(named) != "docker.io/library/x:1" || named.Annotations[annotationRefName] != "docker.io/library/x:1" {
		t.Errorf("withName = %v", named.Annotations)
	}
	if d.Annotations[annotationRefName] != "latest" {
		t.Error("withName modified its argument")
	}
}

func TestParseIndex(t *testing.T) {
	good := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"%s","annotations":{"io.containerd.image.name":"x:1"}}]}`, hashOf('a'))
	tests := []struct {
		name    string
		data    string
		wantErr string // "" for success
	}{
		{"good", good, ""},
		{"empty manifests", `{"schemaVersion":2,"manifests":[]}`, ""},
		{"null manifests", `{"schemaVersion":2,"manifests":null}`, ""},
		{"empty file", ``, "unexpected end of JSON input"},
		{"not json", `hello`, "invalid character"},
		{"truncated", good[:len(good)/2], "unexpected end of JSON input"},
		{"trailing data", good + `{}`, "after top-level value"},
		{"trailing bracket", good + `]`, "after top-level value"},
		{"schema 1", `{"schemaVersion":1,"manifests":[]}`, "schemaVersion is 1"},
		{"manifest media type", `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`, "mediaType"},
		{"bad digest", `{"schemaVersion":2,"manifests":[{"digest":"sha256:../../etc/passwd","size":1}]}`, "non-hex"},
		{"short digest", `{"schemaVersion":2,"manifests":[{"digest":"sha256:abc","size":1}]}`, "wrong number of hex digits"},
		{"no digest", `{"schemaVersion":2,"manifests":[{"size":1}]}`, "no digest"},
		{"negative size", fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"digest":"%s","size":-1}]}`, hashOf('b')), "negative size"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			idx, err := parseIndex("/store/index.json", []byte(tt.data))
			// The lookup parser agrees on everything it reads; its syntax errors are
			// worded differently.
			lidx, lerr := parseIndexLookup("/store/index.json", []byte(tt.data))
			if (err == nil) != (lerr == nil) {
				t.Errorf("parseIndexLookup = %v, parseIndex = %v", lerr, err)
			}
			if lerr != nil && (!strings.Contains(lerr.Error(), "/store/index.json") || !strings.Contains(lerr.Error(), "damaged")) {
				t.Errorf("parseIndexLookup's error %q does not name the file", lerr)
			}
			if err == nil && !reflect.DeepEqual(lookupView(idx), lookupView(lidx)) {
				t.Errorf("parseIndexLookup read %+v, parseIndex %+v", lookupView(lidx), lookupView(idx))
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tt.name == "good" && (len(idx.Manifests) != 1 || descName(idx.Manifests[0]) != "x:1") {
					t.Errorf("parsed %+v", idx)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.wantErr)
			}
			for _, want := range []string{tt.wantErr, "/store/index.json", "damaged"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func FuzzIndex(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}`))
	f.Add(fmt.Appendf(nil, `{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","size":3,"digest":"%s","annotations":{"io.containerd.image.name":"x:1"}},{"size":3,"digest":"%s"}]}`, hashOf('a'), hashOf('b')))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"digest":"sha512:00","size":-4}]}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"SchemaVersion":2,"Manifests":null,"mediaType":null}`))
	f.Add([]byte(`{"schemaVersion":2,"schemaVersion":2}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[{"size":1.5,"digest":"x"}]}`))
	f.Add([]byte(`{"schemaVersion":2,"manifests":[]}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		idx, err := parseIndex("index.json", data)
		lidx, lerr := parseIndexLookup("index.json", data)
		switch {
		case err == nil && lerr != nil:
			// A member named twice is the one thing a lookup refuses that encoding/json
			// accepts (see lookupIndex).
			if !errors.Is(lerr, jsonlite.ErrDuplicate) {
				t.Fatalf("parseIndexLookup refused what parseIndex accepts: %v", lerr)
			}
		case err == nil && !reflect.DeepEqual(lookupView(idx), lookupView(lidx)):
			t.Fatalf("parseIndexLookup read %+v, parseIndex %+v", lookupView(lidx), lookupView(idx))
		case lerr == nil && err != nil:
			// It ignores the fields it does not read; what it returns must still be sound.
			for _, d := range lidx.Manifests {
				if _, err := v1.NewHash(d.Digest.String()); err != nil || d.Size < 0 {
					t.Fatalf("parseIndexLookup accepted %+v", d)
				}
			}
		}
		if err != nil {
			if !strings.Contains(err.Error(), "index.json") {
				t.Fatalf("error does not name index.json: %v", err)
			}
			return
		}
		// What parses must survive the index operations and a round trip.
		for _, d := range idx.Manifests {
			if _, err := v1.NewHash(d.Digest.String()); err != nil {
				t.Fatalf("accepted invalid digest %q", d.Digest)
			}
		}
		setName(idx, "fuzz:1", v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: 1, Digest: hashOf('f')})
		removeName(idx, "fuzz:1")
		normalize(idx)
		idx.SchemaVersion = 2
		out, err := json.Marshal(idx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseIndex("index.json", out); err != nil {
			t.Fatalf("re-encoded index does not parse: %v", err)
		}
	})
}

// lookupView is what a lookup reads of an index: parseIndexLookup must agree on it with parseIndex.
func lookupView(idx *v1.IndexManifest) *v1.IndexManifest {
	out := &v1.IndexManifest{SchemaVersion: idx.SchemaVersion, MediaType: idx.MediaType}
	for _, d := range idx.Manifests {
		out.Manifests = append(out.Manifests, v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest, Annotations: d.Annotations})
	}
	return out
}
