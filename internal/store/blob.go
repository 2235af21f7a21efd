package store

import (
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// openBlob opens the blob h for reading; the reader verifies the content
// against h (and size, when size >= 0) when it reaches EOF.
func (s *Store) openBlob(h v1.Hash, size int64) (*verifyReader, error) {
	return s.openBlobFresh(h, size, nil)
}

// openBlobFresh is openBlob, except that when fresh records the very file it opened
// (this Store hashed it moments ago, see [Store.PutBlob]) the reader checks the size
// only: the content is not hashed a second time.
func (s *Store) openBlobFresh(h v1.Hash, size int64, fresh map[v1.Hash]fileID) (*verifyReader, error) {
	p, err := s.blobPath(h)
	if err != nil {
		return nil, err
	}
	hasher, err := v1.Hasher(h.Algorithm)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %w", h, err)
	}
	f, err := os.Open(p)
	if err != nil {
		if notExist(err) {
			return nil, &CorruptBlobError{Digest: h, Path: p, Err: err}
		}
		return nil, fmt.Errorf("reading image store blob: %w", err)
	}
	v := &verifyReader{f: f, path: p, want: h, size: size, h: hasher}
	if size >= 0 && s.sameFile(fresh, h, size, f) {
		v.h = nil
	}
	return v, nil
}

// readBlob reads the whole blob h, verified.
func (s *Store) readBlob(h v1.Hash, size int64) ([]byte, error) {
	return s.readBlobFresh(h, size, nil)
}

// readBlobFresh is readBlob with openBlobFresh.
func (s *Store) readBlobFresh(h v1.Hash, size int64, fresh map[v1.Hash]fileID) ([]byte, error) {
	r, err := s.openBlobFresh(h, size, fresh)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// verifyReader reads a blob file and checks its digest and size at EOF.
// Errors are sticky: once it failed or reached EOF, every Read returns the same.
type verifyReader struct {
	f    *os.File
	path string
	want v1.Hash
	size int64     // -1: unknown
	h    hash.Hash // nil: a fresh blob, only its size is checked
	n    int64
	done error
}

func (v *verifyReader) Read(p []byte) (int, error) {
	if v.done != nil {
		return 0, v.done
	}
	n, err := v.f.Read(p)
	if v.h != nil {
		v.h.Write(p[:n])
	}
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		n -= int(v.n - v.size)
		v.done = v.corrupt(fmt.Errorf("the file is larger than the %d bytes recorded", v.size))
		return n, v.done
	}
	switch {
	case err == io.EOF:
		v.done = v.check()
		return n, v.done
	case err != nil:
		v.done = fmt.Errorf("reading image store blob %s: %w", v.path, err)
		return n, v.done
	}
	return n, nil
}

// check runs at EOF: io.EOF if the content is right, else a *CorruptBlobError.
func (v *verifyReader) check() error {
	if v.size >= 0 && v.n != v.size {
		return v.corrupt(fmt.Errorf("the file has %d bytes, %d are recorded", v.n, v.size))
	}
	if v.h == nil {
		return io.EOF
	}
	if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want.Hex {
		return v.corrupt(fmt.Errorf("its content has digest %s:%s", v.want.Algorithm, got))
	}
	return io.EOF
}

func (v *verifyReader) corrupt(err error) error {
	return &CorruptBlobError{Digest: v.want, Path: v.path, Err: err}
}

// Close closes the file; it may be called more than once.
func (v *verifyReader) Close() error {
	if v.f == nil {
		return nil
	}
	err := v.f.Close()
	v.f = nil
	if v.done == nil {
		v.done = os.ErrClosed
	}
	return err
}

// notExist reports whether err says a blob file is missing.
func notExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
