package registry

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/credentials"
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

func checkLogin(t *testing.T, err, kind error, msg ...string) {
	t.Helper()
	if kind == nil {
		if err != nil {
			t.Fatalf("CheckLogin: %v", err)
		}
		return
	}
	t.Logf("CheckLogin: %v", err)
	var e *Error
	if !errors.Is(err, kind) || !errors.As(err, &e) || e.Kind != kind || e.Op != OpLogin {
		t.Fatalf("CheckLogin: %v; want an *Error of op login and kind %v", err, kind)
	}
	for _, m := range msg {
		if !strings.Contains(err.Error(), m) {
			t.Errorf("CheckLogin: %q does not say %q", err, m)
		}
	}
}

// checkLoginAt checks l against server with a client of o (without retries).
func checkLoginAt(t *testing.T, server string, l credentials.Login, o Options) error {
	o.Retry = RetryPolicy{Attempts: 1}
	return New(o).CheckLogin(t.Context(), server, l)
}

// Against Debian's docker-registry with htpasswd users (Basic auth), and one without
// auth.
func TestCheckLogin(t *testing.T) {
	authReg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	openReg := registrytest.Start(t, registrytest.Options{})
	closed := closedAddr(t)
	tests := []struct {
		name   string
		server string
		login  credentials.Login
		kind   error
		msg    []string
	}{
		{"right password", authReg.Addr, credentials.Login{User: "alice", Password: "secret"}, nil, nil},
		{"as a URL", "http://" + authReg.Addr + "/v2/", credentials.Login{User: "alice", Password: "secret"}, nil, nil},
		{"wrong password", authReg.Addr, credentials.Login{User: "alice", Password: "nope"}, ErrUnauthorized,
			[]string{"login to " + authReg.Addr + " failed: wrong user name or password"}},
		{"unknown user", authReg.Addr, credentials.Login{User: "bob", Password: "secret"}, ErrUnauthorized, nil},
		{"no credentials", authReg.Addr, credentials.Login{}, ErrUnauthorized, nil},
		{"open registry", openReg.Addr, credentials.Login{User: "anyone", Password: "x"}, nil, nil},
		{"unreachable", closed, credentials.Login{User: "alice", Password: "secret"}, ErrUnreachable,
			[]string{closed, "check the address and port"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLogin(t, checkLoginAt(t, tt.server, tt.login, Options{}), tt.kind, tt.msg...)
		})
	}
	if err := checkLoginAt(t, "a b", credentials.Login{}, Options{}); !errors.Is(err, credentials.ErrBadServer) {
		t.Errorf("CheckLogin of a bad server: %v", err)
	}
}

// A registry under a name that is not loopback gets verified TLS: a self-signed
// certificate, or plain HTTP, fails with a message that says how to mark it insecure;
// marked, it works.
func TestCheckLoginTLS(t *testing.T) {
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
	login := credentials.Login{User: "alice", Password: "secret"}
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
		{"self-signed, marked without port", tlsName, []string{"registry.test"}, nil, nil},
		{"plain HTTP", plainName, nil, ErrInsecure, []string{"serves plain HTTP", "--insecure-registry " + plainName}},
		{"plain HTTP, marked", plainName, []string{plainName}, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkLoginAt(t, tt.server, login, Options{Insecure: tt.insecure, Transport: base()})
			checkLogin(t, err, tt.kind, tt.msg...)
		})
	}
}

// A registry that answers with a Bearer challenge (as Docker Hub does): the user and
// password go to the token service, whose 401 is a wrong password. The token service
// here is a stand-in written for this test: distribution's needs one of its own.
func TestCheckLoginBearer(t *testing.T) {
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
		login credentials.Login
		kind  error
	}{
		{"right password", credentials.Login{User: "alice", Password: "secret"}, nil},
		{"wrong password", credentials.Login{User: "alice", Password: "nope"}, ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLogin(t, checkLoginAt(t, host, tt.login, Options{}), tt.kind)
		})
	}
}
