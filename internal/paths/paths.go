// Package paths names berth's places on disk, so that the CLI and the containerd shim,
// two programs started by different parents, agree on them.
package paths

import "path/filepath"

// DefaultRoot is the data root: $BERTH_ROOT, else /var/lib/berth for root and
// $XDG_DATA_HOME/berth (default ~/.local/share/berth) for other users.
//
// # Notes
//
//   - containerd starts the shim with containerd's own environment, so a containerd
//     started with BERTH_ROOT set shares that root's compile cache with the CLI.
func DefaultRoot(getenv func(string) string, uid int) string {
	if r := getenv("BERTH_ROOT"); r != "" {
		return r
	}
	if uid == 0 {
		return "/var/lib/berth"
	}
	if x := getenv("XDG_DATA_HOME"); x != "" {
		return filepath.Join(x, "berth")
	}
	return filepath.Join(getenv("HOME"), ".local", "share", "berth")
}

// CompileCache is the directory of compiled modules under a data root.
func CompileCache(root string) string { return filepath.Join(root, "cache", "compiled") }
