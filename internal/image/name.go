package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
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

// ParseName parses a reference the way `docker` does: "hello", "hello:1",
// "org/app@sha256:…", "localhost:5000/ns/app:tag". Without tag or digest the tag is "latest".
func ParseName(s string) (Name, error) {
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
	// As in Docker's reference grammar, the normalised repository name ("docker.io/library/x")
	// is at most 255 characters, so that every name berth accepts also parses in full form.
	if len(n.Repository()) > 255 {
		return Name{}, fmt.Errorf("%w %q: the repository name %s is longer than 255 characters", ErrInvalidName, s, n.Repository())
	}
	return n, nil
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
