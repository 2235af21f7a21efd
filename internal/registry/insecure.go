package registry

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/credentials"
)

// IsLoopback reports whether a registry host (with or without port) is on this
// machine: localhost, 127.0.0.0/8 or ::1.
func IsLoopback(host string) bool {
	h, _ := splitHost(host)
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Insecure reports whether the registry host ("host[:port]", as a reference or a
// URL names it) may be reached over plain HTTP and over TLS without verifying its
// certificate: a loopback host (see [IsLoopback]), which docker also treats so by
// default, or one that marked names. An entry of marked is host[:port] or an
// http(s) URL (as [credentials.ParseServer] reads them), or an IP range in CIDR
// notation, which matches hosts given as an IP address in it (no name is looked
// up). An entry with a port matches that port only; one without a port matches
// the host without a port and on the default ports 443 and 80, as a URL without
// a port means. Names are compared without regard to case. Entries that do not
// parse match nothing: [CheckInsecure] tells the user about them.
func Insecure(host string, marked []string) bool { return newRule(marked).allows(host) }

// CheckInsecure checks the values that mark registries insecure
// (--insecure-registry, BERTH_INSECURE_REGISTRIES): each must be host[:port], an
// http or https URL, or an IP range in CIDR notation.
func CheckInsecure(entries []string) error {
	for _, e := range entries {
		if _, _, ok := parseInsecure(e); !ok {
			return fmt.Errorf("insecure registry %q: give host[:port] (an IPv6 address in brackets), or an IP range like 10.0.0.0/8", e)
		}
	}
	return nil
}

// parseInsecure reads one entry of an insecure list: an IP range, or a host and
// port ("" when none).
func parseInsecure(e string) (*net.IPNet, hostPort, bool) {
	if _, n, err := net.ParseCIDR(e); err == nil {
		return n, hostPort{}, true
	}
	// ParseServer reads "" as Docker Hub and drops a URL's path; neither is meant
	// here.
	if e == "" || strings.Contains(e, "/") && !strings.Contains(e, "://") {
		return nil, hostPort{}, false
	}
	srv, err := credentials.ParseServer(e)
	if err != nil {
		return nil, hostPort{}, false
	}
	h, p := splitHost(srv.Host)
	return nil, hostPort{h, p}, true
}

// rule is the insecure rule for one list of marked registries, parsed once.
type rule struct {
	nets  []*net.IPNet
	hosts []hostPort
}

type hostPort struct{ host, port string }

func newRule(marked []string) rule {
	var r rule
	for _, m := range marked {
		n, hp, ok := parseInsecure(m)
		switch {
		case !ok:
		case n != nil:
			r.nets = append(r.nets, n)
		default:
			r.hosts = append(r.hosts, hp)
		}
	}
	return r
}

// allows reports whether host may be reached over plain HTTP and unverified TLS.
func (r rule) allows(host string) bool {
	if IsLoopback(host) {
		return true
	}
	h, p := splitHost(host)
	if ip := net.ParseIP(h); ip != nil {
		for _, n := range r.nets {
			if n.Contains(ip) {
				return true
			}
		}
	}
	for _, m := range r.hosts {
		if strings.EqualFold(m.host, h) && samePort(m.port, p) {
			return true
		}
	}
	return false
}

// splitHost splits "host:port", "[v6]:port", "[v6]", "v6" or "host" into the host
// (without brackets) and the port ("" when none).
func splitHost(hostport string) (host, port string) {
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(hostport, "["), "]"), ""
}

// samePort reports whether two ports of one host name the same endpoint: equal,
// or one absent and the other a default port (443 for HTTPS, 80 for HTTP).
func samePort(a, b string) bool {
	dflt := func(p string) bool { return p == "443" || p == "80" }
	return a == b || a == "" && dflt(b) || b == "" && dflt(a)
}

// hostPolicy applies the insecure rule to each request: a host the rule allows
// goes through loose (TLS without verifying the certificate; plain HTTP when
// asked), every other through secure, over HTTPS. go-containerregistry picks
// plain HTTP by itself for some hosts (RFC 1918 addresses, *.local, and as the
// fallback of its ping): such a request to a host not allowed it is sent as HTTPS
// instead, so it never leaves the machine in clear text and works with a registry
// that does speak TLS.
type hostPolicy struct {
	secure, loose http.RoundTripper
	rule          rule
}

func (p *hostPolicy) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.rule.allows(req.URL.Host) {
		return p.loose.RoundTrip(req)
	}
	if req.URL.Scheme == "http" {
		r := req.Clone(req.Context())
		r.URL.Scheme = "https"
		req = r
	}
	return p.secure.RoundTrip(req)
}

// newTransport is berth's stack for reaching registries: retries over the
// insecure rule over base (cloned, not modified; nil means ggcr's default).
func newTransport(base *http.Transport, marked []string, retry RetryPolicy) http.RoundTripper {
	if base == nil {
		base = defaultTransport()
	}
	secure := base.Clone()
	loose := base.Clone()
	if loose.TLSClientConfig == nil {
		loose.TLSClientConfig = &tls.Config{}
	}
	loose.TLSClientConfig.InsecureSkipVerify = true
	return &retryTransport{inner: &hostPolicy{secure: secure, loose: loose, rule: newRule(marked)}, policy: retry}
}

// defaultTransport is ggcr's default transport (http.DefaultTransport's settings
// with longer timeouts), or net/http's.
func defaultTransport() *http.Transport {
	if t, ok := remote.DefaultTransport.(*http.Transport); ok {
		return t
	}
	return http.DefaultTransport.(*http.Transport)
}
