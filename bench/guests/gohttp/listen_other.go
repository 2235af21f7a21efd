//go:build !wasip1

package main

import "net"

// listenAddr binds addr with the host's sockets (the native build).
func listenAddr(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
