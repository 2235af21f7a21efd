package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"0", 0, true},
		{"3", 3 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"Fri, 27 Nov 2026 08:00:10 GMT", 10 * time.Second, true},
		{"Fri, 27 Nov 2026 07:00:00 GMT", 0, true}, // past: no wait
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "5", "Fri, 27 Nov 2026 08:00:10 GMT", "", "x", "4294967295"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseRetryAfter(s, now)
		if !ok && d != 0 {
			t.Fatalf("%q: not ok but %v", s, d)
		}
		if d < 0 {
			t.Fatalf("%q: negative wait %v", s, d)
		}
	})
}

// fakeRT answers from a script of responses and counts requests.
type fakeRT struct {
	n       atomic.Int32
	answer  func(n int32, r *http.Request) (*http.Response, error)
	schemes []string
}

func (f *fakeRT) RoundTrip(r *http.Request) (*http.Response, error) {
	f.schemes = append(f.schemes, r.URL.Scheme)
	return f.answer(f.n.Add(1), r)
}

func status(code int, hdr ...string) *http.Response {
	h := http.Header{}
	for i := 0; i+1 < len(hdr); i += 2 {
		h.Set(hdr[i], hdr[i+1])
	}
	return &http.Response{StatusCode: code, Header: h, Body: io.NopCloser(strings.NewReader(""))}
}

func TestRetryTransport(t *testing.T) {
	policy := RetryPolicy{Attempts: 3, Base: time.Millisecond, Max: 30 * time.Millisecond}
	tests := []struct {
		name      string
		method    string
		body      bool // a body that cannot be re-read
		answer    func(n int32, r *http.Request) (*http.Response, error)
		wantCalls int32
		wantCode  int
		wantErr   error
		minWait   time.Duration
	}{
		{"ok", "GET", false, func(int32, *http.Request) (*http.Response, error) { return status(200), nil }, 1, 200, nil, 0},
		{"503 then ok", "GET", false, func(n int32, _ *http.Request) (*http.Response, error) {
			if n < 3 {
				return status(503), nil
			}
			return status(200), nil
		}, 3, 200, nil, 0},
		{"reset then ok", "HEAD", false, func(n int32, _ *http.Request) (*http.Response, error) {
			if n == 1 {
				return nil, io.ErrUnexpectedEOF
			}
			return status(200), nil
		}, 2, 200, nil, 0},
		{"502 always", "GET", false, func(int32, *http.Request) (*http.Response, error) { return status(502), nil }, 3, 0, ErrRetriesExhausted, 0},
		{"404 not retried", "GET", false, func(int32, *http.Request) (*http.Response, error) { return status(404), nil }, 1, 404, nil, 0},
		{"401 not retried", "GET", false, func(int32, *http.Request) (*http.Response, error) { return status(401), nil }, 1, 401, nil, 0},
		{"429 honours Retry-After, capped", "GET", false, func(n int32, _ *http.Request) (*http.Response, error) {
			if n == 1 {
				return status(429, "Retry-After", "3600"), nil
			}
			return status(200), nil
		}, 2, 200, nil, policy.Max},
		{"streamed PATCH not retried here", "PATCH", true, func(int32, *http.Request) (*http.Response, error) { return status(503), nil }, 1, 503, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeRT{answer: tt.answer}
			rt := &retryTransport{inner: f, policy: policy}
			req, _ := http.NewRequestWithContext(t.Context(), tt.method, "https://reg.example/v2/x/manifests/1", nil)
			if tt.body {
				req.Body = io.NopCloser(strings.NewReader("data")) // no GetBody
			}
			start := time.Now()
			resp, err := rt.RoundTrip(req)
			if took := time.Since(start); took < tt.minWait || took > 2*time.Second {
				t.Errorf("took %v, want at least %v (and capped)", took, tt.minWait)
			}
			if f.n.Load() != tt.wantCalls {
				t.Errorf("%d calls, want %d", f.n.Load(), tt.wantCalls)
			}
			if tt.wantErr != nil {
				var re *RetryError
				if !errors.Is(err, tt.wantErr) || !errors.As(err, &re) || re.Attempts != 3 || !strings.Contains(err.Error(), "502") {
					t.Fatalf("err = %v, want %v after 3 attempts naming the status", err, tt.wantErr)
				}
				return
			}
			if err != nil || resp.StatusCode != tt.wantCode {
				t.Fatalf("resp %v, err %v; want %d", resp, err, tt.wantCode)
			}
			// ggcr's own retry must refuse what this transport gave up on.
			if uploadRetryable(&RetryError{Status: 503}) {
				t.Fatal("ggcr would retry an exhausted request again")
			}
		})
	}
}

