package registry

import (
	"context"
	"fmt"
	"net/http"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/credentials"
)

// OpLogin is the Op of the errors of [Client.CheckLogin].
const OpLogin = "login"

// CheckLogin checks l against the registry server (as `docker login` takes it:
// empty for Docker Hub, host[:port] or a URL), as docker does before it saves a
// login: it asks for /v2/, follows the registry's Basic or Bearer challenge (a
// token for no repository) and asks again with the credentials. The client's
// keychain is not used. A failure is an [*Error] with Op [OpLogin] whose kind is
// ErrUnauthorized (wrong user name or password), ErrUnreachable, ErrTLS or
// ErrInsecure; a server that is not a registry address wraps
// credentials.ErrBadServer.
func (c *Client) CheckLogin(ctx context.Context, server string, l credentials.Login) error {
	srv, err := credentials.ParseServer(server)
	if err != nil {
		return err
	}
	var nopts []name.Option
	if c.rule.allows(srv.Host) {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(srv.Host, nopts...)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", credentials.ErrBadServer, server, err)
	}
	fail := func(err error) error { return classify(OpLogin, srv.Host, srv.Host, err) }
	rt, err := transport.NewWithContext(ctx, reg, l.Authenticator(), c.rt, nil)
	if err != nil {
		return fail(err)
	}
	// The scheme is rewritten to the one the ping found.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return fail(err)
	}
	return nil
}
