// Package paths names berth's places on disk, so that the CLI and the containerd shim,
// two programs started by different parents, agree on them.
package paths

import (
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
)

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

// DefaultState is the state directory, for what does not outlive a reboot (the
// containers of `run --rm`): $BERTH_STATE, else /run/berth for root and
// $XDG_RUNTIME_DIR/berth for other users. It is "" for a user without XDG_RUNTIME_DIR,
// which StateFor reads as ROOT/state.
//
// # Notes
//
//   - As containerd keeps /run/containerd apart from /var/lib/containerd: /run is a
//     tmpfs on a standard host, so the files of a short-lived container cost no disk
//     I/O and a reboot clears what a crash left behind (see docs/rationale.md).
func DefaultState(getenv func(string) string, uid int) string {
	if s := getenv("BERTH_STATE"); s != "" {
		return s
	}
	if uid == 0 {
		return "/run/berth"
	}
	if x := getenv("XDG_RUNTIME_DIR"); x != "" {
		return filepath.Join(x, "berth")
	}
	return ""
}

// StateFor is the directory of the data root root's state in the state directory
// state: STATE/<first 16 hex digits of the sha256 of root's absolute path>, or
// ROOT/state when state is "".
//
// # Notes
//
//   - Every data root shares the one default state directory (/run/berth for root),
//     while a test or a benchmark may use a data root of its own: a subdirectory per
//     root keeps one root's containers out of another's `ps` and names.
func StateFor(state, root string) string {
	abs, err := filepath.Abs(root)
	if err != nil {
		abs = filepath.Clean(root)
	}
	if state == "" {
		return filepath.Join(abs, "state")
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(state, hex.EncodeToString(sum[:8]))
}
