// Package engine compiles, caches, instantiates and runs WASI preview1 command modules.
//
// It is berth's only door to the Wasm engine (wazero, in compiler mode): no wazero type
// appears in its API, and no other package imports wazero's WASI packages.
//
//	eng, err := engine.New(ctx, cacheDir)
//	digest, err := eng.Precompile(ctx, wasm)          // when an image is pulled or loaded
//	code, err := eng.Run(ctx, engine.Spec{Module: wasm, Digest: digest, Args: []string{"app"}})
//
// # Notes
//
//   - Compile once. wazero compiles a 2.6 MB Go-built module in about a second; from its
//     disk cache the same takes ~28 ms, and instantiation ~3 ms. So the cache is keyed
//     by the module's digest (cacheDir/<sha256 hex>/, one wazero.CompilationCache each,
//     kept for the Engine's life) and by the engine version (wazero adds
//     wazero-<version>-<arch>-<os>/). The digest directory is what Remove and Prune
//     delete when images go; wazero's own file names inside are its sha256 of the
//     module, which is why a wrong Spec.Digest can misfile code but never run other code.
//   - Run is kept as cheap as a minimal wazero runner (BenchmarkRun* against
//     BenchmarkBaseline*): it hashes the module only when no digest is given, does not
//     copy the bytes and starts no goroutine.
//   - Untrusted modules: wazero v1.12.0's decoder allocates what a module declares
//     before reading it, so an 18-byte module declaring 3 billion parameters kills the
//     process ("fatal error: runtime: out of memory", which no recover catches), and some
//     malformed modules make its validator panic. So every module first goes through
//     scanModule (wasmparse.go), one allocation-free pass (~1 ms for a 2.6 MB module)
//     that refuses counts and lengths larger than the bytes that follow them, and more
//     than 50000 locals in a function (the limit of wasmtime and V8); and wazero panics
//     are turned into errors. The same pass gives the import list and initial memory
//     size used to explain failures.
//   - Each Run gets a Runtime of its own: the memory limit is a runtime setting, and a
//     guest must not see another's instances. Runs share compiled code through the
//     digest's cache. wazero reference-counts that code and Run drops its reference on
//     return, so a process that runs a module again reloads it from disk (~28 ms for a
//     large module) rather than holding every module's code in memory forever.
//   - Linear memory is one anonymous mapping of the memory's maximum (the container's
//     limit, or 4 GiB), never moved or copied as the guest grows it (memory.go): with
//     wazero's default, each grow copied it, and a guest keeping 96 MiB peaked at
//     392 MiB of RSS.
//   - Exit versus trap: _start is called by Run, not by instantiation, so a
//     *sys.ExitError (proc_exit) becomes the exit code while anything else is a trap,
//     returned as *TrapError with wazero's wasm stack trace. The CLI exits with
//     TrapExitCode (134, 128+SIGABRT, as wasmtime does) on a trap.
//   - Stopping a guest: Run does not use wazero's WithCloseOnContextDone, which makes
//     compute-heavy guests 3.5-7x slower because the compiled code must poll for it.
//     Compiled code cannot otherwise be preempted, so a computing guest is stopped by
//     signalling the process that runs it (berth runs one process per container: the
//     shim's berth-guest, or the CLI's in the foreground). With berth's own WASI host
//     (the default), a guest waiting in a host call (read, poll_oneoff, accept, sleep)
//     also ends when ctx is done, with exit code 143 (see internal/wasi).
//   - WASI host: berth's own, internal/wasi (HostBerth, the default), registered per
//     run with only the functions the module imports (host.go); wazero's built-in
//     (HostWazero, BERTH_WASI=wazero) stays available for comparison.
//   - Imports are checked before instantiation against the functions the WASI host
//     provides (by name and signature with berth's own), so the error names the first
//     missing import (*ImportError) instead of wazero's generic link error.
//   - Mounts: berth's own host resolves every guest path through an os.Root per
//     mount, so no "..", absolute path, symlink, hard link or rename leaves a mount.
//     With wazero's built-in host (BERTH_WASI=wazero) files go through wazero's
//     sysfs.DirFS, which resolves guest paths lexically but lets the kernel follow
//     symlinks; an interim guard (mount.go) refuses guest-made symlinks whose target is
//     absolute or climbs above the mount, ".." after a name component, and links or
//     renames that would move a climbing link (EPERM). It does not cover symlinks the
//     host placed in the directory: that host is not confined against them.
//   - Read-only mounts refuse every change with EROFS, as a Docker :ro volume does for
//     a Linux process, on both hosts.
//   - Cache directories are removed by renaming them aside first, so a concurrent berth
//     process sees a module's code whole or not at all; a compile whose directory
//     vanished meanwhile recreates it once.
package engine
