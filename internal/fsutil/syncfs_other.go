//go:build !linux

package fsutil

import (
	"io/fs"
	"path/filepath"
)

func syncFS(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() && !d.IsDir() {
			return nil
		}
		return fsyncPath(p)
	})
}
