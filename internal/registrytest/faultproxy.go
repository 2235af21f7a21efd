package registrytest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"
)

// Path patterns for Fault.Path: a blob (GET or HEAD), a manifest (by tag or digest) and an
// upload session.
const (
	BlobPath     = `^/v2/.+/blobs/sha256:[0-9a-f]{64}$`
	ManifestPath = `^/v2/.+/manifests/[^/]+$`
	UploadPath   = `^/v2/.+/blobs/uploads/`
)

// Kind is what a request asks for, by its path.
type Kind string

// The kinds FaultProxy counts.
const (
	KindBase     Kind = "base"      // /v2/ (the version check, where auth starts)
	KindManifest Kind = "manifests" // /v2/NAME/manifests/REF
	KindBlob     Kind = "blobs"     // /v2/NAME/blobs/DIGEST
	KindUpload   Kind = "uploads"   // /v2/NAME/blobs/uploads/...
	KindOther    Kind = "other"     // tags lists, the catalog, anything else
)

var (
	blobRE     = regexp.MustCompile(BlobPath)
	manifestRE = regexp.MustCompile(ManifestPath)
	uploadRE   = regexp.MustCompile(UploadPath)
)

// KindOf classifies a request path.
func KindOf(path string) Kind {
	switch {
	case path == "/v2/" || path == "/v2":
		return KindBase
	case uploadRE.MatchString(path):
		return KindUpload
	case blobRE.MatchString(path):
		return KindBlob
	case manifestRE.MatchString(path):
		return KindManifest
	}
	return KindOther
}

// Action is what a fault does to a matching request.
type Action int

const (
	// Fail answers Fault.Status (with Fault.RetryAfter, if set) without asking the
	// registry.
	Fail Action = iota + 1
	// Reset forwards the request, sends the registry's status line and headers (with the
	// full Content-Length) and the first Fault.N body bytes, then resets the TCP
	// connection (RST), so the client sees a stream broken mid-body.
	Reset
	// Flip forwards the request and inverts the bits of the body byte at offset Fault.N
	// (the last byte if the body is shorter): same length, wrong content.
	Flip
	// Truncate forwards the request and sends only the first Fault.N body bytes, with a
	// Content-Length that says so: the transport sees a complete, short response.
	Truncate
	// Delay waits Fault.Delay, then forwards the request unchanged (to keep a download
	// in flight while something else happens).
	Delay
)

// Fault describes one programmed failure.
type Fault struct {
	// Method matches the request method; "" matches every method.
	Method string
	// Path is a regular expression matched against the URL path (e.g. BlobPath); ""
	// matches every path.
	Path string
	// Action is what happens to a matching request.
	Action Action
	// N is the byte count or offset of Reset, Flip and Truncate.
	N int64
	// Delay is how long Delay waits.
	Delay time.Duration
	// Status and RetryAfter are Fail's answer (e.g. 503, or 429 with "1").
	Status     int
	RetryAfter string
	// Times is how many matching requests the fault hits; 0 means every one.
	Times int
}

// Rule is a fault added to a proxy; Hits tells how often it fired.
type Rule struct {
	f    Fault
	re   *regexp.Regexp
	hits int // guarded by FaultProxy.mu
}

// Request is one request the proxy saw.
type Request struct {
	Method string
	Path   string
	Kind   Kind
	Fault  Action // 0 when no fault hit it
}

// FaultProxy is a reverse proxy on 127.0.0.1 in front of a registry that fails requests
// on demand and records every request it sees.
//
// # Notes
//
//   - The client's Host header goes to the registry unchanged, so the upload URLs the
//     registry hands out (Location) point back at the proxy.
//   - Faults are tried in the order they were added; the first one that matches and has
//     hits left applies. Redirects are passed to the client, not followed.
type FaultProxy struct {
	// Addr is the proxy's host:port.
	Addr string

	upstream  string
	transport *http.Transport
	mu        sync.Mutex
	rules     []*Rule
	requests  []Request
}

// NewFaultProxy starts a proxy in front of the registry at upstreamAddr (host:port, plain
// HTTP) and stops it when the test ends.
func NewFaultProxy(t testing.TB, upstreamAddr string) *FaultProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	p := &FaultProxy{
		Addr:      l.Addr().String(),
		upstream:  upstreamAddr,
		transport: &http.Transport{Proxy: nil, DisableCompression: true, MaxIdleConnsPerHost: 16},
	}
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
		<-done
		p.transport.CloseIdleConnections()
	})
	return p
}

// URL returns the proxy's base URL, "http://ADDR".
func (p *FaultProxy) URL() string { return "http://" + p.Addr }

