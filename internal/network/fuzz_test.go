package network

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParsePort checks ParsePort never panics, fails only with ErrInvalidPort, and
// that what it accepts is well formed and formats back to a spec that parses to the
// same mappings.
func FuzzParsePort(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:18080:8080/tcp", "127.0.0.1::80", "[::1]:8080:80/udp",
		"::1:8080:80", "8000-8010:80", "8000-8001:80-81", "80-82/udp", "", ":", "[", "[]:1:1", "1-0", "0:0/sctp"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ms, err := ParsePort(spec)
		if err != nil {
			if !errors.Is(err, ErrInvalidPort) {
				t.Fatalf("ParsePort(%q) error %v does not wrap ErrInvalidPort", spec, err)
			}
			return
		}
		if len(ms) == 0 || len(ms) > 65535 {
			t.Fatalf("ParsePort(%q) = %d mappings", spec, len(ms))
		}
		for _, m := range ms {
			if m.ContainerPort == 0 || (m.Proto != "tcp" && m.Proto != "udp") || m.HostPortEnd < m.HostPort ||
				(m.HostPort == 0) != (m.HostPortEnd == 0) || m.HostIP.Zone() != "" || m.HostIP.Is4In6() {
				t.Fatalf("ParsePort(%q) gave a malformed mapping %+v", spec, m)
			}
			back, err := ParsePort(m.String())
			if err != nil || len(back) != 1 || back[0] != m {
				t.Fatalf("ParsePort(%q) mapping %+v formats as %q, which parses to %+v, %v", spec, m, m.String(), back, err)
			}
		}
	})
}

// FuzzParseHostRule checks ParseHostRule never panics, fails only with
// ErrInvalidHost, and that a rule it accepts formats back to itself.
func FuzzParseHostRule(f *testing.F) {
	for _, s := range []string{"example.com", "*.example.com:443", "10.0.0.0/8", "10.1.2.3/8", "[2001:db8::/32]:80-90",
		"::ffff:10.0.0.0/104", "192.0.2.1:53", "fe80::1%eth0", "", "*", "a..b", "1.2.3", "[::1]:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseHostRule(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidHost) {
				t.Fatalf("ParseHostRule(%q) error %v does not wrap ErrInvalidHost", s, err)
			}
			return
		}
		if (r.Name != "") == r.Prefix.IsValid() || r.PortHi < r.PortLo || (r.PortLo == 0) != (r.PortHi == 0) {
			t.Fatalf("ParseHostRule(%q) = %+v: malformed", s, r)
		}
		if r.Name != "" && (r.Name != strings.ToLower(r.Name) || strings.HasSuffix(r.Name, ".")) {
			t.Fatalf("ParseHostRule(%q) name %q not normalized", s, r.Name)
		}
		back, err := ParseHostRule(r.String())
		if err != nil || back != r {
			t.Fatalf("ParseHostRule(%q) = %+v formats as %q, which parses to %+v, %v", s, r, r.String(), back, err)
		}
	})
}

// FuzzFromAnnotations checks FromAnnotations never panics, fails only with
// ErrInvalidAnnotation, and that what it accepts is written back by Annotate to
// annotations that read the same.
func FuzzFromAnnotations(f *testing.F) {
	f.Add("default", "127.0.0.1:18080:8080/tcp,8443:443/udp", "*.example.com,10.0.0.0/8:53", "192.0.2.1")
	f.Add("none", "", "", "")
	f.Add("host", "1:1", "[::1]:443", "a.b")
	f.Add("default", "127.0.0.1::80", ",", "")
	f.Fuzz(func(t *testing.T, mode, publish, allow, deny string) {
		ann := map[string]string{AnnotationMode: mode, AnnotationPublish: publish, AnnotationAllowHost: allow, AnnotationDenyHost: deny}
		o, ok, err := FromAnnotations(ann)
		if err != nil {
			if !errors.Is(err, ErrInvalidAnnotation) {
				t.Fatalf("FromAnnotations(%q) error %v does not wrap ErrInvalidAnnotation", ann, err)
			}
			return
		}
		if !ok {
			t.Fatalf("FromAnnotations(%q) did not see %s", ann, AnnotationMode)
		}
		back := map[string]string{}
		Annotate(back, o)
		o2, _, err := FromAnnotations(back)
		if err != nil || !reflect.DeepEqual(o, o2) {
			t.Fatalf("%q read as %+v, written as %q, read back as %+v, %v", ann, o, back, o2, err)
		}
	})
}
