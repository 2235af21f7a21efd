package registrytest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
)

// push uploads blob to repo through base (a registry or a proxy URL) with a POST and a
// monolithic PUT, then a manifest naming it under tag, and returns the blob's digest.
func push(t *testing.T, c *http.Client, base, repo, tag string, blob []byte, auth string) string {
	t.Helper()
	sum := sha256.Sum256(blob)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	resp := do(t, c, http.MethodPost, base+"/v2/"+repo+"/blobs/uploads/", nil, "", auth)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST upload: status %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	// A relative Location is resolved against base; an absolute one must already point
	// at base (the proxy keeps the client's Host).
	u, _ := url.Parse(base + "/")
	loc = u.ResolveReference(loc)
	if !strings.HasPrefix(loc.String(), base+"/") {
		t.Fatalf("upload Location %s does not point at %s", loc, base)
	}
	q := loc.Query()
	q.Set("digest", digest)
	loc.RawQuery = q.Encode()
	if r := do(t, c, http.MethodPut, loc.String(), blob, "application/octet-stream", auth); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT blob: status %d", r.StatusCode)
	}
	// An OCI manifest with the blob as its config (the registry accepts any media type).
	m := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",`+
		`"config":{"mediaType":"application/octet-stream","digest":%q,"size":%d},"layers":[]}`, digest, len(blob))
	if r := do(t, c, http.MethodPut, base+"/v2/"+repo+"/manifests/"+tag, []byte(m),
		"application/vnd.oci.image.manifest.v1+json", auth); r.StatusCode != http.StatusCreated {
		t.Fatalf("PUT manifest: status %d", r.StatusCode)
	}
	return digest
}

