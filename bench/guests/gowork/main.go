// Command gowork measures, without any I/O, the two kinds of work a Go HTTP server's
// request costs besides its system calls, so that a wasip1 build and a native build of
// the same code can be compared per operation:
//
//   - http: net/http parsing one keep-alive GET request from memory and writing a
//     response's status line and headers (with the Date header) into memory;
//
//   - switch: one round trip between two goroutines over unbuffered channels (two
//     goroutine switches), what a server does when a connection's goroutine parks
//     on a read and another runs.
//
// Build both and run them:
//
//	GOOS=wasip1 GOARCH=wasm go build -o gowork.wasm ./bench/guests/gowork
//	go build -o gowork-native ./bench/guests/gowork
//	go run ./bench/baseline CACHE_DIR gowork.wasm   # twice: the first run compiles
//	GOMAXPROCS=1 ./gowork-native                    # a wasip1 guest has one thread
//
// It prints the time per operation of each, best of a few repetitions.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"
)

const request = "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n"

func main() {
	const reps = 5
	for _, w := range []struct {
		name string
		n    int
		run  func(n int) error
	}{
		{"http", 20000, httpWork},
		{"switch", 50000, switchWork},
	} {
		best := time.Duration(1<<63 - 1)
		for range reps {
			t := time.Now()
			if err := w.run(w.n); err != nil {
				fmt.Fprintln(os.Stderr, "gowork:", err)
				os.Exit(1)
			}
			best = min(best, time.Since(t))
		}
		fmt.Printf("%-6s %8.2f µs/op (best of %d × %d)\n", w.name, float64(best)/float64(w.n)/1e3, reps, w.n)
	}
}

// httpWork parses the request and writes a response head, n times.
func httpWork(n int) error {
	var out bytes.Buffer
	for range n {
		r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(request)))
		if err != nil {
			return err
		}
		out.Reset()
		h := http.Header{}
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		fmt.Fprintf(&out, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n", len(r.URL.Path))
		if err := h.Write(&out); err != nil {
			return err
		}
	}
	return nil
}

// switchWork makes n round trips between this goroutine and another.
func switchWork(n int) error {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	for i := range n {
		ping <- i
		if v := <-pong; v != i {
			return fmt.Errorf("round trip %d came back as %d", i, v)
		}
	}
	close(ping)
	<-pong
	return nil
}
