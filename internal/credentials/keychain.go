package credentials

import (
	"context"

	"github.com/google/go-containerregistry/pkg/authn"
)

// Keychain returns the store as go-containerregistry's authn.Keychain (it also
// implements authn.ContextKeychain): the login of a resource's registry, or
// authn.Anonymous when there is none. config.json is read on each lookup, so a login
// saved meanwhile is seen.
func (s *Store) Keychain() authn.Keychain { return keychain{s} }

type keychain struct{ s *Store }

func (k keychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	return k.ResolveContext(context.Background(), r)
}

func (k keychain) ResolveContext(ctx context.Context, r authn.Resource) (authn.Authenticator, error) {
	reg := r.RegistryStr()
	srv, err := ParseServer(reg)
	if err != nil {
		// go-containerregistry takes any URI authority as a registry; a login docker
		// stored for one berth would not parse is still looked up by its name.
		srv = Server{Host: reg, Key: reg}
	}
	cf, err := k.s.load()
	if err != nil {
		return authn.Anonymous, err
	}
	l, ok, err := get(ctx, cf, srv)
	if err != nil || !ok {
		return authn.Anonymous, err
	}
	return l.Authenticator(), nil
}
