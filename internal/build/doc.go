// Package build builds Wasm container images (os wasi, architecture wasm)
// from a Dockerfile, or from a lone .wasm file, reproducibly.
//
// The result is the image docker buildx build --platform wasi/wasm makes for
// a FROM scratch Dockerfile: an OCI manifest and config (Entrypoint, Cmd,
// Env, WorkingDir, Labels, ExposedPorts, User, Volumes, StopSignal, history
// with one entry per instruction), except that every COPY, ADD and WORKDIR
// lands in one squashed layer.
//
// Parse reads the Dockerfile grammar (directives, continuations, comments,
// exec and shell forms, flags). Build evaluates the subset that makes sense
// without a shell or a kernel: FROM scratch, COPY, ADD of local files, ENV,
// ARG, LABEL, WORKDIR, ENTRYPOINT, CMD, EXPOSE, USER, VOLUME, STOPSIGNAL.
// Everything else fails with an *InstructionError that says why and what to
// do instead; errors.Is tells the kinds apart (ErrUnsupported,
// ErrOutsideContext, ErrNotFound, ErrNotWasm, ErrNoModule).
//
// # Notes
//
//   - Reproducible: the same Dockerfile, build arguments, labels, Created
//     time and file contents give the same image digest. Files' mtimes,
//     owners, the umask of the checkout and the order in which the OS lists
//     directories do not count: tar entries are sorted by path, every
//     missing parent is emitted as a 0755 directory, owners are 0:0 (or the
//     numeric --chown) with no user or group names, every mtime is Created,
//     file modes are normalized to 0644, or 0755 when the owner may execute
//     the file (git keeps only that bit), and gzip runs at a fixed level with
//     an empty header (no name, no time). The gzip bytes come from Go's
//     compress/flate, so a Go release that changed its output would change
//     layer digests; image content and diff_ids would not change.
//   - Created defaults to the Unix epoch, as ko and Bazel do: a wall-clock
//     timestamp in the config and in the tar headers would change the digest
//     on every build, so rebuilding an unchanged source could never be
//     verified or cached by digest. The CLI passes SOURCE_DATE_EPOCH when set.
//   - One layer, not one per instruction: a Wasm image is a module and a few
//     files, so layer sharing between images buys little, while one layer is
//     simpler to verify and to extract. In the history, the last COPY, ADD or
//     WORKDIR entry carries the layer and all others are empty_layer, so
//     tools that pair non-empty history entries with layers stay correct.
//     A stage without COPY, ADD or WORKDIR gets no layer at all, as with
//     Docker. FROM has no history entry, as with BuildKit.
//   - The config's Env starts with the PATH BuildKit gives every non-Windows
//     scratch image, so that the config matches docker buildx byte for byte
//     where it can; it is harmless to a Wasm module.
//   - Only the last stage is built. COPY --from is refused (berth builds no
//     other images), so no stage can feed the last one, and BuildKit skips
//     such stages too. ARG scoping follows Docker: ARGs before the first
//     FROM are only visible in FROM lines and, once redeclared with a bare
//     ARG NAME, in the stage; --build-arg overrides defaults; ENV wins over
//     ARG; ARG values never reach the image config. BuildKit's automatic
//     TARGETPLATFORM, TARGETOS, TARGETARCH (wasi/wasm) and BUILD* ARGs are
//     defined the same way.
//   - The build context is read through an os.Root, and symbolic links in
//     source paths are resolved by hand first, so that a link leaving the
//     context is refused with an error that names it. Links met while
//     copying a directory are copied as links when their target (relative,
//     as written) stays inside the context; absolute targets are refused,
//     since on the host they point outside the context. Hard links are
//     copied as separate files.
//   - Source paths are checked lexically before anything is opened: "../x"
//     is an error (BuildKit would silently clamp it to "x"), and absolute
//     sources are relative to the context, as in Docker.
//   - ADD does not unpack archives. Rather than copy a tar archive packed
//     where Docker would unpack it (a silent difference), it refuses and
//     points to COPY. Hence also no URLs, no Git, no --checksum.
//   - CMD and ENTRYPOINT in shell form, RUN, SHELL and HEALTHCHECK need
//     /bin/sh or other executables that a Wasm image cannot have; they
//     parse (Parse is the grammar, not the policy) and fail in Build with
//     the exec form to use instead.
//   - After building, the module the image would run (ENTRYPOINT, else
//     CMD, looked up as an absolute path, or relative to WORKDIR and then
//     to /) must be in the layer and start with the Wasm magic \0asm, so a
//     typo in a path fails at build time, not at docker run.
//   - The layer is built in memory (tar, then gzip): Wasm images are a
//     module of a few megabytes plus some files.
package build
