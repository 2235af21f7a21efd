package cli

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/bundle"
)

func TestParseVolume(t *testing.T) {
	tests := []struct {
		spec string
		want bundle.Mount
		err  string
	}{
		{spec: "/srv/data:/data", want: bundle.Mount{Source: "/srv/data", Destination: "/data"}},
		{spec: "/srv/data:/data:ro", want: bundle.Mount{Source: "/srv/data", Destination: "/data", ReadOnly: true}},
		{spec: "/srv/data:/data/:rw,z", want: bundle.Mount{Source: "/srv/data", Destination: "/data"}},
		{spec: "./data:/data", want: bundle.Mount{Source: "/home/u/data", Destination: "/data"}},
		{spec: "data:/data", err: "named volumes"},
		{spec: "/a:rel", err: "must be absolute"},
		{spec: "/a:/", want: bundle.Mount{Source: "/a", Destination: "/"}},
		{spec: "/:/:ro", want: bundle.Mount{Source: "/", Destination: "/", ReadOnly: true}},
		{spec: "/a", err: "HOST_DIR:CONTAINER_DIR"},
		{spec: "/a:/b:ro:x", err: "HOST_DIR:CONTAINER_DIR"},
		{spec: "/a:/b:rx", err: "unknown option"},
		{spec: ":/b", err: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.spec, func(t *testing.T) {
			got, err := ParseVolume(tt.spec, "/home/u")
			if tt.err != "" {
				if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseEnv(t *testing.T) {
	lookup := func(k string) (string, bool) {
		if k == "HOSTVAR" {
			return "from host", true
		}
		return "", false
	}
	got, err := ParseEnv([]string{"A=1", "B=", "C=x=y", "HOSTVAR", "UNSET"}, lookup)
	want := []string{"A=1", "B=", "C=x=y", "HOSTVAR=from host"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"=x", "A B=1", ""} {
		if _, err := ParseEnv([]string{bad}, lookup); !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseEnv(%q) err = %v", bad, err)
		}
	}
}

func TestParseEnvFile(t *testing.T) {
	in := "\ufeff# comment\n\nA=1\n  B=\"quoted\"\nHOSTVAR\nUNSET\n"
	got, err := ParseEnvFile(strings.NewReader(in), "f.env", func(k string) (string, bool) { return "h", k == "HOSTVAR" })
	want := []string{"A=1", "B=\"quoted\"", "HOSTVAR=h"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, %v", got, err)
	}
	_, err = ParseEnvFile(strings.NewReader("OK=1\nBAD KEY=1\n"), "f.env", nil)
	if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "f.env:2") {
		t.Fatalf("err = %v, want one naming f.env:2", err)
	}
}

func TestParseMemory(t *testing.T) {
	tests := map[string]int64{"64k": 64 << 10, "1m": 1 << 20, "512MB": 512 << 20, "1g": 1 << 30, "1.5g": 3 << 29, "65536": 65536, "65536b": 65536}
	for in, want := range tests {
		if got, err := ParseMemory(in); err != nil || got != want {
			t.Errorf("ParseMemory(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "x", "1t", "-1m", "10k", "b", "m"} {
		if _, err := ParseMemory(bad); !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseMemory(%q) err = %v", bad, err)
		}
	}
}

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"/a:/b", "/a:/b:ro", "./x:/y:rw,z", "a:b:c:d", ":"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseVolume(s, "/cwd")
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("error does not wrap ErrBadSpec: %v", err)
			}
			return
		}
		if !strings.HasPrefix(m.Source, "/") || !strings.HasPrefix(m.Destination, "/") || filepath.Clean(m.Destination) != m.Destination {
			t.Fatalf("accepted %q as %+v", s, m)
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	f.Add("A=1\n#c\nB\n")
	f.Add("\ufeffX=\"y\"\n  \n")
	f.Fuzz(func(t *testing.T, s string) {
		env, err := ParseEnvFile(strings.NewReader(s), "f", func(string) (string, bool) { return "v", true })
		if err != nil {
			return
		}
		for _, kv := range env {
			if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
				t.Fatalf("bad entry %q from %q", kv, s)
			}
		}
	})
}

func FuzzParseMemory(f *testing.F) {
	for _, s := range []string{"64m", "1g", "100000", "1.5k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseMemory(s)
		if err == nil && (n < 64<<10 || n > 1<<40) {
			t.Fatalf("ParseMemory(%q) = %d", s, n)
		}
	})
}
