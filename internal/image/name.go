package image

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// ErrInvalidName is returned (wrapped) for a reference that is not a valid image name.
var ErrInvalidName = errors.New("invalid image name")

// Name is a normalised image reference: Domain "docker.io", Path "library/hello",
// Tag "1" and/or Digest "sha256:…".
type Name struct {
	Domain string
	Path   string
	Tag    string
	Digest string
}

// nameShape ends the error of a name that does not parse.
const nameShape = "a name looks like NAME[:TAG] or NAME@sha256:DIGEST"

// ParseName parses a reference the way `docker` does: "hello", "hello:1",
// "org/app@sha256:…", "localhost:5000/ns/app:tag". Without tag or digest the tag is "latest".
//
// It accepts exactly the names go-containerregistry's name.ParseReference
// accepts (which berth used before; see parseName), and normalises them as
// Docker does: the registry "index.docker.io" is "docker.io", a one-part Docker
// Hub path is under "library/", and "name:tag@digest" keeps its tag.
func ParseName(s string) (Name, error) {
	if s == "" || strings.TrimSpace(s) != s {
		return Name{}, fmt.Errorf("%w %q: %s", ErrInvalidName, s, nameShape)
	}
	n, why := parseName(s)
	if why != "" {
		return Name{}, fmt.Errorf("%w %q: %s; %s", ErrInvalidName, s, why, nameShape)
	}
	if n.Tag == "" && n.Digest == "" {
		n.Tag = "latest"
	}
	// As in Docker's reference grammar, the normalised repository name ("docker.io/library/x")
	// is at most 255 characters, so that every name berth accepts also parses in full form.
	if len(n.Repository()) > 255 {
		return Name{}, fmt.Errorf("%w %q: the repository name %s is longer than 255 characters", ErrInvalidName, s, n.Repository())
	}
	return n, nil
}

// parseName splits s into [REGISTRY/]PATH[:TAG][@DIGEST] by the rules of
// go-containerregistry v0.22's name.ParseReference (weak validation, no default
// tag), or says what is wrong with it. Those rules are laxer than Docker's
// grammar, and berth keeps them so that every name it took before still parses
// to the same thing:
//
//   - The first "/"-separated part is the registry when it is "localhost" or
//     holds a "." or ":"; Docker Hub (docker.io) otherwise.
//   - The registry is whatever Go's net/url takes as a URI authority that is
//     only a host[:port] ([validRegistry]); its case is kept.
//   - The path is 1 to 255 of a-z 0-9 _ - . / in any order: "a..b", "a___b",
//     "-a", "/a" and "a//b" pass. Docker's grammar refuses them: there a path
//     component is runs of a-z 0-9 joined by ".", "_", "__" or "-"s, and
//     components are joined by single "/"s.
//   - The tag follows the last ":" that has no "/" after it: 1 to 128 of
//     A-Z a-z 0-9 _ . -, and it may start with "." or "-" (not in Docker's grammar).
//   - The digest, after the only "@", is sha256, sha384 or sha512, a ":",
//     and 64, 96 or 128 lowercase hex digits.
func parseName(s string) (Name, string) {
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		return Name{}, "a name has no URL scheme (http:// or https://)"
	}
	var n Name
	rest := s
	at := strings.IndexByte(s, '@')
	if at >= 0 {
		rest, n.Digest = s[:at], s[at+1:]
		if strings.IndexByte(n.Digest, '@') >= 0 {
			return Name{}, "a name holds at most one @, before its digest"
		}
	}
	colon := strings.LastIndexByte(rest, ':')
	tagged := colon > strings.LastIndexByte(rest, '/')
	if tagged {
		rest, n.Tag = rest[:colon], rest[colon+1:]
	}
	if rest == "" {
		return Name{}, "the repository is missing"
	}
	n.Path = rest
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		if first := rest[:i]; first == "localhost" || strings.ContainsAny(first, ".:") {
			n.Domain, n.Path = first, rest[i+1:]
		}
	}
	switch {
	case n.Path == "":
		return Name{}, fmt.Sprintf("the registry %s is followed by no repository", n.Domain)
	case !validPath(n.Path):
		return Name{}, fmt.Sprintf("the repository %q must be 1 to 255 characters of a-z, 0-9, _, -, . and /", n.Path)
	case n.Domain != "" && !validRegistry(n.Domain):
		return Name{}, fmt.Sprintf("the registry %q is not a host name or IP address with an optional :port", n.Domain)
	case tagged && n.Tag == "":
		return Name{}, "the \":\" is followed by no tag"
	case tagged && !validTag(n.Tag):
		return Name{}, fmt.Sprintf("the tag %q must be 1 to 128 characters of A-Z, a-z, 0-9, _, . and -", n.Tag)
	case at >= 0 && !validDigest(n.Digest):
		return Name{}, fmt.Sprintf("the digest %q is not sha256:, sha384: or sha512: and 64, 96 or 128 lowercase hex digits", n.Digest)
	}
	switch n.Domain {
	case "", "docker.io", "index.docker.io":
		n.Domain = "docker.io"
		if strings.IndexByte(n.Path, '/') < 0 {
			n.Path = "library/" + n.Path
		}
	}
	return n, ""
}

