package image

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
)

// ggcrParseName is ParseName as it was when it parsed with go-containerregistry
// (before berth had its own parser); ParseName must agree with it on every input.
func ggcrParseName(s string) (Name, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Name{}, fmt.Errorf("%w %q: a name looks like NAME[:TAG] or NAME@sha256:DIGEST", ErrInvalidName, s)
	}
	ref, err := name.ParseReference(s, name.WithDefaultTag(""))
	if err != nil {
		return Name{}, fmt.Errorf("%w %q: %v", ErrInvalidName, s, err)
	}
	repo := ref.Context()
	n := Name{Domain: repo.RegistryStr(), Path: repo.RepositoryStr()}
	if n.Domain == name.DefaultRegistry {
		n.Domain = "docker.io"
	}
	switch r := ref.(type) {
	case name.Tag:
		n.Tag = r.TagStr()
	case name.Digest:
		n.Digest = r.DigestStr()
		// "name:tag@sha256:…" keeps its tag in the original string.
		if before, _, ok := strings.Cut(s, "@"); ok {
			if i := strings.LastIndex(before, ":"); i > strings.LastIndex(before, "/") {
				n.Tag = before[i+1:]
			}
		}
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = "latest"
	}
	if len(n.Repository()) > 255 {
		return Name{}, fmt.Errorf("%w %q: the repository name %s is longer than 255 characters", ErrInvalidName, s, n.Repository())
	}
	return n, nil
}

var (
	sha256Hex = strings.Repeat("ab", 32)
	sha384Hex = strings.Repeat("0f", 48)
	sha512Hex = strings.Repeat("9e", 64)
)

