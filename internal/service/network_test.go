package service

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/network"
)

func ports(t *testing.T, specs ...string) []network.PortMapping {
	t.Helper()
	var out []network.PortMapping
	for _, s := range specs {
		ms, err := network.ParsePort(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ms...)
	}
	return out
}

// openNetwork resolves -p and -P into concrete host ports it holds open, discards
// published ports in host mode with docker's warning, and refuses what cannot work
// before anything exists.
func TestOpenNetwork(t *testing.T) {
	ctx := context.Background()
	s := &Service{}
	exposes := image.Config{ExposedPorts: map[string]struct{}{"8080/tcp": {}, "53/udp": {}}}

	var warn bytes.Buffer
	o, ls, err := s.openNetwork(ctx, NetworkOptions{Publish: ports(t, "127.0.0.1::9000"), PublishAll: true}, exposes, &warn)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Ports) != 3 || o.Mode != network.ModeDefault || warn.Len() != 0 {
		t.Fatalf("-p 127.0.0.1::9000 -P: %+v, warning %q", o, warn.String())
	}
	for _, m := range o.Ports {
		if m.HostPort == 0 || m.HostPortEnd != m.HostPort {
			t.Errorf("mapping %s has no host port chosen", m)
		}
	}
	held := o.Ports[0].HostAddr().String() // 127.0.0.1:N, open until ls closes
	if l, err := net.Listen("tcp", held); err == nil {
		l.Close()
		t.Errorf("%s is free while openNetwork's sockets are open", held)
	}
	c := &container.Container{}
	recordNetwork(c, o)
	if c.HostConfig.NetworkMode != "default" || len(c.HostConfig.PublishedPorts) != 3 ||
		c.HostConfig.PublishedPorts[0] != "127.0.0.1:"+strconv.Itoa(int(o.Ports[0].HostPort))+":9000/tcp" {
		t.Errorf("record: %+v", c.HostConfig)
	}
	ls.Close()

	o, ls, err = s.openNetwork(ctx, NetworkOptions{Mode: network.ModeHost, Publish: ports(t, "8080")}, image.Config{}, &warn)
	if err != nil || ls != nil || len(o.Ports) != 0 || !strings.Contains(warn.String(), "Published ports are discarded when using host network mode") {
		t.Errorf("--network host -p 8080: %+v, %v, %v, warning %q", o, ls, err, warn.String())
	}

	if _, _, err := s.openNetwork(ctx, NetworkOptions{Mode: network.ModeNone, PublishAll: true}, exposes, nil); !errors.Is(err, network.ErrConflict) {
		t.Errorf("--network none -P of an image exposing ports: %v, want ErrConflict", err)
	}
	if o, ls, err := s.openNetwork(ctx, NetworkOptions{Mode: network.ModeNone, PublishAll: true}, image.Config{}, nil); err != nil || ls != nil || o.Mode != network.ModeNone {
		t.Errorf("--network none -P of an image exposing nothing: %+v, %v", o, err)
	}
	bad := image.Config{ExposedPorts: map[string]struct{}{"80/sctp": {}}}
	if _, _, err := s.openNetwork(ctx, NetworkOptions{PublishAll: true}, bad, nil); !errors.Is(err, network.ErrInvalidPort) {
		t.Errorf("-P of an image exposing 80/sctp: %v, want ErrInvalidPort", err)
	}
}
