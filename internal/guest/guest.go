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
//   - The protocol with the shim is two pipes after stdio: fd 3, on which the shim
//     writes one byte (Placed) once the process is in the container's cgroup, and one
//     more to start it (EOF means "never start"); and fd 4, on which the process writes
//     one line, "ok" or "error: <message>", when it is created. The process loads
//     nothing before the first byte: memory it touched before the shim moved it would
//     stay charged outside the container's cgroup, beyond its memory limit (a pod's
//     limits.memory). What is charged outside is the Go runtime's start, ~1 MB.
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
// namespace to join or guest.NewNetns (see Netns).
const (
	ModeGuest   = "guest"   // runs the container's module
	ModeSandbox = "sandbox" // holds a pod sandbox: joins its namespaces, waits to be killed
)

// File descriptors the shim passes to the process, after stdio.
const (
	FdStart  = 3 // read end: Placed, then one byte to start; EOF means "never start"
	FdStatus = 4 // write end: one line, "ok" or "error: <message>", once created
)

// Placed is the first byte on FdStart: the process is in the container's cgroup (or
// the container has none) and may load the module.
const Placed = 'p'

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

// NewNetns is berth-guest's second argument when the container gets a network
// namespace of its own (see Netns).
const NewNetns = "new"

// Netns is what config.json asks of the container's network namespace, as berth-guest's
// second argument (see JoinNetns): "" when it lists none (the guest stays in the shim's
// namespace, as runc leaves such a process in its own), the path it names, or NewNetns
// when it lists one without a path. The shim passes it so that the process need not
// parse config.json for it before runtime.Load parses it for the module.
func Netns(s *specs.Spec) string {
	if s.Linux == nil {
		return ""
	}
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			if ns.Path == "" {
				return NewNetns
			}
			return ns.Path
		}
	}
	return ""
}

// JoinNetns moves the calling thread into the network namespace that arg names (see
// Netns): "" leaves it where it is, an absolute path is joined, and NewNetns makes a
// new namespace with its loopback up, as runc does for a namespace without a path.
// Docker 29 asks for that: it lets the runtime create the namespace, then configures
// /proc/<task pid>/ns/net (its veth and address) between Create and Start.
func JoinNetns(arg string) error {
	switch {
	case arg == "":
		return nil
	case arg == NewNetns:
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("creating the container's network namespace: %w", err)
		}
		if err := loopbackUp(); err != nil {
			return fmt.Errorf("bringing up lo in the container's new network namespace: %w", err)
		}
		return nil
	case !filepath.IsAbs(arg):
		return fmt.Errorf("network namespace %q: want an absolute path or %q", arg, NewNetns)
	}
	fd, err := unix.Open(arg, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening the network namespace %s: %w", arg, err)
	}
	defer unix.Close(fd)
	if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("joining the network namespace %s: %w", arg, err)
	}
	return nil
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
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
