package registry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/berth-dev/berth/internal/image"
)

// Options configure a [Client].
type Options struct {
	// Keychain finds credentials for a registry; nil means anonymous access. berth
	// passes credentials.Store.Keychain (the logins of `berth login`, docker and
	// crane); go-containerregistry's authn.DefaultKeychain would read the
	// process's environment instead of the caller's.
	Keychain authn.Keychain
	// Insecure marks registries that may be reached over plain HTTP and over TLS
	// without verifying the certificate: host[:port], an http(s) URL, or an IP
	// range in CIDR notation (see [Insecure]; [CheckInsecure] validates them).
	// Loopback registries (localhost, 127.0.0.0/8, ::1) always may.
	Insecure []string
	// Transport is the HTTP transport to build on (proxy, dialer, trusted
	// roots); nil means go-containerregistry's remote.DefaultTransport. It is
	// cloned, not modified: a clone that skips certificate verification serves
	// the insecure registries, and berth's retries go on top.
	Transport *http.Transport
	// Retry bounds the retries of transient failures.
	Retry RetryPolicy
	// Jobs is how many blobs move at once; 0 means 4.
	Jobs int
	// UserAgent is sent with every request.
	UserAgent string
}

// Client moves images between registries and the caller, and checks logins. It
// is safe for concurrent use.
type Client struct {
	o      Options
	rt     http.RoundTripper
	rule   rule
	puller *remote.Puller
}

// New returns a client.
func New(o Options) *Client {
	o.Retry = o.Retry.withDefaults()
	if o.Keychain == nil {
		o.Keychain = authn.NewMultiKeychain() // anonymous
	}
	if o.Jobs <= 0 {
		o.Jobs = 4
	}
	if o.UserAgent == "" {
		o.UserAgent = "berth"
	}
	c := &Client{o: o, rule: newRule(o.Insecure), rt: newTransport(o.Transport, o.Insecure, o.Retry)}
	// One puller for the client's reads: its auth handshake (ping, token) is made once
	// per repository, not once per request.
	// NewPuller fails only for options that give both an authenticator and a keychain,
	// which these never do; without a puller, reads make their own handshake.
	c.puller, _ = remote.NewPuller(c.options(context.Background())...)
	return c
}

// Jobs is how many blobs the client moves at once.
func (c *Client) Jobs() int { return c.o.Jobs }

// ParseReference parses ref as docker does ("hello" is
// docker.io/library/hello:latest) into a reference for this client: a host the
// client may reach over plain HTTP is parsed as insecure.
func (c *Client) ParseReference(ref string) (name.Reference, error) {
	n, err := image.ParseName(ref)
	if err != nil {
		return nil, err
	}
	s := n.Repository()
	if n.Digest != "" {
		s += "@" + n.Digest // a digest wins over a tag, as in docker
	} else {
		s += ":" + n.Tag
	}
	var opts []name.Option
	if c.rule.allows(n.Domain) {
		opts = append(opts, name.Insecure)
	}
	r, err := name.ParseReference(s, opts...)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", image.ErrInvalidName, ref, err)
	}
	return r, nil
}

// options are the ggcr options of one operation.
//
// ggcr retries on its own too: a retrying transport (status codes and errors,
// with a backoff that ignores the context) and whole blob uploads. berth's
// transport does the first; ggcr's is turned off (no status codes, and a
// predicate that refuses what berth's transport already retried). Blob uploads
// stream their body, which no transport can resend: ggcr's upload-level retry
// is kept for them, with berth's policy.
func (c *Client) options(ctx context.Context) []remote.Option {
	p := c.o.Retry
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(c.o.Keychain),
		remote.WithTransport(c.rt),
		remote.WithJobs(c.o.Jobs),
		remote.WithUserAgent(c.o.UserAgent),
		remote.WithRetryStatusCodes(),
		remote.WithRetryPredicate(uploadRetryable),
		remote.WithRetryBackoff(remote.Backoff{Duration: p.Base, Factor: 2, Jitter: 0.25, Steps: p.Attempts, Cap: p.Max}),
	}
}

// uploadRetryable is ggcr's retry predicate: transient failures berth's
// transport did not already retry (streamed uploads).
func uploadRetryable(err error) bool {
	if err == nil || errors.Is(err, ErrRetriesExhausted) {
		return false
	}
	var te *transport.Error
	if errors.As(err, &te) {
		return transientStatus(te.StatusCode)
	}
	return transientErr(err)
}

