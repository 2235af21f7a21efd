package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/testguest"
	"github.com/berth-dev/berth/internal/wasi"
)

// netGuest is a Go guest using github.com/stealthrocket/net v0.2.1 (the WasmEdge
// socket ABI). argv[1] picks a scenario; it prints "KEY value" lines.
//
//	serve ADDR...       listens on each address, prints "ADDR a" for each, and answers
//	                    every connection with "hello from ADDR\n"
//	dial NET ADDR       dials and prints "DIALED local", or "ERRNO n" for an errno and
//	                    "ERR text" for another error
//	selfdial LISTEN DIAL  listens on LISTEN, dials DIAL and prints "GOT greeting"
//	                    (dial's results otherwise)
const netGuest = `package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/stealthrocket/net/wasip1"
)

func main() {
	switch os.Args[1] {
	case "serve":
		for _, a := range os.Args[2:] {
			l, err := wasip1.Listen("tcp", a)
			if err != nil {
				fmt.Println("FAIL listen", a, err)
				os.Exit(1)
			}
			fmt.Println("ADDR", l.Addr())
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						fmt.Println("FAIL accept", err)
						os.Exit(1)
					}
					fmt.Fprintf(c, "hello from %s\n", a)
					c.Close()
				}
			}()
		}
		select {}
	case "dial":
		c, err := wasip1.Dial(os.Args[2], os.Args[3])
		var errno syscall.Errno
		switch {
		case errors.As(err, &errno):
			fmt.Println("ERRNO", uint(errno))
		case err != nil:
			fmt.Println("ERR", err)
		default:
			fmt.Println("DIALED", c.LocalAddr())
			c.Close()
		}
	case "selfdial":
		l, err := wasip1.Listen("tcp", os.Args[2])
		if err != nil {
			fmt.Println("FAIL listen", err)
			os.Exit(1)
		}
		go func() {
			c, err := l.Accept()
			if err != nil {
				fmt.Println("FAIL accept", err)
				os.Exit(1)
			}
			fmt.Fprintln(c, "hello from myself")
			c.Close()
		}()
		c, err := wasip1.Dial("tcp", os.Args[3])
		var errno syscall.Errno
		switch {
		case errors.As(err, &errno):
			fmt.Println("ERRNO", uint(errno))
		case err != nil:
			fmt.Println("ERR", err)
		default:
			line, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				fmt.Println("FAIL read", err)
				os.Exit(1)
			}
			fmt.Print("GOT ", line)
		}
	}
}
`

var netGuestMod = map[string]string{"go.mod": `module guest

go 1.24

require github.com/stealthrocket/net v0.2.1

require golang.org/x/net v0.10.0 // indirect
`}

// buildNetGuest builds netGuest; with resolve, names are looked up with
// sock_getaddrinfo (stealthrocket/net's getaddrinfo tag) so they pass the policy.
func buildNetGuest(t *testing.T, resolve bool) []byte {
	var tags []string
	if resolve {
		tags = []string{"getaddrinfo"}
	}
	return testguest.Read(t, testguest.GoTags(t, tags, netGuest, netGuestMod))
}

// guestRun is a guest running in the background on berth's WASI host, through
// internal/engine (HostBerth) with the policy as engine.Spec.SocketPolicy, as
// internal/runtime runs a container's guest.
type guestRun struct {
	t     *testing.T
	lines chan string
	done  chan uint32
	seen  []string
}

// testEngine is one engine per test binary, on a compile cache shared by the package's
// runs (so each guest compiles once per machine).
var testEngine = sync.OnceValues(func() (*engine.Engine, error) {
	return engine.New(context.Background(), filepath.Join(os.TempDir(), fmt.Sprintf("berth-network-test-engine-%d", os.Getuid())), engine.WithHost(engine.HostBerth))
})

