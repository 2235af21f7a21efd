package store

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// errAtEOF is a checking reader that found a mismatch: it fails its last read.
type errAtEOF struct{ r io.Reader }

var errMismatch = errors.New("error verifying sha256 checksum")

func (e errAtEOF) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, errMismatch
	}
	return n, err
}

// PutBlob trusts a reader marked Verified for the digest, not for the size; a reader that
// fails leaves nothing; a mark for another digest is ignored.
func TestPutBlobVerified(t *testing.T) {
	good := bytes.Repeat([]byte("verified "), 1000)
	d := blobDesc(t, good)
	other := blobDesc(t, []byte("other"))
	bad := bytes.Clone(good)
	bad[10] ^= 0xff
	tests := []struct {
		name    string
		open    func() (io.ReadCloser, error)
		wantErr func(error) bool
	}{
		{"checked by the reader", func() (io.ReadCloser, error) {
			return Verified(io.NopCloser(bytes.NewReader(good)), d.Digest), nil
		}, nil},
		{"the reader finds a mismatch", func() (io.ReadCloser, error) {
			return Verified(io.NopCloser(errAtEOF{bytes.NewReader(bad)}), d.Digest), nil
		}, func(err error) bool { return errors.Is(err, errMismatch) }},
		{"a reader that ends early without saying so: the size is still checked", func() (io.ReadCloser, error) {
			return Verified(io.NopCloser(bytes.NewReader(good[:100])), d.Digest), nil
		}, func(err error) bool {
			var de *DigestError
			return errors.As(err, &de) && de.ActualSize == 100 && strings.Contains(err.Error(), "received 100 bytes")
		}},
		{"marked for another digest: hashed", func() (io.ReadCloser, error) {
			return Verified(io.NopCloser(bytes.NewReader(bad)), other.Digest), nil
		}, func(err error) bool {
			var de *DigestError
			return errors.As(err, &de) && de.Actual != d.Digest && de.Actual.Hex != ""
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			written, err := s.PutBlob(t.Context(), d, "layer 1 of 1", tc.open)
			if tc.wantErr == nil {
				if err != nil || !written || !s.HasBlob(t.Context(), d) {
					t.Fatalf("written %v, err %v; want the blob stored", written, err)
				}
				return
			}
			if err == nil || !tc.wantErr(err) {
				t.Fatalf("err = %v", err)
			}
			if s.HasBlob(t.Context(), d) || len(tempFiles(t, s)) != 0 {
				t.Fatalf("a refused blob left something behind: temp files %v", tempFiles(t, s))
			}
			if got := s.takeFresh([]v1.Descriptor{d}); got != nil {
				t.Fatalf("a refused blob was recorded as fresh")
			}
		})
	}
}
