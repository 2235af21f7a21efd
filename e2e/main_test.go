package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Environment knobs (see the package documentation).
const (
	envGate        = "BERTH_E2E"
	envRequire     = "BERTH_E2E_REQUIRE"
	envContainerd2 = "BERTH_E2E_CONTAINERD2_BIN"
	envDockerd     = "BERTH_E2E_DOCKERD_BIN"
	envCrictl      = "BERTH_E2E_CRICTL_BIN"
	envCrane       = "BERTH_E2E_CRANE_BIN"
	envOras        = "BERTH_E2E_ORAS_BIN"
	envLoops       = "BERTH_E2E_LOOPS"
)

// Versions of the components .ci/run installs; the default directories are named after them.
const (
	containerd2Version = "v2.4.2"
	dockerdVersion     = "v2.0.0-beta.24"
	crictlVersion      = "v1.37.0"
	craneVersion       = "v0.22.1"
	orasVersion        = "v1.3.6"
)

// runtimeType is the runtime the shim implements; containerd maps it to the binary
// containerd-shim-berth-v1 on its PATH.
const (
	runtimeType = "io.containerd.berth.v1"
	shimName    = "containerd-shim-berth-v1"
	// guestName is the per-container process the shim starts (cmd/berth-guest), built
	// into the shim's directory when it exists.
	guestName = "berth-guest"
)

// workDir holds what one test run builds once (binaries, guests, image archives). It is
// created by TestMain and removed after the run.
var workDir string

func TestMain(m *testing.M) {
	if os.Getenv(envGate) != "1" {
		// Let `go test ./...` pass quickly; the tests themselves say why they skip.
		os.Exit(m.Run())
	}
	d, err := os.MkdirTemp("", "berth-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		os.Exit(1)
	}
	workDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// requireE2E skips the test unless BERTH_E2E=1 and the process runs as root.
func requireE2E(t *testing.T) {
	t.Helper()
	if os.Getenv(envGate) != "1" {
		t.Skip("end-to-end test: needs root, containerd, runc, dockerd and crictl; run with BERTH_E2E=1 (make e2e)")
	}
	if os.Geteuid() != 0 {
		missing(t, "end-to-end tests need root (they start containerd and create namespaces)")
	}
}

// missing skips the test because a component is absent, or fails it when
// BERTH_E2E_REQUIRE=1 (CI installs everything, so absence there is a failure).
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv(envRequire) == "1" {
		t.Fatalf("%s (%s=1: required)", msg, envRequire)
	}
	t.Skip(msg)
}

// loops is the iteration count of the cleanliness test.
func loops(t *testing.T) int {
	t.Helper()
	s := os.Getenv(envLoops)
	if s == "" {
		return 50
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", envLoops, s)
	}
	return n
}

// repoRoot is the module root: tests run in the package directory.
func repoRoot(t testing.TB) string {
	t.Helper()
	d, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(d, "go.mod")); err != nil {
		t.Fatalf("repository root %s has no go.mod: %v", d, err)
	}
	return d
}

// binDir returns the directory named by env, or the cache directory .ci/run installs
// name-version into.
func binDir(env, name, version string) string {
	if d := os.Getenv(env); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/root"
	}
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "berth-ci", "bin", name+"-"+version)
}

// tool returns dir/name, skipping (or failing, see missing) when it is not there.
func tool(t testing.TB, env, dir, name string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		missing(t, "%s not found (%v); set %s to the directory holding it, or run .ci/run to install it", name, err, env)
	}
	return p
}

// hostTool finds a binary installed on the machine (Debian packages, the docker CLI).
func hostTool(t testing.TB, name, pkg string) string {
	t.Helper()
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	missing(t, "%s not found; install %s", name, pkg)
	return ""
}

// once runs a build step at most once per test binary and remembers its outcome, so
// every test that needs it fails (or skips) with the same message.
type once struct {
	mu   sync.Mutex
	done bool
	val  string
	skip string
	err  error
}

func (o *once) get(t testing.TB, f func() (val, skip string, err error)) string {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.done {
		o.val, o.skip, o.err = f()
		o.done = true
	}
	if o.skip != "" {
		missing(t, "%s", o.skip)
	}
	if o.err != nil {
		t.Fatalf("%v", o.err)
	}
	return o.val
}

var berthOnce, shimOnce once

// goBuild builds ./cmd/<pkg> of the repository into workDir/bin/<out>, static, as the
// Makefile does, with the build tags given.
func goBuild(root, pkg, out string, tags ...string) (string, error) {
	dst := filepath.Join(workDir, "bin", out)
	cmd := exec.Command("go", "build", "-trimpath", "-tags", strings.Join(tags, ","), "-o", dst, "./cmd/"+pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	done := make(chan struct{})
	var b []byte
	var err error
	go func() { b, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		cmd.Process.Kill()
		<-done
		return "", fmt.Errorf("go build ./cmd/%s: timed out after 10m", pkg)
	}
	if err != nil {
		return "", fmt.Errorf("go build ./cmd/%s: %v\n%s", pkg, err, b)
	}
	return dst, nil
}

// berthBin builds bin/berth once per run, as `make berth` does: the core build, and the
// complete one beside it as berth-full, which the core build hands pull, push, build,
// load, save, login and logout to. The tests so run berth as a user of `make` does.
func berthBin(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	return berthOnce.get(t, func() (string, string, error) {
		if _, err := goBuild(root, "berth", "berth-full"); err != nil {
			return "", "", err
		}
		p, err := goBuild(root, "berth", "berth", "berth_core")
		return p, "", err
	})
}

// shimBin builds containerd-shim-berth-v1 (and berth-guest) once per run into a
// directory of its own (the directory put first on containerd's PATH). It skips the test while
// cmd/containerd-shim-berth-v1 does not exist yet.
func shimBin(t testing.TB) string {
	t.Helper()
	root := repoRoot(t)
	if _, err := os.Stat(filepath.Join(root, "cmd", shimName)); err != nil {
		// Not a missing machine component: the repository has no shim yet. Skip even in CI.
		t.Skip("waiting for the shim: cmd/" + shimName + " does not exist yet")
	}
	return shimOnce.get(t, func() (string, string, error) {
		p, err := goBuild(root, shimName, filepath.Join("shim", shimName))
		if err != nil {
			return "", "", err
		}
		// The shim runs each guest in a berth-guest process, found next to the shim.
		if _, err := os.Stat(filepath.Join(root, "cmd", guestName)); err == nil {
			if _, err := goBuild(root, guestName, filepath.Join("shim", guestName)); err != nil {
				return "", "", err
			}
		}
		return p, "", nil
	})
}
