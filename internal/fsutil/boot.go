package fsutil

import (
	"bytes"
	"errors"
	"fmt"
	"os"
)

// bootIDFile is where Linux gives the current boot's random ID.
const bootIDFile = "/proc/sys/kernel/random/boot_id"

// BootID returns the ID of the running kernel's boot: a random UUID Linux draws at each
// boot. Two reads return the same ID only if no reboot came between them.
//
// # Notes
//
//   - It tells whether unsynced writes can still be trusted. Data written and not
//     synced is lost only by a crash or power loss, and either means a new boot: files
//     a process of this boot wrote are whole for every later reader of this boot, synced
//     or not (the page cache serves them). A record that carries the ID of the boot that
//     wrote it can therefore be taken as whole while the ID is the current one, and be
//     checked or rebuilt once it is not (see the snapshots of internal/service).
//   - Elsewhere than Linux, or without /proc, it returns an error: callers then sync.
func BootID() (string, error) { return readBootID(bootIDFile) }

func readBootID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading the boot ID: %w", err)
	}
	id := string(bytes.TrimSpace(b))
	if id == "" {
		return "", fmt.Errorf("reading the boot ID: %s is empty", path)
	}
	if len(id) > 64 {
		return "", errors.New("reading the boot ID: " + path + " holds more than an ID")
	}
	return id, nil
}
