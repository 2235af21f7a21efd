package credentials

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// HubKey is the key docker writes Docker Hub's login under.
const HubKey = "https://index.docker.io/v1/"

// HubHost is the host berth talks to for Docker Hub (go-containerregistry's name for it).
const HubHost = "index.docker.io"

// hubAliases are the names that mean Docker Hub.
var hubAliases = []string{"docker.io", "index.docker.io", "registry-1.docker.io"}

// Server is a registry as logins name it.
type Server struct {
	// Host is the registry's host[:port]: HubHost for Docker Hub.
	Host string
	// Key is what the login is stored under in config.json and in credential helpers:
	// HubKey for Docker Hub, else Host.
	Key string
}

// Hub reports whether s is Docker Hub.
func (s Server) Hub() bool { return s.Key == HubKey }

// ErrBadServer is returned (wrapped) by ParseServer for a name that is not a registry.
var ErrBadServer = errors.New("not a registry address")

// ParseServer reads a registry as `docker login` takes it: empty for Docker Hub, a
// host[:port], or a URL (http or https) whose path is ignored, as in
// "https://index.docker.io/v1/".
func ParseServer(s string) (Server, error) {
	orig := s
	if s == "" {
		return Server{Host: HubHost, Key: HubKey}, nil
	}
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		switch strings.ToLower(scheme) {
		case "http", "https":
			s = rest
		default:
			return Server{}, fmt.Errorf("%w: %q: scheme %q (give host[:port], or an http or https URL)", ErrBadServer, orig, scheme)
		}
	}
	s, _, _ = strings.Cut(s, "/")
	if err := checkHostPort(s); err != nil {
		return Server{}, fmt.Errorf("%w: %q: %v (give host[:port], e.g. registry.example.com or 127.0.0.1:5000)", ErrBadServer, orig, err)
	}
	for _, a := range hubAliases {
		if strings.EqualFold(s, a) {
			return Server{Host: HubHost, Key: HubKey}, nil
		}
	}
	return Server{Host: s, Key: s}, nil
}

// checkHostPort accepts a DNS name, an IPv4 address or a bracketed IPv6 address, with an
// optional port.
func checkHostPort(s string) error {
	if s == "" {
		return errors.New("no host")
	}
	host, port := s, ""
	if strings.HasPrefix(s, "[") {
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return errors.New("unclosed [ in IPv6 address")
		}
		host = s[1:end]
		if ip := net.ParseIP(host); ip == nil || ip.To4() != nil || strings.Contains(host, "%") {
			return fmt.Errorf("%q is not an IPv6 address", host)
		}
		rest := s[end+1:]
		if rest != "" {
			if rest[0] != ':' {
				return fmt.Errorf("unexpected %q after the IPv6 address", rest)
			}
			port = rest[1:]
			if port == "" {
				return errors.New("empty port")
			}
		}
	} else {
		if h, p, ok := strings.Cut(s, ":"); ok {
			host, port = h, p
			if port == "" {
				return errors.New("empty port")
			}
		}
		if host == "" {
			return errors.New("no host")
		}
		for i := 0; i < len(host); i++ {
			c := host[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
				return fmt.Errorf("host %q has %q (a registry host is letters, digits, '.', '-' and '_')", host, c)
			}
		}
	}
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 || port[0] == '0' || port[0] == '+' {
			return fmt.Errorf("port %q is not a number from 1 to 65535", port)
		}
	}
	return nil
}
