package wasi

// sockFuncs are preview1's socket functions: sock_accept, sock_recv, sock_send,
// sock_shutdown.
func sockFuncs() []Func { return nil }

// sockState is what the System knows of a socket fd.
type sockState struct {
	listener bool
	edge     *edgeSock // WasmEdge extension state, nil when unused (wasmedge.go)
}
