//go:build wasip1

package main

import (
	"net"

	"github.com/stealthrocket/net/wasip1"
)

// listenAddr binds addr itself through the WasmEdge socket ABI (sock_open, sock_bind,
// sock_listen), as github.com/stealthrocket/net guests do.
func listenAddr(addr string) (net.Listener, error) { return wasip1.Listen("tcp", addr) }