func startGuest(t *testing.T, wasm []byte, pol wasi.SocketPolicy, args ...string) *guestRun {
	t.Helper()
	eng, err := testEngine()
	if err != nil {
		t.Fatal(err)
	}
	// Compiled first (a 10 MB module takes a minute or two under -race on a cold
	// cache), so that the guest's time limits count its run only.
	if _, err := eng.Precompile(context.Background(), wasm); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r, w, err := os.Pipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	run := &guestRun{t: t, lines: make(chan string, 64), done: make(chan uint32, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			run.lines <- sc.Text()
		}
		close(run.lines)
		r.Close()
	}()
	go func() {
		code, err := eng.Run(ctx, engine.Spec{Module: wasm, Args: append([]string{"guest"}, args...),
			Stdout: w, Stderr: w, SocketPolicy: pol})
		if err != nil {
			code = 255
			w.WriteString("ERROR " + err.Error() + "\n")
		}
		w.Close()
		run.done <- uint32(code)
	}()
	t.Cleanup(func() {
		cancel() // interrupts a guest waiting in a host call
		select {
		case <-run.done:
		case <-time.After(10 * time.Second):
			t.Errorf("guest did not stop after its context ended")
		}
	})
	return run
}

// expect returns the rest of the next output line starting with prefix, failing on a
// FAIL or ERROR line, on the guest's end or after a timeout.
func (r *guestRun) expect(prefix string) string {
	r.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("guest ended before printing %q; output:\n%s", prefix, strings.Join(r.seen, "\n"))
			}
			r.seen = append(r.seen, l)
			if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "panic") {
				r.t.Fatalf("guest: %s; output:\n%s", l, strings.Join(r.seen, "\n"))
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest)
			}
		case <-timeout:
			r.t.Fatalf("no %q from the guest after 60s; output:\n%s", prefix, strings.Join(r.seen, "\n"))
		}
	}
}

// publish opens specs, returns the chosen mappings and closes the sockets, as the
// runner of a guest that binds its own ports does (see Open).
func publish(t *testing.T, specs ...string) []PortMapping {
	t.Helper()
	l, err := Open(context.Background(), mustPorts(t, specs...))
	if err != nil {
		t.Fatal(err)
	}
	maps := l.Mappings()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return maps
}

// get reads what the guest answers on addr.
func get(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// TestGuestPublishedPort: a guest binding 0.0.0.0:8080 with -p 127.0.0.1:HOST:8080 is
// reached at 127.0.0.1:HOST and still sees its own address.
func TestGuestPublishedPort(t *testing.T) {
	wasm := buildNetGuest(t, false)
	maps := publish(t, "127.0.0.1::8080")
	run := startGuest(t, wasm, mustPolicy(t, Options{Ports: maps}), "serve", "0.0.0.0:8080")
	if got := run.expect("ADDR"); got != "0.0.0.0:8080" {
		t.Errorf("guest listens on %s, want its own 0.0.0.0:8080", got)
	}
	host := maps[0].HostAddr().String()
	if got, err := get(host); err != nil || got != "hello from 0.0.0.0:8080\n" {
		t.Errorf("published %s: %q, %v", host, got, err)
	}
}

// TestGuestOtherHost shows, from a second network namespace joined to this one by a
// veth pair (so the host has an address another host reaches), that a published port
// bound on every interface is reachable there and an unpublished one is not, though
// the guest bound both on 0.0.0.0; and that the guest's connects to that other host
// are allowed by default and refused by a deny rule. Needs root and ip(8).
func TestGuestOtherHost(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to create a network namespace")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) (iproute2)")
	}
	hostIP, nsIP, ns := vethNamespace(t)
	wasm := buildNetGuest(t, false)
	unpub := freePorts(t, 1)
	maps := publish(t, "0.0.0.0::8081")
	run := startGuest(t, wasm, mustPolicy(t, Options{Ports: maps}), "serve", "0.0.0.0:8081", "0.0.0.0:"+strconv.Itoa(unpub))
	run.expect("ADDR")
	run.expect("ADDR")
	pub := strconv.Itoa(int(maps[0].HostPort))

	// From this host: both answer, the unpublished one on loopback only.
	if got, err := get("127.0.0.1:" + strconv.Itoa(unpub)); err != nil || !strings.HasPrefix(got, "hello") {
		t.Errorf("unpublished port on loopback: %q, %v; want the guest", got, err)
	}
	if got, err := get(net.JoinHostPort(hostIP, pub)); err != nil || !strings.HasPrefix(got, "hello") {
		t.Errorf("published port on %s: %q, %v", hostIP, got, err)
	}
	// From the other namespace, another host as far as the network goes.
	if got, err := getFromNamespace(t, ns, net.JoinHostPort(hostIP, pub)); err != nil || got != "hello from 0.0.0.0:8081\n" {
		t.Errorf("published port from the other namespace: %q, %v; want the guest", got, err)
	}
	_, err := getFromNamespace(t, ns, net.JoinHostPort(hostIP, strconv.Itoa(unpub)))
	if !errors.Is(err, unix.ECONNREFUSED) {
		t.Errorf("unpublished port from the other namespace: %v, want connection refused", err)
	}

	// Outbound to the other host: allowed by default, refused by a deny rule.
	remote := listenInNamespace(t, ns, nsIP)
	for _, tt := range []struct {
		deny []string
		want string
	}{
		{nil, "DIALED"},
		{[]string{"10.231.0.0/16"}, "ERRNO " + strconv.Itoa(int(wasi.ErrnoAcces))},
	} {
		run := startGuest(t, wasm, mustPolicy(t, Options{Deny: mustRules(t, tt.deny...)}), "dial", "tcp4", remote)
		if got := run.result(); !strings.HasPrefix(got, tt.want) {
			t.Errorf("dial %s with --deny-host %v: %q, want %q", remote, tt.deny, got, tt.want)
		}
	}
}

