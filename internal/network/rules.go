package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// ErrInvalidHost is what every error of ParseHostRule wraps.
var ErrInvalidHost = errors.New("invalid host rule")

// ErrUnknownHost is what CheckHosts wraps for a name that does not resolve.
var ErrUnknownHost = errors.New("unknown host")

// HostRule is one `--allow-host` or `--deny-host` value: a host name, a wildcard
// name, an IP address or a CIDR prefix, optionally limited to a port or port range.
type HostRule struct {
	// Name is a lower-case host name without a trailing dot, "" for an address rule.
	// With Wildcard it is the suffix: "*.example.com" has Name "example.com" and
	// matches every name below it (a.example.com, a.b.example.com), not example.com.
	Name     string
	Wildcard bool
	// Prefix is the addresses of an address rule (an IP is a /32 or /128 prefix);
	// invalid for a name rule. IPv4-mapped IPv6 addresses are stored as IPv4.
	Prefix netip.Prefix
	// PortLo..PortHi are the ports the rule covers; 0, 0 means every port.
	PortLo, PortHi uint16
}

// String formats r as it would be written on the command line.
func (r HostRule) String() string {
	var host string
	switch {
	case r.Name != "" && r.Wildcard:
		host = "*." + r.Name
	case r.Name != "":
		host = r.Name
	case r.Prefix.IsSingleIP():
		host = r.Prefix.Addr().String()
	default:
		host = r.Prefix.String()
	}
	if r.PortLo == 0 {
		return host
	}
	if r.Name == "" && r.Prefix.Addr().Is6() {
		host = "[" + host + "]"
	}
	if r.PortHi > r.PortLo {
		return host + ":" + strconv.Itoa(int(r.PortLo)) + "-" + strconv.Itoa(int(r.PortHi))
	}
	return host + ":" + strconv.Itoa(int(r.PortLo))
}

func hostErr(spec, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidHost, spec, fmt.Sprintf(format, args...))
}

// ParseHostRule parses an `--allow-host` / `--deny-host` value:
//
//	example.com   *.example.com   192.0.2.1   10.0.0.0/8   2001:db8::/32   ::1
//	example.com:443   *.example.com:8000-8100   10.0.0.0/8:53   [2001:db8::1]:443   [::/0]:443
//
// An IPv6 address or prefix with a port goes in brackets. A prefix must have no bits
// set past its length (10.0.0.0/8, not 10.1.2.3/8), so a typo is not silently widened.
func ParseHostRule(s string) (HostRule, error) {
	if s == "" {
		return HostRule{}, hostErr(s, "empty; give a host name, IP address or CIDR, e.g. example.com or 10.0.0.0/8")
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return HostRule{}, hostErr(s, "missing ']'")
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			var ok bool
			if port, ok = strings.CutPrefix(rest, ":"); !ok || port == "" {
				return HostRule{}, hostErr(s, "want [IPv6]:PORT after the brackets")
			}
		}
		if !strings.Contains(host, ":") {
			return HostRule{}, hostErr(s, "brackets are for IPv6 addresses")
		}
	case strings.Count(s, ":") >= 2:
		// a bare IPv6 address or prefix: no port
	default:
		var ok bool
		if host, port, ok = strings.Cut(s, ":"); ok && port == "" {
			return HostRule{}, hostErr(s, "empty port after ':'")
		}
	}
	var r HostRule
	if port != "" {
		lo, hi, err := parseRange(port)
		if err != nil {
			return HostRule{}, hostErr(s, "invalid port %q: %v", port, err)
		}
		r.PortLo, r.PortHi = lo, hi
	}
	if strings.Contains(host, "/") {
		p, err := netip.ParsePrefix(host)
		if err != nil {
			return HostRule{}, hostErr(s, "invalid CIDR %q: %v", host, err)
		}
		if p.Addr().Zone() != "" {
			return HostRule{}, hostErr(s, "zones are not allowed in a CIDR")
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		if m := p.Masked(); m != p {
			return HostRule{}, hostErr(s, "%s has bits set past its /%d; did you mean %s?", host, p.Bits(), m)
		}
		r.Prefix = p
		return r, nil
	}
	if a, err := netip.ParseAddr(host); err == nil {
		if a.Zone() != "" {
			return HostRule{}, hostErr(s, "zones are not allowed in an address")
		}
		a = a.Unmap()
		r.Prefix = netip.PrefixFrom(a, a.BitLen())
		return r, nil
	}
	if strings.Contains(host, ":") {
		return HostRule{}, hostErr(s, "invalid IPv6 address %q", host)
	}
	name, wild := strings.CutPrefix(host, "*.")
	if err := checkName(name); err != nil {
		return HostRule{}, hostErr(s, "%v", err)
	}
	r.Name, r.Wildcard = normName(name), wild
	return r, nil
}

