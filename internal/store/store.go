package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/fsutil"
)

const (
	layoutFile = "oci-layout"
	indexFile  = "index.json"
	lockFile   = "lock"
	tmpDir     = "tmp"
	blobsDir   = "blobs"

	layoutVersion = "1.0.0"

	// lockRetry is how often a waiting operation retries the lock.
	lockRetry = 2 * time.Millisecond
	// staleTemp is the age after which GC removes a temp file.
	staleTemp = time.Hour
)

// Store is an image store in one directory. A Store holds no open files; its
// methods are safe for concurrent use, also together with other Store values and
// other processes working on the same directory.
type Store struct {
	dir string

	// fresh holds the blobs this Store value has just hashed in PutBlob, until
	// ImageFromManifest takes them (see the package notes).
	freshMu sync.Mutex
	fresh   map[v1.Hash]fileID
}

// Open opens the image store in dir, creating the directory and an empty OCI
// image layout if they are missing. It fails if dir holds an OCI layout of an
// unsupported version.
func Open(ctx context.Context, dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("opening image store: no directory given")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening image store %s: %w", dir, err)
	}
	s := &Store{dir: abs}
	// An existing store is opened with one read and one stat: the directories below it
	// (blobs/sha256, tmp) are made when a write finds them missing (see createTemp).
	complete, err := s.checkLayout()
	if err != nil || complete {
		return s, err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, s.diskErr(fmt.Errorf("creating image store directory %s: %w", abs, err))
	}
	// Create the missing files under the exclusive lock, so that two processes
	// opening a new store at once do not both write an empty index.
	unlock, err := s.lock(ctx, true)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if complete, err = s.checkLayout(); err != nil || complete {
		return s, err
	}
	if _, err := os.Stat(filepath.Join(abs, layoutFile)); errors.Is(err, fs.ErrNotExist) {
		data, _ := json.Marshal(map[string]string{"imageLayoutVersion": layoutVersion})
		if err := s.writeFileAtomic(layoutFile, data); err != nil {
			return nil, err
		}
	}
	if _, err := os.Stat(filepath.Join(abs, indexFile)); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeIndex(&v1.IndexManifest{}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Dir returns the store's directory (absolute).
func (s *Store) Dir() string { return s.dir }

// checkLayout reports whether oci-layout and index.json both exist, and fails
// if oci-layout is unreadable or of an unsupported version.
func (s *Store) checkLayout() (complete bool, err error) {
	p := filepath.Join(s.dir, layoutFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("opening image store: %w", err)
	}
	// The canonical file (what berth and most tools write) needs no JSON decoding, which
	// spares every berth process encoding/json's start-up here.
	if string(data) != canonicalLayout {
		if err := checkLayoutVersion(p, data); err != nil {
			return false, err
		}
	}
	if _, err := os.Stat(filepath.Join(s.dir, indexFile)); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("opening image store: %w", err)
	}
	return true, nil
}

// canonicalLayout is the oci-layout file berth writes.
const canonicalLayout = `{"imageLayoutVersion":"` + layoutVersion + `"}`

// checkLayoutVersion fails unless data is an oci-layout file of version 1.x.
func checkLayoutVersion(p string, data []byte) error {
	var l struct {
		Version string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(data, &l); err != nil {
		return fmt.Errorf("opening image store: %s is not valid JSON (%v): this directory is not an OCI image layout berth can use", p, err)
	}
	if !strings.HasPrefix(l.Version, "1.") {
		return fmt.Errorf("opening image store: %s has imageLayoutVersion %q, berth supports 1.x: use another directory", p, l.Version)
	}
	return nil
}

// createTemp creates a temp file in DIR/tmp, making the directory when it is missing
// (a new store, or one whose tmp someone removed).
func (s *Store) createTemp(pattern string) (*os.File, error) {
	dir := filepath.Join(s.dir, tmpDir)
	f, err := os.CreateTemp(dir, pattern)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		f, err = os.CreateTemp(dir, pattern)
	}
	return f, err
}

// lock takes the store lock, exclusive or shared, waiting until ctx is done.
// Each call opens its own file description (see the package notes).
func (s *Store) lock(ctx context.Context, exclusive bool) (unlock func(), err error) {
	fl := flock.New(filepath.Join(s.dir, lockFile), flock.SetPermissions(0o644))
	var ok bool
	if exclusive {
		ok, err = fl.TryLockContext(ctx, lockRetry)
	} else {
		ok, err = fl.TryRLockContext(ctx, lockRetry)
	}
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		_ = fl.Close()
		return nil, fmt.Errorf("waiting for the lock of image store %s: %w", s.dir, err)
	}
	return func() { _ = fl.Unlock() }, nil
}

// diskErr rewords a full-disk error so that the user learns which disk is full.
// The original error stays wrapped (errors.Is(err, syscall.ENOSPC) holds).
func (s *Store) diskErr(err error) error {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("the disk holding the image store %s is full: free some space (for example remove unused images with `berth rmi` and `berth image prune`) and try again: %w", s.dir, err)
	}
	return err
}

// blobPath returns the file of the blob h, rejecting malformed digests (they
// could otherwise name a path outside the store).
func (s *Store) blobPath(h v1.Hash) (string, error) {
	if _, err := v1.NewHash(h.String()); err != nil {
		return "", fmt.Errorf("invalid digest %q: %w", h.String(), err)
	}
	return filepath.Join(s.dir, blobsDir, h.Algorithm, h.Hex), nil
}

// writeFileAtomic writes data to DIR/name through a temp file.
func (s *Store) writeFileAtomic(name string, data []byte) error {
	f, err := s.createTemp(name + "-*")
	if err != nil {
		return s.diskErr(fmt.Errorf("writing %s: %w", filepath.Join(s.dir, name), err))
	}
	if err := s.commitTemp(f, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}, filepath.Join(s.dir, name)); err != nil {
		return err
	}
	return fsutil.SyncDir(s.dir)
}

// commitTemp fills the temp file f with fill, syncs it and renames it to dst.
// On any error the temp file is removed.
func (s *Store) commitTemp(f *os.File, fill func(io.Writer) error, dst string) (err error) {
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			err = s.diskErr(err)
		}
	}()
	if err := fill(f); err != nil {
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	if err := os.Rename(f.Name(), dst); err != nil {
		return fmt.Errorf("writing %s: %w", dst, err)
	}
	return nil
}
