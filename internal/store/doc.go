// Package store is berth's embedded, daemonless, content-addressed image store.
//
// A store is a directory laid out as an OCI image layout, so tools such as
// crane, skopeo and oras can read it:
//
//	DIR/oci-layout            {"imageLayoutVersion":"1.0.0"}
//	DIR/index.json            one descriptor per (image manifest, name) pair
//	DIR/blobs/sha256/<hex>    manifests, configs and layers (compressed bytes)
//	DIR/lock                  cross-process lock (flock)
//	DIR/tmp/                  temp files, renamed into place when complete
//	DIR/locks/                per-blob locks of PutBlob (two pulls, one download)
//
// An image's name lives in two descriptor annotations,
// org.opencontainers.image.ref.name and io.containerd.image.name, both set to the
// full name the caller gives (for example docker.io/library/hello:1). Names are
// opaque strings here; the caller normalises them. An image that lost its last
// name keeps one descriptor without name annotations ("dangling").
//
// The image ID is the digest of the image manifest.
//
// # Notes
//
//   - Raw bytes, never re-serialised. Manifests and configs are written and read
//     as the exact bytes they were given. Re-encoding a manifest or config would
//     change its digest and would drop fields go-containerregistry does not model
//     (for example the layerDigests of a Wasm artifact config,
//     application/vnd.wasm.config.v0+json).
//   - Every read is verified. The v1.Image returned by [Store.Image] hashes every
//     blob as it streams and fails at EOF with a [*CorruptBlobError] if the bytes
//     do not match their digest (or size). Uncompressed layer streams are
//     verified twice: the compressed stream against the layer digest and the
//     uncompressed stream against the config's diff ID. Whether a layer is
//     decompressed at all is decided by its media type (…gzip, …zstd), never by
//     sniffing alone, so a Wasm layer (application/wasm,
//     application/vnd.wasm.content.layer.v1+wasm) is always returned as is.
//   - Blobs already present are re-hashed by [Store.AddImage] (except those of
//     the next note) and rewritten only when they are damaged. That is what makes the advice of [CorruptBlobError]
//     ("berth rmi, then load or pull again") work even before a GC removed the
//     damaged file. It costs one local read of the blobs an image shares with
//     images already stored.
//   - Locking. Mutations take an exclusive flock on DIR/lock, reads a shared one.
//     flock locks belong to an open file description, so every operation opens
//     its own lock file descriptor: goroutines of one process then exclude each
//     other exactly like separate processes do, and one goroutine's unlock can
//     never drop another's lock. Waiting honours the context (TryLockContext
//     with a short retry delay). AddImage holds the exclusive lock for the whole
//     operation, blob writes included: the blobs are unreferenced until
//     index.json names them, and only the lock keeps a concurrent GC from
//     collecting them in between.
//   - [Store.PutBlob] is the write of a pull: a download takes minutes, and the
//     exclusive lock would stop every run and load for that long. It holds the
//     shared lock (GC, exclusive, waits until the blob is in place) and a
//     per-blob flock, so concurrent pulls of one image download each blob once.
//     Its blobs are unindexed until AddImage names them; a GC in between could
//     collect them, which AddImage reports as a missing blob: the caller puts it
//     again.
//   - One hash per blob per pull. A blob PutBlob has just hashed (while writing
//     it, or finding it present) is not hashed again by the same Store value when
//     the image of [Store.ImageFromManifest] reads it (the pull's unpacking) or
//     AddImage indexes it: a 10 MB layer was hashed three more times before.
//     The Store records the file it hashed (device, inode, size, mtime, ctime)
//     and trusts only that file: one replaced or written since (a new inode, a
//     new ctime, which no user call can set back) is hashed as any other. The
//     record is taken by the first ImageFromManifest and never reaches
//     [Store.Image], another Store value or another process: every other read of
//     a stored blob is verified, so a blob damaged on disk is still caught.
//   - Atomic writes. Every file is written to DIR/tmp, fsynced, renamed into
//     place, and its directory fsynced; blobs are made durable before the
//     index.json that refers to them. Readers therefore always see a complete
//     index.json. A full disk (ENOSPC, EDQUOT) leaves no temp file and no index
//     entry behind, and the error says which store is on the full disk.
//   - [Store.Image] is lazy: it reads the manifest under the shared lock, and the
//     config and layers when asked. If the image is removed and collected while
//     it is being read, a later blob read fails with a [*CorruptBlobError] whose
//     Err is fs.ErrNotExist. Blob files already open keep their content.
//   - [Store.Images] lists an image even when its manifest blob is unreadable
//     (its Size then counts only the manifest), so that the user can see it and
//     remove it. [Store.GC] instead refuses to run when a listed manifest is
//     unreadable, because it could not tell which blobs that image still needs.
package store
