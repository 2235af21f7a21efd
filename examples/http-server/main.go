// Command http-server is the Wasm web server of Docker's Wasm demo, for berth: a Go
// program built for GOOS=wasip1 that serves HTTP on :8080 (or the address given as its
// argument), answering "hello from Wasm" on / and "ok" on /healthz. With LISTEN_FDS
// in its environment (systemd's socket-activation variable) it serves the first
// listener its host preopened instead, with Go's own net.FileListener: fd 3 when the
// host preopens no directory, the first socket after the directories under `berth run
// -e LISTEN_FDS=1 -p …` (berth preopens the published ports after the container's
// directories, as wasmtime's --tcplisten does).
//
//	GOOS=wasip1 GOARCH=wasm go build -o examples/http-server/http-server.wasm ./examples/http-server
//	berth build -t http-server:1 examples/http-server
//	berth run -d -p 8080:8080 http-server:1
//	curl localhost:8080
//
// A wasip1 guest cannot open sockets through WASI preview1; it binds its port with
// github.com/stealthrocket/net, which calls the WasmEdge socket extension berth's WASI
// host provides (listen_wasip1.go). Built natively, it is an ordinary Go server
// (listen_other.go), so the two can be compared.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	addr := ":8080"
	if len(os.Args) > 1 {
		addr = os.Args[1]
	}
	var l net.Listener
	var err error
	if os.Getenv("LISTEN_FDS") != "" {
		l, err = preopenedListener()
	} else {
		l, err = listen(addr)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "http-server:", err)
		os.Exit(1)
	}
	fmt.Println("http-server: listening on", l.Addr())
	err = http.Serve(l, handler())
	fmt.Fprintln(os.Stderr, "http-server:", err)
	os.Exit(1)
}

// preopenedListener is the first socket among the preopened descriptors (3, 4, …, up
// to the first that is not open).
func preopenedListener() (net.Listener, error) {
	for fd := uintptr(3); fd < 1024; fd++ {
		f := os.NewFile(fd, "listener")
		fi, err := f.Stat()
		if err != nil {
			break
		}
		if fi.Mode()&os.ModeSocket != 0 {
			return net.FileListener(f)
		}
	}
	return nil, fmt.Errorf("LISTEN_FDS is set but no listener is preopened (publish a port with -p)")
}

// handler serves the two pages.
func handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "hello from Wasm")
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	return mux
}