// The kinds of failure, from what ggcr and net/http return; the login check's
// cover what the tests against a registry cannot provoke on loopback without
// sending traffic elsewhere (a DNS lookup, a timeout).
func TestClassify(t *testing.T) {
	dnsErr := &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}}}
	refused := &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: syscall.ECONNREFUSED}}
	reset := &url.Error{Op: "Get", URL: "https://r.example/v2/x/blobs/sha256:1", Err: &net.OpError{Op: "read", Net: "tcp",
		Err: syscall.ECONNRESET}}
	tests := []struct {
		op   string
		err  error
		kind error // nil: none
		word string
	}{
		{"pull", &transport.Error{StatusCode: 404, Errors: []transport.Diagnostic{{Code: transport.ManifestUnknownErrorCode}}}, ErrNotFound, "not found"},
		{"pull", &transport.Error{StatusCode: 404, Errors: []transport.Diagnostic{{Code: transport.NameUnknownErrorCode}}}, ErrNotFound, "not found"},
		{"pull", &transport.Error{StatusCode: 404}, ErrNotFound, "not found"},
		{"pull", &transport.Error{StatusCode: 401}, ErrUnauthorized, "berth login r.example"},
		{"pull", &transport.Error{StatusCode: 403, Errors: []transport.Diagnostic{{Code: transport.DeniedErrorCode}}}, ErrDenied, "denied"},
		{"pull", &transport.Error{StatusCode: 403}, ErrDenied, "permission"},
		{"pull", errors.New(`Get "https://r.example/v2/": http: server gave HTTP response to HTTPS client`), ErrInsecure, "--insecure-registry r.example"},
		{"pull", dnsErr, ErrUnreachable, "cannot reach the registry r.example"},
		{"pull", refused, ErrUnreachable, "(dial tcp: connection refused)"},
		{"pull", reset, nil, "connection reset"}, // a transfer cut short is not an unreachable registry
		{"pull", fmt.Errorf("ping: %w", context.DeadlineExceeded), nil, "deadline"},
		{OpLogin, &transport.Error{StatusCode: 401}, ErrUnauthorized, "login to r.example failed: wrong user name or password"},
		{OpLogin, dnsErr, ErrUnreachable, "lookup r.example: no such host"},
		{OpLogin, fmt.Errorf("ping: %w", context.DeadlineExceeded), ErrUnreachable, "check the address and port"},
		{OpLogin, fmt.Errorf("%w: http://r.example", ErrInsecure), ErrInsecure, "--insecure-registry"},
		{OpLogin, errors.New("boom"), nil, "checking the login at r.example: boom"},
	}
	for _, tt := range tests {
		err := classify(tt.op, "r.example", "r.example/app:1", tt.err)
		var e *Error
		if !errors.As(err, &e) || e.Kind != tt.kind || !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.word) {
			t.Errorf("%s: classify(%v) = %v; want an *Error of kind %v saying %q", tt.op, tt.err, err, tt.kind, tt.word)
		}
		var te *transport.Error
		if _, ok := tt.err.(*transport.Error); ok && !errors.As(err, &te) {
			t.Errorf("classify(%v) lost the transport error", tt.err)
		}
	}
}

func TestParseReference(t *testing.T) {
	c := New(Options{Insecure: []string{"reg.lan:5000"}})
	tests := []struct{ in, want, scheme string }{
		{"hello", "index.docker.io/library/hello:latest", "https"},
		{"org/app:1", "index.docker.io/org/app:1", "https"},
		{"127.0.0.1:5000/app", "127.0.0.1:5000/app:latest", "http"},
		{"reg.lan:5000/ns/app:2", "reg.lan:5000/ns/app:2", "http"},
		{"ghcr.io/x/y@sha256:" + strings.Repeat("a", 64), "ghcr.io/x/y@sha256:" + strings.Repeat("a", 64), "https"},
		{"ghcr.io/x/y:1@sha256:" + strings.Repeat("a", 64), "ghcr.io/x/y@sha256:" + strings.Repeat("a", 64), "https"},
	}
	for _, tt := range tests {
		r, err := c.ParseReference(tt.in)
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if r.Name() != tt.want || r.Context().Scheme() != tt.scheme {
			t.Errorf("ParseReference(%q) = %s (%s), want %s (%s)", tt.in, r.Name(), r.Context().Scheme(), tt.want, tt.scheme)
		}
	}
	if _, err := c.ParseReference("Bad Name"); err == nil {
		t.Error("a bad name parsed")
	}
}

// A registry with a certificate the system does not trust gets ErrTLS and the advice to
// mark it insecure; marked insecure, it works (certificate unverified). The registry is
// ggcr's in-memory one behind TLS, reached through a dialer that sends every host to it.
func TestTLSAndInsecure(t *testing.T) {
	srv := httptest.NewTLSServer(ggcrregistry.New())
	defer srv.Close()
	dial := func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	const ref = "registry.example:443/app:1"
	tests := []struct {
		name     string
		insecure []string
		kind     error
	}{
		{"untrusted", nil, ErrTLS},
		{"marked insecure", []string{"registry.example:443"}, ErrNotFound}, // TLS passes; no such image
		{"marked without port", []string{"registry.example"}, ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{Transport: &http.Transport{DialContext: dial}, Insecure: tt.insecure,
				Retry: RetryPolicy{Attempts: 1}, Keychain: authn.NewMultiKeychain()})
			r, err := c.ParseReference(ref)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Fetch(t.Context(), r)
			if !errors.Is(err, tt.kind) {
				t.Fatalf("err = %v, want %v", err, tt.kind)
			}
			if tt.kind == ErrTLS && !strings.Contains(err.Error(), "--insecure-registry registry.example:443") {
				t.Fatalf("error %q does not say how to mark the registry insecure", err)
			}
		})
	}
}
