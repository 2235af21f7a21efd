package credentials

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/registrytest"
)

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// dialAs returns a transport that connects name (host:port) to addr: a registry on
// loopback reached under a name that is not loopback, so the TLS rules apply to it. No
// name is looked up in DNS.
func dialAs(name, addr string) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
		if a == name {
			a = addr
		}
		return (&net.Dialer{}).DialContext(ctx, network, a)
	}
	return tr
}

func checkVerify(t *testing.T, err, kind error, msg ...string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		return
	}
	t.Logf("Verify: %v", err)
	var ve *VerifyError
	if !errors.Is(err, kind) || !errors.As(err, &ve) {
		t.Fatalf("Verify: %v; want a *VerifyError of kind %v", err, kind)
	}
	for _, m := range msg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("Verify: %q does not say %q", err, m)
		}
	}
}

// Against Debian's docker-registry with htpasswd users (Basic auth), and one without
// auth.
func TestVerifyRegistry(t *testing.T) {
	authReg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	openReg := registrytest.Start(t, registrytest.Options{})
	closed := closedAddr(t)
	tests := []struct {
		name   string
		server string
		login  Login
		kind   error
		msg    []string
	}{
		{"right password", authReg.Addr, Login{User: "alice", Password: "secret"}, nil, nil},
		{"as a URL", "http://" + authReg.Addr + "/v2/", Login{User: "alice", Password: "secret"}, nil, nil},
		{"wrong password", authReg.Addr, Login{User: "alice", Password: "nope"}, ErrUnauthorized,
			[]string{"login to " + authReg.Addr + " failed: wrong user name or password"}},
		{"unknown user", authReg.Addr, Login{User: "bob", Password: "secret"}, ErrUnauthorized, nil},
		{"no credentials", authReg.Addr, Login{}, ErrUnauthorized, nil},
		{"open registry", openReg.Addr, Login{User: "anyone", Password: "x"}, nil, nil},
		{"unreachable", closed, Login{User: "alice", Password: "secret"}, ErrUnreachable,
			[]string{closed, "check the address and port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, Verify(t.Context(), tt.server, tt.login, Options{}), tt.kind, tt.msg...)
		})
	}
	if err := Verify(t.Context(), "a b", Login{}, Options{}); !errors.Is(err, ErrBadServer) {
		t.Errorf("Verify of a bad server: %v", err)
	}
}

// A registry under a name that is not loopback gets verified TLS: a self-signed
// certificate, or plain HTTP, fails with a message that says how to mark it insecure;
// marked, it works.
func TestVerifyTLS(t *testing.T) {
	tlsReg := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v2/" {
			http.NotFound(w, r)
		}
	}))
	tlsReg.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	tlsReg.StartTLS()
	defer tlsReg.Close()
	plainReg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	const tlsName, plainName = "registry.test:443", "plain.test:5000"
	base := func() *http.Transport {
		tr := dialAs(tlsName, tlsReg.Listener.Addr().String())
		inner := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, a string) (net.Conn, error) {
			if a == plainName {
				a = plainReg.Addr
			}
			return inner(ctx, network, a)
		}
		return tr
	}
	login := Login{User: "alice", Password: "secret"}
	tests := []struct {
		name     string
		server   string
		insecure []string
		kind     error
		msg      []string
	}{
		{"self-signed", tlsName, nil, ErrTLS, []string{"certificate", "--insecure-registry " + tlsName}},
		{"self-signed, marked", tlsName, []string{tlsName}, nil, nil},
		{"self-signed, marked by range", tlsName, []string{"10.0.0.0/8", "registry.test:443"}, nil, nil},
		{"self-signed, another port marked", tlsName, []string{"registry.test:444"}, ErrTLS, nil},
		{"plain HTTP", plainName, nil, ErrTLS, []string{"--insecure-registry " + plainName}},
		{"plain HTTP, marked", plainName, []string{plainName}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(t.Context(), tt.server, login, Options{Insecure: tt.insecure, Base: base()})
			checkVerify(t, err, tt.kind, tt.msg...)
		})
	}
}

