package cli_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berth-dev/berth/internal/cli"
	"github.com/berth-dev/berth/internal/testguest"
)

// The test binary doubles as berth: with BERTH_TEST_MAIN=1 it runs the CLI, so tests can
// start real, parallel berth processes.
func TestMain(m *testing.M) {
	if os.Getenv("BERTH_TEST_MAIN") == "1" {
		app := &cli.App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
		os.Exit(app.Main(context.Background(), os.Args[1:]))
	}
	code := m.Run()
	removeShimDir()
	os.Exit(code)
}

type env struct {
	t           *testing.T
	root, state string
	vars        map[string]string // variables the in-process CLI sees besides os.Getenv's
}

// newEnv gives each test a data root and a state directory of its own (the default
// state directory, /run/berth for root, is shared by every root on the machine).
func newEnv(t *testing.T) *env { return &env{t: t, root: t.TempDir(), state: t.TempDir()} }

// environ is the environment of a berth process of this env.
func (e *env) environ() []string {
	return append(os.Environ(), "BERTH_TEST_MAIN=1", "BERTH_ROOT="+e.root, "BERTH_STATE="+e.state)
}

// berth runs the CLI in-process and returns stdout, stderr and the exit code.
func (e *env) berth(stdin string, args ...string) (string, string, int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	app := &cli.App{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			switch k {
			case "BERTH_ROOT":
				return e.root
			case "BERTH_STATE":
				return e.state
			}
			if v, ok := e.vars[k]; ok {
				return v
			}
			return os.Getenv(k)
		}}
	code := app.Main(context.Background(), args)
	return out.String(), errb.String(), code
}

func (e *env) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.berth("", args...)
	if code != 0 {
		e.t.Fatalf("berth %v: exit %d\n%s%s", args, code, out, errs)
	}
	return out
}

// buildImage writes a context with the module and a Dockerfile and builds it.
func (e *env) buildImage(tag, wasm, dockerfile string, files map[string]string) {
	e.t.Helper()
	dir := e.t.TempDir()
	b := testguest.Read(e.t, wasm)
	if err := os.WriteFile(filepath.Join(dir, "app.wasm"), b, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for name, content := range files {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644)
	}
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644)
	e.ok("build", "-q", "-t", tag, dir)
}

const probeSrc = `package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// probe: "cat FILE", "write FILE TEXT", "env KEY", "args", "stdin", "grow MB", "exit N", "pwd".
func main() {
	a := os.Args[1:]
	for len(a) > 0 {
		switch a[0] {
		case "cat":
			b, err := os.ReadFile(a[1])
			if err != nil {
				fmt.Println("ERR", err)
			} else {
				fmt.Print(string(b))
			}
			a = a[2:]
		case "write":
			if err := os.WriteFile(a[1], []byte(a[2]), 0o644); err != nil {
				fmt.Println("ERR", err)
			} else {
				fmt.Println("wrote", a[1])
			}
			a = a[3:]
		case "env":
			fmt.Printf("%s=%s\n", a[1], os.Getenv(a[1]))
			a = a[2:]
		case "args":
			fmt.Println(strings.Join(os.Args, "|"))
			a = a[1:]
		case "pwd":
			wd, _ := os.Getwd()
			fmt.Println("pwd", wd)
			a = a[1:]
		case "stdin":
			sc := bufio.NewScanner(os.Stdin)
			for sc.Scan() {
				fmt.Println("in:", sc.Text())
			}
			a = a[1:]
		case "grow":
			n, _ := strconv.Atoi(a[1])
			buf := make([]byte, n<<20)
			buf[len(buf)-1] = 1
			fmt.Println("grew", len(buf)>>20)
			a = a[2:]
		case "exit":
			n, _ := strconv.Atoi(a[1])
			os.Exit(n)
		default:
			fmt.Println("unknown", a[0])
			a = a[1:]
		}
	}
}
`

