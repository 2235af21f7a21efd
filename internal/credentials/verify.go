package credentials

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// The kinds of a failed check, for errors.Is; the error itself is a *VerifyError.
var (
	// ErrUnauthorized: the registry refused the user name and password.
	ErrUnauthorized = errors.New("wrong user name or password")
	// ErrUnreachable: no connection to the registry (name, address or port wrong, or
	// nothing listening).
	ErrUnreachable = errors.New("registry unreachable")
	// ErrTLS: the TLS handshake failed (an untrusted or wrong certificate, or a
	// registry that speaks plain HTTP).
	ErrTLS = errors.New("TLS failed")
	// ErrPlainHTTP: plain HTTP to a registry that is neither loopback nor marked insecure.
	ErrPlainHTTP = errors.New("plain HTTP refused")
)

// VerifyError is a login check that failed; Kind is one of ErrUnauthorized,
// ErrUnreachable, ErrTLS or ErrPlainHTTP, and errors.Is matches it as well as Err.
type VerifyError struct {
	Host string
	Kind error
	Err  error
}

func (e *VerifyError) Error() string {
	switch e.Kind {
	case ErrUnauthorized:
		return fmt.Sprintf("login to %s failed: wrong user name or password", e.Host)
	case ErrUnreachable:
		return fmt.Sprintf("cannot reach the registry %s (%v): check the address and port (is the registry running there?)", e.Host, cause(e.Err))
	case ErrTLS:
		return fmt.Sprintf("TLS with the registry %s failed (%v): if you trust %s without a valid certificate (or it speaks plain HTTP), mark it insecure: --insecure-registry %s",
			e.Host, cause(e.Err), e.Host, e.Host)
	case ErrPlainHTTP:
		return fmt.Sprintf("%v; only loopback registries and those marked with --insecure-registry are reached without TLS", e.Err)
	}
	return fmt.Sprintf("checking the login at %s: %v", e.Host, e.Err)
}

func (e *VerifyError) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

// cause returns the part of err that says what went wrong on the wire, without the
// request's URL that go-containerregistry and net/http put around it (once per scheme).
func cause(err error) error {
	var (
		opErr  *net.OpError
		dnsErr *net.DNSError
		verify *tls.CertificateVerificationError
		uerr   *url.Error
	)
	switch {
	case errors.As(err, &verify):
		return verify
	case errors.As(err, &dnsErr):
		return dnsErr
	case errors.As(err, &opErr):
		return opErr
	case errors.As(err, &uerr):
		return uerr.Err
	}
	return err
}

// Options say how a registry may be reached.
type Options struct {
	// Insecure lists registries that may be reached over plain HTTP or over TLS without
	// verifying the certificate: host[:port] (as ParseServer reads it) or an IP range in
	// CIDR notation. Loopback registries are always insecure (see Insecure).
	Insecure []string
	// Base is the transport to build on; nil means a clone of http.DefaultTransport.
	Base *http.Transport
}

// CheckInsecure checks --insecure-registry values.
func CheckInsecure(entries []string) error {
	for _, e := range entries {
		if _, _, err := net.ParseCIDR(e); err == nil {
			continue
		}
		if _, err := ParseServer(e); err != nil || e == "" || strings.Contains(e, "/") && !strings.Contains(e, "://") {
			return fmt.Errorf("insecure registry %q: give host[:port] or an IP range like 10.0.0.0/8", e)
		}
	}
	return nil
}

// Insecure reports whether the registry host (host[:port]) may be reached over plain
// HTTP and unverified TLS: a loopback host (localhost, 127.0.0.0/8, ::1), which docker
// also treats so by default, or one that marked names (see Options.Insecure).
func Insecure(host string, marked []string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	ip := net.ParseIP(h)
	if strings.EqualFold(h, "localhost") || ip != nil && ip.IsLoopback() {
		return true
	}
	for _, m := range marked {
		if _, n, err := net.ParseCIDR(m); err == nil {
			if ip != nil && n.Contains(ip) {
				return true
			}
			continue
		}
		if srv, err := ParseServer(m); err == nil && m != "" && strings.EqualFold(srv.Host, host) {
			return true
		}
	}
	return false
}

// Transport returns a round tripper that applies Insecure per request: registries in
// insecure get plain HTTP and TLS without certificate checks; every other host gets
// verified TLS, and a plain-HTTP request to one fails with ErrPlainHTTP. base nil means
// a clone of http.DefaultTransport; base is not modified.
func Transport(base *http.Transport, insecure []string) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport.(*http.Transport).Clone()
	}
	loose := base.Clone()
	if loose.TLSClientConfig == nil {
		loose.TLSClientConfig = &tls.Config{}
	}
	loose.TLSClientConfig.InsecureSkipVerify = true
	return &policy{secure: base, loose: loose, marked: insecure}
}

type policy struct {
	secure, loose http.RoundTripper
	marked        []string
}

func (p *policy) RoundTrip(req *http.Request) (*http.Response, error) {
	if Insecure(req.URL.Host, p.marked) {
		return p.loose.RoundTrip(req)
	}
	if req.URL.Scheme != "https" {
		return nil, fmt.Errorf("%w: %s://%s", ErrPlainHTTP, req.URL.Scheme, req.URL.Host)
	}
	return p.secure.RoundTrip(req)
}

// Verify checks l against the registry server, as `docker login` does before it saves a
// login: it asks for /v2/, follows the registry's Basic or Bearer challenge (a token for
// no repository) and asks again with the credentials. A failure is a *VerifyError.
func Verify(ctx context.Context, server string, l Login, o Options) error {
	srv, err := ParseServer(server)
	if err != nil {
		return err
	}
	var nopts []name.Option
	if Insecure(srv.Host, o.Insecure) {
		nopts = append(nopts, name.Insecure)
	}
	reg, err := name.NewRegistry(srv.Host, nopts...)
	if err != nil {
		return fmt.Errorf("%w: %q: %v", ErrBadServer, server, err)
	}
	auth := authn.FromConfig(authn.AuthConfig{Username: l.User, Password: l.Password,
		IdentityToken: l.IdentityToken, RegistryToken: l.RegistryToken})
	rt, err := transport.NewWithContext(ctx, reg, auth, Transport(o.Base, o.Insecure), nil)
	if err != nil {
		return classify(srv.Host, err)
	}
	// The scheme is rewritten to the one the ping found.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+reg.RegistryStr()+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return classify(srv.Host, err)
	}
	defer resp.Body.Close()
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		return classify(srv.Host, err)
	}
	return nil
}

// classify turns err into a *VerifyError of the right kind.
func classify(host string, err error) error {
	kind := error(nil)
	var (
		terr     *transport.Error
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		verify   *tls.CertificateVerificationError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		opErr    *net.OpError
		dnsErr   *net.DNSError
	)
	switch {
	case errors.As(err, &terr) && terr.StatusCode == http.StatusUnauthorized:
		kind = ErrUnauthorized
	case errors.As(err, &unknown), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &record), errors.As(err, &alert),
		// net/http's own error for a plain-HTTP answer to a TLS handshake has no type.
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		kind = ErrTLS
	case errors.As(err, &opErr), errors.As(err, &dnsErr), errors.Is(err, context.DeadlineExceeded):
		kind = ErrUnreachable
	case errors.Is(err, ErrPlainHTTP):
		kind = ErrPlainHTTP
	}
	return &VerifyError{Host: host, Kind: kind, Err: err}
}
