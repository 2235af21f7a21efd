package cli_test

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/berth-dev/berth/internal/cli"
	"github.com/berth-dev/berth/internal/credentials/credentialstest"
	"github.com/berth-dev/berth/internal/registrytest"
	"github.com/berth-dev/berth/internal/testguest"
)

var digestLine = regexp.MustCompile(`(?m)^1: digest: (sha256:[0-9a-f]{64}) size: [0-9]+$`)

// helloIn builds the C hello image as hello:1 in a new env and tags it ref
// (registry host + path), ready to push.
func helloIn(t *testing.T, ref string) (*env, string) {
	t.Helper()
	e := newEnv(t)
	e.buildImage("hello:1", testguest.C(t, testguest.CHello), "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n", nil)
	e.ok("tag", "hello:1", ref)
	return e, ref
}

// berth push, pull and run --pull against the real registry, with docker's output.
func TestPullPushRun(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src, ref := helloIn(t, reg.Addr+"/cli/hello:1")

	out := src.ok("push", ref)
	m := digestLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "The push refers to repository ["+reg.Addr+"/cli/hello]") || !strings.Contains(out, ": done ") {
		t.Fatalf("push output:\n%s", out)
	}
	pushed := m[1]
	if out := src.ok("push", ref); !strings.Contains(out, ": layer already exists") {
		t.Fatalf("second push output:\n%s", out)
	}
	if out := src.ok("push", "-q", ref); strings.TrimSpace(out) != pushed {
		t.Fatalf("push -q printed %q, want %s", out, pushed)
	}

	dst := newEnv(t)
	out = dst.ok("pull", ref)
	for _, want := range []string{"1: Pulling from cli/hello\n", ": done ", "Digest: " + pushed + "\n",
		"Status: Downloaded newer image for " + ref + "\n", "\n" + ref + "\n"} {
		if !strings.Contains(out, want) {
			t.Fatalf("pull output lacks %q:\n%s", want, out)
		}
	}
	if out := dst.ok("pull", ref); !strings.Contains(out, "Status: Image is up to date for "+ref) {
		t.Fatalf("second pull output:\n%s", out)
	}
	if out := dst.ok("pull", "-q", ref); out != ref+"\n" {
		t.Fatalf("pull -q printed %q", out)
	}
	if _, errs, code := dst.berth("", "pull", reg.Addr+"/cli/missing:1"); code == 0 || !strings.Contains(errs, "not found") {
		t.Fatalf("pull of a missing image: exit %d, %s", code, errs)
	}
	if _, errs, code := dst.berth("", "pull", "--platform", "linux/amd64", ref); code == 0 || !strings.Contains(errs, "wasi/wasm") {
		t.Fatalf("pull --platform linux/amd64: exit %d, %s", code, errs)
	}

	// run pulls a missing image itself, as docker does.
	runner := newEnv(t)
	if _, errs, code := runner.berth("", "run", "--rm", "--pull", "never", ref); code != 125 || !strings.Contains(errs, "no such image") {
		t.Fatalf("run --pull never of a missing image: exit %d, %s", code, errs)
	}
	out, errs, code := runner.berth("", "run", "--rm", ref)
	if code != 0 || out != "hello from c\n" || !strings.Contains(errs, "Unable to find image '"+ref+"' locally") || !strings.Contains(errs, "Status: Downloaded newer image") {
		t.Fatalf("run of a missing image: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	out, errs, code = runner.berth("", "run", "--rm", ref)
	if code != 0 || out != "hello from c\n" || errs != "" {
		t.Fatalf("run of a stored image: exit %d, stdout %q, stderr %q (want no registry output)", code, out, errs)
	}
	out, errs, code = runner.berth("", "run", "--rm", "--pull", "always", ref)
	if code != 0 || out != "hello from c\n" || !strings.Contains(errs, "Image is up to date") {
		t.Fatalf("run --pull always: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}
	if _, errs, code := runner.berth("", "run", "--pull", "sometimes", ref); code != 125 || !strings.Contains(errs, "always, missing or never") {
		t.Fatalf("run --pull sometimes: exit %d, %s", code, errs)
	}

	// --format artifact, and --index-with a Linux image built elsewhere.
	art := reg.Addr + "/cli/hello-artifact:1"
	src.ok("tag", "hello:1", art)
	if out := src.ok("push", "--format", "artifact", art); !digestLine.MatchString(out) {
		t.Fatalf("push --format artifact output:\n%s", out)
	}
	if _, errs, code := src.berth("", "push", "--format", "zip", art); code == 0 || !strings.Contains(errs, "docker or artifact") {
		t.Fatalf("push --format zip: exit %d, %s", code, errs)
	}
	linux := reg.Addr + "/cli/app:linux"
	limg, _ := random.Image(512, 1)
	cf, _ := limg.ConfigFile()
	cf.OS, cf.Architecture = "linux", "amd64"
	limg, _ = mutate.ConfigFile(limg, cf)
	lref, _ := name.ParseReference(linux)
	if err := remote.Write(lref, limg); err != nil {
		t.Fatal(err)
	}
	multi := reg.Addr + "/cli/app:1"
	src.ok("tag", "hello:1", multi)
	out = src.ok("push", "--index-with", linux, multi)
	if !digestLine.MatchString(out) || !strings.Contains(out, "wasi/wasm image: digest: "+pushed) {
		t.Fatalf("push --index-with output:\n%s", out)
	}
	if out, errs, code := newEnv(t).berth("", "run", "--rm", multi); code != 0 || out != "hello from c\n" {
		t.Fatalf("run of the multi-platform tag: exit %d, %q, %s", code, out, errs)
	}
}

// Two berth processes pulling one image at once both succeed.
func TestConcurrentPullProcesses(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	src, ref := helloIn(t, reg.Addr+"/conc/hello:1")
	src.ok("push", "-q", ref)
	dst := newEnv(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	outs := make([]string, 2)
	errs := make([]error, 2)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cmd := exec.CommandContext(t.Context(), exe, "pull", "-q", ref)
			cmd.Env = dst.environ()
			b, err := cmd.CombinedOutput()
			outs[i], errs[i] = string(b), err
		}()
	}
	wg.Wait()
	for i := range outs {
		if errs[i] != nil || outs[i] != ref+"\n" {
			t.Fatalf("pull %d: %v: %s", i, errs[i], outs[i])
		}
	}
	if out := dst.ok("run", "--rm", "--pull", "never", ref); out != "hello from c\n" {
		t.Fatalf("output %q", out)
	}
}

// A `berth login` is what push, pull and run --pull use; after `berth logout` the
// registry refuses, with the advice to log in. The logins live in docker's
// configuration directory ($DOCKER_CONFIG), the values of
// $BERTH_INSECURE_REGISTRIES are accepted by every command.
func TestPullPushRunLogin(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	credentialstest.ConfigDir(t, "")
	t.Setenv(cli.InsecureEnv, "10.0.0.0/8, reg.lan:5000")
	src, ref := helloIn(t, reg.Addr+"/auth/hello:1")
	loginAdvice := "run `berth login " + reg.Addr + "`"

	// Not logged in, the registry refuses: the successes below are the login's.
	if _, errs, code := src.berth("", "push", ref); code != 1 || !strings.Contains(errs, loginAdvice) {
		t.Fatalf("push before login: exit %d, %s", code, errs)
	}
	if out, errs, code := src.berth("secret\n", "login", "-u", "alice", "--password-stdin", reg.Addr); code != 0 || out != "Login Succeeded\n" {
		t.Fatalf("login: exit %d, %q, %s", code, out, errs)
	}
	if out := src.ok("push", ref); !digestLine.MatchString(out) {
		t.Fatalf("push output:\n%s", out)
	}
	dst := newEnv(t)
	if out := dst.ok("pull", ref); !strings.Contains(out, "Status: Downloaded newer image for "+ref) {
		t.Fatalf("pull output:\n%s", out)
	}
	runner := newEnv(t)
	out, errs, code := runner.berth("", "run", "--rm", "--pull", "always", ref)
	if code != 0 || out != "hello from c\n" || !strings.Contains(errs, "Status: Downloaded newer image") {
		t.Fatalf("run --pull always: exit %d, stdout %q, stderr:\n%s", code, out, errs)
	}

	if out := src.ok("logout", reg.Addr); out != "Removing login credentials for "+reg.Addr+"\n" {
		t.Fatalf("logout: %q", out)
	}
	if _, errs, code := newEnv(t).berth("", "pull", ref); code != 1 || !strings.Contains(errs, loginAdvice) || !strings.Contains(errs, "unauthorized") && !strings.Contains(errs, "wants credentials") {
		t.Fatalf("pull after logout: exit %d, %s", code, errs)
	}
	if _, errs, code := runner.berth("", "run", "--rm", "--pull", "always", ref); code != 125 || !strings.Contains(errs, loginAdvice) {
		t.Fatalf("run --pull always after logout: exit %d, %s", code, errs)
	}
}

// A login kept by a credential helper (config.json's credsStore) serves pulls and
// pushes: the helper is asked, config.json holds no secret.
func TestPullPushCredentialHelper(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{Users: map[string]string{"alice": "secret"}})
	h := credentialstest.InstallHelper(t)
	credentialstest.ConfigDir(t, `{"credsStore": "`+credentialstest.HelperName+`"}`)
	src, ref := helloIn(t, reg.Addr+"/helper/hello:1")
	if _, errs, code := src.berth("secret\n", "login", "-u", "alice", "--password-stdin", reg.Addr); code != 0 {
		t.Fatalf("login: exit %d, %s", code, errs)
	}
	if got, ok := h.Get(t, reg.Addr); !ok || got.Username != "alice" {
		t.Fatalf("the helper holds %+v, %v", got, ok)
	}
	before := len(h.Calls(t))
	src.ok("push", "-q", ref)
	if out := newEnv(t).ok("pull", "-q", ref); out != ref+"\n" {
		t.Fatalf("pull -q printed %q", out)
	}
	gets := 0
	for _, c := range h.Calls(t)[before:] {
		if c == "get" {
			gets++
		}
	}
	if gets < 2 {
		t.Fatalf("the helper was asked %d times by push and pull (calls %q)", gets, h.Calls(t))
	}
	src.ok("logout", reg.Addr)
	if _, errs, code := newEnv(t).berth("", "pull", ref); code != 1 || !strings.Contains(errs, "berth login "+reg.Addr) {
		t.Fatalf("pull after logout: exit %d, %s", code, errs)
	}
}

// login, pull, push and run take the same --insecure-registry values and
// $BERTH_INSECURE_REGISTRIES, and refuse a bad one the same way, naming where it
// came from, before anything is sent.
func TestInsecureRegistryValues(t *testing.T) {
	credentialstest.ConfigDir(t, "")
	cmds := []struct {
		args []string
		code int
	}{
		{[]string{"login", "-u", "alice", "-p", "x", "127.0.0.1:1"}, 1},
		{[]string{"pull", "127.0.0.1:1/app:1"}, 1},
		{[]string{"push", "127.0.0.1:1/app:1"}, 1},
		{[]string{"run", "--rm", "127.0.0.1:1/app:1"}, 125},
	}
	tests := []struct {
		name, env, flag string
		want            string // in stderr
	}{
		{"bad flag", "", "a b", `--insecure-registry: insecure registry "a b": give host[:port]`},
		{"flag with a path", "", "reg.lan/x", `--insecure-registry: insecure registry "reg.lan/x"`},
		{"bad range", "", "10.0.0.0/33", `insecure registry "10.0.0.0/33"`},
		{"bad env", "reg.lan, a b", "", cli.InsecureEnv + `: insecure registry "a b": give host[:port]`},
		{"good values", "10.0.0.0/8,reg.lan", "http://reg.lan:5000", "127.0.0.1:1"}, // gets as far as the registry
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(cli.InsecureEnv, tt.env)
			e := newEnv(t)
			for _, c := range cmds {
				args := c.args
				if tt.flag != "" {
					args = append([]string{c.args[0], "--insecure-registry", tt.flag}, c.args[1:]...)
				}
				_, errs, code := e.berth("", args...)
				if code != c.code || !strings.Contains(errs, tt.want) {
					t.Errorf("berth %q: exit %d, %q; want exit %d saying %q", args, code, errs, c.code, tt.want)
				}
			}
		})
	}
}
