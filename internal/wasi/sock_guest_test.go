package wasi_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/testguest"
)

// tcpListener is a loopback TCP listener and its file, both closed at the test's end.
func tcpListener(t testing.TB) (net.Listener, *os.File) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f, err := l.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return l, f
}

// cSockGuest serves its preopened listener (fd 3) with the preview1 socket calls,
// checking their errnos: it waits in poll_oneoff for a connection on the non-blocking
// listener, accepts it, peeks and reads a request, answers it upper-cased, then shuts
// down its side and waits for the client's end of stream.
const cSockGuest = `#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wasi/api.h>

` + cCheck + `
int main(void) {
	__wasi_fd_t fd = 0;
	__wasi_size_t n;
	__wasi_roflags_t ro;
	__wasi_fdstat_t st;

	CHECK(__wasi_fd_fdstat_get(3, &st) == 0 && st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM);
	CHECK(st.fs_flags == __WASI_FDFLAGS_NONBLOCK);
	CHECK(__wasi_sock_accept(3, 0, &fd) == __WASI_ERRNO_AGAIN);
	CHECK(__wasi_sock_accept(99, 0, &fd) == __WASI_ERRNO_BADF);
	CHECK(__wasi_sock_accept(1, 0, &fd) == __WASI_ERRNO_NOTSOCK);
	CHECK(__wasi_sock_accept(3, __WASI_FDFLAGS_APPEND, &fd) == __WASI_ERRNO_INVAL);
	CHECK(__wasi_sock_shutdown(1, __WASI_SDFLAGS_RD) == __WASI_ERRNO_NOTSOCK);
	CHECK(__wasi_sock_shutdown(99, __WASI_SDFLAGS_RD) == __WASI_ERRNO_BADF);
	say(1, "ready\n");

	// Wait until the test connects.
	__wasi_subscription_t sub;
	__wasi_event_t ev;
	memset(&sub, 0, sizeof sub);
	sub.userdata = 7;
	sub.u.tag = __WASI_EVENTTYPE_FD_READ;
	sub.u.u.fd_read.file_descriptor = 3;
	CHECK(__wasi_poll_oneoff(&sub, &ev, 1, &n) == 0);
	CHECK(n == 1 && ev.userdata == 7 && ev.error == 0 && ev.type == __WASI_EVENTTYPE_FD_READ);
	CHECK(__wasi_sock_accept(3, 0, &fd) == 0);
	CHECK(fd == 4);
	CHECK(__wasi_fd_fdstat_get(fd, &st) == 0 && st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM && st.fs_flags == 0);

	// The client sends "hello, " then "world" (12 bytes): wait for all of it.
	char a[7], b[16];
	__wasi_iovec_t iov[2] = {{(uint8_t *)a, sizeof a}, {(uint8_t *)b, 5}};
	CHECK(__wasi_sock_recv(fd, iov, 1, __WASI_RIFLAGS_RECV_PEEK, &n, &ro) == 0 && n >= 1 && ro == 0);
	CHECK(__wasi_sock_recv(fd, iov, 2, __WASI_RIFLAGS_RECV_WAITALL, &n, &ro) == 0);
	CHECK(n == 12 && memcmp(a, "hello, ", 7) == 0 && memcmp(b, "world", 5) == 0);
	CHECK(__wasi_sock_recv(fd, iov, 1, 4, &n, &ro) == __WASI_ERRNO_INVAL);

	for (int i = 0; i < 7; i++) a[i] = toupper(a[i]);
	for (int i = 0; i < 5; i++) b[i] = toupper(b[i]);
	__wasi_ciovec_t ciov[2] = {{(const uint8_t *)a, 7}, {(const uint8_t *)b, 5}};
	CHECK(__wasi_sock_send(fd, ciov, 2, 1, &n) == __WASI_ERRNO_INVAL);
	CHECK(__wasi_sock_send(fd, ciov, 2, 0, &n) == 0 && n == 12);
	CHECK(__wasi_sock_shutdown(fd, 0) == __WASI_ERRNO_INVAL);
	CHECK(__wasi_sock_shutdown(fd, __WASI_SDFLAGS_WR) == 0);
	// After SHUT_WR, sending is EPIPE (and no SIGPIPE takes the host down).
	CHECK(__wasi_sock_send(fd, ciov, 1, 0, &n) == __WASI_ERRNO_PIPE);
	// The libc wrappers: recv() sees the client's end of stream.
	CHECK(recv(fd, b, sizeof b, 0) == 0);
	CHECK(close(fd) == 0);
	say(1, "ok\n");
	return 0;
}
`

func TestSockGuestC(t *testing.T) {
	wasm := testguest.Read(t, testguest.C(t, cSockGuest))
	eng := newBerthEngine(t)
	l, lf := tcpListener(t)
	var errb bytes.Buffer
	done := blockedGuest(t, eng, context.Background(), engine.Spec{
		Module: wasm, Args: []string{"sock"}, Stderr: &errb, Listeners: []*os.File{lf},
	})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello, "))
	time.Sleep(20 * time.Millisecond)
	c.Write([]byte("world"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c) // to the guest's SHUT_WR
	if err != nil || string(got) != "HELLO, WORLD" {
		t.Errorf("client read %q, %v; want \"HELLO, WORLD\"", got, err)
	}
	c.(*net.TCPConn).CloseWrite()
	res := <-done
	if res.err != nil || res.code != 0 {
		t.Fatalf("guest: exit %d, %v; stderr %q", res.code, res.err, errb.String())
	}
}

// goHTTPGuest serves HTTP on the listener berth preopens, as a Go program takes it:
// net.FileListener on fd 3 (no mounts before it).
const goHTTPGuest = `package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
)

func main() {
	l, err := net.FileListener(os.NewFile(3, "listener"))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	fmt.Println("ready")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from wasm: %s", r.URL.Path)
	})
	err = http.Serve(l, nil)
	fmt.Println(err)
	os.Exit(1)
}
`

// TestSockGuestGoHTTP runs a Go HTTP server guest on a preopened listener: it answers
// requests (several, on kept-alive and on new connections), uses no CPU while idle, and
// stops within 100 ms of the cancel.
func TestSockGuestGoHTTP(t *testing.T) {
	wasm := testguest.Read(t, testguest.Go(t, goHTTPGuest))
	eng := newBerthEngine(t)
	l, lf := tcpListener(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := blockedGuest(t, eng, ctx, engine.Spec{Module: wasm, Args: []string{"http"}, Listeners: []*os.File{lf}})

	url := "http://" + l.Addr().String()
	for i := range 20 {
		client := http.DefaultClient
		if i%2 == 1 {
			client = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
		}
		path := fmt.Sprintf("/req/%d", i)
		resp, err := client.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != "hello from wasm: "+path {
			t.Fatalf("GET %s: %d %q %v", path, resp.StatusCode, body, err)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	if !testing.Short() {
		time.Sleep(200 * time.Millisecond)
		before := cpuTime(t)
		time.Sleep(2 * time.Second)
		used := cpuTime(t) - before
		t.Logf("CPU time over 2 s idle: %v", used)
		if used > 50*time.Millisecond {
			t.Errorf("idle HTTP guest used %v of CPU in 2 s, want < 50ms", used)
		}
	}

	cancel()
	start := time.Now()
	select {
	case res := <-done:
		if res.err != nil || res.code != 143 {
			t.Errorf("Run = %d, %v; want 143", res.code, res.err)
		}
		if took := time.Since(start); took > stopBound {
			t.Errorf("guest ended %v after the cancel, want < %v", took, time.Duration(stopBound))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("guest still running 5 s after the cancel")
	}
}
