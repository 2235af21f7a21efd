// Package credentialstest gives tests a docker credential helper and a private docker
// configuration directory.
//
// # Notes
//
//   - The helper, docker-credential-berthtest, is a small shell script that speaks docker's
//     helper protocol (store, get, erase) over one file per server in a temp dir and logs
//     each call, so a test sees what went to the helper and what went to config.json.
//   - Tests set $PATH, $DOCKER_CONFIG and $BERTHTEST_STORE with t.Setenv: they cannot be
//     parallel, and they never touch the user's ~/.docker.
package credentialstest

import (
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

//go:embed docker-credential-berthtest.sh
var script []byte

// HelperName is the helper's NAME, as config.json's credsStore gives it.
const HelperName = "berthtest"

// Helper is an installed docker-credential-berthtest.
type Helper struct {
	// Dir holds the stored credentials and the call log.
	Dir string
}

// InstallHelper writes docker-credential-berthtest into a temp dir and puts that dir
// first on $PATH for the rest of the test.
func InstallHelper(t testing.TB) *Helper {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-"+HelperName), script, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	h := &Helper{Dir: t.TempDir()}
	t.Setenv("BERTHTEST_STORE", h.Dir)
	return h
}

// InstallFailing puts a docker-credential-NAME first on $PATH that prints stderr on its
// standard error and exits 1, whatever it is asked.
func InstallFailing(t testing.TB, name, stderr string) {
	t.Helper()
	bin := t.TempDir()
	body := "#!/bin/sh\ncat >/dev/null\necho '" + strings.ReplaceAll(stderr, "'", `'\''`) + "' >&2\nexit 1\n"
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-"+name), []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// Stored is what the helper holds for a server, in the protocol's fields.
type Stored struct {
	ServerURL, Username, Secret string
}

// Get returns what the helper holds for server, and whether it holds anything.
func (h *Helper) Get(t testing.TB, server string) (Stored, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Dir, hex.EncodeToString([]byte(server))+".cred"))
	if errors.Is(err, os.ErrNotExist) {
		return Stored{}, false
	}
	if err != nil {
		t.Fatal(err)
	}
	var s Stored
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("helper's file for %s: %v: %q", server, err, b)
	}
	return s, true
}

// Calls returns the actions the helper was called with, in order.
func (h *Helper) Calls(t testing.TB) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.Dir, "calls"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

// ConfigDir makes a docker configuration directory for the test, points $DOCKER_CONFIG
// at it, and writes config (if not empty) as its config.json.
func ConfigDir(t testing.TB, config string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("DOCKER_CONFIG", dir)
	if config != "" {
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(config), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// CraneEnv names the variable that overrides the path of the crane binary.
const CraneEnv = "BERTH_CRANE"

// Crane returns the path of crane v0.22.1 (as .ci/run installs it under
// ~/.cache/berth-ci), skipping the test when it is missing unless $BERTH_E2E_REQUIRE is 1.
func Crane(t testing.TB) string {
	t.Helper()
	p := os.Getenv(CraneEnv)
	if p == "" {
		home, _ := os.UserHomeDir()
		p = filepath.Join(home, ".cache", "berth-ci", "bin", "crane-v0.22.1", "crane")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("BERTH_E2E_REQUIRE") == "1" {
			t.Fatalf("crane: %v (go install github.com/google/go-containerregistry/cmd/crane@v0.22.1, or set %s)", err, CraneEnv)
		}
		t.Skipf("crane: %v (go install github.com/google/go-containerregistry/cmd/crane@v0.22.1, or set %s)", err, CraneEnv)
	}
	return p
}
