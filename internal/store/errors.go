package store

import (
	"errors"
	"fmt"
	"io/fs"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

var (
	// ErrNotFound is returned (wrapped) when a name, image ID or manifest digest
	// is not in the store.
	ErrNotFound = errors.New("not found in the image store")

	// ErrAmbiguous is returned (wrapped) by [Store.Resolve] when an image ID
	// prefix matches more than one image. The message lists the candidates.
	ErrAmbiguous = errors.New("ambiguous")
)

// DigestError reports that a blob given to [Store.AddImage] does not match the
// digest (or size) its manifest records for it. Nothing of the image is indexed.
type DigestError struct {
	// Blob says which blob it is: "manifest", "config" or "layer 2 of 3".
	Blob string
	// Expected is the digest recorded for the blob; Actual the digest of the
	// bytes received (of the first ExpectedSize+1 bytes when there were more),
	// zero when they came from a reader that checks them itself (see Verified).
	Expected, Actual v1.Hash
	// ExpectedSize is the recorded size (-1 if unknown); ActualSize the number
	// of bytes received.
	ExpectedSize, ActualSize int64
}

// Error implements error.
func (e *DigestError) Error() string {
	if e.ExpectedSize >= 0 && e.ExpectedSize != e.ActualSize && e.Actual.Hex == "" {
		return fmt.Sprintf("%s %s: received %d bytes, expected %d: the image source is damaged or was changed; fetch the image again",
			e.Blob, e.Expected, e.ActualSize, e.ExpectedSize)
	}
	if e.ExpectedSize >= 0 && e.ExpectedSize != e.ActualSize {
		return fmt.Sprintf("%s %s: received %d bytes, expected %d (digest %s): the image source is damaged or was changed; fetch the image again",
			e.Blob, e.Expected, e.ActualSize, e.ExpectedSize, e.Actual)
	}
	return fmt.Sprintf("%s: content has digest %s, expected %s: the image source is damaged or was changed; fetch the image again",
		e.Blob, e.Actual, e.Expected)
}

// CorruptBlobError reports a blob file of the store whose content does not match
// its digest, or that is missing. The fix is to remove the image and load or
// pull it again.
type CorruptBlobError struct {
	// Digest is the digest the blob should have.
	Digest v1.Hash
	// Path is the blob's file in the store.
	Path string
	// Err says what is wrong; errors.Is(Err, fs.ErrNotExist) for a missing file.
	Err error
}

// Error implements error.
func (e *CorruptBlobError) Error() string {
	why := "its content does not match its digest"
	switch {
	case errors.Is(e.Err, fs.ErrNotExist):
		why = "the file is missing"
	case e.Err != nil:
		why = e.Err.Error()
	}
	return fmt.Sprintf("image store file %s is corrupt (blob %s: %s): remove the image with `berth rmi` and load or pull it again",
		e.Path, e.Digest, why)
}

// Unwrap returns Err.
func (e *CorruptBlobError) Unwrap() error { return e.Err }
