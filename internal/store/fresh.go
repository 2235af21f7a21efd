package store

import (
	"os"
	"syscall"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// fileID identifies one version of a blob file: the same inode with the same size and
// change time. A file replaced (rename over it, delete and rewrite) gets another inode; one
// written in place gets a new ctime, which no user call can set back.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime syscall.Timespec
}

func idOf(fi os.FileInfo) (fileID, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false
	}
	return fileID{dev: uint64(st.Dev), ino: st.Ino, size: fi.Size(), mtime: st.Mtim, ctime: st.Ctim}, true
}

// rememberFresh records that this Store value has just hashed the blob d's file and found
// it intact (see [Store.PutBlob]); [Store.ImageFromManifest] takes the record.
func (s *Store) rememberFresh(d v1.Descriptor) {
	p, err := s.blobPath(d.Digest)
	if err != nil {
		return
	}
	fi, err := os.Stat(p)
	if err != nil || (d.Size >= 0 && fi.Size() != d.Size) {
		return
	}
	id, ok := idOf(fi)
	if !ok {
		return
	}
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	if s.fresh == nil {
		s.fresh = map[v1.Hash]fileID{}
	}
	s.fresh[d.Digest] = id
}

// takeFresh removes and returns the records of the blobs in ds.
func (s *Store) takeFresh(ds []v1.Descriptor) map[v1.Hash]fileID {
	s.freshMu.Lock()
	defer s.freshMu.Unlock()
	var out map[v1.Hash]fileID
	for _, d := range ds {
		if id, ok := s.fresh[d.Digest]; ok {
			if out == nil {
				out = map[v1.Hash]fileID{}
			}
			out[d.Digest] = id
			delete(s.fresh, d.Digest)
		}
	}
	return out
}

// sameFile reports whether f (or, when f is nil, the blob file of h) is still the version
// recorded in fresh, of the given size.
func (s *Store) sameFile(fresh map[v1.Hash]fileID, h v1.Hash, size int64, f *os.File) bool {
	want, ok := fresh[h]
	if !ok || want.size != size {
		return false
	}
	var fi os.FileInfo
	var err error
	if f != nil {
		fi, err = f.Stat()
	} else {
		var p string
		if p, err = s.blobPath(h); err == nil {
			fi, err = os.Stat(p)
		}
	}
	if err != nil {
		return false
	}
	got, ok := idOf(fi)
	return ok && got == want
}
