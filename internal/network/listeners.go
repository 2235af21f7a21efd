package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strconv"
	"syscall"
)

// ErrPortInUse is wrapped by Open's error for a host port another socket holds.
var ErrPortInUse = errors.New("port is already allocated")

// ErrPrivilegedPort is wrapped by Open's error for a host port below the
// unprivileged range when berth runs without CAP_NET_BIND_SERVICE.
var ErrPrivilegedPort = errors.New("privileged port")

// Listeners are the host sockets of a container's published ports, opened before the
// container starts.
type Listeners struct {
	files    []*os.File
	mappings []PortMapping
}

// Open opens a host socket for each mapping (a listening TCP socket, a bound UDP one):
// an ephemeral host port gets a port from the kernel, a host port range the first
// free port in it. So the errors a user can fix come before the container starts: a
// port already in use (ErrPortInUse), a privileged port as non-root
// (ErrPrivilegedPort), a host IP this host does not have. On error nothing stays
// open.
//
// The files are for a guest that takes preopened listeners (wasi.Config.WithListeners,
// engine.Spec.Listeners: Go's net.FileListener), in mapping order. For a guest that
// binds its port itself (the WasmEdge socket ABI), pass Mappings to Policy and Close
// the listeners just before the guest starts: the ports are then known to be free and
// the policy maps the guest's bind onto them (see the package Notes for the race this
// leaves).
func Open(ctx context.Context, mappings []PortMapping) (*Listeners, error) {
	l := &Listeners{}
	for _, m := range mappings {
		f, got, err := openOne(ctx, m)
		if err != nil {
			l.Close()
			return nil, err
		}
		l.files = append(l.files, f)
		l.mappings = append(l.mappings, got)
	}
	return l, nil
}

// Files are the open host sockets, one per mapping, in order. They stay the
// Listeners'; Close closes them.
func (l *Listeners) Files() []*os.File { return l.files }

// Mappings are the mappings given to Open, with their host ports chosen (HostPort
// set, HostPortEnd equal to it): what `berth port` shows and Policy takes.
func (l *Listeners) Mappings() []PortMapping { return l.mappings }

// Close closes the host sockets.
func (l *Listeners) Close() error {
	var errs []error
	for _, f := range l.files {
		errs = append(errs, f.Close())
	}
	l.files = nil
	return errors.Join(errs...)
}

// openOne opens m's host socket, trying each port of a range in turn.
func openOne(ctx context.Context, m PortMapping) (*os.File, PortMapping, error) {
	lo, hi := m.HostPort, m.HostPortEnd
	if hi < lo {
		hi = lo
	}
	network := m.Proto
	switch {
	case !m.HostIP.IsValid():
	case m.HostIP.Is4():
		network += "4"
	default:
		network += "6"
	}
	var lc net.ListenConfig
	for port := int(lo); ; port++ {
		host := ""
		if m.HostIP.IsValid() {
			host = m.HostIP.String()
		}
		addr := net.JoinHostPort(host, strconv.Itoa(port))
		f, local, err := listen(ctx, &lc, network, addr)
		if err == nil {
			got := m
			got.HostPort = local.Port()
			got.HostPortEnd = got.HostPort
			return f, got, nil
		}
		if errors.Is(err, syscall.EADDRINUSE) && port < int(hi) {
			continue // the next port of the range
		}
		return nil, m, publishErr(m, port, err)
	}
}

func listen(ctx context.Context, lc *net.ListenConfig, network, addr string) (*os.File, netip.AddrPort, error) {
	type filer interface{ File() (*os.File, error) }
	var c interface {
		filer
		Close() error
	}
	var local net.Addr
	if network[:3] == "tcp" {
		l, err := lc.Listen(ctx, network, addr)
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		c, local = l.(*net.TCPListener), l.Addr()
	} else {
		pc, err := lc.ListenPacket(ctx, network, addr)
		if err != nil {
			return nil, netip.AddrPort{}, err
		}
		c, local = pc.(*net.UDPConn), pc.LocalAddr()
	}
	defer c.Close() // File is a duplicate: the socket stays open through it
	f, err := c.File()
	if err != nil {
		return nil, netip.AddrPort{}, err
	}
	ap, _ := netip.ParseAddrPort(local.String())
	return f, ap, nil
}

func publishErr(m PortMapping, port int, err error) error {
	where := m.HostAddr().Addr().String()
	if !m.HostIP.IsValid() {
		where = "all interfaces"
	}
	what := "host port " + strconv.Itoa(port)
	if m.HostPortEnd > m.HostPort {
		what = fmt.Sprintf("host ports %d-%d", m.HostPort, m.HostPortEnd)
	}
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("publish %s: %s on %s: %w (another program, or another -p, holds it; choose another host port or stop it): %w", m, what, where, ErrPortInUse, err)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("publish %s: %s on %s: %w: ports below net.ipv4.ip_unprivileged_port_start (1024 by default) need root or CAP_NET_BIND_SERVICE; publish on a higher host port instead: %w", m, what, where, ErrPrivilegedPort, err)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("publish %s: %s is not an address of this host: %w", m, where, err)
	}
	return fmt.Errorf("publish %s: %s on %s: %w", m, what, where, err)
}
