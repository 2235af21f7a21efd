package network

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ErrInvalidPort is what every error of ParsePort and ExposedPorts wraps: test for it
// with errors.Is.
var ErrInvalidPort = errors.New("invalid port specification")

// PortMapping publishes one container port on the host: a guest that binds
// ContainerPort (on any address, see Policy) is reached at HostIP:HostPort.
type PortMapping struct {
	// HostIP is the host address to publish on; the zero Addr means every interface
	// (0.0.0.0 and ::), as Docker's default.
	HostIP netip.Addr
	// HostPort is the host port; 0 means an ephemeral one, which Open picks.
	HostPort uint16
	// HostPortEnd, when above HostPort, makes HostPort..HostPortEnd a range in which
	// Open picks the first free port: Docker's reading of `-p 8000-8010:80` (one
	// container port, a host range). Otherwise it equals HostPort.
	HostPortEnd uint16
	// ContainerPort is the port the guest binds.
	ContainerPort uint16
	// Proto is "tcp" or "udp".
	Proto string
}

// String formats m in `-p` syntax, as `berth port` shows a binding.
func (m PortMapping) String() string {
	var b strings.Builder
	if m.HostIP.IsValid() {
		if m.HostIP.Is6() {
			b.WriteString("[" + m.HostIP.String() + "]")
		} else {
			b.WriteString(m.HostIP.String())
		}
		b.WriteString(":")
	}
	if m.HostPort != 0 || m.HostIP.IsValid() {
		if m.HostPort != 0 {
			b.WriteString(strconv.Itoa(int(m.HostPort)))
			if m.HostPortEnd > m.HostPort {
				b.WriteString("-" + strconv.Itoa(int(m.HostPortEnd)))
			}
		}
		b.WriteString(":")
	}
	b.WriteString(strconv.Itoa(int(m.ContainerPort)) + "/" + m.Proto)
	return b.String()
}

// HostAddr is the host address m publishes on: HostIP (0.0.0.0 when unset) and
// HostPort. Meaningful once the host port is resolved (see Listeners.Mappings).
func (m PortMapping) HostAddr() netip.AddrPort {
	ip := m.HostIP
	if !ip.IsValid() {
		ip = netip.IPv4Unspecified()
	}
	return netip.AddrPortFrom(ip, m.HostPort)
}

// resolved reports whether m names one host port (no range, not ephemeral).
func (m PortMapping) resolved() bool {
	return m.HostPort != 0 && m.HostPortEnd <= m.HostPort
}

func portErr(spec, format string, args ...any) error {
	return fmt.Errorf("%w %q: %s", ErrInvalidPort, spec, fmt.Sprintf(format, args...))
}

