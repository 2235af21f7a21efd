package wasi_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/testguest"
)

// cCheck is the C guests' CHECK(cond): on failure it prints the line and the condition
// on stderr and exits 1. It uses write(2) only: stdio's FILE streams would import fd_seek,
// which these tests do not need. The guest includes <string.h> and <unistd.h> before it.
const cCheck = `static void say(int fd, const char *s) { write(fd, s, strlen(s)); }
static void fail(int line, const char *what) {
	char num[12];
	int i = sizeof num;
	num[--i] = 0;
	do { num[--i] = '0' + line % 10; line /= 10; } while (line);
	say(2, "line ");
	say(2, num + i);
	say(2, ": ");
	say(2, what);
	say(2, "\n");
	_Exit(1);
}
#define CHECK(c) do { if (!(c)) fail(__LINE__, #c); } while (0)
`

// cPollGuest exercises poll_oneoff from C: argv[1] picks a check, which exits 0 having
// printed "ok", or 1 having printed what failed. The blocking modes print "ready" then
// block: in a sleep, a read of stdin, or a poll for a connection on fd 3.
const cPollGuest = `#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <wasi/api.h>

` + cCheck + `
static __wasi_timestamp_t mono(void) {
	__wasi_timestamp_t t;
	CHECK(__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1, &t) == 0);
	return t;
}

static __wasi_subscription_t clock_sub(__wasi_userdata_t ud, __wasi_clockid_t id, __wasi_timestamp_t timeout, __wasi_subclockflags_t flags) {
	__wasi_subscription_t s;
	memset(&s, 0, sizeof s);
	s.userdata = ud;
	s.u.tag = __WASI_EVENTTYPE_CLOCK;
	s.u.u.clock.id = id;
	s.u.u.clock.timeout = timeout;
	s.u.u.clock.flags = flags;
	return s;
}

static __wasi_subscription_t fd_sub(__wasi_userdata_t ud, __wasi_eventtype_t tag, __wasi_fd_t fd) {
	__wasi_subscription_t s;
	memset(&s, 0, sizeof s);
	s.userdata = ud;
	s.u.tag = tag;
	s.u.u.fd_read.file_descriptor = fd;
	return s;
}

static void checks(void) {
	__wasi_subscription_t in[4];
	__wasi_event_t out[4];
	__wasi_size_t n = 99;

	// No subscriptions.
	CHECK(__wasi_poll_oneoff(in, out, 0, &n) == __WASI_ERRNO_INVAL);
	// CPU-time clocks cannot be waited on.
	in[0] = clock_sub(1, __WASI_CLOCKID_PROCESS_CPUTIME_ID, 1000, 0);
	CHECK(__wasi_poll_oneoff(in, out, 1, &n) == __WASI_ERRNO_INVAL);

	// A relative and an absolute sleep on the monotonic clock.
	__wasi_timestamp_t t0 = mono();
	in[0] = clock_sub(42, __WASI_CLOCKID_MONOTONIC, 20000000, 0);
	CHECK(__wasi_poll_oneoff(in, out, 1, &n) == 0);
	CHECK(n == 1 && out[0].userdata == 42 && out[0].error == 0 && out[0].type == __WASI_EVENTTYPE_CLOCK);
	__wasi_timestamp_t t1 = mono();
	CHECK(t1 - t0 >= 20000000);
	in[0] = clock_sub(43, __WASI_CLOCKID_MONOTONIC, t1 + 20000000, __WASI_SUBCLOCKFLAGS_SUBSCRIPTION_CLOCK_ABSTIME);
	CHECK(__wasi_poll_oneoff(in, out, 1, &n) == 0);
	CHECK(n == 1 && out[0].userdata == 43);
	CHECK(mono() - t1 >= 20000000);

	// stdin is a pipe holding "hi" whose writer has closed: readable with nbytes 2 and
	// the hangup flag. stdout (a Go writer) is writable. An unknown fd is an event
	// with EBADF. The clock does not fire.
	in[0] = fd_sub(1, __WASI_EVENTTYPE_FD_READ, 0);
	in[1] = fd_sub(2, __WASI_EVENTTYPE_FD_WRITE, 1);
	in[2] = fd_sub(3, __WASI_EVENTTYPE_FD_READ, 100);
	in[3] = clock_sub(4, __WASI_CLOCKID_MONOTONIC, 10000000000ull, 0);
	CHECK(__wasi_poll_oneoff(in, out, 4, &n) == 0);
	CHECK(n == 3);
	CHECK(out[0].userdata == 1 && out[0].type == __WASI_EVENTTYPE_FD_READ && out[0].error == 0);
	CHECK(out[0].fd_readwrite.nbytes == 2 && out[0].fd_readwrite.flags == __WASI_EVENTRWFLAGS_FD_READWRITE_HANGUP);
	CHECK(out[1].userdata == 2 && out[1].type == __WASI_EVENTTYPE_FD_WRITE && out[1].error == 0);
	CHECK(out[2].userdata == 3 && out[2].type == __WASI_EVENTTYPE_FD_READ && out[2].error == __WASI_ERRNO_BADF);

	// POSIX poll() through wasi-libc: stdin readable, an unknown fd POLLNVAL.
	struct pollfd pfd[2] = {{.fd = 0, .events = POLLIN}, {.fd = 100, .events = POLLIN}};
	CHECK(poll(pfd, 2, 5000) == 2);
	CHECK(pfd[0].revents & POLLIN);
	CHECK(pfd[1].revents == POLLNVAL);
	char buf[8];
	CHECK(read(0, buf, sizeof buf) == 2 && memcmp(buf, "hi", 2) == 0);

	// At the end of stdin: still readable, with the hangup flag and nothing left.
	in[0] = fd_sub(1, __WASI_EVENTTYPE_FD_READ, 0);
	CHECK(__wasi_poll_oneoff(in, out, 1, &n) == 0);
	CHECK(n == 1 && out[0].error == 0 && out[0].fd_readwrite.nbytes == 0);
	CHECK(out[0].fd_readwrite.flags == __WASI_EVENTRWFLAGS_FD_READWRITE_HANGUP);
	CHECK(read(0, buf, sizeof buf) == 0);

	// nanosleep and clock_nanosleep (wasi-libc's sleeps are poll_oneoff).
	t0 = mono();
	struct timespec ts = {0, 15000000};
	CHECK(nanosleep(&ts, NULL) == 0);
	CHECK(mono() - t0 >= 15000000);
	say(1, "ok\n");
}

int main(int argc, char **argv) {
	const char *mode = argc > 1 ? argv[1] : "checks";
	if (strcmp(mode, "checks") == 0) {
		checks();
		return 0;
	}
	say(1, "ready\n");
	if (strcmp(mode, "sleep") == 0) {
		struct timespec ts = {1000000, 0};
		nanosleep(&ts, NULL);
	} else if (strcmp(mode, "read") == 0) {
		char buf[8];
		read(0, buf, sizeof buf);
	} else if (strcmp(mode, "accept") == 0) {
		// The preopened listener is non-blocking (as wasmtime's): wait in poll().
		struct pollfd p = {.fd = 3, .events = POLLIN};
		poll(&p, 1, -1);
		accept(3, NULL, NULL);
	}
	say(1, "not interrupted\n");
	return 3;
}
`