// nameCases are inputs for the parity checks (and the fuzzer's seeds).
var nameCases = []string{
	// Docker Hub and official images.
	"hello", "hello:1", "org/app", "org/app:2", "a/b/c:d", "a/b/c/d/e/f",
	"docker.io/x", "docker.io/library/x", "docker.io/org/x:1", "index.docker.io/x",
	"index.docker.io/library/x", "index.docker.io/org/app:2", "Docker.io/x", "docker.io/x/",
	"registry-1.docker.io/x", "docker.io", "docker.io/", "library/x",
	// Registries.
	"localhost", "localhost/a", "localhost:5000", "localhost:5000/a", "localhost:5000/a:b",
	"localhost:/a", "localhost:5000:6000/a", "localhostx/a", "LOCALHOST/a", "Localhost:5000/a",
	"ghcr.io/a/b/c", "GHCR.io/a", "example.com:443/a", "example.com:/a", "example.com:x/a",
	"a.b.c.d:1/x", "127.0.0.1:5000/x", "127.0.0.1/x", "1.2.3.4:99999999/x", ":5000/x", "./x",
	"../x", ".:/x", "a:b:5000/x", "a:b/c", "a:b/c:d", "a.b@c/x", "user@host.com/x", "a%41.com/x",
	"a.b%25/x", "a.b#c/x", "a.b?c/x", "a.b?/x", "a.b /x", "a.b\t/x", "a.b\x7f/x", "a\\.b/x",
	"a.b^/x", "a.b`/x", "a.b{/x", "a.b|/x", "a.b}/x", "a.b]/x", "a.b[/x", "a.b!$&'()*+,;=~_-/x",
	`a."<>/x`, "exämple.com/x", "例え.jp/x", "a.\xff/x", "\xffa.b/x", "a.b:5٠/x",
	// IPv6 registries.
	"[::1]/a", "[::1]:5000/a", "[::1]:5000/a:b", "[::1]:/a", "[::1]x/a", "[::1]:5x/a",
	"[::]/a", "[::]:1/a", "[1:2:3:4:5:6:7:8]/a", "[1:2:3:4:5:6:7:8:9]/a", "[1:2:3:4:5:6:7::]/a",
	"[1::2::3]/a", "[::ffff:1.2.3.4]/a", "[::1.2.3.4]/a", "[1:2:3:4:5:6:1.2.3.4]/a",
	"[1:2:3:4:5:1.2.3.4]/a", "[1:2:3:4:5:6:7:1.2.3.4]/a", "[::1.2.3]/a", "[::1.2.3.4.5]/a",
	"[::01.2.3.4]/a", "[::1.2.3.256]/a", "[::1..2.3]/a", "[1.2.3.4]/a", "[1.2.3.4]:5/a",
	"[fe80::1%25en0]/a", "[fe80::1%en0]/a", "[12345::]/a", "[fFfF::]/a", "[::1]]/a",
	"[[::1]/a", "[::1/a", "::1/a", "[]/a", "[:]/a", "[::1::]/a", "[1:]/a", "[:1]/a",
	"[::1]:5000", "[::1]", "x[::1]/a", "[::1].com/a",
	// Paths.
	"UPPER/x", "Upper/Case", "x/UPPER", "a..b", "a__b", "a--b", "a___b", "-a", "a-", "_a", "a_",
	".a", "a.", "a/", "/a", "a//b", "a/./b", "a/../b", "localhost/", "localhost//a", "a.b/",
	"a.b//c", "a b", "a\tb", "ä", "a/ä", "a+b", "a:b:c", "x", "0", "a/0", "-", "/", "//",
	"a@b", "a:b@c",
	// Tags.
	"x:", "x::", "x:tag", "x:TAG", "x:.tag", "x:-tag", "x:_tag", "x:t.a-g_", "x:t@g", "x:t g",
	"x:" + strings.Repeat("t", 128), "x:" + strings.Repeat("t", 129), "x:ä", "x:/", "x:a/b",
	"localhost:5000/a:", "a.b:1/c:", ":", ":x", ":/x", "x:1:2", "http:x", "https:x",
	// Digests.
	"@sha256:" + sha256Hex, "x@sha256:" + sha256Hex, "x@sha384:" + sha384Hex, "x@sha512:" + sha512Hex,
	"x@sha256:" + sha256Hex[2:], "x@sha256:" + sha256Hex + "ab", "x@sha256:" + strings.ToUpper(sha256Hex),
	"x@sha256:" + sha384Hex, "x@sha384:" + sha256Hex, "x@sha512:" + sha256Hex, "x@sha1:" + strings.Repeat("a", 40),
	"x@md5:" + strings.Repeat("a", 32), "x@sha256", "x@sha256:", "x@:" + sha256Hex, "x@", "x@@sha256:" + sha256Hex,
	"x@sha256:" + sha256Hex + "@", "x@sha256:" + sha256Hex[1:] + "g", "x@SHA256:" + sha256Hex,
	"x@sha256+b64:" + sha256Hex, "x@sha256:" + sha256Hex + "\n", "x:tag@sha256:" + sha256Hex,
	"x:@sha256:" + sha256Hex, "x:TAG@sha256:" + sha256Hex, "x:t/g@sha256:" + sha256Hex,
	"localhost:5000@sha256:" + sha256Hex, "localhost:5000/x@sha256:" + sha256Hex,
	"localhost:5000/x:1@sha256:" + sha256Hex, "[::1]:5000/x:1@sha256:" + sha256Hex,
	"docker.io/x:1@sha256:" + sha256Hex, "a.b@sha256:" + sha256Hex + "/x",
	// URL schemes.
	"http://x", "https://x", "http://a.b/x", "https://localhost:5000/a:b", "HTTP://x", "ftp://x",
	"oci://x", "http:/x", "http//x",
	// Whitespace and unicode.
	" x", "x ", "\tx", "x\n", "x\u00a0", "\u00a0x", "x\u2028", "\u200bx", "x\x00", "",
	"ｈｅｌｌｏ", "héllo", "hello\xff",
	// Lengths: the repository (with "docker.io/library/" or the registry) is at most 255.
	strings.Repeat("a", 237), strings.Repeat("a", 238), strings.Repeat("a", 240),
	strings.Repeat("a", 247), strings.Repeat("a", 248), strings.Repeat("a", 255), strings.Repeat("a", 256),
	strings.Repeat("a", 237) + "@sha256:" + sha256Hex, strings.Repeat("a", 238) + ":1@sha256:" + sha256Hex,
	strings.Repeat("a", 248) + "@sha256:" + sha256Hex,
	"a/" + strings.Repeat("b", 243), "a/" + strings.Repeat("b", 244), "a/" + strings.Repeat("b", 253),
	"a/" + strings.Repeat("b", 254), "r.io/" + strings.Repeat("b", 250), "r.io/" + strings.Repeat("b", 251),
	"r.io/" + strings.Repeat("b", 255), "r.io/" + strings.Repeat("b", 256),
	strings.Repeat("r", 250) + ".io/a", strings.Repeat("r", 251) + ".io/a:1",
}