// ParsePort parses one `-p` value in Docker's grammar:
//
//	[HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]
//
// HOST_PORT and CONTAINER_PORT may be ranges (8000-8010). Equal-length ranges map port
// to port; a host range with a single container port is a range to pick a free host
// port from (one mapping with HostPortEnd set), as Docker does; other lengths are an
// error. An empty or missing HOST_PORT is an ephemeral host port. HOST_IP may be IPv6,
// in brackets ([::1]:8080:80) or bare (::1:8080:80, as Docker splits on the last two
// colons).
//
// # Notes
//
//   - Docker accepts sctp; WASI sockets have no SCTP, so it is an error here.
//   - Port 0 is refused on either side: Docker reads a container port 0 as an error and
//     a host port 0 as "ephemeral"; we accept the empty form only (`127.0.0.1::80`),
//     which is unambiguous.
func ParsePort(spec string) ([]PortMapping, error) {
	rest, proto, hasProto := strings.Cut(spec, "/")
	if hasProto {
		proto = strings.ToLower(proto)
		switch proto {
		case "tcp", "udp":
		case "":
			return nil, portErr(spec, "empty protocol after '/'; use /tcp or /udp")
		case "sctp":
			return nil, portErr(spec, "invalid proto: sctp (WASI sockets have no SCTP; use tcp or udp)")
		default:
			return nil, portErr(spec, "invalid proto: %q; use tcp or udp", proto)
		}
	} else {
		proto = "tcp"
	}
	if rest == "" {
		return nil, portErr(spec, "no port specified; want [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTO], e.g. 8080:80")
	}
	var ipPart, hostPart, ctrPart string
	var hasHost bool
	if strings.HasPrefix(rest, "[") {
		end := strings.Index(rest, "]")
		if end < 0 {
			return nil, portErr(spec, "invalid IP address: missing ']'")
		}
		ipPart = rest[1:end]
		if ipPart == "" {
			return nil, portErr(spec, "invalid IP address: empty '[]'")
		}
		after := rest[end+1:]
		if !strings.HasPrefix(after, ":") {
			return nil, portErr(spec, "want [IPv6]:HOST_PORT:CONTAINER_PORT")
		}
		var ok bool
		hostPart, ctrPart, ok = strings.Cut(after[1:], ":")
		if !ok {
			return nil, portErr(spec, "want [IPv6]:HOST_PORT:CONTAINER_PORT (HOST_PORT may be empty)")
		}
		hasHost = true
		if strings.Contains(ctrPart, ":") {
			return nil, portErr(spec, "invalid port %q: too many ':'", ctrPart)
		}
	} else {
		parts := strings.Split(rest, ":")
		switch n := len(parts); n {
		case 1:
			ctrPart = parts[0]
		case 2:
			hostPart, ctrPart, hasHost = parts[0], parts[1], true
		default:
			ipPart, hostPart, ctrPart, hasHost = strings.Join(parts[:n-2], ":"), parts[n-2], parts[n-1], true
		}
	}
	var m PortMapping
	m.Proto = proto
	if ipPart != "" {
		ip, err := netip.ParseAddr(ipPart)
		if err != nil || ip.Zone() != "" {
			return nil, portErr(spec, "invalid IP address %q", ipPart)
		}
		m.HostIP = ip.Unmap()
	}
	cLo, cHi, err := parseRange(ctrPart)
	if err != nil {
		return nil, portErr(spec, "invalid containerPort %q: %v", ctrPart, err)
	}
	var hLo, hHi uint16
	if hasHost && hostPart != "" {
		if hLo, hHi, err = parseRange(hostPart); err != nil {
			return nil, portErr(spec, "invalid hostPort %q: %v", hostPart, err)
		}
	}
	if hLo == 0 || cLo == cHi || hHi-hLo == cHi-cLo {
		// ephemeral host port(s), a single container port, or equal lengths
	} else {
		return nil, portErr(spec, "invalid ranges specified for container and host Ports: %s and %s (give ranges of equal length, or one container port)", ctrPart, hostPart)
	}
	out := make([]PortMapping, 0, int(cHi-cLo)+1)
	for i := 0; i <= int(cHi-cLo); i++ {
		mm := m
		mm.ContainerPort = cLo + uint16(i)
		switch {
		case hLo == 0:
		case cLo == cHi:
			mm.HostPort, mm.HostPortEnd = hLo, hHi
		default:
			mm.HostPort = hLo + uint16(i)
			mm.HostPortEnd = mm.HostPort
		}
		out = append(out, mm)
	}
	return out, nil
}

// parseRange parses PORT or PORT-PORT, each 1..65535, low ≤ high.
func parseRange(s string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = parsePortNum(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = parsePortNum(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, fmt.Errorf("range %d-%d ends before it starts", lo, hi)
	}
	return lo, hi, nil
}

func parsePortNum(s string) (uint16, error) {
	if s == "" {
		return 0, errors.New("empty port")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%q is not a number", s)
		}
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %s out of range 1-65535", s)
	}
	return uint16(n), nil
}

// ExposedPorts turns an image config's ExposedPorts keys ("8080/tcp", "53/udp",
// "8000-8002/tcp", or a bare "80") into the mappings of `-P`: each port published on
// an ephemeral host port on every interface, sorted by protocol then port. Keys with
// a protocol berth cannot serve (sctp) are an error naming the key.
func ExposedPorts(exposed map[string]struct{}) ([]PortMapping, error) {
	keys := make([]string, 0, len(exposed))
	for k := range exposed {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var out []PortMapping
	for _, k := range keys {
		port, proto, _ := strings.Cut(k, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" {
			return nil, portErr(k, "image exposes invalid proto %q: berth publishes tcp and udp", proto)
		}
		lo, hi, err := parseRange(port)
		if err != nil {
			return nil, portErr(k, "image exposes invalid port: %v", err)
		}
		for p := int(lo); p <= int(hi); p++ {
			out = append(out, PortMapping{ContainerPort: uint16(p), Proto: proto})
		}
	}
	slices.SortStableFunc(out, func(a, b PortMapping) int {
		if c := strings.Compare(a.Proto, b.Proto); c != 0 {
			return c
		}
		return int(a.ContainerPort) - int(b.ContainerPort)
	})
	return out, nil
}
