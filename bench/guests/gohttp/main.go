// Command gohttp is the HTTP server of bench/httpbench. It serves a short text on the
// listening socket it inherits as fd 3, taken with net.FileListener as a wasip1 guest
// takes a listener its host preopens, so the native and the wasip1 builds run the same
// code. With an address argument it binds that address itself instead: natively with
// net.Listen, as a wasip1 guest with github.com/stealthrocket/net (the WasmEdge socket
// ABI).
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	var l net.Listener
	var err error
	if len(os.Args) > 1 {
		l, err = listenAddr(os.Args[1])
	} else {
		l, err = net.FileListener(os.NewFile(3, "listener"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gohttp:", err)
		os.Exit(1)
	}
	body := []byte("hello from go\n")
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	}))
	fmt.Fprintln(os.Stderr, "gohttp:", err)
	os.Exit(1)
}
