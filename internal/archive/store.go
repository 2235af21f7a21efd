package archive

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// blobStore is the private content-addressed copy of an archive: blobs/<alg>/<hex> under a
// temporary directory, reached only through an os.Root.
type blobStore struct {
	root *os.Root

	mu     sync.RWMutex
	sizes  map[v1.Hash]int64 // blobs present, with their sizes
	closed bool
	nextID int
}

func newBlobStore(dir string) (*blobStore, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	return &blobStore{root: root, sizes: map[v1.Hash]int64{}}, nil
}

func blobPath(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

func (s *blobStore) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.root.Close()
}

// has reports whether the blob is present, and its size.
func (s *blobStore) has(h v1.Hash) (int64, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n, ok := s.sizes[h]
	return n, ok
}

// errMissing is the error for a blob the archive does not hold; it matches fs.ErrNotExist.
func errMissing(h v1.Hash) error {
	return fmt.Errorf("%s is not in the image archive: %w", blobPath(h), fs.ErrNotExist)
}

// open opens a blob for reading.
func (s *blobStore) open(h v1.Hash) (*os.File, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, fmt.Errorf("reading %s: the image archive is closed", blobPath(h))
	}
	if _, ok := s.sizes[h]; !ok {
		return nil, errMissing(h)
	}
	f, err := s.root.Open(blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("reading %s from the temporary copy of the image archive: %w", blobPath(h), err)
	}
	return f, nil
}

// bytes reads a whole blob of at most max bytes.
func (s *blobStore) readAll(h v1.Hash, max int64) ([]byte, error) {
	if n, ok := s.has(h); ok && n > max {
		return nil, corruptf("%s: %d bytes is too large for a manifest or config (limit %d)", blobPath(h), n, max)
	}
	f, err := s.open(h)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max))
}

// put stores a blob from r, computing its digest with algorithm alg (sha256 when empty).
// When want is not zero, the content must have that digest, otherwise errMismatch is returned.
func (s *blobStore) put(r io.Reader, alg string, want v1.Hash) (v1.Hash, int64, error) {
	if alg == "" {
		alg = "sha256"
	}
	hasher, err := v1.Hasher(alg)
	if err != nil {
		return v1.Hash{}, 0, err
	}
	s.mu.Lock()
	s.nextID++
	tmp := fmt.Sprintf("incoming-%d", s.nextID)
	s.mu.Unlock()
	f, err := s.root.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return v1.Hash{}, 0, fmt.Errorf("writing the temporary copy of the image archive in %s: %w", s.root.Name(), err)
	}
	defer s.root.Remove(tmp) // a no-op once renamed
	n, err := io.Copy(io.MultiWriter(f, hasher), r)
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("writing the temporary copy of the image archive in %s: %w", s.root.Name(), cerr)
	}
	if err != nil {
		return v1.Hash{}, 0, err
	}
	got := v1.Hash{Algorithm: alg, Hex: hex.EncodeToString(hasher.Sum(nil))}
	if want != (v1.Hash{}) && got != want {
		return got, n, errMismatch
	}
	if _, ok := s.has(got); ok {
		return got, n, nil
	}
	if err := s.root.MkdirAll("blobs/"+alg, 0o700); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("writing the temporary copy of the image archive in %s: %w", s.root.Name(), err)
	}
	if err := s.root.Rename(tmp, blobPath(got)); err != nil {
		return v1.Hash{}, 0, fmt.Errorf("writing the temporary copy of the image archive in %s: %w", s.root.Name(), err)
	}
	s.mu.Lock()
	s.sizes[got] = n
	s.mu.Unlock()
	return got, n, nil
}

// putBytes stores b as a sha256 blob.
func (s *blobStore) putBytes(b []byte) (v1.Hash, error) {
	h, _, err := s.put(bytes.NewReader(b), "", v1.Hash{})
	return h, err
}

var errMismatch = errors.New("digest mismatch")