func TestParseName(t *testing.T) {
	tests := []struct {
		in, full, familiar string
		wantErr            bool
	}{
		{in: "hello", full: "docker.io/library/hello:latest", familiar: "hello:latest"},
		{in: "hello:1", full: "docker.io/library/hello:1", familiar: "hello:1"},
		{in: "docker.io/library/hello:1", full: "docker.io/library/hello:1", familiar: "hello:1"},
		{in: "docker.io/hello", full: "docker.io/library/hello:latest", familiar: "hello:latest"},
		{in: "index.docker.io/org/app:2", full: "docker.io/org/app:2", familiar: "org/app:2"},
		{in: "index.docker.io/hello", full: "docker.io/library/hello:latest", familiar: "hello:latest"},
		{in: "localhost:5000/ns/app:tag", full: "localhost:5000/ns/app:tag", familiar: "localhost:5000/ns/app:tag"},
		{in: "localhost/app", full: "localhost/app:latest", familiar: "localhost/app:latest"},
		{in: "localhost:5000", full: "docker.io/library/localhost:5000", familiar: "localhost:5000"},
		{in: "[::1]:5000/a:b", full: "[::1]:5000/a:b", familiar: "[::1]:5000/a:b"},
		{in: "ghcr.io/a/b/c", full: "ghcr.io/a/b/c:latest", familiar: "ghcr.io/a/b/c:latest"},
		{in: "a/b/c:d", full: "docker.io/a/b/c:d", familiar: "a/b/c:d"},
		{in: "app@sha256:" + sha256Hex, full: "docker.io/library/app@sha256:" + sha256Hex, familiar: "app@sha256:" + sha256Hex},
		{in: "app:v1@sha256:" + sha256Hex, full: "docker.io/library/app:v1@sha256:" + sha256Hex, familiar: "app:v1@sha256:" + sha256Hex},
		{in: "app@sha512:" + sha512Hex, full: "docker.io/library/app@sha512:" + sha512Hex, familiar: "app@sha512:" + sha512Hex},
		// go-containerregistry's rules, laxer than Docker's grammar, which refuses these.
		{in: "a..b", full: "docker.io/library/a..b:latest", familiar: "a..b:latest"},
		{in: "a/", full: "docker.io/a/:latest", familiar: "a/:latest"},
		{in: "x:-tag", full: "docker.io/library/x:-tag", familiar: "x:-tag"},
		{in: "", wantErr: true},
		{in: "Upper/Case", wantErr: true},
		{in: "UPPER/x", wantErr: true},
		{in: "a b", wantErr: true},
		{in: "app:", wantErr: true},
		{in: " hello", wantErr: true},
		{in: "localhost/", wantErr: true},
		{in: "http://x", wantErr: true},
		{in: "x@sha256:" + sha256Hex[2:], wantErr: true},
		{in: "x@sha256:" + strings.ToUpper(sha256Hex), wantErr: true},
		{in: "x@sha1:" + strings.Repeat("a", 40), wantErr: true},
		{in: "x:" + strings.Repeat("t", 129), wantErr: true},
		{in: "[fe80::1%25en0]/a", wantErr: true},
		{in: "a:b/c", wantErr: true},
		{in: strings.Repeat("a", 240), wantErr: true}, // "docker.io/library/" makes it 258
		{in: strings.Repeat("a", 237), full: "docker.io/library/" + strings.Repeat("a", 237) + ":latest", familiar: strings.Repeat("a", 237) + ":latest"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			n, err := ParseName(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.in)) {
					t.Fatalf("ParseName(%q) = %v, %v; want ErrInvalidName naming the input", tt.in, n, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n.String() != tt.full || n.Familiar() != tt.familiar {
				t.Fatalf("ParseName(%q) = %q / %q, want %q / %q", tt.in, n.String(), n.Familiar(), tt.full, tt.familiar)
			}
		})
	}
}

func TestParseNameErrors(t *testing.T) {
	for in, want := range map[string]string{
		"":                       `invalid image name "": a name looks like NAME[:TAG] or NAME@sha256:DIGEST`,
		"UPPER/x":                `invalid image name "UPPER/x": the repository "UPPER/x" must be 1 to 255 characters of a-z, 0-9, _, -, . and /; a name looks like NAME[:TAG] or NAME@sha256:DIGEST`,
		"x:":                     `the ":" is followed by no tag`,
		"x:a b":                  `the tag "a b" must be`,
		"localhost/":             `the registry localhost is followed by no repository`,
		"a:b/c":                  `the registry "a:b" is not a host name`,
		"x@sha256:abc":           `the digest "sha256:abc" is not`,
		"x@a@b":                  `at most one @`,
		"https://r.io/x":         `no URL scheme`,
		"@sha256:" + sha256Hex:   `the repository is missing`,
		strings.Repeat("a", 240): `is longer than 255 characters`,
	} {
		_, err := ParseName(in)
		if !errors.Is(err, ErrInvalidName) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseName(%q) = %v, want an error with %q", in, err, want)
		}
	}
}