// listenInNamespace opens a TCP listener inside ns, whose address is nsIP, that
// accepts and closes connections until the test ends, and returns its address.
func listenInNamespace(t *testing.T, ns, nsIP string) string {
	t.Helper()
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread stays in ns and ends with us
		if err := enterNamespace(ns); err != nil {
			ch <- result{err: err}
			return
		}
		l, err := net.Listen("tcp4", "0.0.0.0:0")
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.l.Close() })
	go func() {
		for {
			c, err := r.l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(r.l.Addr().String())
	return net.JoinHostPort(nsIP, port)
}

// result waits for the guest's DIALED, ERRNO, ERR or GOT line.
func (r *guestRun) result() string {
	r.t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("guest ended without a result; output:\n%s", strings.Join(r.seen, "\n"))
			}
			r.seen = append(r.seen, l)
			if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "panic") {
				r.t.Fatalf("guest: %s; output:\n%s", l, strings.Join(r.seen, "\n"))
			}
			for _, p := range []string{"DIALED", "ERRNO", "ERR", "GOT"} {
				if strings.HasPrefix(l, p) {
					return l
				}
			}
		case <-timeout:
			r.t.Fatalf("no result after 60s; output:\n%s", strings.Join(r.seen, "\n"))
		}
	}
}

// vethNamespace creates a network namespace linked to this one by a veth pair and
// returns this side's address, the namespace's and the namespace's name; all go at
// the test's end.
func vethNamespace(t *testing.T) (hostIP, nsIP, ns string) {
	t.Helper()
	id := os.Getpid() % 10000
	ns = fmt.Sprintf("berth-nettest-%d", id)
	hostIf, nsIf := fmt.Sprintf("bnt%dh", id), fmt.Sprintf("bnt%dn", id)
	octet := 1 + id%250
	hostIP = fmt.Sprintf("10.231.%d.1", octet)
	nsIP = fmt.Sprintf("10.231.%d.2", octet)
	ipCmd := func(args ...string) {
		t.Helper()
		if b, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}
	ipCmd("netns", "add", ns)
	t.Cleanup(func() {
		exec.Command("ip", "netns", "del", ns).Run() // takes the veth pair with it
		exec.Command("ip", "link", "del", hostIf).Run()
	})
	ipCmd("link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	ipCmd("link", "set", nsIf, "netns", ns)
	ipCmd("addr", "add", hostIP+"/30", "dev", hostIf)
	ipCmd("link", "set", hostIf, "up")
	ipCmd("-n", ns, "addr", "add", nsIP+"/30", "dev", nsIf)
	ipCmd("-n", ns, "link", "set", nsIf, "up")
	ipCmd("-n", ns, "link", "set", "lo", "up")
	return hostIP, nsIP, ns
}

// enterNamespace moves the calling thread (locked by the caller) into ns.
func enterNamespace(ns string) error {
	f, err := os.Open("/run/netns/" + ns)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	return nil
}

// getFromNamespace is get from a socket created inside the network namespace ns: on
// a thread of its own that enters ns and is never handed back to the scheduler.
func getFromNamespace(t *testing.T, ns, addr string) (string, error) {
	t.Helper()
	type result struct {
		s   string
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // not unlocked: the thread stays in ns and ends with us
		if err := enterNamespace(ns); err != nil {
			ch <- result{err: err}
			return
		}
		s, err := get(addr)
		ch <- result{s, err}
	}()
	r := <-ch
	return r.s, r.err
}

// TestGuestEgress runs the guest's connects under host rules and --network none.
func TestGuestEgress(t *testing.T) {
	l, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	other := strconv.Itoa(freePorts(t, 1))
	plain, resolving := buildNetGuest(t, false), buildNetGuest(t, true)
	errno := func(e wasi.Errno) string { return "ERRNO " + strconv.Itoa(int(e)) }
	tests := []struct {
		name        string
		mode        Mode
		allow, deny []string
		wasm        []byte
		target      string
		want        string // "DIALED" or "ERRNO n"
	}{
		// The host's loopback is not the container's, unless allowed or --network host.
		{"host's loopback", ModeDefault, nil, nil, plain, "127.0.0.1:" + port, errno(wasi.ErrnoConnrefused)},
		{"host's loopback allowed", ModeDefault, []string{"127.0.0.1:" + port}, nil, plain, "127.0.0.1:" + port, "DIALED"},
		{"host's loopback, network host", ModeHost, nil, nil, plain, "127.0.0.1:" + port, "DIALED"},
		{"denied address", ModeDefault, nil, []string{"127.0.0.0/8"}, plain, "127.0.0.1:" + port, errno(wasi.ErrnoAcces)},
		{"denied port", ModeHost, nil, []string{"127.0.0.1:" + port}, plain, "127.0.0.1:" + port, errno(wasi.ErrnoAcces)},
		{"not allowed", ModeDefault, []string{"192.0.2.0/24"}, nil, plain, "127.0.0.1:" + port, errno(wasi.ErrnoAcces)},
		{"network none", ModeNone, nil, nil, plain, "127.0.0.1:" + port, errno(wasi.ErrnoNetunreach)},
		// An allow list by name, through sock_getaddrinfo("localhost").
		{"allowed name", ModeDefault, []string{"localhost:" + port}, nil, resolving, "localhost:" + port, "DIALED"},
		{"allowed name, other port", ModeDefault, []string{"localhost:" + port}, nil, resolving, "localhost:" + other, errno(wasi.ErrnoAcces)},
		// A literal address is judged by address: not allowed at connect (EACCES), and
		// refused as a lookup result by a guest that resolves literals through
		// sock_getaddrinfo too (EAI_NONAME).
		{"allowed name, literal address", ModeDefault, []string{"localhost:" + port}, nil, plain, "127.0.0.1:" + port, errno(wasi.ErrnoAcces)},
		{"allowed name, literal address resolved", ModeDefault, []string{"localhost:" + port}, nil, resolving, "127.0.0.1:" + port, errno(wasi.ErrnoAiNoname)},
		{"name not on the list", ModeDefault, []string{"example.com"}, nil, resolving, "localhost:" + port, errno(wasi.ErrnoAiNoname)},
		{"denied name", ModeDefault, nil, []string{"localhost"}, resolving, "localhost:" + port, errno(wasi.ErrnoAiNoname)},
		{"denied name, network host", ModeHost, nil, []string{"*.localhost", "localhost"}, resolving, "localhost:" + port, errno(wasi.ErrnoAiNoname)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := mustPolicy(t, Options{Mode: tt.mode, Allow: mustRules(t, tt.allow...), Deny: mustRules(t, tt.deny...)})
			run := startGuest(t, tt.wasm, pol, "dial", "tcp4", tt.target)
			got := run.result()
			if !strings.HasPrefix(got, tt.want) || (strings.HasPrefix(tt.want, "ERRNO") && got != tt.want) {
				t.Errorf("dial %s: %q, want %q", tt.target, got, tt.want)
			}
		})
	}
}

