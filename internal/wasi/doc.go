// Package wasi is berth's WASI preview1 host: the functions of wasi_snapshot_preview1
// (and the WasmEdge socket extension) that a Wasm container calls, which are to berth
// what the kernel's system calls are to runc. It is the container boundary.
//
//	s, err := wasi.New(ctx, wasi.NewConfig().
//		WithArgs("app", "-v").
//		WithEnv("HOME=/").
//		WithStdout(os.Stdout).
//		WithMounts(wasi.Mount{HostPath: rootfs, GuestPath: "/"}).
//		WithExit(exit))
//	defer s.Close()
//	for _, f := range wasi.Funcs() { /* register f under wasi.ModuleName; f.Call(ctx, s, mem, stack) */ }
//
// # Notes
//
//   - Engine-neutral: a host function (Func) sees the guest's memory as a []byte and
//     its parameters and results on a []uint64 stack, and registers under a name and
//     signature; nothing here imports wazero. internal/engine adapts it to wazero, and
//     a second engine could reuse it as it is.
//   - Errno values are exact: each function documents which errno it returns where the
//     witx specification is silent, following wasmtime's behaviour (the reference
//     implementation of preview1) and saying so where we differ.
//   - Guest input is never trusted: every pointer and length is checked against the
//     memory's size (ErrnoFault), iovec counts are bounded (ErrnoInval), unknown fds are
//     ErrnoBadf; no guest value can panic the host.
//   - Files: every mount is an os.Root, and every path a guest names is resolved by it,
//     so no "..", absolute path, symlink or rename leaves the mount.
//   - Waiting: host calls that block (reads on pipes and sockets, poll_oneoff, accept)
//     wait in ppoll(2) together with an interrupt pipe that the System's context wakes,
//     so an idle guest uses no CPU and a stopped container's guest ends at once.
package wasi