// checkParity fails t unless ParseName and ggcrParseName agree on s.
func checkParity(t *testing.T, s string) {
	t.Helper()
	n, err := ParseName(s)
	want, werr := ggcrParseName(s)
	if (err == nil) != (werr == nil) || n != want {
		t.Fatalf("ParseName(%q) = %+v, %v\ngo-containerregistry: %+v, %v", s, n, err, want, werr)
	}
	if err != nil && !errors.Is(err, ErrInvalidName) {
		t.Fatalf("ParseName(%q): error %v does not wrap ErrInvalidName", s, err)
	}
}

func TestParseNameParity(t *testing.T) {
	for _, s := range nameCases {
		checkParity(t, s)
	}
}

func FuzzParseName(f *testing.F) {
	for _, s := range nameCases {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		checkParity(t, s)
		n, err := ParseName(s)
		if err != nil {
			return
		}
		// A parsed name parses again to itself.
		n2, err := ParseName(n.String())
		if err != nil || n2 != n {
			t.Fatalf("round trip of %q: %q -> %+v, %v", s, n.String(), n2, err)
		}
	})
}

// registryCases are registries for TestValidRegistry, beyond those in nameCases.
var registryCases = []string{
	"", "a", "a.b", "a:1", "a:", ":", "::", ":1:2", "a:1:2", "a::1", "[", "]", "[]", "[]:1",
	"[::1]", "[::1]:", "[::1]:65536", "[::1]:1:2", "[::1]]", "[::1]x", "[::1", "[[::1]]",
	"[1:2:3:4:5:6:7:8]", "[::ffff:127.0.0.1]", "[::127.0.0.1]", "[1:2::3:4:5:6:7:8]",
	"[0:0:0:0:0:0:0:0:0]", "[1::1.2.3.4]", "[1:2:3:4:5:6::1.2.3.4]", "[1:2:3:4:5:6:7::1.2.3.4]",
	"[::1.2.3.04]", "[::0.0.0.0]", "[::1.2.3.4:5]", "[:::1]", "[1:::]", "[fe80::1%en0]",
	"[fe80::1%25en0]", "[::1%25]", "[::%31]", "[a.b]", "[1.2.3.4]", "[::g]", "[ ::1]",
	"a b", "a%20b", "a%2", "a%", "a#", "a?", "a?b", "a@b", "@", "#", "?", "a\x00", "a\x1f",
	"a\x7f", "a\x80", "a\xff:1", "é:1", "a:é", "a:1é", "a]:1", "a[", "a.b:0", "a.b:00000000000000000000",
	"*", "a*", "%41", "a+b", "localhost", "LOCALHOST:1",
}

// TestValidRegistry checks validRegistry against what go-containerregistry
// asks of a registry: url.Parse("//"+r) succeeds with Host r.
func TestValidRegistry(t *testing.T) {
	cases := append([]string(nil), registryCases...)
	for _, s := range nameCases {
		if first, _, ok := strings.Cut(s, "/"); ok {
			cases = append(cases, first)
		}
	}
	for _, r := range cases {
		if strings.Contains(r, "/") {
			continue
		}
		u, err := url.Parse("//" + r)
		want := err == nil && u.Host == r
		if r == "" {
			want = false // ParseName never asks about an empty registry
		}
		if got := validRegistry(r); got != want {
			t.Errorf("validRegistry(%q) = %v, net/url says %v (%v)", r, got, want, err)
		}
	}
}

// FuzzValidRegistry checks validRegistry against net/url on inputs that
// FuzzParseName seldom reaches (bracketed IPv6 among them).
func FuzzValidRegistry(f *testing.F) {
	for _, r := range registryCases {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, r string) {
		if r == "" || strings.Contains(r, "/") {
			return
		}
		u, err := url.Parse("//" + r)
		if want := err == nil && u.Host == r; validRegistry(r) != want {
			t.Fatalf("validRegistry(%q) = %v, net/url says %v (%v)", r, !want, want, err)
		}
	})
}
