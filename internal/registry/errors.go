package registry

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

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Kinds of registry failure. Errors returned by this package wrap one of them
// (test with errors.Is) inside an [*Error].
var (
	// ErrNotFound: the repository, tag or digest does not exist
	// (MANIFEST_UNKNOWN, NAME_UNKNOWN, BLOB_UNKNOWN, 404).
	ErrNotFound = errors.New("not found")
	// ErrUnauthorized: the registry wants credentials, or rejected the ones
	// given (401, UNAUTHORIZED).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrDenied: the credentials are valid but lack access (403, DENIED,
	// insufficient scope).
	ErrDenied = errors.New("access denied")
	// ErrBadBlob: a blob the registry served does not match its digest or size.
	ErrBadBlob = errors.New("blob does not match its digest")
	// ErrTLS: the TLS handshake with the registry failed, mostly because its
	// certificate is not trusted.
	ErrTLS = errors.New("TLS failed")
	// ErrInsecure: the registry speaks plain HTTP, which berth refused because it
	// is neither loopback nor marked insecure.
	ErrInsecure = errors.New("plain HTTP refused")
	// ErrUnreachable: no connection to the registry (its name does not resolve,
	// or nothing answers at its address and port).
	ErrUnreachable = errors.New("registry unreachable")
	// ErrRetriesExhausted: a transient failure (reset, 5xx, 429) persisted
	// through every attempt.
	ErrRetriesExhausted = errors.New("registry kept failing")
)

// Error is a failed registry operation.
type Error struct {
	// Op is what was done: "pull", "push", "resolve", or [OpLogin].
	Op string
	// Host is the registry, e.g. "ghcr.io" or "127.0.0.1:5000".
	Host string
	// Ref is the reference or repository involved.
	Ref string
	// Kind is one of the Err… values of this package, or nil.
	Kind error
	// Err is the underlying error (often a *transport.Error).
	Err error
}

// Error implements error.
func (e *Error) Error() string {
	what := e.Op + " " + e.Ref
	if e.Op == OpLogin {
		what = OpLogin // the host is in every message
	}
	c := cause(e.Err)
	mark := fmt.Sprintf("--insecure-registry %s (or BERTH_INSECURE_REGISTRIES=%s)", e.Host, e.Host)
	switch e.Kind {
	case ErrNotFound:
		return fmt.Sprintf("%s: %v: the registry %s has no such repository, tag or digest (check the name; `berth images` lists local images)", what, ErrNotFound, e.Host)
	case ErrUnauthorized:
		if e.Op == OpLogin {
			return fmt.Sprintf("login to %s failed: wrong user name or password", e.Host)
		}
		return fmt.Sprintf("%s: the registry %s wants credentials for %s, or rejected the ones berth sent: run `berth login %s` (%v)", what, e.Host, e.Ref, loginHost(e.Host), c)
	case ErrDenied:
		return fmt.Sprintf("%s: the registry %s denied access to %s: the account berth logged in with lacks permission, or the repository does not exist (%v)", what, e.Host, e.Ref, c)
	case ErrUnreachable:
		return fmt.Sprintf("%s: cannot reach the registry %s (%v): check the address and port (is the registry running there?)", what, e.Host, c)
	case ErrTLS:
		return fmt.Sprintf("%s: TLS with the registry %s failed (%v): if its certificate is not trusted, install its CA certificate in the system's trust store, or, for a registry you trust on a private network, mark it insecure with %s", what, e.Host, c, mark)
	case ErrInsecure:
		return fmt.Sprintf("%s: %s serves plain HTTP (%v), which berth uses only for loopback registries and those marked insecure: mark it with %s if that is what you want", what, e.Host, c, mark)
	}
	if e.Op == OpLogin {
		return fmt.Sprintf("checking the login at %s: %v", e.Host, e.Err)
	}
	return fmt.Sprintf("%s: %v", what, e.Err)
}

