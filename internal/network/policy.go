package network

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"

	"github.com/berth-dev/berth/internal/wasi"
)

// Mode is a container's `--network`.
type Mode string

// The network modes.
const (
	// ModeDefault is Docker's default (bridge) network, as berth has it: published
	// ports are mapped to their host addresses, others stay on loopback.
	ModeDefault Mode = "default"
	// ModeHost lets the guest bind what it asks, as `--network host`.
	ModeHost Mode = "host"
	// ModeNone refuses every socket operation (wasi.DenyAll).
	ModeNone Mode = "none"
)

// ErrInvalidMode is wrapped by ParseMode's and Policy's errors for an unknown mode.
var ErrInvalidMode = errors.New("invalid network mode")

// ErrConflict is wrapped by Policy's errors for options that cannot go together.
var ErrConflict = errors.New("conflicting network options")

// ErrUnresolvedPort is wrapped by Policy's error for a mapping whose host port is
// ephemeral or a range: Open picks the port, and its Mappings go to Policy.
var ErrUnresolvedPort = errors.New("host port not chosen yet")

// ParseMode parses a `--network` value: "default" ("" and Docker's "bridge" are the
// same), "host" or "none".
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "default", "bridge":
		return ModeDefault, nil
	case "host":
		return ModeHost, nil
	case "none":
		return ModeNone, nil
	}
	return "", fmt.Errorf("%w %q: use default, host or none (container: and named networks are not supported)", ErrInvalidMode, s)
}

// DefaultMaxResolved is how many addresses a policy remembers the names of when
// Options.MaxResolved is 0.
const DefaultMaxResolved = 4096

// maxNamesPerAddr bounds the names remembered for one address (a CDN address serves
// many names).
const maxNamesPerAddr = 8

// Options are a container's network flags.
type Options struct {
	// Mode is the `--network` mode ("" is ModeDefault).
	Mode Mode
	// Ports are the published ports with their host ports chosen (Listeners.Mappings).
	// When two publish the same container port, a guest's bind takes the first (see
	// the package Notes).
	Ports []PortMapping
	// Allow, when not empty, is the only outbound traffic allowed; Deny blocks what it
	// matches, and wins over Allow.
	Allow, Deny []HostRule
	// MaxResolved bounds the addresses whose names the policy remembers (see the
	// package Notes); 0 means DefaultMaxResolved.
	MaxResolved int
}

// Policy returns the wasi.SocketPolicy of a container with options o. Use one policy
// per container: it remembers what the container's lookups returned. It is safe for
// concurrent use and never blocks beyond a short mutex.
func Policy(o Options) (wasi.SocketPolicy, error) {
	mode := o.Mode
	if mode == "" {
		mode = ModeDefault
	}
	switch mode {
	case ModeNone:
		if len(o.Ports) > 0 {
			return nil, fmt.Errorf("%w: port publishing (-p) and --network none", ErrConflict)
		}
		if len(o.Allow) > 0 || len(o.Deny) > 0 {
			return nil, fmt.Errorf("%w: --allow-host/--deny-host and --network none (which allows nothing)", ErrConflict)
		}
		return wasi.DenyAll, nil
	case ModeDefault, ModeHost:
	default:
		return nil, fmt.Errorf("%w %q: use default, host or none", ErrInvalidMode, mode)
	}
	// Copies: the policy is read by guest threads while the caller keeps its slices.
	p := &policy{mode: mode, allow: slices.Clone(o.Allow), deny: slices.Clone(o.Deny)}
	if mode == ModeDefault {
		for _, m := range o.Ports {
			if !m.resolved() {
				return nil, fmt.Errorf("publish %s: %w: open the ports with Open and pass its Mappings", m, ErrUnresolvedPort)
			}
			if m.Proto != "tcp" && m.Proto != "udp" {
				return nil, fmt.Errorf("publish %s: %w: proto %q", m, ErrInvalidPort, m.Proto)
			}
			p.ports = append(p.ports, m)
		}
	} // ModeHost: published ports are discarded, as Docker does (with a warning the CLI prints)
	for _, r := range p.allow {
		if r.Name == "" {
			p.allowAddrs = true
		}
	}
	p.nameRules = slices.ContainsFunc(p.allow, HostRule.isName) || slices.ContainsFunc(p.deny, HostRule.isName)
	max := o.MaxResolved
	if max <= 0 {
		max = DefaultMaxResolved
	}
	p.names = newNameCache(max)
	return p, nil
}

// policy is the SocketPolicy of ModeDefault and ModeHost.
type policy struct {
	mode        Mode
	ports       []PortMapping
	allow, deny []HostRule
	allowAddrs  bool // some allow rule is an address
	nameRules   bool // some rule is a name: lookups are remembered
	names       *nameCache
	own         ownPorts // ModeDefault: the loopback ports the guest bound
}

