package network

import (
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	ip := netip.MustParseAddr
	tcp := func(hostIP string, hp, hpEnd, cp uint16) PortMapping {
		m := PortMapping{HostPort: hp, HostPortEnd: hpEnd, ContainerPort: cp, Proto: "tcp"}
		if hostIP != "" {
			m.HostIP = ip(hostIP)
		}
		return m
	}
	tests := []struct {
		spec string
		want []PortMapping
	}{
		{"80", []PortMapping{tcp("", 0, 0, 80)}},
		{"8080:80", []PortMapping{tcp("", 8080, 8080, 80)}},
		{"8080:80/tcp", []PortMapping{tcp("", 8080, 8080, 80)}},
		{"8080:80/TCP", []PortMapping{tcp("", 8080, 8080, 80)}},
		{"53:53/udp", []PortMapping{{HostPort: 53, HostPortEnd: 53, ContainerPort: 53, Proto: "udp"}}},
		{"127.0.0.1:18080:8080", []PortMapping{tcp("127.0.0.1", 18080, 18080, 8080)}},
		{"127.0.0.1::80", []PortMapping{tcp("127.0.0.1", 0, 0, 80)}},
		{":80", []PortMapping{tcp("", 0, 0, 80)}},
		{"[::1]:8080:80", []PortMapping{tcp("::1", 8080, 8080, 80)}},
		{"[::1]::80", []PortMapping{tcp("::1", 0, 0, 80)}},
		{"::1:8080:80", []PortMapping{tcp("::1", 8080, 8080, 80)}},
		{"[::ffff:127.0.0.1]:8080:80", []PortMapping{tcp("127.0.0.1", 8080, 8080, 80)}},
		{"8000-8001:80-81", []PortMapping{tcp("", 8000, 8000, 80), tcp("", 8001, 8001, 81)}},
		{"8000-8010:80", []PortMapping{tcp("", 8000, 8010, 80)}},
		{"80-82", []PortMapping{tcp("", 0, 0, 80), tcp("", 0, 0, 81), tcp("", 0, 0, 82)}},
		{"0.0.0.0::80-81/udp", []PortMapping{
			{HostIP: ip("0.0.0.0"), ContainerPort: 80, Proto: "udp"},
			{HostIP: ip("0.0.0.0"), ContainerPort: 81, Proto: "udp"}}},
		{"65535:65535", []PortMapping{tcp("", 65535, 65535, 65535)}},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.spec)
		if err != nil {
			t.Errorf("ParsePort(%q): %v", tt.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePort(%q) = %+v, want %+v", tt.spec, got, tt.want)
		}
	}
}

func TestParsePortErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"", "no port specified"},
		{"/tcp", "no port specified"},
		{"80/", "empty protocol"},
		{"80/icmp", "invalid proto"},
		{"80/sctp", "no SCTP"},
		{"http", "invalid containerPort"},
		{"0", "out of range"},
		{"65536", "out of range"},
		{"8080:0", "invalid containerPort"},
		{"0:80", "invalid hostPort"},
		{"x:80", "invalid hostPort"},
		{"8080:", "invalid containerPort"},
		{"80-79", "ends before it starts"},
		{"8000-8001:80-82", "invalid ranges"},
		{"1.2.3:80:80", "invalid IP address"},
		{"localhost:80:80", "invalid IP address"},
		{"[::1:80:80", "missing ']'"},
		{"[]:80:80", "empty '[]'"},
		{"[::1]80:80", "[IPv6]:HOST_PORT"},
		{"[::1]:80", "HOST_PORT may be empty"},
		{"[::1]:80:80:80", "too many"},
		{"[fe80::1%eth0]:80:80", "invalid IP address"},
		{"-1", "empty port"},
		{"+80", "not a number"},
		{"8080:80/tcp/udp", "invalid proto"},
	}
	for _, tt := range tests {
		got, err := ParsePort(tt.spec)
		if err == nil {
			t.Errorf("ParsePort(%q) = %+v, want an error with %q", tt.spec, got, tt.want)
			continue
		}
		if !errors.Is(err, ErrInvalidPort) || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.spec) {
			t.Errorf("ParsePort(%q) error %q: want ErrInvalidPort naming the spec and %q", tt.spec, err, tt.want)
		}
	}
}

// TestPortMappingString checks String is `-p` syntax that parses back to the mapping.
func TestPortMappingString(t *testing.T) {
	for _, spec := range []string{"80/tcp", "8080:80/tcp", "127.0.0.1:18080:8080/tcp", "127.0.0.1::80/udp", "[::1]:8080:80/tcp", "8000-8010:80/tcp"} {
		ms, err := ParsePort(spec)
		if err != nil {
			t.Fatal(err)
		}
		if got := ms[0].String(); got != spec {
			t.Errorf("String of %q = %q", spec, got)
		}
		back, err := ParsePort(ms[0].String())
		if err != nil || !reflect.DeepEqual(back, ms) {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", ms[0].String(), back, err, ms)
		}
	}
}

func TestExposedPorts(t *testing.T) {
	got, err := ExposedPorts(map[string]struct{}{"8080/tcp": {}, "53/udp": {}, "80": {}, "9000-9001/TCP": {}})
	if err != nil {
		t.Fatal(err)
	}
	want := []PortMapping{
		{ContainerPort: 80, Proto: "tcp"}, {ContainerPort: 8080, Proto: "tcp"},
		{ContainerPort: 9000, Proto: "tcp"}, {ContainerPort: 9001, Proto: "tcp"},
		{ContainerPort: 53, Proto: "udp"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ExposedPorts = %+v, want %+v", got, want)
	}
	if got, err := ExposedPorts(nil); err != nil || len(got) != 0 {
		t.Errorf("ExposedPorts(nil) = %v, %v", got, err)
	}
	for key, want := range map[string]string{"132/sctp": "invalid proto", "http/tcp": "not a number", "0/tcp": "out of range"} {
		if _, err := ExposedPorts(map[string]struct{}{key: {}}); err == nil || !errors.Is(err, ErrInvalidPort) || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), key) {
			t.Errorf("ExposedPorts(%q) error %v, want ErrInvalidPort naming it and %q", key, err, want)
		}
	}
}
