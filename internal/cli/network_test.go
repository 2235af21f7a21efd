package cli_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildHTTPServer builds examples/http-server for wasip1 and makes it the image
// hs:1 of e (its Dockerfile: EXPOSE 8080).
func buildHTTPServer(t *testing.T, e *env) {
	t.Helper()
	dir := t.TempDir()
	src, err := filepath.Abs("../../examples/http-server")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-trimpath", "-o", filepath.Join(dir, "http-server.wasm"), src)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building examples/http-server: %v\n%s", err, b)
	}
	df, err := os.ReadFile(filepath.Join(src, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), df, 0o644); err != nil {
		t.Fatal(err)
	}
	e.ok("build", "-q", "-t", "hs:1", dir)
}

// freePort is a loopback TCP port nothing listens on (as far as this moment goes).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// fetch GETs url until the server answers (a Go guest takes a moment to listen), and
// returns the body.
func fetch(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("GET %s: %v", url, err)
			}
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// portFree reports whether addr can be listened on: the container let go of it.
func portFree(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", addr)
		if err == nil {
			l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is still taken after the container ended: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// noContainers fails when the data root holds a container (a failed run left one).
func (e *env) noContainers() {
	e.t.Helper()
	if out := e.ok("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		e.t.Fatalf("containers left behind: %q", out)
	}
	ents, _ := os.ReadDir(filepath.Join(e.root, "containers"))
	for _, d := range ents {
		if d.IsDir() && d.Name() != "names" {
			e.t.Fatalf("a container directory is left behind: %s", d.Name())
		}
	}
}

// with is e for subtest t.
func (e *env) with(t *testing.T) *env { c := *e; c.t = t; return &c }

type inspectedNet struct {
	HostConfig struct {
		NetworkMode  string
		PortBindings map[string][]struct{ HostIp, HostPort string }
	}
	NetworkSettings struct {
		Ports map[string][]struct{ HostIp, HostPort string }
	}
}

func (e *env) inspectNet(ref string) inspectedNet {
	e.t.Helper()
	var got []inspectedNet
	if err := json.Unmarshal([]byte(e.ok("inspect", ref)), &got); err != nil || len(got) != 1 {
		e.t.Fatalf("inspect %s: %v", ref, err)
	}
	return got[0]
}

// TestPublish runs examples/http-server (Docker's Wasm demo) with published ports:
// in the foreground and detached, the guest binding its port itself (stealthrocket/net,
// the WasmEdge socket ABI) and taking berth's preopened listener (LISTEN_FDS=1, Go's
// net.FileListener); an HTTP GET on loopback gets its page, `port`, ps and inspect show
// the binding as docker does, and once the container ends the port is free. Bad
// network flags fail before a container exists.
func TestPublish(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles a 10 MB guest")
	}
	e := detachEnv(t)
	buildHTTPServer(t, e)

	t.Run("bad input", func(t *testing.T) {
		e := e.with(t)
		held, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer held.Close()
		taken := strconv.Itoa(held.Addr().(*net.TCPAddr).Port)
		for _, tt := range []struct {
			args []string
			want string
		}{
			{[]string{"-p", "8080:80/sctp"}, "invalid proto: sctp"},
			{[]string{"-p", "abc"}, `invalid port specification "abc"`},
			{[]string{"-p", "1-3:4-5"}, "invalid ranges"},
			{[]string{"-p", "127.0.0.1:" + taken + ":8080"}, "port is already allocated"},
			{[]string{"-p", "999.0.0.1:80:80"}, "invalid IP address"},
			{[]string{"--network", "none", "-p", "8080"}, "conflicting network options"},
			{[]string{"--network", "bridge2"}, "invalid network mode"},
			{[]string{"--allow-host", "nosuch.invalid"}, "unknown host"},
			{[]string{"--allow-host", "10.1.0.0/8"}, "invalid host rule"},
			{[]string{"--deny-host", ""}, "invalid host rule"},
		} {
			for _, detach := range [][]string{nil, {"-d"}} {
				args := append(append(append([]string{"run"}, detach...), tt.args...), "hs:1")
				errs := e.fail(125, args...)
				if !strings.Contains(errs, tt.want) {
					t.Errorf("berth %v: stderr %q, want %q in it", args, errs, tt.want)
				}
				e.noContainers()
			}
		}
		// A privileged port without the right to bind it: as a non-root user, or as
		// root without CAP_NET_BIND_SERVICE (the kernel checks the capability), which
		// setpriv drops from a berth process of this test binary.
		priv := []string{"run", "-p", "127.0.0.1:80:8080", "hs:1"}
		var errs string
		switch _, err := exec.LookPath("setpriv"); {
		case os.Getuid() != 0:
			errs = e.fail(125, priv...)
		case err == nil:
			cmd := exec.Command("setpriv", append([]string{"--bounding-set", "-net_bind_service", os.Args[0]}, priv...)...)
			cmd.Env = e.environ()
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 125 {
				t.Fatalf("berth %v without CAP_NET_BIND_SERVICE: %v, want exit 125\n%s", priv, err, out)
			}
			errs = string(out)
		default:
			t.Log("no setpriv: the privileged-port case is not run as root")
		}
		if errs != "" {
			if !strings.Contains(errs, "privileged port") || !strings.Contains(errs, "CAP_NET_BIND_SERVICE") {
				t.Errorf("a privileged port without the right to bind it: %q", errs)
			}
			e.noContainers()
		}
	})

	t.Run("foreground", func(t *testing.T) {
		e := e.with(t)
		port := strconv.Itoa(freePort(t))
		cmd := exec.Command(os.Args[0], "run", "--name", "fg", "-p", "127.0.0.1:"+port+":8080", "hs:1")
		cmd.Env = e.environ()
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		if got := fetch(t, "http://127.0.0.1:"+port+"/"); got != "hello from Wasm\n" {
			t.Errorf("GET /: %q", got)
		}
		if got := e.ok("port", "fg"); got != "8080/tcp -> 127.0.0.1:"+port+"\n" {
			t.Errorf("port fg: %q", got)
		}
		if row := psRow(e.ok("ps"), "fg"); !strings.Contains(row, " 127.0.0.1:"+port+"->8080/tcp ") {
			t.Errorf("ps: %q", row)
		}
		cmd.Process.Signal(syscall.SIGTERM)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
			t.Errorf("berth run after SIGTERM: %v, want exit 143; output:\n%s", err, out.String())
		}
		portFree(t, "127.0.0.1:"+port)
		if got := e.ok("port", "fg"); got != "" {
			t.Errorf("port of an exited container: %q, want nothing", got)
		}
		in := e.inspectNet("fg")
		if b := in.HostConfig.PortBindings["8080/tcp"]; len(b) != 1 || b[0].HostIp != "127.0.0.1" || b[0].HostPort != port ||
			in.HostConfig.NetworkMode != "default" || len(in.NetworkSettings.Ports) != 0 {
			t.Errorf("inspect of the exited container: %+v", in)
		}
		e.ok("rm", "fg")
	})

	for _, tt := range []struct {
		name string
		env  []string
	}{
		{"detached, guest binds", nil},
		{"detached, preopened listener", []string{"-e", "LISTEN_FDS=1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e.with(t)
			port := strconv.Itoa(freePort(t))
			args := append(append([]string{"run", "-d", "--name", "web"}, tt.env...), "-p", "127.0.0.1:"+port+":8080", "hs:1")
			e.ok(args...)
			defer e.berth("", "rm", "-f", "web")
			url := "http://127.0.0.1:" + port
			if got := fetch(t, url+"/"); got != "hello from Wasm\n" {
				t.Errorf("GET /: %q", got)
			}
			if got := fetch(t, url+"/healthz"); got != "ok\n" {
				t.Errorf("GET /healthz: %q", got)
			}
			if got := e.ok("port", "web", "8080/tcp"); got != "127.0.0.1:"+port+"\n" {
				t.Errorf("port web 8080/tcp: %q", got)
			}
			if _, errs, code := e.berth("", "port", "web", "9090"); code == 0 || !strings.Contains(errs, "no public port '9090/tcp' published for web") {
				t.Errorf("port web 9090: exit %d, %q", code, errs)
			}
			if row := psRow(e.ok("ps"), "web"); !strings.Contains(row, " 127.0.0.1:"+port+"->8080/tcp ") {
				t.Errorf("ps: %q", row)
			}
			if p := e.inspectNet("web").NetworkSettings.Ports["8080/tcp"]; len(p) != 1 || p[0].HostIp != "127.0.0.1" || p[0].HostPort != port {
				t.Errorf("inspect's NetworkSettings.Ports: %+v", p)
			}
			e.ok("stop", "-t", "1", "web")
			portFree(t, "127.0.0.1:"+port)
			if row := psRow(e.ok("ps", "-a"), "web"); strings.Contains(row, "->") {
				t.Errorf("ps -a of the stopped container shows ports: %q", row)
			}
			// Started again, it gets the same host port.
			e.ok("start", "web")
			if got := fetch(t, url+"/"); got != "hello from Wasm\n" {
				t.Errorf("GET / after start: %q", got)
			}
			e.ok("rm", "-f", "web")
			portFree(t, "127.0.0.1:"+port)
		})
	}

	t.Run("publish all", func(t *testing.T) {
		e := e.with(t)
		id := strings.TrimSpace(e.ok("run", "-d", "-P", "hs:1"))
		defer e.berth("", "rm", "-f", id)
		lines := strings.Split(strings.TrimSpace(e.ok("port", id)), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "8080/tcp -> 0.0.0.0:") || !strings.HasPrefix(lines[1], "8080/tcp -> [::]:") {
			t.Fatalf("port after -P: %q", lines)
		}
		port := strings.TrimPrefix(lines[0], "8080/tcp -> 0.0.0.0:")
		if got := fetch(t, "http://127.0.0.1:"+port+"/"); got != "hello from Wasm\n" {
			t.Errorf("GET /: %q", got)
		}
		e.ok("rm", "-f", id)
		portFree(t, ":"+port)
	})

	t.Run("network none", func(t *testing.T) {
		e := e.with(t)
		_, errs, code := e.berth("", "run", "--rm", "--network", "none", "hs:1")
		if code != 1 || !strings.Contains(strings.ToLower(errs), "bind: address not available") {
			t.Errorf("http-server with --network none: exit %d, %q; want exit 1 and its bind refused", code, errs)
		}
	})
}
