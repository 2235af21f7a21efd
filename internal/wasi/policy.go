package wasi

import (
	"context"
	"net/netip"

	"golang.org/x/sys/unix"
)

// SocketOp is the socket operation a SocketPolicy is asked about.
type SocketOp uint8

const (
	// SockOpen creates a socket (WasmEdge sock_open). Addr is unset.
	SockOpen SocketOp = iota
	// SockBind binds a socket to Addr, the guest's requested local address. The
	// policy may map it to another host address (see SocketPolicy).
	SockBind
	// SockListen makes a bound socket listen. Addr is its local address as the
	// guest sees it.
	SockListen
	// SockConnect connects a socket to the remote address Addr.
	SockConnect
	// SockSendTo sends a datagram to the remote address Addr.
	SockSendTo
	// SockAccept admits a connection from the peer Addr on a listening socket. A
	// denied connection is closed before the guest sees it, as a firewall would
	// drop it.
	SockAccept
	// SockResolve is a name lookup (sock_getaddrinfo): asked once with Host and no
	// Addr before anything is resolved (a denial fails the lookup and no query
	// leaves the host), then once per result with Addr set (a denial drops that
	// result).
	SockResolve
)

var sockOpNames = [...]string{"open", "bind", "listen", "connect", "send_to", "accept", "resolve"}

func (o SocketOp) String() string {
	if int(o) < len(sockOpNames) {
		return sockOpNames[o]
	}
	return "op(" + itoa(uint64(o)) + ")"
}

// SocketRequest describes one socket operation of a guest.
type SocketRequest struct {
	Op SocketOp
	// Network is "tcp" or "udp" ("" for SockResolve when the guest asked for any
	// socket type).
	Network string
	// Addr is the address the operation is about (see the SocketOp constants);
	// the zero AddrPort when there is none.
	Addr netip.AddrPort
	// Host is the name a SockResolve looks up.
	Host string
}

// SocketPolicy decides which socket operations a guest may perform. Every operation
// of the WasmEdge extension passes through it (System.checkSocket), and so does every
// accepted connection (System.admit, which each sock_accept calls), so it is the one
// place where a container's network access is decided: `--network none` uses DenyAll,
// and `-p HOST:GUEST` maps binds.
//
// Socket returns the address the host uses and the errno the guest sees
// (ErrnoSuccess to allow).
//
// # Notes
//
//   - Mapping: for SockBind, SockConnect and SockSendTo the returned address replaces
//     the guest's, so a guest binding 0.0.0.0:8080 can be bound on 127.0.0.1:18080
//     instead. The guest keeps seeing the address it asked for: sock_getlocaladdr
//     reports the guest's address for a mapped bind. For the other operations the
//     returned address is ignored; return req.Addr.
//   - The policy runs on the guest's thread, inside a host call: it must be quick and
//     must not block. It may be called concurrently by the Systems of different
//     guests that share it.
type SocketPolicy interface {
	Socket(ctx context.Context, req SocketRequest) (netip.AddrPort, Errno)
}

// SocketPolicyFunc adapts a function to SocketPolicy.
type SocketPolicyFunc func(ctx context.Context, req SocketRequest) (netip.AddrPort, Errno)

// Socket calls f.
func (f SocketPolicyFunc) Socket(ctx context.Context, req SocketRequest) (netip.AddrPort, Errno) {
	return f(ctx, req)
}

// DenyAll is the policy of a guest without a network (`--network none`): it refuses
// every socket operation with the errno Linux gives a process in a network namespace
// whose only interface, loopback, is down (a fresh `unshare -n`).
//
// # Notes
//
//   - sock_open is allowed: socket(2) works in any namespace, and a socket that is
//     neither bound nor connected reaches nothing.
//   - bind and listen: EADDRNOTAVAIL, what such a namespace answers for an address no
//     interface holds. Linux would let a wildcard bind (0.0.0.0) succeed there, but
//     berth's guest sockets live in the host's namespace, where it would really
//     listen, so we refuse it with the same errno as the other addresses.
//   - connect and send_to: ENETUNREACH (no route to any address, loopback included).
//   - name lookups: EAI_AGAIN (WasmEdge's ErrnoAiAgain), what glibc answers when no DNS
//     server can be reached; no query leaves the host.
//   - accept never happens (nothing is bound); were it asked, the connection is
//     dropped.
var DenyAll SocketPolicy = SocketPolicyFunc(denyAll)

func denyAll(_ context.Context, req SocketRequest) (netip.AddrPort, Errno) {
	switch req.Op {
	case SockOpen:
		return req.Addr, ErrnoSuccess
	case SockBind, SockListen:
		return req.Addr, ErrnoAddrnotavail
	case SockConnect, SockSendTo:
		return req.Addr, ErrnoNetunreach
	case SockResolve:
		return req.Addr, ErrnoAiAgain
	}
	return req.Addr, ErrnoAcces
}

// WithSocketPolicy sets the policy every socket operation of the guest passes through.
// Without one (nil), every operation is allowed and nothing is mapped.
func (c Config) WithSocketPolicy(p SocketPolicy) Config { c.sockPolicy = p; return c }

// checkSocket asks the System's policy about req. It returns the address to use.
func (s *System) checkSocket(ctx context.Context, req SocketRequest) (netip.AddrPort, Errno) {
	if s.sockPolicy == nil {
		return req.Addr, ErrnoSuccess
	}
	return s.sockPolicy.Socket(ctx, req)
}

// admit is what an accept asks of the policy about a new connection's host
// descriptor: false means the connection is refused (the caller closes it and takes
// the next one, as a firewall would have dropped it). Without a policy it costs
// nothing; with one, a getpeername(2).
func (s *System) admit(ctx context.Context, nfd int) bool {
	if s.sockPolicy == nil {
		return true
	}
	sa, err := unix.Getpeername(nfd)
	if err != nil {
		return false // already reset by the peer
	}
	_, errno := s.checkSocket(ctx, SocketRequest{Op: SockAccept, Network: "tcp", Addr: addrPortOf(sa)})
	return errno == ErrnoSuccess
}
