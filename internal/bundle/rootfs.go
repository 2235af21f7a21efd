package bundle

import (
	"os"
	"path"
	"strings"
)

// ReadRootFile reads the file at the container path p ("/app.wasm") inside rootfs,
// through an os.Root: a symlink in the path cannot make it read a host file.
func ReadRootFile(rootfs, p string) ([]byte, error) {
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return r.ReadFile(rootRel(p))
}

// RootFileExists reports whether the container path p names a non-directory inside
// rootfs, resolving it the way ReadRootFile does.
func RootFileExists(rootfs, p string) bool {
	r, err := os.OpenRoot(rootfs)
	if err != nil {
		return false
	}
	defer r.Close()
	fi, err := r.Lstat(rootRel(p))
	return err == nil && !fi.IsDir()
}

func rootRel(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// HasEnv reports whether env ("KEY=VALUE" entries) sets key.
func HasEnv(env []string, key string) bool {
	for _, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			return true
		}
	}
	return false
}
