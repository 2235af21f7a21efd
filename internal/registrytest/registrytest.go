// Package registrytest starts a real OCI registry for tests: Debian's docker-registry
// (distribution 2.8) on 127.0.0.1, with its own configuration and storage in a temp dir,
// and FaultProxy, a reverse proxy in front of it that resets connections, answers 503 or
// 429, flips or truncates bodies, holds requests back on demand, and counts the requests
// it sees.
//
// # Notes
//
//   - The packaged configuration (/etc/docker/registry/config.yml) listens on every
//     interface; it is never used. Each registry gets a config of its own, listening on a
//     free loopback port.
//   - Without the binary a test is skipped, unless BERTH_REQUIRE_REGISTRY=1 (set by .ci/run),
//     where it fails: CI must not pass by skipping what it was meant to check.
//   - With Options.Users the registry asks for HTTP basic auth (htpasswd, bcrypt at the
//     lowest cost: distribution checks the hash on every request).
//   - FaultProxy's Reset hijacks the connection and closes it with SO_LINGER 0, so the
//     client gets a real ECONNRESET mid-body, not a clean EOF: the two take different
//     paths in an HTTP client.
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// RequireEnv names the variable that turns a missing registry binary into a failure.
const RequireEnv = "BERTH_REQUIRE_REGISTRY"

// BinaryEnv names the variable that overrides the registry binary's path.
const BinaryEnv = "BERTH_REGISTRY_BIN"

// Options configure a registry.
type Options struct {
	// Users, when not empty, turns on htpasswd authentication with these user names
	// and passwords.
	Users map[string]string
}

// Registry is a running registry.
type Registry struct {
	// Addr is the registry's host:port, e.g. "127.0.0.1:39811".
	Addr string
	// Dir holds the configuration, the htpasswd file, the storage and the log.
	Dir    string
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has been waited for
}

// Binary returns the path of the docker-registry binary, or an error saying how to
// install it.
func Binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("docker-registry")
	if err != nil {
		return "", fmt.Errorf("docker-registry not found (apt-get install docker-registry, or set %s): %w", BinaryEnv, err)
	}
	return p, nil
}

// Start starts a registry and stops it (by PID) when the test ends. It skips the test
// when the binary is missing, unless $BERTH_REQUIRE_REGISTRY is 1.
func Start(t testing.TB, o Options) *Registry {
	t.Helper()
	if _, err := Binary(); err != nil {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	r, err := Launch(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Stop)
	return r
}

// Launch starts a registry outside a test (a benchmark, say) with its files in dir
// (created if missing); the caller stops it with Stop.
func Launch(dir string, o Options) (*Registry, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var lastErr error
	// A free port is found by binding :0 and closing it; another process may take it in
	// between, so a failed start is retried on a new port.
	for attempt := 0; attempt < 3; attempt++ {
		r, err := start(bin, dir, o)
		if err == nil {
			return r, nil
		}
		lastErr = err
	}
	return nil, fmt.Errorf("starting docker-registry: %w", lastErr)
}

// Stop kills the registry (by PID) and waits for it to exit.
func (r *Registry) Stop() {
	_ = r.cmd.Process.Kill()
	<-r.exited
}

func start(bin, dir string, o Options) (*Registry, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := fmt.Sprintf(`version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: %q}, delete: {enabled: true}}
http: {addr: %q, secret: test-only}
`, filepath.Join(dir, "data"), addr)
	if len(o.Users) > 0 {
		pw := filepath.Join(dir, "htpasswd")
		if err := writeHtpasswd(pw, o.Users); err != nil {
			return nil, err
		}
		cfg += fmt.Sprintf("auth: {htpasswd: {realm: berth-test, path: %q}}\n", pw)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, err
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	r := &Registry{Addr: addr, Dir: dir, cmd: cmd, exited: exited}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if ready(ctx, addr) {
			return r, nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(logf.Name())
			return nil, fmt.Errorf("docker-registry on %s exited (%v): %s", addr, waitErr, strings.TrimSpace(string(log)))
		case <-ctx.Done():
			r.Stop()
			return nil, fmt.Errorf("docker-registry on %s not ready after 10 s", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ready reports whether the registry answers /v2/ (200, or 401 with auth on).
func ready(ctx context.Context, addr string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/v2/", nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func writeHtpasswd(path string, users map[string]string) error {
	names := make([]string, 0, len(users))
	for u := range users {
		if u == "" || strings.ContainsAny(u, ":\n") {
			return fmt.Errorf("htpasswd: invalid user name %q", u)
		}
		names = append(names, u)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, u := range names {
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			return fmt.Errorf("htpasswd: %w", err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// URL returns the registry's base URL, "http://ADDR".
func (r *Registry) URL() string { return "http://" + r.Addr }

// Log returns what the registry has logged so far.
func (r *Registry) Log() string {
	b, err := os.ReadFile(filepath.Join(r.Dir, "registry.log"))
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	return string(b)
}