// do sends one request and reads the whole body (the response is returned closed).
func do(t *testing.T, c *http.Client, method, u string, body []byte, ctype, auth string) *http.Response {
	t.Helper()
	resp, _, err := get(c, method, u, body, ctype, auth)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// get sends one request and returns the response, its body and the error of the
// request or of reading the body.
func get(c *http.Client, method, u string, body []byte, ctype, auth string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return nil, nil, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	if auth != "" {
		user, pass, _ := strings.Cut(auth, ":")
		req.SetBasicAuth(user, pass)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func randomBlob(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFaultProxy(t *testing.T) {
	reg := Start(t, Options{})
	blob := randomBlob(t, 64<<10)
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	// Pushed through a proxy with no faults: uploads pass through it.
	p0 := NewFaultProxy(t, reg.Addr)
	digest := push(t, c, p0.URL(), "ns/img", "v1", blob, "")
	if n := p0.Count(http.MethodPut, KindUpload); n != 1 {
		t.Errorf("upload PUTs counted: %d, want 1 (requests %+v)", n, p0.Requests())
	}
	if n := p0.Count(http.MethodPut, KindManifest); n != 1 {
		t.Errorf("manifest PUTs counted: %d, want 1", n)
	}
	blobURL := "/v2/ns/img/blobs/" + digest

	type attempt struct {
		faulted bool // the fault hits this request
		status  int
		minDur  time.Duration        // the request takes at least this long
		body    func(b []byte) error // checks the body read
		err     func(err error) error
	}
	whole := func(b []byte) error {
		if !bytes.Equal(b, blob) {
			return fmt.Errorf("body differs from the blob (%d bytes, want %d)", len(b), len(blob))
		}
		return nil
	}
	ok := attempt{status: 200, body: whole}
	tests := []struct {
		name     string
		fault    Fault
		attempts []attempt
		header   map[string]string // on the first response
	}{
		{"no fault", Fault{Method: "PATCH", Path: BlobPath, Action: Fail, Status: 500}, []attempt{ok, ok}, nil},
		{"503 twice", Fault{Method: "GET", Path: BlobPath, Action: Fail, Status: 503, Times: 2},
			[]attempt{{faulted: true, status: 503}, {faulted: true, status: 503}, ok}, nil},
		{"429 with Retry-After", Fault{Method: "GET", Path: BlobPath, Action: Fail, Status: 429, RetryAfter: "2", Times: 1},
			[]attempt{{faulted: true, status: 429}, ok}, map[string]string{"Retry-After": "2"}},
		{"reset after 1000 bytes", Fault{Method: "GET", Path: BlobPath, Action: Reset, N: 1000, Times: 1},
			[]attempt{{faulted: true, status: 200, body: func(b []byte) error {
				if len(b) != 1000 || !bytes.Equal(b, blob[:1000]) {
					return fmt.Errorf("read %d bytes before the reset, want the blob's first 1000", len(b))
				}
				return nil
			}, err: func(err error) error {
				if !errors.Is(err, syscall.ECONNRESET) {
					return fmt.Errorf("error %v, want a connection reset", err)
				}
				return nil
			}}, ok}, map[string]string{"Content-Length": fmt.Sprint(len(blob))}},
		{"flip byte 10", Fault{Method: "GET", Path: BlobPath, Action: Flip, N: 10},
			[]attempt{{faulted: true, status: 200, body: func(b []byte) error {
				if len(b) != len(blob) {
					return fmt.Errorf("%d bytes, want %d", len(b), len(blob))
				}
				for i := range b {
					if (b[i] != blob[i]) != (i == 10) {
						return fmt.Errorf("byte %d: %#x, blob has %#x", i, b[i], blob[i])
					}
				}
				return nil
			}}}, nil},
		{"flip past the end flips the last byte", Fault{Method: "GET", Path: BlobPath, Action: Flip, N: 1 << 30, Times: 1},
			[]attempt{{faulted: true, status: 200, body: func(b []byte) error {
				if !bytes.Equal(b[:len(b)-1], blob[:len(blob)-1]) || b[len(b)-1] != ^blob[len(blob)-1] {
					return fmt.Errorf("want only the last byte inverted")
				}
				return nil
			}}, ok}, nil},
		{"truncate to 100", Fault{Method: "GET", Path: BlobPath, Action: Truncate, N: 100, Times: 1},
			[]attempt{{faulted: true, status: 200, body: func(b []byte) error {
				if !bytes.Equal(b, blob[:100]) {
					return fmt.Errorf("%d bytes, want the blob's first 100", len(b))
				}
				return nil
			}}, ok}, map[string]string{"Content-Length": "100"}},
		{"delay", Fault{Method: "GET", Path: BlobPath, Action: Delay, Delay: 50 * time.Millisecond, Times: 1},
			[]attempt{{faulted: true, status: 200, body: whole, minDur: 50 * time.Millisecond}, ok}, nil},
		{"other method and path untouched", Fault{Method: "HEAD", Path: ManifestPath, Action: Fail, Status: 503},
			[]attempt{ok}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewFaultProxy(t, reg.Addr)
			rule := p.Add(t, tt.fault)
			wantHits := 0
			for i, a := range tt.attempts {
				start := time.Now()
				resp, b, err := get(c, http.MethodGet, p.URL()+blobURL, nil, "", "")
				if d := time.Since(start); d < a.minDur {
					t.Errorf("attempt %d took %v, want at least %v", i, d, a.minDur)
				}
				if resp == nil {
					t.Fatalf("attempt %d: %v", i, err)
				}
				if resp.StatusCode != a.status {
					t.Fatalf("attempt %d: status %d, want %d", i, resp.StatusCode, a.status)
				}
				if i == 0 {
					for k, v := range tt.header {
						if got := resp.Header.Get(k); got != v {
							t.Errorf("header %s: %q, want %q", k, got, v)
						}
					}
				}
				if a.err != nil {
					if e := a.err(err); e != nil {
						t.Errorf("attempt %d: %v", i, e)
					}
				} else if err != nil {
					t.Errorf("attempt %d: reading the body: %v", i, err)
				}
				if a.body != nil {
					if e := a.body(b); e != nil {
						t.Errorf("attempt %d: %v", i, e)
					}
				}
				if a.faulted {
					wantHits++
				}
			}
			if got := p.Hits(rule); got != wantHits {
				t.Errorf("rule hits %d, want %d", got, wantHits)
			}
			if got := p.Count(http.MethodGet, KindBlob); got != len(tt.attempts) {
				t.Errorf("blob GETs counted %d, want %d", got, len(tt.attempts))
			}
			if got := p.Count("", KindManifest); got != 0 {
				t.Errorf("manifest requests counted %d, want 0", got)
			}
		})
	}
}

// TestFaultProxyCounts checks the counters a test uses to say "no blob was downloaded":
// a manifest GET counts as a manifest, not a blob, and the counters reset.
func TestFaultProxyCounts(t *testing.T) {
	reg := Start(t, Options{Users: map[string]string{"alice": "s3cret"}})
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	p := NewFaultProxy(t, reg.Addr)
	push(t, c, p.URL(), "a/b", "latest", randomBlob(t, 100), "alice:s3cret")
	p.ResetCounts()
	if r := do(t, c, http.MethodGet, p.URL()+"/v2/", nil, "", ""); r.StatusCode != http.StatusUnauthorized {
		t.Errorf("GET /v2/ without credentials through the proxy: %d, want 401", r.StatusCode)
	}
	if r := do(t, c, http.MethodGet, p.URL()+"/v2/a/b/manifests/latest", nil, "", "alice:s3cret"); r.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest: %d", r.StatusCode)
	}
	if r := do(t, c, http.MethodHead, p.URL()+"/v2/a/b/manifests/latest", nil, "", "alice:s3cret"); r.StatusCode != http.StatusOK {
		t.Fatalf("HEAD manifest: %d", r.StatusCode)
	}
	want := map[Kind]int{KindBase: 1, KindManifest: 2, KindBlob: 0, KindUpload: 0}
	for k, n := range want {
		if got := p.Count("", k); got != n {
			t.Errorf("%s counted %d, want %d (requests %+v)", k, got, n, p.Requests())
		}
	}
	if got := p.Count(http.MethodHead, KindManifest); got != 1 {
		t.Errorf("manifest HEADs counted %d, want 1", got)
	}
}

func TestKindOf(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	tests := []struct {
		path string
		want Kind
	}{
		{"/v2/", KindBase},
		{"/v2/a/manifests/latest", KindManifest},
		{"/v2/a/b/c/manifests/" + d, KindManifest},
		{"/v2/a/blobs/" + d, KindBlob},
		{"/v2/a/blobs/uploads/", KindUpload},
		{"/v2/a/blobs/uploads/0c1e-uuid", KindUpload},
		{"/v2/a/tags/list", KindOther},
		{"/v2/_catalog", KindOther},
		{"/v2/a/blobs/sha256:short", KindOther},
	}
	for _, tt := range tests {
		if got := KindOf(tt.path); got != tt.want {
			t.Errorf("KindOf(%q) = %s, want %s", tt.path, got, tt.want)
		}
	}
}

func TestFaultValidation(t *testing.T) {
	tests := []struct {
		name string
		f    Fault
		want string
	}{
		{"no action", Fault{}, "unknown fault action"},
		{"fail without status", Fault{Action: Fail}, "4xx or 5xx"},
		{"fail with 200", Fault{Action: Fail, Status: 200}, "4xx or 5xx"},
		{"bad regexp", Fault{Action: Reset, Path: "("}, "fault path"},
		{"negative N", Fault{Action: Truncate, N: -1}, "negative"},
		{"negative times", Fault{Action: Flip, Times: -1}, "negative"},
		{"delay without duration", Fault{Action: Delay}, "positive Delay"},
	}
	for _, tt := range tests {
		_, err := newRule(tt.f)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}