func TestRunImage(t *testing.T) {
	e := newEnv(t)
	probe := testguest.Go(t, probeSrc)
	e.buildImage("probe:1", probe, `FROM scratch
COPY app.wasm /bin/probe.wasm
COPY etc/ /etc/
ENV GREETING=hi MODE=image
WORKDIR /work
ENTRYPOINT ["/bin/probe.wasm"]
CMD ["cat", "/etc/motd"]
`, map[string]string{"etc/motd": "motd from image\n"})

	vol := t.TempDir()
	os.WriteFile(filepath.Join(vol, "host.txt"), []byte("from host\n"), 0o644)
	ro := t.TempDir()
	envFile := filepath.Join(t.TempDir(), "f.env")
	os.WriteFile(envFile, []byte("# c\nFROMFILE=yes\n"), 0o644)

	tests := []struct {
		name  string
		stdin string
		args  []string
		code  int
		want  []string
		not   []string
	}{
		{name: "image cmd", args: []string{"run", "--rm", "probe:1"}, want: []string{"motd from image"}},
		{name: "args replace cmd", args: []string{"run", "--rm", "probe:1", "args"}, want: []string{"/bin/probe.wasm|args"}},
		{name: "env merge", args: []string{"run", "--rm", "-e", "MODE=flag", "--env-file", envFile, "probe:1", "env", "MODE", "env", "GREETING", "env", "FROMFILE", "env", "HOSTNAME"},
			want: []string{"MODE=flag", "GREETING=hi", "FROMFILE=yes", "HOSTNAME="}},
		{name: "workdir from image and flag", args: []string{"run", "--rm", "-w", "/etc", "probe:1", "pwd", "cat", "motd"}, want: []string{"pwd /etc", "motd from image"}},
		{name: "exit code", args: []string{"run", "--rm", "probe:1", "exit", "7"}, code: 7},
		{name: "stdin with -i", stdin: "a\nb\n", args: []string{"run", "--rm", "-i", "probe:1", "stdin"}, want: []string{"in: a", "in: b"}},
		{name: "no stdin without -i", stdin: "a\n", args: []string{"run", "--rm", "probe:1", "stdin"}, not: []string{"in: a"}},
		{name: "volume rw", args: []string{"run", "--rm", "-v", vol + ":/data", "probe:1", "cat", "/data/host.txt", "write", "/data/out.txt", "x"}, want: []string{"from host", "wrote /data/out.txt"}},
		{name: "volume ro refuses writes", args: []string{"run", "--rm", "-v", ro + ":/ro:ro", "probe:1", "write", "/ro/x", "y"}, want: []string{"ERR"}},
		{name: "host is invisible", args: []string{"run", "--rm", "probe:1", "cat", "/etc/hostname", "cat", "/etc/passwd"}, want: []string{"ERR"}, not: []string{"root:"}},
		{name: "rootfs is writable and private", args: []string{"run", "--rm", "probe:1", "write", "/etc/motd", "changed", "cat", "/etc/motd"}, want: []string{"changed"}},
		{name: "memory limit", args: []string{"run", "--rm", "--memory", "32m", "probe:1", "grow", "64"}, code: 2, not: []string{"grew"}},
		{name: "memory enough", args: []string{"run", "--rm", "--memory", "256m", "probe:1", "grow", "64"}, want: []string{"grew 64"}},
		{name: "entrypoint flag drops cmd", args: []string{"run", "--rm", "--entrypoint", "/bin/probe.wasm", "probe:1"}, not: []string{"motd"}},
		{name: "entrypoint missing module", args: []string{"run", "--rm", "--entrypoint", "/nope.wasm", "probe:1"}, code: 127, want: []string{"/nope.wasm"}},
		{name: "unknown image", args: []string{"run", "--rm", "--pull", "never", "nosuch:1"}, code: 125, want: []string{"berth pull", "berth build", "berth load"}},
		{name: "bad volume", args: []string{"run", "--rm", "-v", "rel:/x", "probe:1"}, code: 125, want: []string{"absolute"}},
		{name: "bad env", args: []string{"run", "--rm", "-e", "=x", "probe:1"}, code: 125, want: []string{"empty"}},
		{name: "unknown flag", args: []string{"run", "--bogus", "probe:1"}, code: 1, want: []string{"unknown flag: --bogus", "--help"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := e.berth(tt.stdin, tt.args...)
			all := out + errs
			if code != tt.code {
				t.Fatalf("exit %d, want %d\n%s", code, tt.code, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output lacks %q:\n%s", w, all)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(all, w) {
					t.Errorf("output has %q:\n%s", w, all)
				}
			}
		})
	}
	if b, err := os.ReadFile(filepath.Join(vol, "out.txt")); err != nil || string(b) != "x" {
		t.Fatalf("write through the volume did not reach the host: %q %v", b, err)
	}
	if out := e.ok("ps", "-a", "-q"); strings.TrimSpace(out) != "" {
		t.Fatalf("--rm left containers: %q", out)
	}
}

