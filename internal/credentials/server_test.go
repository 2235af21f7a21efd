package credentials

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

func TestParseServer(t *testing.T) {
	hub := Server{Host: HubHost, Key: HubKey}
	tests := []struct {
		in   string
		want Server
		err  string // part of the error, "" for none
	}{
		{"", hub, ""},
		{"docker.io", hub, ""},
		{"index.docker.io", hub, ""},
		{"registry-1.docker.io", hub, ""},
		{"Docker.IO", hub, ""},
		{"https://index.docker.io/v1/", hub, ""},
		{"https://registry-1.docker.io", hub, ""},
		{"127.0.0.1:5000", Server{"127.0.0.1:5000", "127.0.0.1:5000"}, ""},
		{"http://127.0.0.1:5000/", Server{"127.0.0.1:5000", "127.0.0.1:5000"}, ""},
		{"HTTPS://ghcr.io/v2/x", Server{"ghcr.io", "ghcr.io"}, ""},
		{"localhost:5000", Server{"localhost:5000", "localhost:5000"}, ""},
		{"[::1]:5000", Server{"[::1]:5000", "[::1]:5000"}, ""},
		{"[::1]", Server{"[::1]", "[::1]"}, ""},
		{"my_registry.local", Server{"my_registry.local", "my_registry.local"}, ""},
		{"docker.io:5000", Server{"docker.io:5000", "docker.io:5000"}, ""},
		{"ftp://host", Server{}, `scheme "ftp"`},
		{"https://", Server{}, "no host"},
		{"/v1/", Server{}, "no host"},
		{":5000", Server{}, "no host"},
		{"host:", Server{}, "empty port"},
		{"host:0", Server{}, "port"},
		{"host:65536", Server{}, "port"},
		{"host:+5", Server{}, "port"},
		{"host:05", Server{}, "port"},
		{"host:x", Server{}, "port"},
		{"user@host", Server{}, `has '@'`},
		{"a b", Server{}, `has ' '`},
		{"[::1", Server{}, "unclosed"},
		{"[127.0.0.1]", Server{}, "not an IPv6"},
		{"[::1]x", Server{}, "unexpected"},
		{"[::1]:", Server{}, "empty port"},
		{"host:1:2", Server{}, "port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseServer(tt.in)
			if tt.err != "" {
				if err == nil || !errors.Is(err, ErrBadServer) || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseServer(%q) = %+v, %v; want an ErrBadServer with %q", tt.in, got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseServer(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

// A server ParseServer accepts names a registry go-containerregistry accepts, and its
// Host and Key parse to the same server again.
func FuzzParseServer(f *testing.F) {
	for _, s := range []string{"", "docker.io", "https://index.docker.io/v1/", "127.0.0.1:5000", "[::1]:443",
		"http://h/x", "a@b", "host:0", "[::1", "REGISTRY-1.docker.io"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		srv, err := ParseServer(s)
		if err != nil {
			if !errors.Is(err, ErrBadServer) {
				t.Fatalf("ParseServer(%q): error %v is not ErrBadServer", s, err)
			}
			return
		}
		if srv.Host == "" || strings.ContainsAny(srv.Host, "/@ ") || (srv.Key != srv.Host && srv.Key != HubKey) {
			t.Fatalf("ParseServer(%q) = %+v", s, srv)
		}
		if _, err := name.NewRegistry(srv.Host, name.StrictValidation); err != nil {
			t.Fatalf("ParseServer(%q) = %+v, which go-containerregistry refuses: %v", s, srv, err)
		}
		for _, again := range []string{srv.Host, srv.Key} {
			if s2, err := ParseServer(again); err != nil || s2 != srv {
				t.Fatalf("ParseServer(%q) = %+v, but ParseServer(%q) = %+v, %v", s, srv, again, s2, err)
			}
		}
	})
}
