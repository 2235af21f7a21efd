package logs

import (
	"errors"
	"strings"
	"testing"
)

func TestURI(t *testing.T) {
	for _, tc := range []struct {
		path string
		opts Options
		uri  string
	}{
		{"/var/lib/berth/containers/c1/c1-json.log", Options{}, "json-file:///var/lib/berth/containers/c1/c1-json.log"},
		{"/l/c-json.log", Options{MaxSize: 10_000_000, MaxFile: 3}, "json-file:///l/c-json.log?max-file=3&max-size=10000000"},
		{"/l/c-json.log", Options{MaxSize: 1000}, "json-file:///l/c-json.log?max-size=1000"},
		{"/a dir/with?query#x", Options{}, "json-file:///a%20dir/with%3Fquery%23x"},
	} {
		uri := URI(tc.path, tc.opts)
		if uri != tc.uri {
			t.Errorf("URI(%q, %+v) = %q, want %q", tc.path, tc.opts, uri, tc.uri)
		}
		path, opts, err := ParseURI(uri)
		if err != nil || path != tc.path || opts != tc.opts {
			t.Errorf("ParseURI(%q) = %q, %+v, %v; want %q, %+v", uri, path, opts, err, tc.path, tc.opts)
		}
	}
}

func TestParseURI(t *testing.T) {
	good := []struct {
		uri  string
		path string
		opts Options
	}{
		{"json-file:///x/c-json.log?max-size=10m&max-file=3", "/x/c-json.log", Options{MaxSize: 10_000_000, MaxFile: 3}},
		{"json-file:///x/c-json.log?compress=false", "/x/c-json.log", Options{}},
		{"json-file:/x/c-json.log", "/x/c-json.log", Options{}},
	}
	for _, tc := range good {
		path, opts, err := ParseURI(tc.uri)
		if err != nil || path != tc.path || opts != tc.opts {
			t.Errorf("ParseURI(%q) = %q, %+v, %v; want %q, %+v", tc.uri, path, opts, err, tc.path, tc.opts)
		}
	}
	bad := []struct{ uri, says string }{
		{"file:///x/c-json.log", "the scheme must be json-file://"},
		{"/x/c-json.log", "the scheme must be json-file://"},
		{"json-file://host/x.log", "three slashes, no host"},
		{"json-file:x.log", "three slashes, no host"},
		{"json-file:///x.log#frag", "three slashes, no host"},
		{"json-file:///", "clean absolute path"},
		{"json-file:///a/../b.log", "clean absolute path"},
		{"json-file:///a.log?max-size=10m&max-size=1m", "max-size is given 2 times"},
		{"json-file:///a.log?max-size=ten", "max-size"},
		{"json-file:///a.log?max-file=3", "needs max-size"},
		{"json-file:///a.log?tag=x", "not supported"},
		{"json-file:///a.log?%zz", "invalid URL escape"},
		{"json-file:///a.log?max-size=1m;x", "invalid semicolon"},
		{"json-file://%zz/", "invalid URL escape"},
	}
	for _, tc := range bad {
		_, _, err := ParseURI(tc.uri)
		if !errors.Is(err, ErrBadURI) || !strings.Contains(err.Error(), tc.says) {
			t.Errorf("ParseURI(%q) = %v, want %v saying %q", tc.uri, err, ErrBadURI, tc.says)
		}
	}
}

// FuzzParseURI: ParseURI never panics; what it accepts is a clean absolute path with
// valid options, and URI of its result parses back to the same.
func FuzzParseURI(f *testing.F) {
	for _, s := range []string{"json-file:///x/c-json.log?max-size=10m&max-file=3", "json-file:///a b", "json-file://h/x", "json-file:///a.log?max-file=3", "file:///x", "json-file:///%2e%2e/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		path, opts, err := ParseURI(uri)
		if err != nil {
			if !errors.Is(err, ErrBadURI) {
				t.Fatalf("ParseURI(%q) = %v, not wrapping ErrBadURI", uri, err)
			}
			return
		}
		if path == "" || path[0] != '/' || opts.MaxSize < 0 || opts.MaxFile < 0 {
			t.Fatalf("ParseURI(%q) accepted %q, %+v", uri, path, opts)
		}
		p2, o2, err := ParseURI(URI(path, opts))
		if err != nil || p2 != path || o2 != opts {
			t.Fatalf("ParseURI(URI(%q, %+v)) = %q, %+v, %v", path, opts, p2, o2, err)
		}
	})
}
