package fsutil

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback queues the range [off, off+n) of f for writeback. It is a hint:
// an error (a file system without the call, say) changes nothing but the speed
// of the caller's fsync.
func startWriteback(f *os.File, off, n int64) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), off, n, unix.SYNC_FILE_RANGE_WRITE)
	})
}