// The errnos of the policy's refusals (see the package Notes).
const (
	errnoEgress     = wasi.ErrnoAcces        // connect/send_to to a blocked address: a "prohibit" route
	errnoNameDenied = wasi.ErrnoAiNoname     // lookup of a blocked name
	errnoBindAddr   = wasi.ErrnoAddrnotavail // bind to an address the container does not have
	errnoNotOwn     = wasi.ErrnoConnrefused  // the host's loopback: nothing listens on the container's
)

// Socket decides req.
func (p *policy) Socket(_ context.Context, req wasi.SocketRequest) (netip.AddrPort, wasi.Errno) {
	switch req.Op {
	case wasi.SockBind:
		if p.mode == ModeHost {
			return req.Addr, wasi.ErrnoSuccess
		}
		ap, errno := p.bind(req)
		if errno == wasi.ErrnoSuccess && ap.Addr().Unmap().IsLoopback() {
			p.own.add(req.Network, ap.Port())
		}
		return ap, errno
	case wasi.SockListen:
		// The port of a bind to port 0 is known now: Addr is the local address.
		if a := req.Addr.Addr().Unmap(); p.mode == ModeDefault &&
			(a.IsLoopback() || a.IsUnspecified() && !p.published(req.Network, req.Addr.Port())) {
			p.own.add(req.Network, req.Addr.Port())
		}
		return req.Addr, wasi.ErrnoSuccess
	case wasi.SockConnect, wasi.SockSendTo:
		a := req.Addr.Addr().Unmap()
		if p.mode == ModeDefault && (a.IsLoopback() || a.IsUnspecified()) {
			return p.loopback(req, a)
		}
		if p.rules(a, req.Addr.Port()) == denied {
			return req.Addr, errnoEgress
		}
		return req.Addr, wasi.ErrnoSuccess
	case wasi.SockResolve:
		if !req.Addr.IsValid() {
			return req.Addr, p.lookup(req.Host)
		}
		return req.Addr, p.result(req.Host, req.Addr.Addr().Unmap())
	}
	// SockOpen, SockAccept: binds decide what is reachable, so an accepted peer is
	// always allowed.
	return req.Addr, wasi.ErrnoSuccess
}

// bind maps a bind of ModeDefault: a published port bound on a wildcard address goes
// to its host address; any other wildcard bind goes to loopback, same port; a
// loopback bind stays; any other address is not the container's (EADDRNOTAVAIL).
func (p *policy) bind(req wasi.SocketRequest) (netip.AddrPort, wasi.Errno) {
	a := req.Addr.Addr()
	u := a.Unmap()
	switch {
	case u.IsUnspecified():
		if port := req.Addr.Port(); port != 0 {
			for _, m := range p.ports {
				if m.ContainerPort == port && m.Proto == req.Network {
					ip := m.HostIP
					if !ip.IsValid() {
						ip = a // every interface, in the guest's family
					}
					return netip.AddrPortFrom(ip, m.HostPort), wasi.ErrnoSuccess
				}
			}
		}
		lo := netip.AddrFrom4([4]byte{127, 0, 0, 1})
		if a.Is6() && !a.Is4In6() {
			lo = netip.IPv6Loopback()
		}
		return netip.AddrPortFrom(lo, req.Addr.Port()), wasi.ErrnoSuccess
	case u.IsLoopback():
		return req.Addr, wasi.ErrnoSuccess
	}
	return req.Addr, errnoBindAddr
}

// published reports whether port is a published container port of network.
func (p *policy) published(network string, port uint16) bool {
	for _, m := range p.ports {
		if m.ContainerPort == port && m.Proto == network {
			return true
		}
	}
	return false
}

// loopback decides a connect or datagram of ModeDefault to a loopback (or
// unspecified, which Linux reads as local) address a. The container's loopback is its
// own, as in Docker: its published container ports are reached at their host
// addresses (so a guest reaches its own server on 127.0.0.1:8080), the loopback ports
// it bound itself are reached as they are, and these are not egress, so the rules do
// not apply. The rest of the host's loopback is not the container's: refused
// (ECONNREFUSED, what an empty loopback answers) unless an allow rule names it; a
// deny rule gives EACCES as elsewhere.
func (p *policy) loopback(req wasi.SocketRequest, a netip.Addr) (netip.AddrPort, wasi.Errno) {
	port := req.Addr.Port()
	for _, m := range p.ports {
		if m.ContainerPort == port && m.Proto == req.Network {
			ip := m.HostIP
			if !ip.IsValid() || ip.IsUnspecified() {
				ip = netip.AddrFrom4([4]byte{127, 0, 0, 1})
				if a.Is6() {
					ip = netip.IPv6Loopback()
				}
			}
			return netip.AddrPortFrom(ip, m.HostPort), wasi.ErrnoSuccess
		}
	}
	if p.own.has(req.Network, port) {
		return req.Addr, wasi.ErrnoSuccess
	}
	switch p.rules(a, port) {
	case denied:
		return req.Addr, errnoEgress
	case allowed:
		return req.Addr, wasi.ErrnoSuccess
	}
	return req.Addr, errnoNotOwn
}