// newBerthEngine is an engine on berth's WASI host, closed at the test's end. Its
// compile cache is shared by the tests and kept between runs, as testguest's guest
// cache is: a Go guest takes seconds to compile.
func newBerthEngine(t *testing.T) *engine.Engine {
	t.Helper()
	ctx := context.Background()
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("berth-wasi-test-cache-%d", os.Getuid()))
	eng, err := engine.New(ctx, cache, engine.WithHost(engine.HostBerth))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Close(ctx) })
	return eng
}

// skipIfMissingImport skips the test when the guest imports a WASI function berth's host
// does not have yet (Go guests need the file functions of fs.go).
func skipIfMissingImport(t *testing.T, err error) {
	t.Helper()
	var ie *engine.ImportError
	if errors.As(err, &ie) {
		t.Skipf("berth's WASI host cannot run this guest yet: %v", ie)
	}
}

func TestPollGuestC(t *testing.T) {
	wasm := testguest.Read(t, testguest.C(t, cPollGuest))
	eng := newBerthEngine(t)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	w.WriteString("hi")
	w.Close()
	var out, errb bytes.Buffer
	code, err := eng.Run(context.Background(), engine.Spec{
		Module: wasm, Args: []string{"poll", "checks"}, Stdin: r, Stdout: &out, Stderr: &errb,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 0 || out.String() != "ok\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// blockedGuest runs a guest that prints "ready" then blocks, on berth's host with ctx,
// and returns once it is ready; the guest's exit code and error arrive on the channel.
func blockedGuest(t *testing.T, eng *engine.Engine, ctx context.Context, spec engine.Spec) <-chan runResult {
	t.Helper()
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { outR.Close() })
	spec.Stdout = outW
	done := make(chan runResult, 1)
	go func() {
		code, err := eng.Run(ctx, spec)
		outW.Close()
		done <- runResult{code, err}
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	if line != "ready\n" {
		res := <-done
		skipIfMissingImport(t, res.err)
		t.Fatalf("guest said %q (%v), exit %d, %v", line, err, res.code, res.err)
	}
	return done
}

type runResult struct {
	code int
	err  error
}

// cpuTime is the CPU time (user and system) this process has used.
func cpuTime(t *testing.T) time.Duration {
	t.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// idleGuestCase is a guest that blocks, and how to start it.
type idleGuestCase struct {
	name string
	wasm func(t *testing.T) []byte
	spec func(t *testing.T) engine.Spec // Module is filled in
}

// blockingGuests are C and Go guests blocked in a sleep, a read of stdin (a pipe that
// stays open and empty), an accept, and the Go ones in the runtime's poll_oneoff.
func blockingGuests() []idleGuestCase {
	cWasm := func(t *testing.T) []byte { return testguest.Read(t, testguest.C(t, cPollGuest)) }
	goWasm := func(t *testing.T) []byte { return testguest.Read(t, testguest.Go(t, goBlockGuest)) }
	args := func(a ...string) func(t *testing.T) engine.Spec {
		return func(t *testing.T) engine.Spec {
			spec := engine.Spec{Args: a}
			if a[1] == "read" {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close(); w.Close() })
				spec.Stdin = r
			}
			if a[1] == "accept" {
				_, lf := tcpListener(t)
				spec.Listeners = []*os.File{lf}
			}
			return spec
		}
	}
	return []idleGuestCase{
		{"C sleep (poll_oneoff)", cWasm, args("poll", "sleep")},
		{"C read of stdin (fd_read on a pipe)", cWasm, args("poll", "read")},
		{"C accept (poll_oneoff on the listener)", cWasm, args("poll", "accept")},
		{"Go sleep", goWasm, args("block", "sleep")},
		{"Go read of stdin", goWasm, args("block", "read")},
		{"Go accept", goWasm, args("block", "accept")},
	}
}

// goBlockGuest is cPollGuest's blocking modes in Go: the runtime's scheduler then waits
// in poll_oneoff (sleep, and accept on a non-blocking listener) or in fd_read.
const goBlockGuest = `package main

import (
	"fmt"
	"net"
	"os"
	"time"
)

func main() {
	switch os.Args[1] {
	case "sleep":
		fmt.Println("ready")
		time.Sleep(time.Hour)
	case "read":
		fmt.Println("ready")
		os.Stdin.Read(make([]byte, 8))
	case "accept":
		l, err := net.FileListener(os.NewFile(3, "listener"))
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
		l.Accept()
	}
	fmt.Println("not interrupted")
	os.Exit(3)
}
`

// TestIdleGuestUsesNoCPU checks that guests blocked in host calls use no CPU: over 2 s
// of a blocked guest, this process (the host and the guest) uses less than 50 ms.
func TestIdleGuestUsesNoCPU(t *testing.T) {
	if testing.Short() {
		t.Skip("2 s per guest")
	}
	eng := newBerthEngine(t)
	for _, tc := range blockingGuests() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			spec := tc.spec(t)
			spec.Module = tc.wasm(t)
			done := blockedGuest(t, eng, ctx, spec)
			time.Sleep(200 * time.Millisecond) // let the guest reach its wait
			before := cpuTime(t)
			time.Sleep(2 * time.Second)
			used := cpuTime(t) - before
			t.Logf("CPU time over 2 s idle: %v", used)
			if used > 50*time.Millisecond {
				t.Errorf("idle guest used %v of CPU in 2 s, want < 50ms", used)
			}
			cancel()
			<-done
		})
	}
}

