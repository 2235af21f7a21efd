package registry

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// One table for the rule: loopback always; marked hosts with their port, or
// without one for the default ports; IP ranges for IP addresses.
func TestInsecure(t *testing.T) {
	lan := []string{"reg.lan", "10.0.0.5:5000", "[fd00::1]"}
	tests := []struct {
		host   string
		marked []string
		want   bool
	}{
		{"localhost", nil, true},
		{"localhost:5000", nil, true},
		{"LOCALHOST", nil, true},
		{"127.0.0.1:5000", nil, true},
		{"127.1.2.3", nil, true},
		{"[::1]:5000", nil, true},
		{"::1", nil, true},
		{"10.0.0.1:5000", nil, false},
		{"192.168.1.10:5000", nil, false}, // RFC 1918 is not loopback
		{"myhost.local", nil, false},
		{"ghcr.io", nil, false},
		{"registry.example", nil, false},
		{"localhost.example", nil, false},
		{"localhost.evil.com", nil, false},
		{"127.0.0.1.example", nil, false},

		{"reg.lan", lan, true},
		{"REG.LAN", lan, true},
		{"reg.lan:443", lan, true}, // no port in the list: the default ports
		{"reg.lan:80", lan, true},
		{"reg.lan:5000", lan, false}, // ... not every port
		{"10.0.0.5:5000", lan, true},
		{"10.0.0.5:5001", lan, false},
		{"10.0.0.5", lan, false},
		{"[fd00::1]", lan, true},
		{"[fd00::1]:443", lan, true},
		{"[fd00::1]:5000", lan, false},
		{"ghcr.io", lan, false},
		{"registry.example:5000", []string{"registry.example:5000"}, true},
		{"registry.example:5000", []string{"http://registry.example:5000/"}, true},
		{"registry.example:5000", []string{"registry.example"}, false},
		{"registry.example", []string{"registry.example:443"}, true},
		{"registry.example", []string{"registry.example:5000"}, false},
		{"10.1.2.3:5000", []string{"10.0.0.0/8"}, true},
		{"11.1.2.3:5000", []string{"10.0.0.0/8"}, false},
		{"[fd00::7]:5000", []string{"fd00::/8"}, true},
		{"reg.lan", []string{"10.0.0.0/8"}, false}, // ranges match addresses; no name is looked up
		{"registry.example", []string{""}, false},
		{"registry.example", []string{"registry.example/path"}, false}, // refused by CheckInsecure too
		{"index.docker.io", []string{"docker.io"}, true},
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
		{[]string{"registry.example:5000", "10.0.0.0/8", "http://h:1", "[fd00::1]", "fd00::/8", "reg.lan"}, true},
		{[]string{""}, false},
		{[]string{"a b"}, false},
		{[]string{"10.0.0.0/33"}, false},
		{[]string{"reg.lan/path"}, false},
		{[]string{"fd00::1"}, false}, // an IPv6 address needs brackets
		{[]string{"ftp://h"}, false},
		{[]string{"ok.example", "h:0"}, false},
	}
	for _, tt := range tests {
		err := CheckInsecure(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("CheckInsecure(%q) = %v", tt.in, err)
		}
		if err != nil && !strings.Contains(err.Error(), "give host[:port]") {
			t.Errorf("CheckInsecure(%q) = %q: does not say what to give", tt.in, err)
		}
	}
}

// Every host gets verified HTTPS but those the rule allows, which get the
// transport that does not verify certificates, over the scheme asked. Plain HTTP
// that ggcr picks by itself for a host not allowed it (an RFC 1918 address) is
// sent as HTTPS.
func TestHostPolicy(t *testing.T) {
	var sent []string
	rt := func(which string) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			sent = append(sent, which+" "+r.URL.Scheme+"://"+r.URL.Host)
			return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(""))}, nil
		})
	}
	p := &hostPolicy{secure: rt("secure"), loose: rt("loose"), rule: newRule([]string{"reg.lan"})}
	tests := []struct{ url, want string }{
		{"http://192.168.1.5:5000/v2/", "secure https://192.168.1.5:5000"},
		{"http://registry.example/v2/", "secure https://registry.example"},
		{"https://ghcr.io/v2/", "secure https://ghcr.io"},
		{"http://127.0.0.1:5000/v2/", "loose http://127.0.0.1:5000"},
		{"https://127.0.0.1:5000/v2/", "loose https://127.0.0.1:5000"},
		{"http://reg.lan/v2/", "loose http://reg.lan"},
		{"https://reg.lan/v2/", "loose https://reg.lan"},
	}
	for _, tt := range tests {
		sent = nil
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := p.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if len(sent) != 1 || sent[0] != tt.want {
			t.Errorf("%s went %q, want %q", tt.url, sent, tt.want)
		}
		if req.URL.Scheme != strings.Split(tt.url, ":")[0] {
			t.Errorf("%s: the caller's request was changed", tt.url)
		}
	}
}

// The transport the client builds leaves the caller's alone, and skips
// certificate checks only in its copy for insecure hosts.
func TestNewTransport(t *testing.T) {
	base := &http.Transport{}
	rt := newTransport(base, []string{"reg.lan"}, RetryPolicy{}.withDefaults())
	if base.TLSClientConfig != nil && base.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("the base transport was made insecure")
	}
	p := rt.(*retryTransport).inner.(*hostPolicy)
	secure, loose := p.secure.(*http.Transport), p.loose.(*http.Transport)
	if secure == base || loose == base || secure.TLSClientConfig != nil && secure.TLSClientConfig.InsecureSkipVerify || !loose.TLSClientConfig.InsecureSkipVerify {
		t.Fatalf("secure %+v, loose %+v", secure.TLSClientConfig, loose.TLSClientConfig)
	}
	if newTransport(nil, nil, RetryPolicy{}).(*retryTransport).inner.(*hostPolicy).secure.(*http.Transport) == defaultTransport() {
		t.Fatal("the default transport is used, not a copy")
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// The rule never allows more than loopback for an entry CheckInsecure refuses,
// and always allows loopback and the host a valid entry names.
func FuzzInsecure(f *testing.F) {
	for _, s := range [][2]string{{"127.0.0.1:5000", ""}, {"reg.lan:443", "reg.lan"}, {"[fd00::1]:5000", "fd00::/8"},
		{"r.example:5000", "http://r.example:5000/"}, {"x", "a b"}, {"10.0.0.1", "10.0.0.0/33"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, host, entry string) {
		got := Insecure(host, []string{entry})
		if Insecure(host, nil) != IsLoopback(host) {
			t.Fatalf("Insecure(%q, nil) is not IsLoopback", host)
		}
		if IsLoopback(host) && !got {
			t.Fatalf("loopback %q refused with %q", host, entry)
		}
		if CheckInsecure([]string{entry}) != nil {
			if got != IsLoopback(host) {
				t.Fatalf("Insecure(%q, %q) = %v for an entry CheckInsecure refuses", host, entry, got)
			}
			return
		}
		if n, hp, _ := parseInsecure(entry); n == nil {
			named := hp.host
			if hp.port != "" {
				named = net.JoinHostPort(hp.host, hp.port)
			} else if strings.Contains(named, ":") {
				named = "[" + named + "]"
			}
			if !Insecure(named, []string{entry}) {
				t.Fatalf("Insecure(%q, %q) = false for the host the entry names", named, entry)
			}
		}
	})
}