// cause returns the part of err that says what went wrong on the wire, without
// the request's URL that go-containerregistry and net/http put around it (once
// per scheme tried).
func cause(err error) error {
	var (
		verify *tls.CertificateVerificationError
		dnsErr *net.DNSError
		opErr  *net.OpError
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

// Unwrap returns the kind and the underlying error.
func (e *Error) Unwrap() []error {
	if e.Kind == nil {
		return []error{e.Err}
	}
	return []error{e.Kind, e.Err}
}

func loginHost(h string) string {
	if h == "index.docker.io" {
		return "docker.io"
	}
	return h
}

// BlobError reports a blob whose bytes do not match the digest or size the
// manifest records. It wraps ErrBadBlob.
type BlobError struct {
	Host   string
	Digest v1.Hash
	Err    error
}

// Error implements error.
func (e *BlobError) Error() string {
	return fmt.Sprintf("blob %s from registry %s: %v: %v; nothing of it was kept, pull again (if it persists the registry's copy is damaged)", e.Digest, e.Host, ErrBadBlob, e.Err)
}

// Unwrap returns ErrBadBlob and the underlying error.
func (e *BlobError) Unwrap() []error { return []error{ErrBadBlob, e.Err} }

// RetryError is a transient failure that lasted through every attempt. It
// wraps ErrRetriesExhausted.
type RetryError struct {
	Method, URL string
	Attempts    int
	// Status is the last HTTP status, 0 if the last attempt got no response.
	Status int
	Err    error // the last transport error, if any
}

// Error implements error.
func (e *RetryError) Error() string {
	last := fmt.Sprint(e.Err)
	if e.Status != 0 {
		last = fmt.Sprintf("%d %s", e.Status, http.StatusText(e.Status))
	}
	return fmt.Sprintf("%s %s: %v: still failing after %d attempts, last: %s; try again later", e.Method, e.URL, ErrRetriesExhausted, e.Attempts, last)
}

// Unwrap returns ErrRetriesExhausted and the last transport error.
func (e *RetryError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrRetriesExhausted}
	}
	return []error{ErrRetriesExhausted, e.Err}
}

// classify wraps err, from an operation op on ref at host, in an *Error with
// its kind. Errors already classified pass through.
func classify(op, host, ref string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	var be *BlobError
	if errors.As(err, &e) || errors.As(err, &be) {
		return err
	}
	kind := kindOf(err)
	if kind == nil && op == OpLogin && errors.Is(err, context.DeadlineExceeded) {
		// The login check is one GET /v2/: no answer in time is no registry. (A pull
		// can run out of time in the middle of a download: that is not unreachable.)
		kind = ErrUnreachable
	}
	return &Error{Op: op, Host: host, Ref: ref, Kind: kind, Err: err}
}

func kindOf(err error) error {
	// net/http's own error for a plain-HTTP answer to a TLS handshake has no type.
	if errors.Is(err, ErrInsecure) || strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return ErrInsecure
	}
	var te *transport.Error
	if errors.As(err, &te) {
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				return ErrNotFound
			case transport.UnauthorizedErrorCode:
				return ErrUnauthorized
			case transport.DeniedErrorCode:
				return ErrDenied
			}
		}
		switch te.StatusCode {
		case http.StatusNotFound:
			return ErrNotFound
		case http.StatusUnauthorized:
			return ErrUnauthorized
		case http.StatusForbidden:
			return ErrDenied
		}
	}
	var (
		ua     x509.UnknownAuthorityError
		ci     x509.CertificateInvalidError
		he     x509.HostnameError
		cve    *tls.CertificateVerificationError
		record tls.RecordHeaderError
		alert  tls.AlertError
		dnsErr *net.DNSError
		opErr  *net.OpError
	)
	switch {
	case errors.As(err, &ua), errors.As(err, &ci), errors.As(err, &he), errors.As(err, &cve),
		errors.As(err, &record), errors.As(err, &alert):
		return ErrTLS
	case errors.As(err, &dnsErr), errors.As(err, &opErr) && opErr.Op == "dial":
		return ErrUnreachable
	}
	// ggcr's token exchange reports a rejected login as a plain error.
	if msg := err.Error(); strings.Contains(msg, "401 Unauthorized") || strings.Contains(msg, "UNAUTHORIZED") {
		return ErrUnauthorized
	}
	return nil
}