// TestBlockedGuestInterrupted checks that a guest blocked in a sleep or a wait for a
// connection (poll_oneoff), or a read of a pipe (fd_read), ends with the interrupted
// exit code within 100 ms of the cancel of engine.Run's context. (A blocking
// sock_accept needs fd_fdstat_set_flags to clear the listener's FdflagNonblock: it is
// tested in sock_test.go.)
func TestBlockedGuestInterrupted(t *testing.T) {
	eng := newBerthEngine(t)
	for _, tc := range blockingGuests() {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			spec := tc.spec(t)
			spec.Module = tc.wasm(t)
			done := blockedGuest(t, eng, ctx, spec)
			time.Sleep(100 * time.Millisecond)
			select {
			case res := <-done:
				t.Fatalf("guest ended before the cancel: %d %v", res.code, res.err)
			default:
			}
			cancel()
			start := time.Now()
			select {
			case res := <-done:
				took := time.Since(start)
				t.Logf("ended %v after the cancel", took)
				if res.err != nil || res.code != 143 {
					t.Errorf("Run = %d, %v; want 143 (128+SIGTERM), nil", res.code, res.err)
				}
				if took > stopBound {
					t.Errorf("guest ended %v after the cancel, want < %v", took, time.Duration(stopBound))
				}
			case <-time.After(5 * time.Second):
				t.Fatal("guest still running 5 s after the cancel")
			}
		})
	}
}
