package shiminstall

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// RestartMode says how `berth shim install` and `uninstall` make containerd load the
// config they changed.
type RestartMode string

const (
	// RestartNone leaves containerd alone: the user restarts it (systemctl restart
	// containerd).
	RestartNone RestartMode = "none"
	// RestartSignal sends SIGTERM to the containerd that serves a socket and waits for
	// its supervisor to start a new one (see RestartBySignal).
	RestartSignal RestartMode = "signal"
)

// ErrRestart: containerd could not be restarted, or did not come back.
var ErrRestart = errors.New("restarting containerd")

// ParseRestartMode reads the value of --restart-containerd.
func ParseRestartMode(s string) (RestartMode, error) {
	switch m := RestartMode(s); m {
	case RestartNone, RestartSignal:
		return m, nil
	}
	return "", fmt.Errorf("%w: unknown mode %q: want %q or %q", ErrRestart, s, RestartNone, RestartSignal)
}

// SocketPeer returns the PID of the process that listens on the unix socket at path,
// as the kernel reports it to a client (SO_PEERCRED), translated into the caller's PID
// namespace.
//
// # Notes
//
//   - The PID is that of the process that called listen(2), so it names the very
//     containerd that serves the socket, whatever else runs on the machine: no process
//     table is searched by name.
//   - A listener outside the caller's PID namespace is reported as PID 0: a pod needs
//     hostPID: true to see (and signal) the node's containerd.
func SocketPeer(path string) (int, error) {
	c, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if credErr != nil {
		return 0, fmt.Errorf("SO_PEERCRED on %s: %w", path, credErr)
	}
	return int(cred.Pid), nil
}

// Restart is the outcome of RestartBySignal.
type Restart struct {
	OldPID, NewPID int
	// Down is how long the socket had no listener: from SIGTERM until the new
	// containerd accepted a connection.
	Down time.Duration
}

// RestartBySignal restarts the containerd serving the unix socket at socket by sending
// it SIGTERM, then waits up to timeout for a new process to serve the socket.
//
// # Notes
//
//   - Nothing here starts containerd: its supervisor does. containerd's own
//     containerd.service (and Debian's) says Restart=always with RestartSec=5, so systemd
//     starts a new containerd about 5 s after this one exits. Where nothing restarts
//     containerd, this waits for timeout and fails, and the node has no containerd
//     until someone starts it: check the supervisor first (systemctl show -p Restart
//     containerd).
//   - containerd exits cleanly on SIGTERM; running containers keep running, each held
//     by its shim, and the new containerd reconnects to the shims.
//   - The process is checked to be named containerd before it is signalled, so a
//     wrong --containerd-socket never kills an unrelated daemon.
//   - procRoot is where the process table is mounted, /proc outside tests.
func RestartBySignal(ctx context.Context, socket, procRoot string, timeout time.Duration) (Restart, error) {
	pid, err := ContainerdPID(socket, procRoot)
	if err != nil {
		return Restart{}, err
	}
	start := time.Now()
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return Restart{}, fmt.Errorf("%w: SIGTERM to containerd (pid %d): %w", ErrRestart, pid, err)
	}
	r := Restart{OldPID: pid}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		// The old process may still hold the socket while it shuts down; a new one
		// has another PID.
		if p, err := SocketPeer(socket); err == nil && p != pid && p > 0 {
			r.NewPID, r.Down = p, time.Since(start)
			return r, nil
		}
		select {
		case <-ctx.Done():
			state := "has exited"
			if alive(procRoot, pid) {
				state = "is still running"
			}
			return r, fmt.Errorf("%w: no new containerd serves %s %v after SIGTERM to pid %d (which %s): is containerd supervised with Restart=always?",
				ErrRestart, socket, timeout, pid, state)
		case <-tick.C:
		}
	}
}

// ContainerdPID returns the PID of the containerd serving the unix socket at socket
// (see SocketPeer), and fails when the process there is not named containerd or is
// not visible. procRoot is where the process table is mounted, /proc outside tests.
func ContainerdPID(socket, procRoot string) (int, error) {
	pid, err := SocketPeer(socket)
	if err != nil {
		return 0, fmt.Errorf("%w: finding the containerd that serves %s: %w", ErrRestart, socket, err)
	}
	if pid <= 0 {
		return 0, fmt.Errorf("%w: the process serving %s is outside this PID namespace (in a pod: set hostPID: true)", ErrRestart, socket)
	}
	name, err := procName(procRoot, pid)
	if err != nil {
		return 0, fmt.Errorf("%w: process %d serving %s: %w", ErrRestart, pid, socket, err)
	}
	if name != "containerd" {
		return 0, fmt.Errorf("%w: process %d serving %s is %q, not containerd: not signalling it (check --containerd-socket)", ErrRestart, pid, socket, name)
	}
	return pid, nil
}

// procName is the command name (comm) of process pid.
func procName(procRoot string, pid int) (string, error) {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// alive tells whether process pid exists and is not a zombie.
func alive(procRoot string, pid int) bool {
	b, err := os.ReadFile(procRoot + "/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