// A registry that answers with a Bearer challenge (as Docker Hub does): the user and
// password go to the token service, whose 401 is a wrong password. The token service
// here is a stand-in written for this test: distribution's needs one of its own.
func TestVerifyBearer(t *testing.T) {
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/token":
			if r.Header.Get("Authorization") != "Basic "+base64.StdEncoding.EncodeToString([]byte("alice:secret")) {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte(`{"token": "tok"}`))
		case "/v2/":
			if r.Header.Get("Authorization") != "Bearer tok" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+srv.URL+`/token",service="test"`)
				w.WriteHeader(http.StatusUnauthorized)
			}
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name  string
		login Login
		kind  error
	}{
		{"right password", Login{User: "alice", Password: "secret"}, nil},
		{"wrong password", Login{User: "alice", Password: "nope"}, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkVerify(t, Verify(t.Context(), host, tt.login, Options{}), tt.kind)
		})
	}
}

func TestInsecure(t *testing.T) {
	tests := []struct {
		host   string
		marked []string
		want   bool
	}{
		{"127.0.0.1:5000", nil, true},
		{"127.1.2.3", nil, true},
		{"localhost:5000", nil, true},
		{"LOCALHOST", nil, true},
		{"[::1]:5000", nil, true},
		{"::1", nil, true},
		{"10.0.0.1:5000", nil, false},
		{"registry.example", nil, false},
		{"registry.example:5000", []string{"registry.example:5000"}, true},
		{"registry.example:5000", []string{"http://registry.example:5000/"}, true},
		{"registry.example:5000", []string{"registry.example"}, false},
		{"10.1.2.3:5000", []string{"10.0.0.0/8"}, true},
		{"11.1.2.3:5000", []string{"10.0.0.0/8"}, false},
		{"localhost.example", nil, false},
		{"127.0.0.1.example", nil, false},
		{"registry.example", []string{""}, false},
	}
	for _, tt := range tests {
		if got := Insecure(tt.host, tt.marked); got != tt.want {
			t.Errorf("Insecure(%q, %q) = %v, want %v", tt.host, tt.marked, got, tt.want)
		}
	}
}

func TestCheckInsecure(t *testing.T) {
	tests := []struct {
		in []string
		ok bool
	}{
		{nil, true},
		{[]string{"registry.example:5000", "10.0.0.0/8", "http://h:1"}, true},
		{[]string{""}, false},
		{[]string{"a b"}, false},
		{[]string{"10.0.0.0/33"}, false},
	}
	for _, tt := range tests {
		if err := CheckInsecure(tt.in); (err == nil) != tt.ok {
			t.Errorf("CheckInsecure(%q) = %v", tt.in, err)
		}
	}
}

// Plain HTTP to a host that is not insecure is refused before it is sent.
func TestTransportRefusesPlainHTTP(t *testing.T) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://registry.example/v2/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := Transport(nil, nil).RoundTrip(req)
	if resp != nil {
		resp.Body.Close()
	}
	if !errors.Is(err, ErrPlainHTTP) {
		t.Fatalf("RoundTrip: %v, want ErrPlainHTTP", err)
	}
}

// The kinds of failure that the tests above cannot provoke on loopback without sending
// traffic elsewhere (a DNS lookup, a timeout).
func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind error
		msg  string
	}{
		{"no such host", &url.Error{Op: "Get", URL: "https://r.example/v2/", Err: &net.OpError{Op: "dial", Net: "tcp",
			Err: &net.DNSError{Err: "no such host", Name: "r.example", IsNotFound: true}}}, ErrUnreachable, "lookup r.example: no such host"},
		{"timeout", fmt.Errorf("ping: %w", context.DeadlineExceeded), ErrUnreachable, "check the address and port"},
		{"refused plain HTTP", fmt.Errorf("%w: http://r.example", ErrPlainHTTP), ErrPlainHTTP, "--insecure-registry"},
		{"something else", errors.New("boom"), nil, "checking the login at r.example: boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := classify("r.example", tt.err)
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("classify(%v) = %v, not a *VerifyError", tt.err, err)
			}
			if ve.Kind != tt.kind || !errors.Is(err, tt.err) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("classify(%v) = %v (kind %v), want kind %v saying %q", tt.err, err, ve.Kind, tt.kind, tt.msg)
			}
		})
	}
}
