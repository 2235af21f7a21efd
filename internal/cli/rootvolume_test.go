package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/cli"
	"github.com/berth-dev/berth/internal/testguest"
)

// berthWith runs the CLI as e.berth does, with extra environment variables.
func (e *env) berthWith(vars map[string]string, args ...string) (string, string, int) {
	e.t.Helper()
	var out, errb bytes.Buffer
	app := &cli.App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == "BERTH_ROOT" {
				return e.root
			}
			if k == "BERTH_STATE" {
				return e.state
			}
			if v, ok := vars[k]; ok {
				return v
			}
			return os.Getenv(k)
		}}
	code := app.Main(context.Background(), args)
	return out.String(), errb.String(), code
}

// -v DIR:/ makes DIR the guest's root in place of the container's (a local module's, or
// an image's), as conformance runners use it: `berth run --rm -v /:/ -w "$PWD" …`.
func TestRunVolumeAtRoot(t *testing.T) {
	e := newEnv(t)
	probe := testguest.Go(t, probeSrc)
	e.buildImage("probe:1", probe, "FROM scratch\nCOPY app.wasm /bin/probe.wasm\nCOPY etc/ /etc/\nENTRYPOINT [\"/bin/probe.wasm\"]\n",
		map[string]string{"etc/motd": "motd from image\n"})
	dir := t.TempDir() // the module is outside it
	os.MkdirAll(filepath.Join(dir, "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "sub", "in.txt"), []byte("in sub\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "top.txt"), []byte("at top\n"), 0o644)
	noSuffix := filepath.Join(t.TempDir(), "probe.test") // as go test -exec names it
	os.WriteFile(noSuffix, testguest.Read(t, probe), 0o755)

	tests := []struct {
		name string
		args []string
		want []string
		not  []string
	}{
		{name: "local module", args: []string{"run", "--rm", "-v", dir + ":/", "-e", "K=V", probe, "cat", "/top.txt", "env", "K", "args"},
			want: []string{"at top", "K=V", "/" + filepath.Base(probe) + "|cat|/top.txt"}},
		{name: "a path without .wasm", args: []string{"run", "--rm", "-v", dir + ":/", noSuffix, "cat", "/top.txt"}, want: []string{"at top"}},
		{name: "-w resolves relative paths", args: []string{"run", "--rm", "-v", dir + ":/", "-w", "/sub", probe, "pwd", "cat", "in.txt", "cat", "../top.txt"},
			want: []string{"pwd /sub", "in sub", "at top"}},
		{name: "PWD from -e wins over -w", args: []string{"run", "--rm", "-v", dir + ":/", "-w", "/sub", "-e", "PWD=/", probe, "pwd", "cat", "top.txt"},
			want: []string{"pwd /", "at top"}},
		{name: "writes reach the host", args: []string{"run", "--rm", "-v", dir + ":/", probe, "write", "/sub/out.txt", "w"}, want: []string{"wrote /sub/out.txt"}},
		{name: "image", args: []string{"run", "--rm", "-v", dir + ":/", "probe:1", "cat", "/top.txt", "cat", "/etc/motd"},
			want: []string{"at top", "ERR"}, not: []string{"motd from image"}},
		{name: "read-only root", args: []string{"run", "--rm", "-v", dir + ":/:ro", "probe:1", "cat", "/top.txt", "write", "/x", "y"},
			want: []string{"at top", "ERR"}, not: []string{"wrote"}},
		{name: "a volume below /", args: []string{"run", "--rm", "-v", dir + ":/", "-v", filepath.Join(dir, "sub") + ":/mnt", "probe:1", "cat", "/mnt/in.txt"},
			want: []string{"in sub"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errs, code := e.berth("", tt.args...)
			all := out + errs
			if code != 0 {
				t.Fatalf("exit %d\n%s", code, all)
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
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "out.txt")); err != nil || string(b) != "w" {
		t.Fatalf("write through -v DIR:/ did not reach the host: %q %v", b, err)
	}
}

// $BERTH_WASI chooses the WASI host; berth info names it; a wrong value is refused with
// a message naming the variable.
func TestWASIHostEnv(t *testing.T) {
	e := newEnv(t)
	hello := testguest.C(t, testguest.CHello)
	for _, tt := range []struct{ value, want string }{{"", "WASI Host: berth"}, {"wazero", "WASI Host: wazero"}, {"berth", "WASI Host: berth"}} {
		out, errs, code := e.berthWith(map[string]string{"BERTH_WASI": tt.value}, "info")
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("BERTH_WASI=%q berth info: exit %d, output lacks %q:\n%s%s", tt.value, code, tt.want, out, errs)
		}
	}
	out, errs, code := e.berthWith(map[string]string{"BERTH_WASI": "wasmtime"}, "run", "--rm", hello)
	if code != 125 || !strings.Contains(errs, "BERTH_WASI") || !strings.Contains(errs, `"wasmtime"`) {
		t.Errorf("BERTH_WASI=wasmtime berth run: exit %d, want 125 and a message naming BERTH_WASI:\n%s%s", code, out, errs)
	}
	// Both hosts run a guest that needs only what berth's host had from the start.
	raw := testguest.C(t, `#include <unistd.h>
int main(void) { write(1, "raw\n", 4); return 3; }`)
	for _, h := range []string{"wazero", "berth"} {
		out, errs, code := e.berthWith(map[string]string{"BERTH_WASI": h}, "run", "--rm", raw)
		if code != 3 || out != "raw\n" {
			t.Errorf("BERTH_WASI=%s: exit %d, output %q %q", h, code, out, errs)
		}
	}
}