// validPath reports whether p is a repository path as go-containerregistry
// checks one: 1 to 255 of a-z 0-9 _ - . /.
func validPath(p string) bool {
	if len(p) == 0 || len(p) > 255 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.' || c == '/') {
			return false
		}
	}
	return true
}

// validTag reports whether t is a tag as go-containerregistry checks one:
// 1 to 128 of A-Z a-z 0-9 _ . -.
func validTag(t string) bool {
	if len(t) == 0 || len(t) > 128 {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// validDigest reports whether d is a digest that go-digest's Validate accepts
// with sha256 and sha512 linked in (as go-containerregistry links them):
// "sha256:", "sha384:" or "sha512:" and 64, 96 or 128 lowercase hex digits.
// Every other algorithm is unsupported or malformed there.
func validDigest(d string) bool {
	alg, hex, ok := strings.Cut(d, ":")
	if !ok {
		return false
	}
	switch {
	case alg == "sha256" && len(hex) == 64, alg == "sha384" && len(hex) == 96, alg == "sha512" && len(hex) == 128:
	default:
		return false
	}
	for i := 0; i < len(hex); i++ {
		if c := hex[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// validRegistry reports whether r, which holds no "/", is a registry as
// go-containerregistry checks one: url.Parse("//"+r) succeeds with Host r
// (Go 1.26's net/url, which parses a URL without scheme; this is what it does):
//
//   - "[" IPv6 "]" with an optional ":" and decimal digits (any number of
//     them, none too): an IPv6 address without zone (net/netip);
//   - otherwise any bytes but "[", "%" and the ASCII that a URI host may not
//     hold (controls, space, # / ? @ \ ^ ` { | }), and, when it holds a ":",
//     only decimal digits after the last one. Bytes from 0x80 up pass, and so
//     do ! " $ & ' ( ) * + , ; < = > ] ~, as they do in net/url.
func validRegistry(r string) bool {
	if r == "" {
		return false
	}
	if r[0] == '[' {
		end := strings.LastIndexByte(r, ']')
		if end < 0 || strings.LastIndexByte(r, '[') != 0 || !validPort(r[end+1:]) {
			return false
		}
		return validIPv6(r[1:end])
	}
	for i := 0; i < len(r); i++ {
		c := r[i]
		if c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune(`!"$&'()*+,-.:;<=>]_~`, rune(c)) {
			return false
		}
	}
	if i := strings.LastIndexByte(r, ':'); i >= 0 {
		return validPort(r[i:])
	}
	return true
}

// validPort reports whether p is empty or ":" and decimal digits.
func validPort(p string) bool {
	if p == "" {
		return true
	}
	if p[0] != ':' {
		return false
	}
	for i := 1; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
	}
	return true
}

// validIPv6 reports whether s is an IPv6 address without zone, as net/url checks the
// bracketed host of a URL (validRegistry has refused "%" before).
func validIPv6(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is6() && a.Zone() == ""
}

// Repository is the full repository name, e.g. "docker.io/library/hello".
func (n Name) Repository() string { return n.Domain + "/" + n.Path }

// String is the full canonical reference, e.g. "docker.io/library/hello:1".
func (n Name) String() string {
	s := n.Repository()
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest
	}
	return s
}

// FamiliarRepository is the repository as Docker shows it: "hello" for
// "docker.io/library/hello", "org/app" for "docker.io/org/app", otherwise in full.
func (n Name) FamiliarRepository() string {
	if n.Domain == "docker.io" {
		return strings.TrimPrefix(n.Path, "library/")
	}
	return n.Repository()
}

// Familiar is the reference as Docker shows it, e.g. "hello:1".
func (n Name) Familiar() string {
	s := n.FamiliarRepository()
	if n.Tag != "" {
		s += ":" + n.Tag
	}
	if n.Digest != "" {
		s += "@" + n.Digest
	}
	return s
}
