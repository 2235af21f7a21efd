package archive

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

const (
	// maxMetaSize bounds index.json, manifest.json, oci-layout and repositories, read into memory.
	maxMetaSize = 32 << 20
	// maxTrailing bounds what Read consumes after the end of the tar to reach the end of a
	// compressed stream (and so check its checksum).
	maxTrailing = 1 << 20
	// maxLinkHops bounds chains of links inside an archive.
	maxLinkHops = 16
	// maxIgnored bounds the names of skipped members Read remembers for its error messages.
	maxIgnored = 10000
)

// storedBlob is a member copied into the blob store.
type storedBlob struct {
	digest v1.Hash
	size   int64
}

// reader is the state of one Read.
type reader struct {
	st  *blobStore
	lim Limits

	meta       map[string][]byte     // metadata members, by name
	members    map[string]storedBlob // stored members, by name
	links      map[string]string     // link members wanted by name: name -> target name
	ignored    map[string]bool       // members not read, by name
	unresolved map[string]string     // links that could not be resolved: name -> why
	diffIDs    map[v1.Hash]layerInfo // classic layers already checked, by blob digest
}

// Read opens an image archive from r, which need not be seekable (stdin works). The members
// the archive's images need are copied to a private temporary directory under tmpDir ("" means
// os.TempDir()), which Archive.Close removes; lim bounds the archive (zero fields: DefaultLimits).
//
// Only members with the names image archives use are copied (`blobs/sha256/<64 hex>`,
// `index.json`, `manifest.json`, `oci-layout`, `repositories`, `<hex>.json`, `<id>/layer.tar`,
// `<hex>.tar`), by content digest, never by their name; an absolute name or one with ".." makes
// Read fail. Blobs are checked against their digests, classic layers against their diff_ids.
//
// Errors match ErrFormat (not an image archive), ErrCorrupt (truncated, digest mismatch,
// missing member, bad metadata) or ErrLimit with errors.Is, and name the member at fault.
func Read(ctx context.Context, r io.Reader, tmpDir string, lim Limits) (*Archive, error) {
	lim = lim.withDefaults()
	if tmpDir == "" {
		tmpDir = os.TempDir()
	}
	dir, err := os.MkdirTemp(tmpDir, "berth-archive-")
	if err != nil {
		return nil, fmt.Errorf("creating a temporary directory for the image archive: %w", err)
	}
	st, err := newBlobStore(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("creating a temporary directory for the image archive: %w", err)
	}
	a := &Archive{store: st, dir: dir}
	rd := &reader{
		st:         st,
		lim:        lim,
		meta:       map[string][]byte{},
		members:    map[string]storedBlob{},
		links:      map[string]string{},
		ignored:    map[string]bool{},
		unresolved: map[string]string{},
		diffIDs:    map[v1.Hash]layerInfo{},
	}
	if err := rd.readTar(ctx, r); err != nil {
		a.Close()
		return nil, err
	}
	if err := rd.resolveLinks(); err != nil {
		a.Close()
		return nil, err
	}
	entries, err := rd.entries()
	if err != nil {
		a.Close()
		return nil, err
	}
	a.entries = entries
	return a, nil
}

// countingReader counts the bytes the tar reader consumes and bounds them; it also stops on
// context cancellation.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
	max int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n > c.max {
		return n, limitf("archive is larger than the limit of %d bytes", c.max)
	}
	return n, err
}

// errRecorder remembers the error its reader returned, to tell read errors from write errors
// after an io.Copy.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		e.err = err
	}
	return n, err
}

// decompress detects gzip and bzip2 by their magic bytes.
func decompress(br *bufio.Reader) (io.Reader, error) {
	magic, _ := br.Peek(6)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, streamError(err, 0)
		}
		return zr, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(br), nil
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return nil, formatf("the archive is zstd-compressed, which berth does not read: decompress it first (zstd -d)")
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return nil, formatf("the archive is xz-compressed, which berth does not read: decompress it first (xz -d)")
	}
	return br, nil
}

// streamError turns an error reading the archive stream into an error for users. members is
// the number of tar members read so far.
func streamError(err error, members int) error {
	var ae *archiveError
	var flateErr flate.CorruptInputError
	var bzErr bzip2.StructuralError
	switch {
	case errors.As(err, &ae):
		return err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("reading image archive: %w", err)
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return errTruncated(err)
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader), errors.As(err, &flateErr), errors.As(err, &bzErr):
		return corruptf("archive: the compressed stream is corrupt: %w", err)
	case errors.Is(err, tar.ErrHeader), errors.Is(err, tar.ErrFieldTooLong), errors.Is(err, tar.ErrInsecurePath):
		if members == 0 {
			return formatf("the archive is not a tar file")
		}
		return corruptf("archive: invalid tar header after %d members: %w", members, err)
	}
	return fmt.Errorf("reading image archive: %w", err)
}

