// Package network turns a container's network flags (`-p`, `-P`, `--network`,
// `--allow-host`, `--deny-host`) into the wasi.SocketPolicy its guest runs under and
// the host sockets to open for it before it starts.
//
//	maps, _ := network.ParsePort("127.0.0.1:18080:8080")
//	ls, err := network.Open(ctx, maps)        // "port is already allocated" here, not later
//	allow, _ := network.ParseHostRules("--allow-host", []string{"api.example.com:443"})
//	pol, _ := network.Policy(network.Options{Ports: ls.Mappings(), Allow: allow})
//	cfg := wasi.NewConfig().WithSocketPolicy(pol).
//		WithListeners(ls.Files()...) // a guest serving fd 3; one that binds: ls.Close() instead
//
// # Notes
//
// Why the policy lives in the WASI host. A Wasm guest has no sockets of its own: every
// bind, connect, datagram and name lookup is a host call (the WasmEdge socket ABI) that
// passes through wasi.SocketPolicy. That is a firewall with the guest's intent in
// hand (the name it looked up, the port it binds) and no kernel set-up, so it works
// unprivileged and the same under `berth run`, the shim and Kubernetes. Docker never
// offered egress control for Wasm (its Wasm shims run guests with the container's
// network, all or nothing); the allow and deny lists are ours.
//
// Modes (`--network`):
//
//   - none: wasi.DenyAll. Its errnos are Linux's in a namespace whose only interface
//     is a down loopback (what `--network none` gives a runc container): connect and
//     send_to ENETUNREACH, lookups EAI_AGAIN (both checked under `unshare -n`), bind
//     and listen EADDRNOTAVAIL (Linux would let a bind of 0.0.0.0 or 127.0.0.1
//     succeed there; berth's guest sockets live in the host's namespace, so
//     DenyAll refuses every bind); sock_open works. Published ports and host rules
//     with none are an error (ErrConflict), since nothing they name could happen;
//     Docker raises its "conflicting options: port publishing" only for
//     `container:` networks.
//   - host: binds are the guest's own. Published ports are discarded, as Docker does
//     (the CLI should warn). Host rules still apply to outbound traffic.
//   - default: the guest's sockets live in the host's network namespace, so its binds
//     are rewritten (SocketPolicy's bind mapping; the guest keeps seeing the address
//     it asked for). A bind of a published container port on a wildcard address
//     (0.0.0.0 or ::) goes to the mapping's host address (HostIP:HostPort; without a
//     HostIP the wildcard stays, so every interface). A wildcard bind of any other
//     port goes to loopback (127.0.0.1, or ::1 for an IPv6 wildcard), same port: the
//     guest and the host's own loopback clients reach it, other hosts do not ("ports
//     that are not published are not reachable from other hosts"). A loopback bind
//     stays as asked, even for a published port: in Docker a server bound to the
//     container's 127.0.0.1 is not reachable through -p either. A bind to any other
//     address is EADDRNOTAVAIL: the container has no address of the host's.
//   - default, loopback: the container's loopback is its own, as in Docker. A connect
//     to 127.0.0.1:CONTAINER_PORT of a published port goes to its host address (the
//     guest reaches its own server as it would in a container); the loopback ports
//     the guest bound itself (learnt at bind, or at listen for port 0) are reached as
//     they are; neither is egress, so host rules do not apply to them. The rest of the
//     host's loopback (its databases, its daemons) is refused with ECONNREFUSED, what
//     an empty loopback answers, unless an allow rule names it (`--allow-host
//     127.0.0.1:5432`) or the mode is host.
//
// The wiring: `berth run` (internal/service) calls Open before the container exists and
// writes the options into the container's OCI spec (Annotate); internal/runtime reads
// them back (FromAnnotations) wherever the container runs, builds its Policy, and gives
// the guest the opened sockets or frees their ports for its own bind. See
// docs/rationale.md, "Published ports of detached containers".
//
// Known limits of default mode: unpublished ports share the host's loopback port space
// (a guest's bind of 8080 fails with EADDRINUSE when a host program has 127.0.0.1:8080,
// and the host's loopback clients can reach the guest's unpublished ports); a port the
// guest bound stays "its own" after it closes it (the policy sees no close); two -p of
// one container port map the guest's bind to the first only (the second would need a
// forwarder); and between Open's check and the guest's own bind (WasmEdge ABI guests)
// another program could take the port, which the guest then sees as EADDRINUSE. A guest
// taking preopened listeners (Listeners.Files) has no such race. A runner that opens
// the guest's sockets in a network namespace of the container's own (the shim under
// Kubernetes) has a loopback of its own already, and wants ModeHost there.
//
// Egress (`--allow-host`, `--deny-host`): outbound traffic is allowed by default, as in
// Docker; a deny rule blocks what it matches and wins over an allow rule; when any
// allow rule is given, only what an allow rule matches is allowed. Rules are host
// names (exact, or "*.example.com" for every name below example.com), IP addresses
// and CIDR prefixes, each for every port or for PORT or PORT-PORT. They apply to TCP
// connects and UDP datagrams alike, in default and host modes. A connect or send_to
// that the rules refuse gets EACCES at once: what Linux answers, for TCP and UDP
// alike, for a destination behind a "prohibit" route (`ip route add prohibit
// 198.51.100.0/24`), its own "administratively prohibited". A netfilter DROP would
// give EPERM to a datagram but leave a TCP connect to time out (ETIMEDOUT, minutes
// later), and a REJECT gives ECONNREFUSED, which reads as "nothing listens there".
// A name lookup the rules refuse gets EAI_NONAME, as from a DNS filter answering
// NXDOMAIN, and no query leaves the host.
//
// Why names are matched at resolve time. A connect carries an address, not a name,
// and a reverse lookup would be slow, blocking and spoofable. But the guest's lookups
// are host calls too (sock_getaddrinfo), so the policy sees each name and each
// address it resolves to: it refuses the lookup of a name no rule could allow (before
// any DNS query), drops the results an all-ports deny rule covers, and remembers
// which addresses a name covered by a name rule resolved to. A connect is then judged
// by its address: address rules directly, name rules through the names that address
// was resolved for in this container. Consequences, all deliberate: a guest that
// resolves names its own way (DNS over its own UDP socket) or dials literal addresses
// is judged by address only, so an allow list of names allows only what the
// container itself resolved through the host, and a deny list of names is advice a
// guest can route around (an allow list is the boundary); a name allowed by a rule
// allows its addresses, which may serve other names (a CDN), since the policy does
// not look into TLS; and DNS TTLs are not tracked: an address stays remembered until
// evicted.
//
// The memory of resolved names is per policy, so per container (one Policy per
// container), and bounded (Options.MaxResolved addresses, at most 8 names each; in
// two generations, so the least recently used go first); an address forgotten before
// its connect fails under an allow list until the guest resolves the name again. The policy is called
// from guest threads inside host calls: it is safe for concurrent use, takes one
// mutex for a map access only, and does no I/O.
package network