func TestRunLocalModuleAndErrors(t *testing.T) {
	e := newEnv(t)
	hello := testguest.C(t, testguest.CHello)
	out := e.ok("run", "--rm", hello)
	if !strings.Contains(out, "hello from c") {
		t.Fatalf("out %q", out)
	}
	dir := t.TempDir()
	trap := testguest.C(t, "int main(void){ __builtin_trap(); }")
	tests := []struct {
		name, file string
		content    []byte
		code       int
		want       string
	}{
		{name: "trap", file: trap, code: 134, want: "trapped"},
		{name: "malformed", file: filepath.Join(dir, "bad.wasm"), content: []byte("not wasm at all"), code: 126, want: "not a valid WebAssembly module"},
		{name: "truncated", file: filepath.Join(dir, "trunc.wasm"), content: testguest.Read(t, hello)[:100], code: 126, want: "WebAssembly"},
		{name: "unknown import", file: testguest.C(t, `__attribute__((import_module("env"), import_name("foo"))) void foo(void); int main(void){ foo(); return 0; }`), code: 126, want: "env.foo"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.content != nil {
				os.WriteFile(tt.file, tt.content, 0o644)
			}
			out, errs, code := e.berth("", "run", "--rm", tt.file)
			if code != tt.code || !strings.Contains(out+errs, tt.want) {
				t.Fatalf("exit %d (want %d), output %q lacks %q", code, tt.code, out+errs, tt.want)
			}
		})
	}
}

// A trap prints the wasm stack by function; source positions come with
// BERTH_BACKTRACE_DETAILS=1, and without it the trace says so for a module with DWARF.
func TestRunTrapBacktraceDetails(t *testing.T) {
	e := newEnv(t)
	trap := testguest.C(t, "__attribute__((noinline)) void crash_here(int x) { if (x) __builtin_trap(); }\n"+
		"int main(int argc, char **argv) { crash_here(argc); return 0; }\n", "-g")
	for _, tt := range []struct {
		value      string
		code       int
		want, lack []string
	}{
		{"", 134, []string{"trapped: unreachable", "\tcrash_here(i32)\n", "note: the module carries DWARF debug information: set BERTH_BACKTRACE_DETAILS=1"}, []string{"main.c:"}},
		{"1", 134, []string{"trapped: unreachable", "\tcrash_here(i32)\n\t\t0x", "main.c:1:"}, []string{"note:"}},
		{"yes", 125, []string{`BERTH_BACKTRACE_DETAILS="yes": use 1`}, []string{"trapped"}},
	} {
		e.vars = map[string]string{"BERTH_BACKTRACE_DETAILS": tt.value}
		_, errs, code := e.berth("", "run", "--rm", trap)
		if code != tt.code {
			t.Errorf("BERTH_BACKTRACE_DETAILS=%q: exit %d, want %d\n%s", tt.value, code, tt.code, errs)
		}
		for _, w := range tt.want {
			if !strings.Contains(errs, w) {
				t.Errorf("BERTH_BACKTRACE_DETAILS=%q: stderr lacks %q:\n%s", tt.value, w, errs)
			}
		}
		for _, l := range tt.lack {
			if strings.Contains(errs, l) {
				t.Errorf("BERTH_BACKTRACE_DETAILS=%q: stderr has %q:\n%s", tt.value, l, errs)
			}
		}
	}
}