// readTar copies the members Read wants from the tar stream.
func (rd *reader) readTar(ctx context.Context, r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	src, err := decompress(br)
	if err != nil {
		return err
	}
	// The decompressed stream holds the members, a header (and perhaps PAX records) per member,
	// padding and the end blocks: bound it to keep gzip bombs and header floods out.
	streamMax := saturatingAdd(rd.lim.MaxBytes, int64(rd.lim.MaxEntries)*4096+2*maxTrailing)
	cr := &countingReader{ctx: ctx, r: src, max: streamMax}
	tr := tar.NewReader(cr)

	var (
		count   int
		total   int64
		lastEnd int64 // stream offset just after the data of the last member
	)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			if cr.n == 0 {
				return formatf("the archive is empty")
			}
			// A tar ends with two zero blocks after the padding of its last member; archive/tar
			// also reports io.EOF when the stream just stops, which is a truncated archive.
			if cr.n < lastEnd+1024 {
				return errTruncated(nil)
			}
			break
		}
		if errors.Is(err, tar.ErrInsecurePath) && hdr != nil {
			return corruptf("archive member %q has an absolute path or a \"..\" element; refusing an unsafe archive", hdr.Name)
		}
		if err != nil {
			return streamError(err, count)
		}
		count++
		if count > rd.lim.MaxEntries {
			return limitf("archive has more than %d members (limit)", rd.lim.MaxEntries)
		}
		name, ok := cleanMemberName(hdr.Name)
		if !ok {
			return corruptf("archive member %q has an absolute path or a \"..\" element; refusing an unsafe archive", hdr.Name)
		}
		if hdr.Size > 0 {
			total += hdr.Size
			if total > rd.lim.MaxBytes || total < 0 {
				return limitf("archive members add up to more than the limit of %d bytes (at member %q)", rd.lim.MaxBytes, name)
			}
		}
		if err := rd.member(tr, hdr, name, count); err != nil {
			return err
		}
		if _, err := io.Copy(io.Discard, tr); err != nil {
			return streamError(err, count)
		}
		lastEnd = cr.n
	}
	// Read on to the end of the compressed stream, so gzip checks its checksum and length.
	// Garbage after a complete gzip member (padding some tools add) is no harm: gzip has
	// checked the member before it looks for another header.
	if _, err := io.CopyN(io.Discard, cr, maxTrailing); err != nil && err != io.EOF && !errors.Is(err, gzip.ErrHeader) {
		return streamError(err, count)
	}
	return nil
}

// member handles one tar member.
func (rd *reader) member(tr *tar.Reader, hdr *tar.Header, name string, count int) error {
	kind, want := classify(name)
	switch hdr.Typeflag {
	case tar.TypeReg:
	case tar.TypeSymlink, tar.TypeLink:
		if kind == kindIgnore {
			rd.ignore(name)
			return nil
		}
		if kind == kindMeta {
			return corruptf("%s: is a link; berth reads only a regular file here", name)
		}
		target, ok := linkTarget(name, hdr.Linkname, hdr.Typeflag == tar.TypeSymlink)
		if !ok {
			return corruptf("%s: links to %q, outside the archive; refusing an unsafe archive", name, hdr.Linkname)
		}
		delete(rd.members, name)
		rd.links[name] = target
		return nil
	default:
		if kind != kindIgnore && hdr.Typeflag != tar.TypeDir {
			return corruptf("%s: is not a regular file (tar type %q)", name, hdr.Typeflag)
		}
		return nil
	}
	delete(rd.links, name)
	switch kind {
	case kindIgnore:
		rd.ignore(name)
		return nil
	case kindMeta:
		if hdr.Size > maxMetaSize {
			return limitf("%s: %d bytes is larger than berth reads (%d)", name, hdr.Size, maxMetaSize)
		}
		rec := &errRecorder{r: tr}
		b, err := io.ReadAll(rec)
		if err != nil {
			return streamError(err, count)
		}
		rd.meta[name] = b
		return nil
	}
	rec := &errRecorder{r: tr}
	d, n, err := rd.st.put(rec, want.Algorithm, want)
	switch {
	case rec.err != nil:
		return streamError(rec.err, count)
	case errors.Is(err, errMismatch):
		return corruptf("%s: digest mismatch (archive is corrupt or truncated)", name)
	case err != nil:
		return err
	}
	rd.members[name] = storedBlob{digest: d, size: n}
	return nil
}

// ignore remembers a skipped member for error messages, within bounds.
func (rd *reader) ignore(name string) {
	if len(rd.ignored) < maxIgnored && len(name) <= 1024 {
		rd.ignored[name] = true
	}
}

// resolveLinks resolves link members to the members they point at, inside the archive.
func (rd *reader) resolveLinks() error {
	names := make([]string, 0, len(rd.links))
	for name := range rd.links {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		cur := name
		for hops := 0; ; hops++ {
			next, isLink := rd.links[cur]
			if !isLink {
				b, ok := rd.members[cur]
				if !ok {
					rd.unresolved[name] = fmt.Sprintf("a link to %q, which is not a file in the archive berth reads", cur)
					break
				}
				if _, want := classify(name); want != (v1.Hash{}) && want != b.digest {
					return corruptf("%s: digest mismatch: it links to %s, whose digest is %s (archive is corrupt)", name, cur, b.digest)
				}
				rd.members[name] = b
				break
			}
			if hops == maxLinkHops {
				rd.unresolved[name] = "a chain of links that is too long"
				break
			}
			cur = next
		}
	}
	return nil
}

func saturatingAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return int64(^uint64(0) >> 1)
}
