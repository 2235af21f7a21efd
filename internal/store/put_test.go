package store

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func blobDesc(t *testing.T, b []byte) v1.Descriptor {
	t.Helper()
	h, n, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return v1.Descriptor{Digest: h, Size: n}
}

// slowReader hands out its bytes in small pieces, so that a concurrent put overlaps.
type slowReader struct{ r io.Reader }

func (s slowReader) Read(p []byte) (int, error) {
	time.Sleep(time.Millisecond)
	if len(p) > 512 {
		p = p[:512]
	}
	return s.r.Read(p)
}

func TestPutBlobConcurrentOneDownload(t *testing.T) {
	s := openStore(t)
	data := bytes.Repeat([]byte("berth"), 4096)
	d := blobDesc(t, data)
	var opens atomic.Int32
	open := func() (io.ReadCloser, error) {
		opens.Add(1)
		return io.NopCloser(slowReader{bytes.NewReader(data)}), nil
	}
	var wg sync.WaitGroup
	written := make([]bool, 4)
	errs := make([]error, 4)
	for i := range written {
		wg.Add(1)
		go func() {
			defer wg.Done()
			written[i], errs[i] = s.PutBlob(t.Context(), d, "layer 1 of 1", open)
		}()
	}
	wg.Wait()
	n := 0
	for i := range written {
		if errs[i] != nil {
			t.Fatalf("put %d: %v", i, errs[i])
		}
		if written[i] {
			n++
		}
	}
	if n != 1 || opens.Load() != 1 {
		t.Fatalf("%d puts wrote the blob and the source was opened %d times, want 1 and 1", n, opens.Load())
	}
	if !s.HasBlob(t.Context(), d) {
		t.Fatal("blob missing after PutBlob")
	}
}

func TestPutBlobBadContent(t *testing.T) {
	s := openStore(t)
	good := []byte("the right bytes")
	d := blobDesc(t, good)
	tests := []struct {
		name string
		body []byte
	}{
		{"one byte changed", []byte("the right bytez")},
		{"truncated", good[:5]},
		{"too long", append(append([]byte{}, good...), 'x')},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PutBlob(t.Context(), d, "layer 1 of 1", bytesOpener(tc.body))
			var de *DigestError
			if !errors.As(err, &de) || de.Expected != d.Digest {
				t.Fatalf("err = %v, want a *DigestError for %s", err, d.Digest)
			}
			if s.HasBlob(t.Context(), d) || len(tempFiles(t, s)) != 0 {
				t.Fatalf("a bad blob left something behind: temp files %v", tempFiles(t, s))
			}
		})
	}
}

// A put holds the shared lock only: a reader of the store is not blocked by a download,
// and a GC waits until the blob is written.
func TestPutBlobLocks(t *testing.T) {
	s := openStore(t)
	data := bytes.Repeat([]byte("x"), 64<<10)
	d := blobDesc(t, data)
	started := make(chan struct{})
	release := make(chan struct{})
	open := func() (io.ReadCloser, error) {
		close(started)
		<-release
		return io.NopCloser(bytes.NewReader(data)), nil
	}
	done := make(chan error, 1)
	go func() { _, err := s.PutBlob(t.Context(), d, "layer", open); done <- err }()
	<-started
	if _, err := s.Images(t.Context()); err != nil { // a shared lock: not blocked
		t.Fatal(err)
	}
	gcDone := make(chan struct{})
	go func() {
		_, _, _ = s.GC(t.Context())
		close(gcDone)
	}()
	select {
	case <-gcDone:
		t.Fatal("GC ran while a blob was being put")
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	<-gcDone
}

func TestImageFromManifest(t *testing.T) {
	s := openStore(t)
	img := dockerWasmImage(t, wasmModule)
	m, _ := img.Manifest()
	raw, _ := img.RawManifest()
	rawCfg, _ := img.RawConfigFile()
	for i, l := range m.Layers {
		layer, _ := img.LayerByDigest(l.Digest)
		if _, err := s.PutBlob(t.Context(), l, "layer", layer.Compressed); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	if _, err := s.PutBlob(t.Context(), m.Config, "config", bytesOpener(rawCfg)); err != nil {
		t.Fatal(err)
	}
	local, err := s.ImageFromManifest(raw, m.MediaType)
	if err != nil {
		t.Fatal(err)
	}
	if d1, d2 := mustDigest(t, local), mustDigest(t, img); d1 != d2 {
		t.Fatalf("digest %s, want %s", d1, d2)
	}
	if _, err := s.AddImage(t.Context(), local, "x:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Image(t.Context(), mustDigest(t, img)); err != nil {
		t.Fatal(err)
	}
}