func TestImagesSaveLoadRmi(t *testing.T) {
	e := newEnv(t)
	hello := testguest.C(t, testguest.CHello)
	df := "FROM scratch\nCOPY app.wasm /hello.wasm\nENTRYPOINT [\"hello.wasm\"]\n"
	e.buildImage("hello:1", hello, df, nil)
	id1 := strings.TrimSpace(e.ok("images", "-q"))
	// Reproducible: building again gives the same id.
	e.buildImage("hello:2", hello, df, nil)
	if ids := strings.Fields(e.ok("images", "-q")); len(ids) != 1 || ids[0] != id1 {
		t.Fatalf("same inputs gave different images: %v", ids)
	}
	out := e.ok("images")
	if !strings.HasPrefix(out, "REPOSITORY") || !strings.Contains(out, "hello") || !strings.Contains(out, id1) {
		t.Fatalf("images:\n%s", out)
	}
	out = e.ok("images", "--format", "{{.Repository}}:{{.Tag}}")
	if out != "hello:1\nhello:2\n" && out != "hello:2\nhello:1\n" {
		t.Fatalf("--format: %q", out)
	}
	var row map[string]string
	if err := json.Unmarshal([]byte(strings.Split(e.ok("images", "--format", "json"), "\n")[0]), &row); err != nil || row["ID"] != id1 {
		t.Fatalf("json: %v %v", row, err)
	}
	var ii []map[string]any
	if err := json.Unmarshal([]byte(e.ok("image", "inspect", "hello:1")), &ii); err != nil || ii[0]["Os"] != "wasi" {
		t.Fatalf("inspect: %v %v", ii, err)
	}

	// A container made from hello:1 keeps rmi from removing it.
	e.ok("run", "--name", "keeper", "hello:1")
	e.ok("tag", "hello:1", "other:1")
	if out := e.ok("rmi", "hello:2"); !strings.Contains(out, "Untagged: hello:2") {
		t.Fatalf("rmi of one name: %q", out)
	}
	tarPath := filepath.Join(t.TempDir(), "hello.tar")
	e.ok("save", "-o", tarPath, "hello:1")
	e.ok("rmi", "other:1")
	_, errs, code := e.berth("", "rmi", "hello:1")
	if code == 0 || !strings.Contains(errs, "keeper") {
		t.Fatalf("rmi of a used image: exit %d %q", code, errs)
	}
	if out := e.ok("rmi", "-f", "hello:1"); !strings.Contains(out, "Deleted:") {
		t.Fatalf("rmi -f: %q", out)
	}
	e.ok("rm", "keeper")
	if out := e.ok("images", "-q"); out != "" {
		t.Fatalf("images left: %q", out)
	}
	cache, _ := os.ReadDir(filepath.Join(e.root, "cache", "compiled"))
	if len(cache) != 0 {
		t.Fatalf("compiled code left after the last image went: %v", cache)
	}
	out = e.ok("load", "-i", tarPath)
	if !strings.Contains(out, "Loaded image: hello:1") {
		t.Fatalf("load: %q", out)
	}
	if out := e.ok("run", "--rm", "hello:1"); out != "hello from c\n" {
		t.Fatalf("run after load: %q", out)
	}
	cache, _ = os.ReadDir(filepath.Join(e.root, "cache", "compiled"))
	if len(cache) != 1 {
		t.Fatalf("load did not precompile: %v", cache)
	}
	// image prune removes a dangling image.
	e.buildImage("hello:1", testguest.C(t, "#include <stdio.h>\nint main(void){puts(\"v2\");return 0;}"), df, nil)
	if out := e.ok("image", "prune", "-f"); !strings.Contains(out, "deleted: sha256:") {
		t.Fatalf("prune: %q", out)
	}
}

// tarOf builds a tar archive from name → content; a content of "->target" makes a symlink.
func tarOf(t *testing.T, files [][2]string) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		if target, ok := strings.CutPrefix(f[1], "->"); ok {
			tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeSymlink, Linkname: target, Mode: 0o777})
			continue
		}
		tw.WriteHeader(&tar.Header{Name: f[0], Typeflag: tar.TypeReg, Size: int64(len(f[1])), Mode: 0o644})
		tw.Write([]byte(f[1]))
	}
	tw.Close()
	return buf.Bytes()
}

