// Package registry is how berth reaches OCI registries: it moves images between
// them and the caller, and checks logins ([Client.CheckLogin]), with
// go-containerregistry (ggcr) doing the protocol: references as docker writes
// them, reading a manifest and picking the Wasm image of an index, streaming
// blobs, pushing images and multi-platform indexes. It knows nothing of the
// store (the service puts what it reads into the store) nor of where logins are
// kept: the caller passes a keychain (berth's CLI: credentials.Store.Keychain).
// [Artifact] makes the CNCF Wasm OCI artifact that `berth push --format
// artifact` writes.
//
// # Notes
//
//   - One rule for plain HTTP and unverified TLS ([Insecure]): loopback
//     registries (localhost, 127.0.0.0/8, ::1), and those the user marks
//     ([Options.Insecure]: host[:port], or a CIDR range for registries named by
//     IP address; [CheckInsecure] validates the marks). TLS is verified for every
//     other. The transport, reference parsing and the login check all ask it.
//     ggcr by itself also picks plain HTTP for RFC 1918 addresses and *.local
//     names; berth's transport sends such requests as HTTPS instead, because an
//     address on a private network is not a trusted network (a café's Wi-Fi is
//     192.168.x.y too). A registry that answers HTTPS with plain HTTP, or fails
//     the TLS handshake, gets an error (ErrInsecure, ErrTLS) that says how to mark
//     it insecure.
//   - A mark without a port matches its host on the default ports (443, 80) as
//     well as without a port; a mark with a port, that port only (docker's
//     insecure-registries match host:port exactly). CIDR ranges match literal
//     addresses: no name is resolved to decide whether TLS is verified.
//   - One retry layer. ggcr retries on its own in two places: a transport that
//     retries status codes and network errors (with a backoff that ignores the
//     context and no Retry-After), and whole blob uploads. berth's transport
//     replaces the first (ggcr's is given no status codes and a predicate that
//     refuses what berth's transport already retried: [ErrRetriesExhausted]),
//     and keeps the second for uploads, whose streamed bodies no transport can
//     resend. GET and HEAD are always retried; other requests when their body
//     can be re-read. Transient means a reset or early EOF, a network timeout,
//     429, 500, 502, 503, 504; 429 and 503 honour Retry-After, capped by
//     [RetryPolicy.Max]. A blob stream cut short after its headers is no
//     transport failure: the service restarts that blob ([IsTransient]).
//   - Blobs are verified twice as they stream: by ggcr against the manifest's
//     digest and size, and by the store while it writes them. ggcr's
//     verification errors are internal types; [Remote.OpenBlob] recognises them
//     by their text ("error verifying …") and by having read the whole size, and
//     returns a [*BlobError] naming the blob and the registry. If ggcr's wording
//     changed, the store's own check still refuses the blob (a
//     store.DigestError, which the service also reports as a BlobError).
//   - Errors carry a kind (errors.Is: [ErrNotFound], [ErrUnauthorized],
//     [ErrDenied], [ErrUnreachable], [ErrBadBlob], [ErrTLS], [ErrInsecure],
//     [ErrRetriesExhausted]) inside an [*Error] that says what to do, and keep
//     ggcr's *transport.Error for errors.As. The login check's errors are the
//     same type with Op [OpLogin]: its ErrUnauthorized says "wrong user name or
//     password" instead of "run berth login".
//   - [Options.Keychain] nil is anonymous access, not ggcr's authn.DefaultKeychain,
//     which reads the process's environment: the package reads no environment.
//   - "Already present" costs the registry's auth handshake (GET /v2/, and a
//     token when the registry asks for one) and one HEAD of the manifest: ggcr
//     cannot skip the handshake, and no blob is read.
//   - Linking this package (net/http, crypto/tls, ggcr's remote) into the berth
//     binary adds about 0.4 ms of package initialisation to every berth process
//     (GODEBUG=inittrace=1); no code of it runs on the path of `berth run` of a
//     stored image.
package registry
