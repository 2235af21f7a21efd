//go:build wasip1

package main

import (
	"net"

	"github.com/stealthrocket/net/wasip1"
)

// listen binds addr through the WasmEdge socket extension (sock_open, sock_bind,
// sock_listen): wasip1 has no other way for a guest to open a listening socket.
func listen(addr string) (net.Listener, error) { return wasip1.Listen("tcp", addr) }