func TestLoadBadArchives(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{name: "not a tar", data: []byte("garbage garbage garbage"), want: "archive"},
		{name: "traversal", data: tarOf(t, [][2]string{{"../../evil", "x"}}), want: "evil"},
		{name: "empty tar", data: tarOf(t, nil), want: "archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := filepath.Join(dir, "a.tar")
			os.WriteFile(p, tt.data, 0o644)
			_, errs, code := e.berth("", "load", "-i", p)
			if code == 0 || !strings.Contains(errs, tt.want) {
				t.Fatalf("exit %d, stderr %q lacks %q", code, errs, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil")); err == nil {
		t.Fatal("traversal wrote outside")
	}
	if out := e.ok("images", "-q"); out != "" {
		t.Fatalf("a failed load left images: %q", out)
	}
}

// Several berth processes at once (build/load + run + rmi) never corrupt the root.
func TestParallelProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	e := newEnv(t)
	hello := testguest.C(t, testguest.CHello)
	e.buildImage("base:1", hello, "FROM scratch\nCOPY app.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n", nil)
	tarPath := filepath.Join(t.TempDir(), "base.tar")
	e.ok("save", "-o", tarPath, "base:1")
	self, _ := os.Executable()
	berth := func(args ...string) (string, error) {
		c := exec.Command(self, args...)
		c.Env = e.environ()
		b, err := c.CombinedOutput()
		return string(b), err
	}
	var wg sync.WaitGroup
	errc := make(chan error, 100)
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				tag := fmt.Sprintf("w%d:%d", w, i)
				if out, err := berth("load", "-q", "-i", tarPath); err != nil {
					errc <- fmt.Errorf("load: %v %s", err, out)
				}
				if out, err := berth("tag", "base:1", tag); err != nil {
					errc <- fmt.Errorf("tag: %v %s", err, out)
				}
				if out, err := berth("run", "--rm", tag); err != nil || out != "hello from c\n" {
					errc <- fmt.Errorf("run %s: %v %q", tag, err, out)
				}
				if out, err := berth("rmi", tag); err != nil {
					errc <- fmt.Errorf("rmi %s: %v %s", tag, err, out)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if out := e.ok("run", "--rm", "base:1"); out != "hello from c\n" {
		t.Fatalf("store damaged: %q", out)
	}
	if out := e.ok("images", "--format", "{{.Repository}}:{{.Tag}}"); out != "base:1\n" {
		t.Fatalf("images after the storm: %q", out)
	}
	if out := e.ok("ps", "-a", "-q"); out != "" {
		t.Fatalf("containers left: %q", out)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// ps lists the readable containers and names a corrupt record; rm -f ID removes it.
func TestCorruptContainerRecord(t *testing.T) {
	e := newEnv(t)
	hello := testguest.C(t, testguest.CHello)
	e.ok("run", "--name", "good", hello)
	e.ok("run", "--name", "bad", hello)
	id := strings.TrimSpace(e.ok("ps", "-a", "-q", "--no-trunc"))
	var badID string
	for _, line := range strings.Fields(id) {
		b, _ := os.ReadFile(filepath.Join(e.root, "containers", line, "container.json"))
		if strings.Contains(string(b), `"Name": "bad"`) {
			badID = line
		}
	}
	os.WriteFile(filepath.Join(e.root, "containers", badID, "container.json"), []byte("{"), 0o600)
	out, errs, code := e.berth("", "ps", "-a", "--format", "{{.Names}}")
	if code == 0 || out != "good\n" || !strings.Contains(errs, badID) || !strings.Contains(errs, "rm -f") {
		t.Fatalf("ps with a corrupt record: exit %d, out %q, err %q", code, out, errs)
	}
	e.ok("rm", "-f", badID)
	if out := e.ok("ps", "-a", "--format", "{{.Names}}"); out != "good\n" {
		t.Fatalf("after rm -f: %q", out)
	}
}
