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
	l, ok, err := k.s.Get(ctx, r.RegistryStr())
	if err != nil || !ok {
		return authn.Anonymous, err
	}
	return authn.FromConfig(authn.AuthConfig{Username: l.User, Password: l.Password,
		IdentityToken: l.IdentityToken, RegistryToken: l.RegistryToken}), nil
}