// Resolve returns the descriptor of what ref names (an image manifest or an
// index) with a HEAD request (after the registry's auth handshake): no blob is
// read.
func (c *Client) Resolve(ctx context.Context, ref name.Reference) (*v1.Descriptor, error) {
	var d *v1.Descriptor
	var err error
	if c.puller != nil {
		d, err = c.puller.Head(ctx, ref)
	} else {
		d, err = remote.Head(ref, c.options(ctx)...)
	}
	if err != nil {
		return nil, classify("resolve", ref.Context().RegistryStr(), ref.String(), err)
	}
	return d, nil
}

// Remote is an image found in a registry, its manifest read, its blobs not yet.
type Remote struct {
	// Top is what the reference names: the image manifest, or the index the
	// image was chosen from.
	Top v1.Descriptor
	// Image is the chosen image; its layers are read from the registry when
	// asked for.
	Image v1.Image
	// Digest is the image manifest's digest (Top.Digest for a plain image).
	Digest v1.Hash
	// Host is the registry.
	Host string
	ref  name.Reference
}

// Fetch reads the manifest ref names and, for an index, picks its Wasm image
// (wasi/wasm, wasip1/wasm, wasi/wasm32, or a Wasm artifact without platform):
// an index without one is an error wrapping image.ErrNotWasm that lists the
// platforms it has. A single image is returned whatever its platform; the
// caller inspects it.
func (c *Client) Fetch(ctx context.Context, ref name.Reference) (*Remote, error) {
	host := ref.Context().RegistryStr()
	var d *remote.Descriptor
	var err error
	if c.puller != nil {
		d, err = c.puller.Get(ctx, ref)
	} else {
		d, err = remote.Get(ref, c.options(ctx)...)
	}
	if err != nil {
		return nil, classify("pull", host, ref.String(), err)
	}
	r := &Remote{Top: d.Descriptor, Host: host, ref: ref}
	if d.MediaType.IsIndex() {
		idx, err := d.ImageIndex()
		if err != nil {
			return nil, classify("pull", host, ref.String(), err)
		}
		img, err := image.SelectFromIndex(idx)
		if err != nil {
			if errors.Is(err, image.ErrNotWasm) {
				return nil, fmt.Errorf("pull %s: %w", ref, err)
			}
			return nil, classify("pull", host, ref.String(), err)
		}
		r.Image = img
	} else if r.Image, err = d.Image(); err != nil {
		return nil, classify("pull", host, ref.String(), err)
	}
	if r.Digest, err = r.Image.Digest(); err != nil {
		return nil, classify("pull", host, ref.String(), err)
	}
	return r, nil
}

// OpenBlob opens the blob d of the image (a layer or the config) for reading,
// as it is stored (compressed). ggcr checks the bytes against d's digest and
// size as they stream; a mismatch is a *BlobError naming the blob and the
// registry.
func (r *Remote) OpenBlob(d v1.Descriptor) (io.ReadCloser, error) {
	l, err := r.Image.LayerByDigest(d.Digest)
	if err != nil {
		return nil, classify("pull", r.Host, r.ref.Context().Digest(d.Digest.String()).String(), err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, classify("pull", r.Host, r.ref.Context().Digest(d.Digest.String()).String(), err)
	}
	return &blobReader{rc: rc, d: d, host: r.Host}, nil
}

// blobReader turns ggcr's verification failures into *BlobError.
type blobReader struct {
	rc   io.ReadCloser
	d    v1.Descriptor
	host string
	n    int64
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && isVerifyErr(err, b.n, b.d.Size) {
		err = &BlobError{Host: b.host, Digest: b.d.Digest, Err: err}
	}
	return n, err
}

func (b *blobReader) Close() error { return b.rc.Close() }

// isVerifyErr recognises ggcr's checks (internal/verify, whose error types are
// not exported): "error verifying sha256 checksum …" after the whole size was
// read, "error verifying size …" when the body ended early.
func isVerifyErr(err error, n, size int64) bool {
	return strings.HasPrefix(err.Error(), "error verifying") || (size >= 0 && n >= size && !transientErr(err))
}
