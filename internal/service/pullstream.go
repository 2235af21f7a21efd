//go:build !berth_core

package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/berth-dev/berth/internal/bundle"
)

// layerStream hands the bytes of a layer being downloaded to the snapshot's unpacker as
// they arrive, so that decompressing and extracting overlap the download instead of
// following it (see the notes of Service.Pull).
//
// The download side is the reader fetchBlob gives store.PutBlob: go-containerregistry's,
// which returns io.EOF only once the whole blob matched its digest and size. The pipe
// ends with io.EOF only then; any other end (an error, a restarted transfer, a blob
// that was already present and not read) ends it with an error, the unpacking fails, and
// the pull unpacks from the store afterwards, as it does without a stream.
type layerStream struct {
	d v1.Descriptor
	// diffID returns the layer's diff ID from the config (read by then: the pull
	// fetches it beside the layer).
	diffID func() (v1.Hash, error)
	pr     *pipeReader
	pw     *pipeWriter
	opened atomic.Bool
}

var (
	errStreamRestarted = errors.New("the layer's transfer started again")
	errStreamUnused    = errors.New("the layer was not downloaded")
	errStreamStopped   = errors.New("the unpacking stopped reading")
)

func newLayerStream(d v1.Descriptor, diffID func() (v1.Hash, error)) *layerStream {
	pr, pw := newChunkPipe()
	return &layerStream{d: d, diffID: diffID, pr: pr, pw: pw}
}

// tee returns r, copying what it reads into the pipe. Only the first transfer is
// streamed: a second one (a retry after a reset) ends the stream with an error.
func (t *layerStream) tee(r io.ReadCloser) io.ReadCloser {
	if !t.opened.CompareAndSwap(false, true) {
		t.pw.CloseWithError(errStreamRestarted)
		return r
	}
	return &teeReader{r: r, pw: t.pw}
}

// end ends the download side; after a complete, verified transfer the pipe has ended
// already and err changes nothing.
func (t *layerStream) end(err error) {
	if err == nil {
		err = errStreamUnused
	}
	t.pw.CloseWithError(err)
}

// unpack extracts the streamed layer into rootfs, checking the uncompressed stream
// against the config's diff ID.
func (t *layerStream) unpack(ctx context.Context, rootfs string, opts bundle.Options) error {
	defer t.pr.CloseWithError(errStreamStopped) // a download never waits on a reader that left
	return bundle.Unpack(ctx, rootfs, []bundle.Layer{(*streamLayer)(t)}, opts)
}

// teeReader copies what it reads into pw. If the unpacking stops reading, the download
// goes on alone.
type teeReader struct {
	r      io.ReadCloser
	pw     *pipeWriter
	broken bool
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 && !t.broken {
		if _, werr := t.pw.Write(p[:n]); werr != nil {
			t.broken = true
		}
	}
	switch {
	case err == io.EOF:
		t.pw.Close() // the source verified the whole blob
	case err != nil:
		t.pw.CloseWithError(err)
	}
	return n, err
}

func (t *teeReader) Close() error { return t.r.Close() }

// streamLayer is the streamed layer as bundle.Unpack and partial.CompressedToLayer see it.
type streamLayer layerStream

func (l *streamLayer) Digest() (v1.Hash, error)            { return l.d.Digest, nil }
func (l *streamLayer) Size() (int64, error)                { return l.d.Size, nil }
func (l *streamLayer) MediaType() (types.MediaType, error) { return l.d.MediaType, nil }
func (l *streamLayer) Compressed() (io.ReadCloser, error)  { return io.NopCloser(l.pr), nil }

// Uncompressed decompresses when the media type says so (as the store does: a Wasm or
// plain tar layer is never decompressed) and checks the result against the diff ID.
func (l *streamLayer) Uncompressed() (io.ReadCloser, error) {
	var rc io.ReadCloser = io.NopCloser(l.pr)
	if mt := string(l.d.MediaType); strings.HasSuffix(mt, "gzip") || strings.HasSuffix(mt, "zstd") {
		cl, err := partial.CompressedToLayer(l)
		if err != nil {
			return nil, err
		}
		if rc, err = cl.Uncompressed(); err != nil {
			return nil, fmt.Errorf("layer %s: decompressing: %w", l.d.Digest, err)
		}
	}
	return &diffIDReader{l: l, r: rc, h: sha256.New()}, nil
}

// diffIDReader hashes the uncompressed stream; at its end it reads the compressed stream
// to its end too (so that the download's verification has run) and compares the diff ID.
type diffIDReader struct {
	l    *streamLayer
	r    io.ReadCloser
	h    hash.Hash
	done error
}

func (d *diffIDReader) Read(p []byte) (int, error) {
	if d.done != nil {
		return 0, d.done
	}
	n, err := d.r.Read(p)
	d.h.Write(p[:n])
	switch {
	case err == io.EOF:
		if _, derr := io.Copy(io.Discard, d.l.pr); derr != nil {
			d.done = derr
		} else if want, werr := d.l.diffID(); werr != nil {
			d.done = fmt.Errorf("layer %s: %w", d.l.d.Digest, werr)
		} else if got := hex.EncodeToString(d.h.Sum(nil)); got != want.Hex {
			d.done = fmt.Errorf("layer %s: uncompressed content has digest sha256:%s but the image config records %s", d.l.d.Digest, got, want)
		} else {
			d.done = io.EOF
		}
	case err != nil:
		d.done = err
	}
	return n, d.done
}

func (d *diffIDReader) Close() error { return d.r.Close() }
