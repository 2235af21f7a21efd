// Package archive reads and writes image archives: the tar files behind `berth load -i FILE` and
// `berth save -o FILE IMAGE...`.
//
// Read accepts, optionally gzip- or bzip2-compressed, from a file or a pipe:
//
//   - OCI image-layout tars (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`), as written by
//     `docker save` of Docker 25+, `skopeo copy ... oci-archive:`, `ctr export` and
//     `crane pull --format=oci` followed by tar. index.json may name image manifests or image
//     indexes (multi-platform images).
//   - Classic `docker save` archives (`manifest.json`, `<hex>.json` configs, `<id>/layer.tar`
//     layers, gzip-compressed or not), including the `<hex>.tar` variant written by podman.
//
// Write produces the combined archive Docker 25+ writes: an OCI image layout plus a
// manifest.json whose paths point into it, which `docker load`, `ctr import`, skopeo's
// `oci-archive:` and `docker-archive:` transports and Read all accept.
//
// # Notes
//
//   - Read never uses a member's name as a file-system path. Members with a name berth knows
//     (`blobs/sha256/<64 hex>`, `index.json`, `<hex>.json`, `<hex>/layer.tar`, ...) are streamed
//     into a private content-addressed store (`blobs/<alg>/<hex>` under a fresh temporary
//     directory, opened as an os.Root) under the digest computed while copying; metadata files
//     are held in memory. Everything else is skipped. A name that is absolute or contains ".."
//     makes Read fail: no honest image archive has one. So no archive can write outside the
//     temporary directory, whatever its names, links or types.
//   - Every copied blob whose name carries a digest is checked against it, and classic layers
//     are checked against the diff_ids of their config, so a corrupt archive fails at Read and
//     not later while a container starts. The images handed out read those verified copies.
//   - Symlinks and hard links are resolved inside the archive only (classic `docker save` uses
//     symlinks for layers shared between images); nothing is ever created as a link on disk.
//   - A tar that simply stops at a member boundary looks complete to archive/tar. Read insists
//     on the two zero blocks that end a tar, and on a clean end of the compressed stream, so a
//     truncated download is an error, never a partial success.
//   - Classic archives carry no manifest. Read synthesises an OCI manifest that points at the
//     layers exactly as they are in the archive (`tar` or `tar+gzip`), as containerd does on
//     import, rather than recompressing them, which would be slow and not reproducible.
//   - An index whose child manifests are only partly in the archive (Docker's containerd store
//     saves only the platforms it has) is accepted: the missing children fail with an error
//     that matches fs.ErrNotExist when the caller asks for them.
//   - Limits bound the sum of member sizes, the number of members and the decompressed stream,
//     so a gzip bomb or a tar of a million empty files cannot exhaust the disk or the memory.
//   - Write copies raw manifests and configs byte for byte and checks every blob it writes
//     against its digest, so a save followed by a load keeps every digest. Its output is
//     deterministic: sorted members, zero times, uid/gid 0.
package archive
