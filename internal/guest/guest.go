// Package guest is the protocol between the containerd shim and a Wasm container's
// process, berth-guest (cmd/berth-guest, body in package guest/run), which the shim
// starts for each container as runc's shim starts runc's init: the process joins the
// container's network namespace, loads the module of its OCI bundle from berth's compile
// cache, tells the shim it is ready, waits for the start signal and runs the module.
//
// # Notes
//
//   - A separate, small program rather than the shim re-executing itself: a process
//     costs what its binary's code and data touch, and the shim's binary carries
//     containerd's ttrpc, protobuf and gRPC code that a guest never uses. Measured on the
//     idle C guest: 12.4 MB RSS re-executing the shim, 7.1 MB as its own program; this
//     package, which the shim imports, links no engine for the same reason.
//   - The protocol with the shim is two pipes after stdio: fd 3 (the shim writes one byte
//     to start; EOF means "never start") and fd 4 (the process writes one line, "ok" or
//     "error: <message>", when it is created).
package guest

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Binary is the program's name; the shim looks for it next to itself, then on PATH.
const Binary = "berth-guest"

// Modes, the program's first argument; the second, when given, is the network
// namespace to join.
const (
	ModeGuest   = "guest"   // runs the container's module
	ModeSandbox = "sandbox" // holds a pod sandbox: joins its namespaces, waits to be killed
)

// File descriptors the shim passes to the process, after stdio.
const (
	FdStart  = 3 // read end: one byte means "start", EOF means "never start"
	FdStatus = 4 // write end: one line, "ok" or "error: <message>", once created
)

// ReadSpec reads a bundle's config.json.
func ReadSpec(dir string) (*specs.Spec, error) {
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("reading the bundle's config.json: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parsing %s: %w", filepath.Join(dir, "config.json"), err)
	}
	return &s, nil
}

// NetnsPath is the network namespace config.json names, "" for none (the shim's own).
// The shim passes it to berth-guest as its second argument, so that the process need
// not parse config.json for it before runtime.Load parses it for the module.
func NetnsPath(s *specs.Spec) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}

// JoinNetns moves the calling thread into the network namespace at path p (see
// NetnsPath); "" leaves it where it is. A network namespace without a path in the spec
// asks for a new, empty one: the guest gets no network, which it has anyway (no sockets
// but preopened ones) until the networking work; it stays in the shim's namespace.
func JoinNetns(p string) error {
	if p == "" {
		return nil
	}
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the network namespace %s: %w", p, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining the network namespace %s: %w", p, err)
	}
	return nil
}

// ReadStatus reads the process's one status line: nil for "ok", else what went wrong.
func ReadStatus(r io.Reader) error {
	line, err := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	switch {
	case line == "ok":
		return nil
	case strings.HasPrefix(line, "error: "):
		return errors.New(strings.TrimPrefix(line, "error: "))
	case err != nil:
		return fmt.Errorf("the container process ended before it was created: %w", err)
	default:
		return fmt.Errorf("the container process said %q", line)
	}
}