// Add programs a fault and returns its rule. It fails the test on a bad fault.
func (p *FaultProxy) Add(t testing.TB, f Fault) *Rule {
	t.Helper()
	r, err := newRule(f)
	if err != nil {
		t.Fatalf("fault proxy: %v", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, r)
	return r
}

func newRule(f Fault) (*Rule, error) {
	re, err := regexp.Compile(f.Path)
	if err != nil {
		return nil, fmt.Errorf("fault path %q: %w", f.Path, err)
	}
	switch f.Action {
	case Fail:
		if f.Status < 400 || f.Status > 599 {
			return nil, fmt.Errorf("a Fail fault needs a 4xx or 5xx Status, not %d", f.Status)
		}
	case Delay:
		if f.Delay <= 0 {
			return nil, fmt.Errorf("a Delay fault needs a positive Delay, got %v", f.Delay)
		}
	case Reset, Flip, Truncate:
		if f.N < 0 {
			return nil, fmt.Errorf("fault N must not be negative, got %d", f.N)
		}
	default:
		return nil, fmt.Errorf("unknown fault action %d", f.Action)
	}
	if f.Times < 0 {
		return nil, fmt.Errorf("fault Times must not be negative, got %d", f.Times)
	}
	return &Rule{f: f, re: re}, nil
}

// Clear removes every fault (the request log stays).
func (p *FaultProxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Hits returns how many requests the rule has failed so far.
func (p *FaultProxy) Hits(r *Rule) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return r.hits
}

// Requests returns a copy of the requests seen so far, in order.
func (p *FaultProxy) Requests() []Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Request(nil), p.requests...)
}

// Count returns how many requests of a kind were seen; method "" counts every method.
func (p *FaultProxy) Count(method string, k Kind) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.requests {
		if r.Kind == k && (method == "" || r.Method == method) {
			n++
		}
	}
	return n
}

// ResetCounts forgets the requests seen so far.
func (p *FaultProxy) ResetCounts() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = nil
}

// match records the request and returns the fault that applies to it, if any.
func (p *FaultProxy) match(r *http.Request) *Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	req := Request{Method: r.Method, Path: r.URL.Path, Kind: KindOf(r.URL.Path)}
	var hit *Fault
	for _, rule := range p.rules {
		if (rule.f.Method == "" || rule.f.Method == r.Method) && rule.re.MatchString(r.URL.Path) &&
			(rule.f.Times == 0 || rule.hits < rule.f.Times) {
			rule.hits++
			f := rule.f
			hit = &f
			req.Fault = f.Action
			break
		}
	}
	p.requests = append(p.requests, req)
	return hit
}

// hopHeaders are the hop-by-hop headers a proxy does not forward.
var hopHeaders = []string{"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade"}

// ServeHTTP forwards one request, applying the fault that matches it.
func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f := p.match(r)
	if f != nil && f.Action == Fail {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		fmt.Fprintf(w, `{"errors":[{"code":"UNAVAILABLE","message":"injected by registrytest.FaultProxy: %d"}]}`+"\n", f.Status)
		return
	}
	if f != nil && f.Action == Delay {
		select {
		case <-time.After(f.Delay):
		case <-r.Context().Done():
			return
		}
	}
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host, out.RequestURI = "http", p.upstream, ""
	for _, h := range hopHeaders {
		out.Header.Del(h)
	}
	resp, err := p.transport.RoundTrip(out)
	if err != nil {
		http.Error(w, "fault proxy: "+err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for _, h := range hopHeaders {
		resp.Header.Del(h)
	}
	body := io.Reader(resp.Body)
	if f != nil {
		switch f.Action {
		case Reset:
			p.reset(w, resp, f.N)
			return
		case Flip:
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				panic(http.ErrAbortHandler) // the registry broke the stream: break ours too
			}
			if len(b) > 0 {
				b[min(f.N, int64(len(b)-1))] ^= 0xff
			}
			body = bytes.NewReader(b)
		case Truncate:
			if resp.ContentLength < 0 || f.N < resp.ContentLength {
				resp.Header.Set("Content-Length", strconv.FormatInt(f.N, 10))
			}
			body = io.LimitReader(resp.Body, f.N)
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, body)
}

// reset writes the response head and n body bytes straight to the connection, then
// closes it with SO_LINGER 0, which sends a TCP RST.
func (p *FaultProxy) reset(w http.ResponseWriter, resp *http.Response, n int64) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // cannot happen with HTTP/1.1; aborts the response
	}
	defer conn.Close()
	if resp.ContentLength >= 0 {
		resp.Header.Set("Content-Length", strconv.FormatInt(resp.ContentLength, 10))
	}
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %s\r\n", resp.Status)
	_ = resp.Header.Write(bw)
	_, _ = bw.WriteString("\r\n")
	_, _ = io.CopyN(bw, resp.Body, n)
	_ = bw.Flush()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
}