// normName lower-cases a name and drops its trailing dot.
func normName(s string) string {
	return strings.ToLower(strings.TrimSuffix(s, "."))
}

// checkName checks s is a DNS host name (letters, digits, '-' and '_' in labels of
// 1 to 63 characters, 253 in all), whose last label is not all digits (so that
// 10.0.0 is not taken for a name).
func checkName(s string) error {
	s = strings.TrimSuffix(s, ".")
	if s == "" {
		return errors.New("not a host name, IP address or CIDR")
	}
	if len(s) > 253 {
		return errors.New("host name longer than 253 characters")
	}
	labels := strings.Split(s, ".")
	for _, l := range labels {
		if l == "" {
			return errors.New("empty label in host name (\"..\", or a leading '.')")
		}
		if len(l) > 63 {
			return fmt.Errorf("label %q longer than 63 characters", l)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return fmt.Errorf("label %q starts or ends with '-'", l)
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				if c == '*' {
					return errors.New("'*' is only allowed as a whole first label (*.example.com)")
				}
				return fmt.Errorf("character %q not allowed in a host name", c)
			}
		}
	}
	if last := labels[len(labels)-1]; strings.Trim(last, "0123456789") == "" {
		return errors.New("not a valid IP address, and not a host name (its last label is all digits)")
	}
	return nil
}

// isName reports whether r is a name rule.
func (r HostRule) isName() bool { return r.Name != "" }

// matchName reports whether r's name part covers name (normalized).
func (r HostRule) matchName(name string) bool {
	if r.Name == "" || name == "" {
		return false
	}
	if r.Wildcard {
		return len(name) > len(r.Name)+1 && strings.HasSuffix(name, r.Name) && name[len(name)-len(r.Name)-1] == '.'
	}
	return name == r.Name
}

// matchAddr reports whether r's address part covers a (unmapped).
func (r HostRule) matchAddr(a netip.Addr) bool {
	return r.Prefix.IsValid() && r.Prefix.Contains(a)
}

// allPorts reports whether r covers every port.
func (r HostRule) allPorts() bool { return r.PortLo == 0 }

// matchPort reports whether r covers port p.
func (r HostRule) matchPort(p uint16) bool {
	return r.PortLo == 0 || p >= r.PortLo && p <= r.PortHi
}

// ParseHostRules parses several values, naming the flag in errors.
func ParseHostRules(flag string, values []string) ([]HostRule, error) {
	out := make([]HostRule, 0, len(values))
	for _, v := range values {
		r, err := ParseHostRule(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", flag, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Resolver looks names up; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// CheckHosts looks up every exact name among rules (an allow list: a name there that
// does not resolve is almost always a typo) and returns an error wrapping
// ErrUnknownHost for the first that does not exist, and the resolver's error for one
// that could not be looked up. Wildcards and addresses are not looked up.
func CheckHosts(ctx context.Context, r Resolver, rules []HostRule) error {
	for _, rule := range rules {
		if rule.Name == "" || rule.Wildcard {
			continue
		}
		if _, err := r.LookupNetIP(ctx, "ip", rule.Name); err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				return fmt.Errorf("allow-host %s: %w: the name does not resolve on this host; check its spelling", rule, ErrUnknownHost)
			}
			return fmt.Errorf("allow-host %s: looking the name up: %w", rule, err)
		}
	}
	return nil
}
