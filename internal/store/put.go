package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// locksDir holds the per-blob locks of PutBlob.
const locksDir = "locks"

// PutBlob stores the blob d, read from open, unless an intact copy is already
// present; it reports whether it wrote the blob. It is for callers that fetch
// blobs over a network before they add the image (a pull): unlike
// [Store.AddImage] it does not hold the store's exclusive lock, so runs and
// other reads go on during a download.
//
// The bytes are hashed while they stream (unless open's reader checks them
// itself, see [Verified]); a mismatch is a [*DigestError] (or the reader's
// error) and leaves nothing behind. While it writes, PutBlob holds the store's shared lock
// (so a GC, which takes the exclusive lock, cannot collect the blob between its
// rename and the end of the write) and a lock of its own for the blob: two
// callers putting the same blob at once download it once, the second waits and
// then finds it present.
//
// A blob PutBlob wrote is not indexed: a later [Store.GC] collects it unless an
// [Store.AddImage] referred to it first. AddImage finds it intact and does not
// read open again.
//
// The blob has just been hashed (while written, or found present and intact), so
// this Store value remembers its file (inode, size, change time): the image
// [Store.ImageFromManifest] returns next reads it, and AddImage indexes it,
// without hashing it again, as long as the file is still that one.
func (s *Store) PutBlob(ctx context.Context, d v1.Descriptor, what string, open func() (io.ReadCloser, error)) (written bool, err error) {
	if _, err := s.blobPath(d.Digest); err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	unlock, err := s.lock(ctx, false)
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", what, d.Digest, err)
	}
	defer unlock()
	unlockBlob, err := s.blobLock(ctx, d.Digest)
	if err != nil {
		return false, fmt.Errorf("%s %s: %w", what, d.Digest, err)
	}
	defer unlockBlob()
	if s.blobIntact(ctx, d) {
		s.rememberFresh(d)
		return false, nil
	}
	if err := s.putBlob(ctx, what, d, open); err != nil {
		return false, err
	}
	s.rememberFresh(d)
	return true, nil
}

// Verified marks r, the reader PutBlob's open returns, as one that checks the
// bytes it returns against h itself, as go-containerregistry's blob readers do:
// its Read ends with io.EOF only when everything it returned matched h (and the
// size the caller expects), and with an error otherwise. PutBlob then does not
// hash the bytes a second time; it still counts them against the descriptor's
// size, and a read error leaves nothing behind. A digest other than the
// descriptor's is ignored (PutBlob hashes).
func Verified(r io.ReadCloser, h v1.Hash) io.ReadCloser { return &verifiedReader{r, h} }

type verifiedReader struct {
	io.ReadCloser
	digest v1.Hash
}

// HasBlob reports whether the blob d is present and intact (it reads the whole
// blob to check).
func (s *Store) HasBlob(ctx context.Context, d v1.Descriptor) bool {
	if _, err := s.blobPath(d.Digest); err != nil {
		return false
	}
	return s.blobIntact(ctx, d)
}

// blobLock takes the per-blob lock DIR/locks/<algorithm>-<hex>. The file stays
// (removing a lock file others may wait on would let two holders in): an empty
// file per blob ever pulled.
func (s *Store) blobLock(ctx context.Context, h v1.Hash) (unlock func(), err error) {
	if err := os.MkdirAll(filepath.Join(s.dir, locksDir), 0o755); err != nil {
		return nil, s.diskErr(fmt.Errorf("creating the lock of blob %s: %w", h, err))
	}
	fl := flock.New(filepath.Join(s.dir, locksDir, h.Algorithm+"-"+h.Hex), flock.SetPermissions(0o644))
	ok, err := fl.TryLockContext(ctx, lockRetry)
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		_ = fl.Close()
		return nil, fmt.Errorf("waiting for the lock of blob %s in image store %s: %w", h, s.dir, err)
	}
	return func() { _ = fl.Unlock() }, nil
}

// ImageFromManifest returns the image whose manifest is raw as a v1.Image read
// from the store's blob files, whether or not the manifest is indexed: for a
// caller that wrote the image's blobs with [Store.PutBlob] and wants to read
// them before it adds the image. mediaType is used when the manifest does not
// name its own.
//
// Reads are verified as [Store.Image]'s are, except for the blobs this Store
// value's PutBlob has just hashed (it takes them over: the next
// ImageFromManifest does not see them) whose files have not changed since: their
// size is checked, their content not hashed again. [Store.AddImage] of the
// returned image trusts them the same way.
func (s *Store) ImageFromManifest(raw []byte, mediaType types.MediaType) (v1.Image, error) {
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	img, err := s.newImage(v1.Descriptor{MediaType: mediaType, Digest: h, Size: size}, raw)
	if err != nil {
		return nil, err
	}
	img.fresh = s.takeFresh(append([]v1.Descriptor{img.manifest.Config}, img.manifest.Layers...))
	return img, nil
}

// IsMissingBlob reports whether err says a blob file of the store is missing
// (for example collected by a GC between [Store.PutBlob] and [Store.AddImage]).
func IsMissingBlob(err error) bool {
	var ce *CorruptBlobError
	return errors.As(err, &ce) && notExist(ce.Err)
}
