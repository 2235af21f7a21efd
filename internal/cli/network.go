package cli

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/network"
	"github.com/berth-dev/berth/internal/service"
)

// netFlags are run's network flags: -p, -P, --network, --allow-host, --deny-host.
type netFlags struct {
	publish     []string
	publishAll  bool
	mode        string
	allow, deny []string
}

func (n *netFlags) add(f *pflag.FlagSet) {
	f.StringArrayVarP(&n.publish, "publish", "p", nil, "publish a container's port on the host: [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]")
	f.BoolVarP(&n.publishAll, "publish-all", "P", false, "publish every port the image exposes on an ephemeral host port")
	f.StringVar(&n.mode, "network", "default", "network mode: default (published ports only reach the guest), host (the guest binds what it asks) or none")
	f.StringArrayVar(&n.allow, "allow-host", nil, "allow outbound traffic only to these hosts (name, *.name, IP or CIDR, with :PORT or :PORT-PORT); repeatable")
	f.StringArrayVar(&n.deny, "deny-host", nil, "block outbound traffic to these hosts (same syntax as --allow-host); wins over --allow-host")
}

// options parses the flags; errors name the flag and wrap ErrBadSpec.
func (n *netFlags) options() (service.NetworkOptions, error) {
	var o service.NetworkOptions
	mode, err := network.ParseMode(n.mode)
	if err != nil {
		return o, fmt.Errorf("%w: --network: %w", ErrBadSpec, err)
	}
	o.Mode, o.PublishAll = mode, n.publishAll
	for _, p := range n.publish {
		ms, err := network.ParsePort(p)
		if err != nil {
			return o, fmt.Errorf("%w: -p: %w", ErrBadSpec, err)
		}
		o.Publish = append(o.Publish, ms...)
	}
	if o.Allow, err = network.ParseHostRules("--allow-host", n.allow); err != nil {
		return o, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	if o.Deny, err = network.ParseHostRules("--deny-host", n.deny); err != nil {
		return o, fmt.Errorf("%w: %w", ErrBadSpec, err)
	}
	return o, nil
}

// binding is one published port as docker shows it: the container port ("8080/tcp")
// and a host address it is reached at.
type binding struct {
	port   string // "8080/tcp"
	hostIP string // "0.0.0.0", "::", "127.0.0.1"; "" in PortBindings for every interface
	host   string // HOSTPORT
}

// bindings are the published ports of c as recorded, sorted by container port and
// protocol; every interface shows as docker shows it, once as 0.0.0.0 and once as
// "::" (the socket is dual-stack). requested keeps the host IP as given ("" for
// every interface), as docker's HostConfig.PortBindings.
func bindings(c *container.Container, requested bool) []binding {
	var out []binding
	for _, p := range c.HostConfig.PublishedPorts {
		ms, err := network.ParsePort(p)
		if err != nil {
			continue // a record berth did not write
		}
		for _, m := range ms {
			port := strconv.Itoa(int(m.ContainerPort)) + "/" + m.Proto
			host := strconv.Itoa(int(m.HostPort))
			switch {
			case m.HostIP.IsValid():
				out = append(out, binding{port, m.HostIP.String(), host})
			case requested:
				out = append(out, binding{port, "", host})
			default:
				out = append(out, binding{port, "0.0.0.0", host}, binding{port, "::", host})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b binding) int {
		pa, pb := portNum(a.port), portNum(b.port)
		if pa != pb {
			return pa - pb
		}
		return strings.Compare(a.port, b.port)
	})
	return out
}

func portNum(p string) int {
	n, _ := strconv.Atoi(strings.SplitN(p, "/", 2)[0])
	return n
}

// hostAddr is HOSTIP:HOSTPORT with an IPv6 address in brackets, as docker prints it.
func (b binding) hostAddr() string {
	if a, err := netip.ParseAddr(b.hostIP); err == nil && a.Is6() {
		return "[" + b.hostIP + "]:" + b.host
	}
	return b.hostIP + ":" + b.host
}

// portsColumn is ps's PORTS of c: its published ports while it runs, as docker's
// "0.0.0.0:8080->8080/tcp, [::]:8080->8080/tcp".
func portsColumn(c *container.Container) string {
	if !c.State.Running {
		return ""
	}
	var parts []string
	for _, b := range bindings(c, false) {
		parts = append(parts, b.hostAddr()+"->"+b.port)
	}
	return strings.Join(parts, ", ")
}

// portBindingJSON is one host binding in inspect, docker's shape.
type portBindingJSON struct {
	HostIP   string `json:"HostIp"`
	HostPort string
}

// portMap is docker's nat.PortMap: "8080/tcp" → its host bindings.
func portMap(bs []binding) map[string][]portBindingJSON {
	m := map[string][]portBindingJSON{}
	for _, b := range bs {
		m[b.port] = append(m[b.port], portBindingJSON{HostIP: b.hostIP, HostPort: b.host})
	}
	return m
}

// networkSettingsJSON is inspect's NetworkSettings: the ports a running container
// is reached at (empty once it stops, as docker's).
type networkSettingsJSON struct {
	Ports map[string][]portBindingJSON
}

func networkSettings(c *container.Container) networkSettingsJSON {
	if !c.State.Running {
		return networkSettingsJSON{Ports: map[string][]portBindingJSON{}}
	}
	return networkSettingsJSON{Ports: portMap(bindings(c, false))}
}

func (a *App) portCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List port mappings or a specific mapping for the container",
		Args:  rangeArgs(1, 2, "CONTAINER [PRIVATE_PORT[/PROTO]]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			var want string
			if len(args) == 2 {
				port, proto, _ := strings.Cut(args[1], "/")
				if proto == "" {
					proto = "tcp"
				}
				n, err := strconv.ParseUint(port, 10, 16)
				if err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
					return fmt.Errorf("%w: %q: give PRIVATE_PORT[/PROTO], e.g. 8080 or 53/udp", ErrBadSpec, args[1])
				}
				want = strconv.FormatUint(n, 10) + "/" + proto
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				c, err := s.Container(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				var bs []binding
				if c.State.Running {
					bs = bindings(c, false)
				}
				found := false
				for _, b := range bs {
					switch {
					case want == "":
						fmt.Fprintf(a.Stdout, "%s -> %s\n", b.port, b.hostAddr())
					case b.port == want:
						fmt.Fprintln(a.Stdout, b.hostAddr())
						found = true
					}
				}
				if want != "" && !found {
					return fmt.Errorf("no public port '%s' published for %s", want, c.Name)
				}
				return nil
			})
		},
	}
}

// rangeArgs accepts min to max arguments.
func rangeArgs(min, max int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < min || len(args) > max {
			return fmt.Errorf("%q requires %d to %d arguments: %s\nSee '%s --help'.", cmd.CommandPath(), min, max, names, cmd.CommandPath())
		}
		return nil
	}
}
