package bundle

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// MapRootFile maps the file at the container path p inside rootfs into memory, read-only,
// resolving the path as ReadRootFile does; the caller calls unmap once it no longer uses
// data (reading data after unmap faults). An empty file, or one that cannot be mapped,
// is read instead (unmap then does nothing).
//
// # Notes
//
//   - A pull hands the module it just unpacked to the compiler, which reads it once and
//     keeps copies of what it needs. Mapping spares a copy of the whole file into fresh
//     heap memory (a 10 MB module: ~10 ms of page faults and copying on the machine of
//     docs/benchmarks.md); the pages are the page cache's, just written by the unpacking.
//     The file must not be truncated while it is mapped (a read past its end would fault):
//     berth maps only files in a snapshot it is building, which nothing else writes.
func MapRootFile(rootfs, p string) (data []byte, unmap func(), err error) {
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, nil, err
	}
	defer r.Close()
	f, err := r.Open(rootRel(p))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s is not a regular file", p)
	}
	if size := fi.Size(); size > 0 && size == int64(int(size)) {
		if data, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED); err == nil {
			return data, func() { _ = unix.Munmap(data) }, nil
		}
	}
	data, err = ReadRootFile(rootfs, p)
	return data, func() {}, err
}