// verdict is what the host rules say of an address.
type verdict uint8

const (
	noRule  verdict = iota // no rule matches, and no allow list: allowed as by default
	allowed                // an allow rule matches (and no deny rule)
	denied                 // a deny rule matches, or an allow list does not
)

// rules judges an outbound connect or datagram to a:port.
func (p *policy) rules(a netip.Addr, port uint16) verdict {
	var names []string
	if p.nameRules {
		names = p.names.get(a)
	}
	match := func(r HostRule) bool {
		if !r.matchPort(port) {
			return false
		}
		if r.Name == "" {
			return r.matchAddr(a)
		}
		for _, n := range names {
			if r.matchName(n) {
				return true
			}
		}
		return false
	}
	for _, r := range p.deny {
		if match(r) {
			return denied
		}
	}
	for _, r := range p.allow {
		if match(r) {
			return allowed
		}
	}
	if len(p.allow) > 0 {
		return denied
	}
	return noRule
}

// lookup decides whether name may be looked up at all (before any query leaves the
// host).
func (p *policy) lookup(host string) wasi.Errno {
	if _, err := netip.ParseAddr(host); err == nil {
		return wasi.ErrnoSuccess
	}
	name := normName(host)
	for _, r := range p.deny {
		if r.allPorts() && r.matchName(name) {
			return errnoNameDenied
		}
	}
	if len(p.allow) == 0 || p.allowAddrs {
		return wasi.ErrnoSuccess // an address rule may allow what it resolves to
	}
	for _, r := range p.allow {
		if r.matchName(name) {
			return wasi.ErrnoSuccess
		}
	}
	return errnoNameDenied
}

// result decides one address a lookup of host returned, and remembers it for host
// when a name rule covers host.
func (p *policy) result(host string, a netip.Addr) wasi.Errno {
	name := ""
	if _, err := netip.ParseAddr(host); err != nil {
		name = normName(host)
	}
	for _, r := range p.deny {
		if r.allPorts() && (r.matchAddr(a) || r.matchName(name)) {
			return errnoNameDenied
		}
	}
	if len(p.allow) > 0 {
		ok := false
		for _, r := range p.allow {
			if r.matchAddr(a) || r.matchName(name) {
				ok = true
				break
			}
		}
		if !ok {
			return errnoNameDenied
		}
	}
	if name != "" && p.nameRules {
		covered := func(r HostRule) bool { return r.matchName(name) }
		if slices.ContainsFunc(p.allow, covered) || slices.ContainsFunc(p.deny, covered) {
			p.names.add(a, name)
		}
	}
	return wasi.ErrnoSuccess
}

// nameCache remembers, per address, the names (covered by some rule) that a lookup
// returned it for. It holds at most max addresses in two generations: when the
// current one is full, it becomes the old one and the previous old one is dropped;
// a hit in the old generation moves the entry back to the current one. So recently
// used addresses stay, memory is bounded, and every operation is O(1) under a mutex
// held for a map access.
type nameCache struct {
	mu       sync.Mutex
	half     int
	cur, old map[netip.Addr][]string
}

func newNameCache(max int) *nameCache {
	half := max / 2
	if half < 1 {
		half = 1
	}
	return &nameCache{half: half, cur: make(map[netip.Addr][]string)}
}

func (c *nameCache) rotate() {
	if len(c.cur) >= c.half {
		c.old, c.cur = c.cur, make(map[netip.Addr][]string, c.half)
	}
}

func (c *nameCache) add(a netip.Addr, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	names, ok := c.cur[a]
	if !ok {
		if names, ok = c.old[a]; ok {
			delete(c.old, a)
		}
		c.rotate()
	}
	for _, n := range names {
		if n == name {
			c.cur[a] = names
			return
		}
	}
	if len(names) >= maxNamesPerAddr {
		names = names[1:]
	}
	// A new slice each time: readers hold the old one without the lock.
	c.cur[a] = append(append(make([]string, 0, len(names)+1), names...), name)
}

func (c *nameCache) get(a netip.Addr) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if names, ok := c.cur[a]; ok {
		return names
	}
	names, ok := c.old[a]
	if ok {
		delete(c.old, a)
		c.rotate()
		c.cur[a] = names
	}
	return names
}

// ownPorts are the loopback ports a guest bound, by network: few, and at most 2 ×
// 65535 entries, so unbounded otherwise. A port stays after the guest closes it (the
// policy does not see closes).
type ownPorts struct {
	mu    sync.Mutex
	ports map[ownPort]struct{}
}

type ownPort struct {
	network string
	port    uint16
}

func (o *ownPorts) add(network string, port uint16) {
	if port == 0 {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.ports == nil {
		o.ports = make(map[ownPort]struct{})
	}
	o.ports[ownPort{network, port}] = struct{}{}
}

func (o *ownPorts) has(network string, port uint16) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.ports[ownPort{network, port}]
	return ok
}

// len is the number of addresses remembered (for tests).
func (c *nameCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.old)
}
