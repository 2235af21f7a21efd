// Package shimclient is containerd towards one containerd-shim-berth-v1: it starts the
// shim for a container's OCI bundle as containerd's runtime v2 does (`shim start`),
// speaks the task API v2 to it over ttrpc (Create, Start, State, Wait, Kill, Delete,
// Stats, Shutdown), finds it again from a later berth process (Load, Connect), and
// cleans up after a shim that died (`shim delete`). It is what lets `berth run -d` leave
// a container running with no daemon: the shim is the only process that stays.
//
// The files of a bundle, as containerd leaves them: `address` (the shim's socket,
// written by the shim; Load reads it), `shim-binary-path` (the shim that serves it),
// `log` (the shim's own log; berth makes it a regular file, see Notes), written by the
// shim, `berth-guest.pid`, and the lock a live berth-guest holds, `berth-guest.lock`
// (internal/guest).
//
// Errors are *Error values that wrap one of the sentinel kinds (ErrShimGone, ErrNotFound,
// ErrAlreadyExists, ErrNotRunning, ErrFailedPrecondition, ErrNotSupported) and the
// underlying error: test them with errors.Is.
//
// The protocol is spoken by this package itself (ttrpc.go, messages.go, wire.go): ttrpc's
// framing and its Request/Response envelope, and the task API's messages encoded and
// decoded field by field. One connection carries any number of calls at once: each gets
// an odd stream id, one reader goroutine hands each response to its caller, and Close or
// the shim's end fails the calls still waiting (ErrShimGone).
//
// # Notes
//
//   - Why not github.com/containerd/ttrpc and containerd's generated task API: their
//     imports (the protobuf runtime with its descriptor registry, gRPC's status and
//     logging, gogo protobuf, typeurl, the cgroups stats types) run their package
//     initialisers in every berth process, `berth run --rm` and `berth version` included,
//     and add 3 MB to the binary; berth uses ten unary calls with flat messages. The
//     client half of ttrpc is ~240 lines, the messages and the wire format ~430, the
//     cgroup metrics ~270; wire_test.go checks every
//     request against containerd's generated types (the same bytes) and every response
//     decoded here against what those types encode, and ttrpc_test.go runs the client
//     against containerd's own ttrpc server (docs/rationale.md has the figures).
//   - Not even google.golang.org/protobuf/encoding/protowire: it imports the module's
//     internal/detrand, whose initialiser opens berth's executable and hashes samples of
//     it (0.1 ms of init in every process); the few helpers needed (varints, tags,
//     length-delimited fields, skipping the rest) are in wire.go, tested against protowire.
//   - Decoding follows protobuf-go's rules where they matter to a client: proto3 zero
//     values are absent, the last scalar wins, repeated messages merge, a field of an
//     unexpected wire type is skipped as unknown. Unlike protobuf-go it does not reject
//     strings that are not UTF-8 in responses, and it refuses proto2 groups (the task API
//     has none). Requests with a string that is not UTF-8 are refused (ErrBadOptions), as
//     protobuf-go's Marshal would.
//   - A frame over ttrpc's 4 MiB or on a stream this client never opened means the frames
//     are out of step: the connection is closed and its calls fail with a protocol error
//     (not ErrShimGone: the shim may still run). A response that does not parse, or a
//     frame of another type than a response, fails its call only. A response to a call
//     that gave up (its context ended) is dropped. A peer that ends in the middle of a
//     frame has died: ErrShimGone.
//   - The namespace goes as ttrpc metadata `containerd-namespace-ttrpc`, and a context's
//     deadline as the request's timeout, as containerd's client sends them.
//   - Stats returns *Metrics, figures decoded from the shim's cgroup v1 or v2 message
//     (by its type URL, not through a type registry), plus that message itself (TypeURL,
//     Raw) for a caller that needs more.
//   - Why berth speaks the task API itself rather than embedding containerd or running
//     it: the task API is the contract the shim already keeps with containerd 1.6 to 2.x,
//     Docker and Kubernetes, so one shim binary, tested one way, serves both front doors
//     (docs/rationale.md). containerd's own client half (runtime/v2's ShimManager) cannot
//     be used without containerd's metadata store, events exchange, plugin graph and
//     its fixed /run/containerd and /var/lib/containerd layout, and it would put a
//     daemon's assumptions (it is alive to hear events, it reloads shims at restart)
//     into a CLI that exits. What is taken from containerd is the protocol, step by
//     step: the flags, environment and working directory of `start` and `delete`, the
//     start response (an address, or version-2 JSON bootstrap parameters), the
//     `address` file, Delete before Shutdown, `delete` after a dead shim.
//   - Events. The v1.7 shim library publishes task events only to TTRPC_ADDRESS
//     (-publish-binary is ignored). A CLI that exits cannot listen, so Start gives the
//     shim no TTRPC_ADDRESS, and containerd-shim-berth-v1 then discards events instead
//     of publishing them. An address nothing listens on costs 5 s per event when the
//     socket does not exist (the library's dialer retries ENOENT until its 5 s timeout),
//     and when it refuses, five logged retries per event over 15 s. Exits are learnt
//     from Wait and State instead.
//   - The shim's log. The library opens `log` in the bundle for writing (containerd
//     makes it a FIFO and reads it for as long as containerd lives) and blocks until a
//     reader comes. A FIFO nobody reads after berth exits would stall the shim's
//     logging, so Start makes `log` a regular file: the shim's warnings stay readable.
//   - The shim's socket goes to Options.SocketDir (STATE/s in berth) rather than the
//     library's /run/containerd/s, which only root can create.
//   - A dead shim (killed, crashed, the host rebooted) shows as ErrShimGone from Load,
//     Connect and every call; its container's process died with it (the shim starts it
//     with a parent-death signal). Cleanup then runs `shim delete`, which reaps what the
//     shim left (a guest process, mounts, the cgroup, the socket) and reports the exit as
//     137, as containerd does after a shim's death.
package shimclient
