package network

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strings"
	"testing"
)

func TestParseHostRule(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		in   string
		want HostRule
	}{
		{"example.com", HostRule{Name: "example.com"}},
		{"Example.COM.", HostRule{Name: "example.com"}},
		{"*.example.com", HostRule{Name: "example.com", Wildcard: true}},
		{"localhost", HostRule{Name: "localhost"}},
		{"_srv.example.com", HostRule{Name: "_srv.example.com"}},
		{"example.com:443", HostRule{Name: "example.com", PortLo: 443, PortHi: 443}},
		{"*.example.com:8000-8100", HostRule{Name: "example.com", Wildcard: true, PortLo: 8000, PortHi: 8100}},
		{"192.0.2.1", HostRule{Prefix: pfx("192.0.2.1/32")}},
		{"192.0.2.1:53", HostRule{Prefix: pfx("192.0.2.1/32"), PortLo: 53, PortHi: 53}},
		{"10.0.0.0/8", HostRule{Prefix: pfx("10.0.0.0/8")}},
		{"10.0.0.0/8:1-1023", HostRule{Prefix: pfx("10.0.0.0/8"), PortLo: 1, PortHi: 1023}},
		{"::1", HostRule{Prefix: pfx("::1/128")}},
		{"2001:db8::/32", HostRule{Prefix: pfx("2001:db8::/32")}},
		{"[2001:db8::1]:443", HostRule{Prefix: pfx("2001:db8::1/128"), PortLo: 443, PortHi: 443}},
		{"[::/0]:443", HostRule{Prefix: pfx("::/0"), PortLo: 443, PortHi: 443}},
		{"[::1]", HostRule{Prefix: pfx("::1/128")}},
		{"::ffff:192.0.2.1", HostRule{Prefix: pfx("192.0.2.1/32")}},
		{"::ffff:10.0.0.0/104", HostRule{Prefix: pfx("10.0.0.0/8")}},
		{"0.0.0.0/0", HostRule{Prefix: pfx("0.0.0.0/0")}},
	}
	for _, tt := range tests {
		got, err := ParseHostRule(tt.in)
		if err != nil {
			t.Errorf("ParseHostRule(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("ParseHostRule(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
		back, err := ParseHostRule(got.String())
		if err != nil || back != got {
			t.Errorf("ParseHostRule(%q.String() = %q) = %+v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestParseHostRuleErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "empty"},
		{"*", "only allowed"},
		{"*.", "not a host name"},
		{"**.example.com", "'*' is only allowed"},
		{"a.*.example.com", "'*' is only allowed"},
		{"example.com:", "empty port"},
		{"example.com:0", "out of range"},
		{"example.com:http", "not a number"},
		{"example.com:443-80", "ends before"},
		{"example.com:1:2", "invalid IPv6"},
		{"exa mple.com", "not allowed"},
		{"-example.com", "starts or ends with '-'"},
		{"example..com", "empty label"},
		{".example.com", "empty label"},
		{strings.Repeat("a", 64) + ".com", "longer than 63"},
		{strings.Repeat("a.", 127) + "com", "longer than 253"},
		{"10.0.0", "all digits"},
		{"256.1.1.1", "all digits"},
		{"10.1.2.3/8", "did you mean 10.0.0.0/8"},
		{"10.0.0.0/33", "invalid CIDR"},
		{"10.0.0.0/8/8", "invalid CIDR"},
		{"[10.0.0.1]:80", "brackets are for IPv6"},
		{"[::1]80", "want [IPv6]:PORT"},
		{"[::1]:", "want [IPv6]:PORT"},
		{"[::1", "missing ']'"},
		{"fe80::1%eth0", "zones"},
		{"[fe80::1%eth0]:80", "zones"},
		{"2001:db8::1:443:", "invalid IPv6"},
		{"exámple.com", "not allowed"},
	}
	for _, tt := range tests {
		got, err := ParseHostRule(tt.in)
		if err == nil {
			t.Errorf("ParseHostRule(%q) = %+v, want an error with %q", tt.in, got, tt.want)
			continue
		}
		if !errors.Is(err, ErrInvalidHost) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.in) {
			t.Errorf("ParseHostRule(%q) error %q: want ErrInvalidHost naming the value and %q", tt.in, err, tt.want)
		}
	}
	if _, err := ParseHostRules("--allow-host", []string{"example.com", "bad name"}); err == nil || !strings.HasPrefix(err.Error(), "--allow-host: ") {
		t.Errorf("ParseHostRules error %v, want one naming the flag", err)
	}
}

func TestHostRuleMatch(t *testing.T) {
	tests := []struct {
		rule, name string
		want       bool
	}{
		{"example.com", "example.com", true},
		{"example.com", "www.example.com", false},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "a.b.example.com", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "badexample.com", false},
		{"10.0.0.0/8", "10.0.0.1", false}, // an address rule never matches a name
	}
	for _, tt := range tests {
		r, err := ParseHostRule(tt.rule)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.matchName(tt.name); got != tt.want {
			t.Errorf("%q matchName(%q) = %v, want %v", tt.rule, tt.name, got, tt.want)
		}
	}
}

// fakeResolver answers from a map; a missing name is a not-found DNS error, "temp."
// a temporary failure.
type fakeResolver map[string][]netip.Addr

func (f fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	if host == "temp.example" {
		return nil, &net.DNSError{Err: "server misbehaving", Name: host, IsTemporary: true}
	}
	if a, ok := f[host]; ok {
		return a, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
}

func TestCheckHosts(t *testing.T) {
	r := fakeResolver{"api.example": {netip.MustParseAddr("192.0.2.7")}}
	rules, err := ParseHostRules("--allow-host", []string{"api.example:443", "*.cdn.example", "10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckHosts(context.Background(), r, rules); err != nil {
		t.Errorf("CheckHosts: %v", err)
	}
	bad, _ := ParseHostRules("--allow-host", []string{"api.example", "typo.example:443"})
	err = CheckHosts(context.Background(), r, bad)
	if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), "typo.example:443") {
		t.Errorf("CheckHosts(typo) = %v, want ErrUnknownHost naming typo.example:443", err)
	}
	temp, _ := ParseHostRules("--allow-host", []string{"temp.example"})
	err = CheckHosts(context.Background(), r, temp)
	if err == nil || errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), "server misbehaving") {
		t.Errorf("CheckHosts(temporary failure) = %v, want the resolver's error", err)
	}
	// The real resolver: "localhost" is in /etc/hosts everywhere, ".invalid" never exists (RFC 6761).
	local, _ := ParseHostRules("--allow-host", []string{"localhost"})
	if err := CheckHosts(context.Background(), net.DefaultResolver, local); err != nil {
		t.Errorf("CheckHosts(localhost): %v", err)
	}
}
