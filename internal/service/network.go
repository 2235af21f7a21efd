package service

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/network"
)

// NetworkOptions are the network flags of `berth run`.
type NetworkOptions struct {
	// Mode is `--network` ("" is network.ModeDefault).
	Mode network.Mode
	// Publish are the `-p` mappings, as parsed (host ports may be ephemeral or ranges).
	Publish []network.PortMapping
	// PublishAll is `-P`: every port the image exposes, on an ephemeral host port.
	PublishAll bool
	// Allow and Deny are `--allow-host` and `--deny-host`.
	Allow, Deny []network.HostRule
}

// hostCheckTimeout bounds the look-up of an allow list's names before a container
// starts.
const hostCheckTimeout = 5 * time.Second

// openNetwork checks a new container's network options and opens its published
// ports, before anything of the container exists, so that every error a user can fix
// (a port in use, a privileged port, a conflict of flags, an allow-listed name that
// does not resolve) leaves nothing behind. It returns the options with their host
// ports chosen, and the open sockets (nil when nothing is published), which the
// caller owns.
//
// # Notes
//
//   - The sockets opened here are the ones a foreground guest gets (or whose ports it
//     binds), so nothing can take a port between the check and the run. A detached
//     container's guest runs in berth-guest, which opens the same host ports again
//     when its shim creates it (from the spec's annotations); the caller closes these
//     just before. See docs/rationale.md, "Published ports of detached containers".
//   - `--network host` discards published ports with Docker's warning, on stderr.
func (s *Service) openNetwork(ctx context.Context, n NetworkOptions, cfg image.Config, stderr io.Writer) (network.Options, *network.Listeners, error) {
	o := network.Options{Mode: n.Mode, Allow: n.Allow, Deny: n.Deny}
	if o.Mode == "" {
		o.Mode = network.ModeDefault
	}
	ports := n.Publish
	if n.PublishAll {
		exposed, err := network.ExposedPorts(cfg.ExposedPorts)
		if err != nil {
			return o, nil, fmt.Errorf("-P: %w", err)
		}
		ports = append(ports[:len(ports):len(ports)], exposed...)
	}
	switch o.Mode {
	case network.ModeNone:
		o.Ports = ports // Policy refuses them with a clear error
		if _, err := network.Policy(o); err != nil {
			return o, nil, err
		}
		o.Ports = nil
	case network.ModeHost:
		if len(ports) > 0 && stderr != nil {
			fmt.Fprintln(stderr, "WARNING: Published ports are discarded when using host network mode")
		}
		ports = nil
	}
	if len(o.Allow) > 0 {
		cctx, cancel := context.WithTimeout(ctx, hostCheckTimeout)
		err := network.CheckHosts(cctx, net.DefaultResolver, o.Allow)
		cancel()
		if err != nil {
			return o, nil, err
		}
	}
	var ls *network.Listeners
	if len(ports) > 0 {
		var err error
		if ls, err = network.Open(ctx, ports); err != nil {
			return o, nil, err
		}
		o.Ports = ls.Mappings()
	}
	if _, err := network.Policy(o); err != nil {
		if ls != nil {
			ls.Close()
		}
		return o, nil, err
	}
	return o, ls, nil
}

// recordNetwork puts a container's network options into its record.
func recordNetwork(c *container.Container, o network.Options) {
	c.HostConfig.NetworkMode = string(o.Mode)
	c.HostConfig.PublishedPorts = nil
	for _, m := range o.Ports {
		c.HostConfig.PublishedPorts = append(c.HostConfig.PublishedPorts, m.String())
	}
}
