//go:build berth_core

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// fullBinary is the complete berth the core build hands commands to, in the directory
// of the running executable (symlinks to it followed, as /proc/self/exe does).
const fullBinary = "berth-full"

// delegate execs the complete berth with args, in this process: same pid, stdio,
// environment and signals, so its exit status is berth's. It returns only on failure.
func delegate(args []string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding %s: %w", fullBinary, err)
	}
	full := filepath.Join(filepath.Dir(exe), fullBinary)
	err = syscall.Exec(full, append([]string{full}, args...), os.Environ())
	return fmt.Errorf("this command is carried by %s, the complete berth, which belongs beside berth: running %s: %w (make berth builds both)", fullBinary, full, err)
}