// TestExampleHTTPServer builds examples/http-server for wasip1 and, for each way a
// guest can be published, fetches its two pages with net/http on the host port:
//
//   - bind: the guest binds :8080 itself (stealthrocket/net) under the policy, which
//     maps the bind to the port Open checked (-P with the image's EXPOSE 8080, on
//     loopback);
//   - listener: the guest serves the listener Open opened (LISTEN_FDS=1, Go's
//     net.FileListener), run through internal/engine with berth's WASI host.
func TestExampleHTTPServer(t *testing.T) {
	wasmPath := filepath.Join(t.TempDir(), "http-server.wasm")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", wasmPath, "../../examples/http-server")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/http-server: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatal(err)
	}
	exposed, err := ExposedPorts(map[string]struct{}{"8080/tcp": {}}) // the Dockerfile's EXPOSE
	if err != nil {
		t.Fatal(err)
	}
	exposed[0].HostIP = netip.MustParseAddr("127.0.0.1") // loopback only, in a test

	t.Run("bind", func(t *testing.T) {
		l, err := Open(context.Background(), exposed)
		if err != nil {
			t.Fatal(err)
		}
		maps := l.Mappings()
		l.Close()
		run := startGuest(t, wasm, mustPolicy(t, Options{Ports: maps}))
		run.expect("http-server: listening on")
		fetchPages(t, "http://"+maps[0].HostAddr().String())
	})

	t.Run("listener", func(t *testing.T) {
		l, err := Open(context.Background(), exposed)
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithCancel(context.Background())
		// A cache that outlives the test, as the wazero one of startGuest: compiling this
		// 10 MB module takes a minute or two under -race.
		cacheDir := filepath.Join(os.TempDir(), fmt.Sprintf("berth-network-test-engine-%d", os.Getuid()))
		eng, err := engine.New(ctx, cacheDir, engine.WithHost(engine.HostBerth))
		if err != nil {
			t.Fatal(err)
		}
		defer eng.Close(context.Background())
		var out strings.Builder
		done := make(chan error, 1)
		go func() {
			code, err := eng.Run(ctx, engine.Spec{Module: wasm, Args: []string{"http-server"}, Env: []string{"LISTEN_FDS=1"},
				Stdout: &lockedWriter{w: &out}, Stderr: &lockedWriter{w: &out}, Listeners: l.Files()})
			if err == nil && code != 143 {
				err = fmt.Errorf("exit code %d, want 143 (stopped)", code)
			}
			done <- err
		}()
		fetchPages(t, "http://"+l.Mappings()[0].HostAddr().String())
		cancel() // the guest waits in a host call: it ends with 143
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("engine.Run: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the guest did not stop after its context ended")
		}
	})
}

