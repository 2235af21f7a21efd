package registry

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
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
	// ErrTLS: the registry's TLS certificate is not trusted.
	ErrTLS = errors.New("TLS certificate not trusted")
	// ErrInsecure: berth refused to talk plain HTTP to the registry.
	ErrInsecure = errors.New("plain HTTP refused")
	// ErrRetriesExhausted: a transient failure (reset, 5xx, 429) persisted
	// through every attempt.
	ErrRetriesExhausted = errors.New("registry kept failing")
)

// Error is a failed registry operation.
type Error struct {
	// Op is what was done: "pull", "push", "resolve".
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
	var advice string
	switch e.Kind {
	case ErrNotFound:
		return fmt.Sprintf("%s %s: %v: the registry %s has no such repository, tag or digest (check the name; `berth images` lists local images)", e.Op, e.Ref, ErrNotFound, e.Host)
	case ErrUnauthorized:
		advice = fmt.Sprintf("the registry %s wants credentials for %s, or rejected the ones berth sent: run `berth login %s`", e.Host, e.Ref, loginHost(e.Host))
	case ErrDenied:
		advice = fmt.Sprintf("the registry %s denied access to %s: the account berth logged in with lacks permission (or the repository does not exist)", e.Host, e.Ref)
	case ErrTLS:
		advice = fmt.Sprintf("the TLS certificate of %s is not trusted: install its CA certificate in the system's trust store, or, for a registry you trust on a private network, mark it insecure with --insecure-registry %s (or BERTH_INSECURE_REGISTRIES=%s)", e.Host, e.Host, e.Host)
	case ErrInsecure:
		advice = fmt.Sprintf("%s serves plain HTTP, which berth uses only for loopback registries and those marked insecure: mark it with --insecure-registry %s (or BERTH_INSECURE_REGISTRIES=%s) if that is what you want", e.Host, e.Host, e.Host)
	}
	if advice != "" {
		return fmt.Sprintf("%s %s: %s (%v)", e.Op, e.Ref, advice, e.Err)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Err)
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
	return &Error{Op: op, Host: host, Ref: ref, Kind: kindOf(err), Err: err}
}

func kindOf(err error) error {
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
		ua  x509.UnknownAuthorityError
		ci  x509.CertificateInvalidError
		he  x509.HostnameError
		cve *tls.CertificateVerificationError
	)
	if errors.As(err, &ua) || errors.As(err, &ci) || errors.As(err, &he) || errors.As(err, &cve) {
		return ErrTLS
	}
	// ggcr's token exchange reports a rejected login as a plain error.
	if msg := err.Error(); strings.Contains(msg, "401 Unauthorized") || strings.Contains(msg, "UNAUTHORIZED") {
		return ErrUnauthorized
	}
	return nil
}
