package archive

import (
	"errors"
	"fmt"
	"os"
	"sync"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ErrFormat reports input that is not a recognisable image archive.
var ErrFormat = errors.New("not a recognisable image archive: berth loads OCI image-layout tars " +
	"(docker save of Docker 25+, skopeo oci-archive:, ctr export) and docker save archives (manifest.json), " +
	"optionally gzip- or bzip2-compressed")

// ErrCorrupt reports an archive that is recognised but damaged: truncated, with a blob that does
// not match its digest, with a member that is missing, or with metadata that does not parse.
var ErrCorrupt = errors.New("image archive is corrupt")

// ErrLimit reports an archive that exceeds the Limits given to Read.
var ErrLimit = errors.New("image archive exceeds a limit")

// archiveError is an error with a message for users that matches one of the sentinels above
// with errors.Is, and optionally wraps a cause.
type archiveError struct {
	kind  error
	msg   string
	cause error
}

func (e *archiveError) Error() string        { return e.msg }
func (e *archiveError) Is(target error) bool { return target == e.kind }
func (e *archiveError) Unwrap() error        { return e.cause }

func corruptf(format string, args ...any) error {
	err := fmt.Errorf(format, args...)
	return &archiveError{kind: ErrCorrupt, msg: err.Error(), cause: errors.Unwrap(err)}
}

func limitf(format string, args ...any) error {
	return &archiveError{kind: ErrLimit, msg: fmt.Sprintf(format, args...)}
}

func formatf(format string, args ...any) error {
	return &archiveError{kind: ErrFormat, msg: fmt.Sprintf(format, args...) + " (" + ErrFormat.Error() + ")"}
}

// errTruncated is the error for a tar or compressed stream that ends early.
func errTruncated(cause error) error {
	return &archiveError{kind: ErrCorrupt, msg: "archive is truncated", cause: cause}
}

// Limits bounds what Read accepts. A zero or negative field means the default.
type Limits struct {
	// MaxBytes bounds the sum of the sizes of all members of the (decompressed) tar.
	MaxBytes int64
	// MaxEntries bounds the number of members of the tar, directories included.
	MaxEntries int
}

// DefaultLimits returns the limits Read uses for zero fields: 8 GiB and 100000 members.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 8 << 30, MaxEntries: 100000}
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxBytes <= 0 {
		l.MaxBytes = d.MaxBytes
	}
	if l.MaxEntries <= 0 {
		l.MaxEntries = d.MaxEntries
	}
	return l
}

// Entry is one image (or index) found in an archive.
type Entry struct {
	// Names are the image names as written in the archive (for example
	// "docker.io/library/hello:1" or "hello:1"); the caller normalises them. Empty when the
	// archive names the image only by a tag (see RefName) or not at all.
	Names []string
	// RefName is the org.opencontainers.image.ref.name annotation when present, often only a
	// tag such as "1".
	RefName string
	// Image is set when the entry is a single image.
	Image v1.Image
	// Index is set when the entry is an image index; the caller picks a platform.
	Index v1.ImageIndex
}

// Archive is an opened archive. Its images read from a private temporary copy that Close
// removes; they must not be used after Close.
type Archive struct {
	entries []Entry
	store   *blobStore
	dir     string

	closeOnce sync.Once
	closeErr  error
}

// Entries returns the images and indexes of the archive, in the order the archive lists them.
func (a *Archive) Entries() []Entry {
	out := make([]Entry, len(a.entries))
	for i, e := range a.entries {
		e.Names = append([]string(nil), e.Names...)
		out[i] = e
	}
	return out
}

// Close removes the temporary copy of the archive. It is safe to call more than once.
func (a *Archive) Close() error {
	a.closeOnce.Do(func() {
		err1 := a.store.close()
		err2 := os.RemoveAll(a.dir)
		if err := errors.Join(err1, err2); err != nil {
			a.closeErr = fmt.Errorf("removing the temporary copy of the image archive: %w", err)
		}
	})
	return a.closeErr
}
