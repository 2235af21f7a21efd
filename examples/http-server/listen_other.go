//go:build !wasip1

package main

import "net"

// listen binds addr with the host's sockets (a native build).
func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