// fetchPages gets / and /healthz (and a page that does not exist) from the example
// server at base, waiting for it to answer.
func fetchPages(t *testing.T, base string) {
	t.Helper()
	client := &http.Client{Timeout: 20 * time.Second}
	var resp *http.Response
	var err error
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if resp, err = client.Get(base + "/"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("GET /: %v", err)
	}
	resp.Body.Close()
	for path, want := range map[string]string{"/": "hello from Wasm\n", "/healthz": "ok\n"} {
		resp, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(b) != want {
			t.Errorf("GET %s: %d %q, %v; want 200 %q", path, resp.StatusCode, b, err, want)
		}
	}
	if resp, err := client.Get(base + "/nope"); err != nil || resp.StatusCode != 404 {
		t.Errorf("GET /nope: %v, %v; want 404", resp, err)
	} else {
		resp.Body.Close()
	}
}

// lockedWriter serializes writes of the guest's stdout and stderr.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestGuestSelfDial checks that a guest reaches its own servers on loopback in the
// default mode: a published port (127.0.0.1:8080 is mapped to its host port) and an
// unpublished one, with an allow list that names neither (the container's own
// loopback is not egress).
func TestGuestSelfDial(t *testing.T) {
	wasm := buildNetGuest(t, false)
	maps := publish(t, "127.0.0.1::8080")
	unpub := strconv.Itoa(freePorts(t, 1))
	allow := mustRules(t, "example.com")
	for _, tt := range []struct{ listen, dial string }{
		{"0.0.0.0:8080", "127.0.0.1:8080"},
		{"0.0.0.0:" + unpub, "127.0.0.1:" + unpub},
		{"127.0.0.1:" + unpub, "127.0.0.1:" + unpub},
	} {
		run := startGuest(t, wasm, mustPolicy(t, Options{Ports: maps, Allow: allow}), "selfdial", tt.listen, tt.dial)
		if got := run.result(); got != "GOT hello from myself" {
			t.Errorf("listen %s, dial %s: %q, want the guest's own greeting", tt.listen, tt.dial, got)
		}
	}
}
