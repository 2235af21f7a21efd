// Package shimclient is containerd towards one containerd-shim-berth-v1: it starts the
// shim for a container's OCI bundle as containerd's runtime v2 does (`shim start`),
// speaks the task API v2 to it over ttrpc (Create, Start, State, Wait, Kill, Delete,
// Stats, Shutdown), finds it again from a later berth process (Load, Connect), and
// cleans up after a shim that died (`shim delete`). It is what lets `berth run -d` leave
// a container running with no daemon: the shim is the only process that stays.
//
// The files of a bundle, as containerd leaves them: `address` (the shim's socket,
// written by the shim; Load reads it), `shim-binary-path` (the shim that serves it),
// `log` (the shim's own log; berth makes it a regular file, see Notes) and, written by
// the shim, `berth-guest.pid`.
//
// Errors are *Error values that wrap one of the sentinel kinds (ErrShimGone, ErrNotFound,
// ErrAlreadyExists, ErrNotRunning, ErrFailedPrecondition, ErrNotSupported) and the
// underlying error: test them with errors.Is.
//
// # Notes
//
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
