package cli_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/berth-dev/berth/internal/credentials"
	"github.com/berth-dev/berth/internal/credentials/credentialstest"
	"github.com/berth-dev/berth/internal/registrytest"
)

// auths returns config.json's auths map, as plain JSON.
func auths(t *testing.T, dir string) map[string]map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Auths map[string]map[string]any `json:"auths"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("config.json: %v: %s", err, b)
	}
	return cfg.Auths
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestLogin(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	// Another login is there before each case: a failed login must leave the file as it was.
	before := `{"auths": {"quay.io": {"auth": "` + b64("q:w") + `"}}}`
	tests := []struct {
		name    string
		stdin   string
		args    []string // REG stands for the registry
		code    int
		stdout  string // part of stdout
		stderr  string // part of stderr
		written bool   // config.json holds alice's login afterwards
	}{
		{"password-stdin", "secret\n", []string{"-u", "alice", "--password-stdin", "REG"}, 0, "Login Succeeded", "stored unencrypted", true},
		{"password-stdin, CRLF", "secret\r\n", []string{"-u", "alice", "--password-stdin", "REG"}, 0, "Login Succeeded", "", true},
		{"password flag", "", []string{"-u", "alice", "-p", "secret", "REG"}, 0, "Login Succeeded", "Using --password via the CLI is insecure", true},
		{"server as URL", "secret", []string{"-u", "alice", "--password-stdin", "http://REG/"}, 0, "Login Succeeded", "", true},
		{"wrong password", "nope\n", []string{"-u", "alice", "--password-stdin", "REG"}, 1, "",
			"login to " + reg.Addr + " failed: wrong user name or password", false},
		{"password kept newline inside", "sec\nret\n", []string{"-u", "alice", "--password-stdin", "REG"}, 1, "", "wrong user name or password", false},
		{"both password flags", "secret", []string{"-u", "alice", "-p", "secret", "--password-stdin", "REG"}, 1, "",
			"--password and --password-stdin are mutually exclusive", false},
		{"password-stdin without user", "secret", []string{"--password-stdin", "REG"}, 1, "", "must provide --username with --password-stdin", false},
		{"no terminal", "", []string{"REG"}, 1, "", "cannot perform an interactive login from a non TTY device", false},
		{"user, no terminal", "", []string{"-u", "alice", "REG"}, 1, "", "non TTY", false},
		{"bad server", "", []string{"-u", "alice", "-p", "x", "a b"}, 1, "", "not a registry address", false},
		{"two servers", "", []string{"-u", "alice", "-p", "x", "a", "b"}, 1, "", "accepts at most 1 argument", false},
		{"bad insecure-registry", "", []string{"-u", "alice", "-p", "x", "--insecure-registry", "a b", "REG"}, 1, "", "insecure registry", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := credentialstest.ConfigDir(t, before)
			e := newEnv(t)
			args := []string{"login"}
			for _, a := range tt.args {
				args = append(args, strings.ReplaceAll(a, "REG", reg.Addr))
			}
			out, errs, code := e.berth(tt.stdin, args...)
			if code != tt.code || !strings.Contains(out, tt.stdout) || !strings.Contains(errs, tt.stderr) {
				t.Fatalf("berth %q: exit %d, stdout %q, stderr %q; want exit %d, %q, %q", args, code, out, errs, tt.code, tt.stdout, tt.stderr)
			}
			a := auths(t, dir)
			if a["quay.io"]["auth"] != b64("q:w") {
				t.Errorf("the other login was lost: %v", a)
			}
			got, ok := a[reg.Addr]
			if tt.written != ok || ok && (got["auth"] != b64("alice:secret") || len(got) != 1) {
				t.Errorf("auths[%s] = %v, %v; want written %v", reg.Addr, got, ok, tt.written)
			}
			if !tt.written {
				if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); string(b) != before {
					t.Errorf("config.json changed by a failed login: %s", b)
				}
				return
			}
			fi, err := os.Stat(filepath.Join(dir, "config.json"))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("config.json: %v, %v; want mode 0600", fi.Mode().Perm(), err)
			}
		})
	}
}

func TestLoginUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	credentialstest.ConfigDir(t, "")
	_, errs, code := newEnv(t).berth("secret", "login", "-u", "alice", "--password-stdin", addr)
	if code != 1 || !strings.Contains(errs, "cannot reach the registry "+addr) || !strings.Contains(errs, "check the address and port") {
		t.Fatalf("login to a stopped registry: exit %d, %q", code, errs)
	}
}

// Without -u, the kept login is checked and used again, as docker does.
func TestLoginAgain(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	dir := credentialstest.ConfigDir(t, "")
	e := newEnv(t)
	if out, errs, code := e.berth("secret", "login", "-u", "alice", "--password-stdin", reg.Addr); code != 0 {
		t.Fatalf("login: exit %d: %s%s", code, out, errs)
	}
	out, errs, code := e.berth("", "login", reg.Addr)
	if code != 0 || out != "Authenticating with existing credentials... [Username: alice]\nLogin Succeeded\n" {
		t.Fatalf("login again: exit %d, %q, %q", code, out, errs)
	}
	// The kept password no longer works (changed elsewhere): no terminal to ask on, so
	// the registry's answer is the error.
	if err := os.WriteFile(filepath.Join(dir, "config.json"),
		[]byte(`{"auths": {"`+reg.Addr+`": {"auth": "`+b64("alice:old")+`"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, errs, code = e.berth("", "login", reg.Addr)
	if code != 1 || !strings.Contains(errs, "wrong user name or password") {
		t.Fatalf("login again with a stale password: exit %d, %q", code, errs)
	}
}

func TestLogout(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	dir := credentialstest.ConfigDir(t, "")
	e := newEnv(t)
	e.berth("secret", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if _, ok := auths(t, dir)[reg.Addr]; !ok {
		t.Fatal("login wrote nothing")
	}
	tests := []struct {
		args []string
		out  string
	}{
		{[]string{"logout", reg.Addr}, "Removing login credentials for " + reg.Addr + "\n"},
		{[]string{"logout", reg.Addr}, "Not logged in to " + reg.Addr + "\n"},
		{[]string{"logout"}, "Not logged in to https://index.docker.io/v1/\n"},
		{[]string{"logout", "docker.io"}, "Not logged in to https://index.docker.io/v1/\n"},
	}
	for _, tt := range tests {
		out, errs, code := e.berth("", tt.args...)
		if code != 0 || out != tt.out {
			t.Errorf("berth %q: exit %d, %q, %q; want %q", tt.args, code, out, errs, tt.out)
		}
	}
	if _, ok := auths(t, dir)[reg.Addr]; ok {
		t.Error("logout left the login in config.json")
	}
	if _, errs, code := e.berth("", "logout", "a b"); code != 1 || !strings.Contains(errs, "not a registry address") {
		t.Errorf("logout of a bad server: exit %d, %q", code, errs)
	}
}

// With credsStore the login goes to the helper, not into config.json, and the Keychain
// the pull and push code use finds it there.
func TestLoginHelper(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	h := credentialstest.InstallHelper(t)
	dir := credentialstest.ConfigDir(t, `{"credsStore": "`+credentialstest.HelperName+`"}`)
	e := newEnv(t)
	out, errs, code := e.berth("secret\n", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if code != 0 || out != "Login Succeeded\n" || strings.Contains(errs, "unencrypted") {
		t.Fatalf("login: exit %d, %q, %q", code, out, errs)
	}
	if got, ok := h.Get(t, reg.Addr); !ok || got.Username != "alice" || got.Secret != "secret" {
		t.Fatalf("the helper holds %+v, %v", got, ok)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "config.json")); bytes.Contains(b, []byte(b64("alice:secret"))) || bytes.Contains(b, []byte("secret\"")) {
		t.Fatalf("the password is in config.json: %s", b)
	}
	r, _ := name.NewRegistry(reg.Addr)
	a, err := authn.Resolve(t.Context(), credentials.New(dir).Keychain(), r)
	if err != nil {
		t.Fatal(err)
	}
	if ac, err := a.Authorization(); err != nil || ac.Username != "alice" || ac.Password != "secret" {
		t.Fatalf("Keychain gives %+v, %v", ac, err)
	}
	if out, _, code := e.berth("", "logout", reg.Addr); code != 0 || !strings.Contains(out, "Removing") {
		t.Fatalf("logout: %d %q", code, out)
	}
	if _, ok := h.Get(t, reg.Addr); ok {
		t.Fatal("logout left the login in the helper")
	}
}

func TestLoginHelperFails(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	credentialstest.InstallFailing(t, "berthfail", "pass not initialized: run pass init")
	dir := credentialstest.ConfigDir(t, `{"credsStore": "berthfail"}`)
	_, errs, code := newEnv(t).berth("secret", "login", "-u", "alice", "--password-stdin", reg.Addr)
	if code != 1 || !strings.Contains(errs, "credential helper docker-credential-berthfail failed to store") ||
		!strings.Contains(errs, "pass not initialized: run pass init") {
		t.Fatalf("login with a failing helper: exit %d, %q", code, errs)
	}
	if a := auths(t, dir); len(a) != 0 {
		t.Fatalf("config.json changed: %v", a)
	}
}

// After `berth login` the real crane, with the same DOCKER_CONFIG, is let in.
func TestLoginCraneInterop(t *testing.T) {
	crane := credentialstest.Crane(t)
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	dir := credentialstest.ConfigDir(t, "")
	catalog := func(configDir string) (string, error) {
		cmd := exec.CommandContext(t.Context(), crane, "catalog", reg.Addr)
		cmd.Env = append(os.Environ(), "DOCKER_CONFIG="+configDir, "HOME="+t.TempDir())
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Not logged in, crane is refused: the check below is not vacuous.
	if out, err := catalog(dir); err == nil || !strings.Contains(out, "401") && !strings.Contains(out, "UNAUTHORIZED") {
		t.Fatalf("crane catalog before login: %v: %s", err, out)
	}
	if out, errs, code := newEnv(t).berth("secret", "login", "-u", "alice", "--password-stdin", reg.Addr); code != 0 {
		t.Fatalf("login: exit %d: %s%s", code, out, errs)
	}
	if out, err := catalog(dir); err != nil {
		t.Fatalf("crane catalog after berth login: %v: %s", err, out)
	}
}
