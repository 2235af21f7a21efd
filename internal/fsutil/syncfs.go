package fsutil

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// SyncFS makes everything written under dir durable: the files' data and the
// directory entries that name them.
//
// # Notes
//
// A snapshot (an unpacked image root) is one directory tree that berth marks complete
// with a meta.json it fsyncs. Without a sync of the tree first, a power loss soon after
// a pull can leave meta.json on disk and the module beside it empty: a snapshot that is
// durably recorded as valid but is not, which later pulls do not repair because the image
// is present. containerd has that failure (containerd#5854, moby#49784) and answers it
// with an opt-in syncfs after each unpacked layer (containerd#9401). berth marks a root
// with the boot that wrote it instead (see BootID) and syncs it only where the boot ID
// cannot be read. A tree of up to fsyncLimit files and
// directories is fsynced file by file: one syncfs(2) of the whole file system also
// flushes what other writers left dirty there, and in a pull the compile that runs
// beside it took ~16 ms longer (its precompile phase 48.6 against 32.5 ms). A larger tree
// gets that one syncfs on Linux, as each fsync of a new file forces a journal commit of
// its own; elsewhere it too is fsynced file by file.
func SyncFS(dir string) error {
	if err := syncTree(dir); err != nil {
		return fmt.Errorf("syncing %s to disk: %w", dir, err)
	}
	return nil
}

// fsyncLimit is the most files and directories SyncFS fsyncs one by one; a larger
// tree gets one sync of its whole file system.
const fsyncLimit = 128

var errManyFiles = errors.New("more files than fsyncLimit")

func syncTree(dir string) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() || d.IsDir() {
			paths = append(paths, p)
		}
		if len(paths) > fsyncLimit {
			return errManyFiles
		}
		return nil
	})
	if errors.Is(err, errManyFiles) || errors.Is(err, fs.ErrPermission) {
		return syncFS(dir)
	}
	if err != nil {
		return err
	}
	for _, p := range paths {
		if err := fsyncPath(p); errors.Is(err, fs.ErrPermission) {
			// A file or directory of the image that its owner may not read (mode 0 in a
			// layer, unpacked by a user other than root): the whole file system's sync
			// needs no access to it.
			return syncFS(dir)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// openForSync opens a file or directory to fsync it; tests replace it.
var openForSync = os.Open

func fsyncPath(p string) error {
	f, err := openForSync(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}
