package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/testguest"
)

const guest = `package main

import (
	"fmt"
	"os"
)

func main() {
	wd, _ := os.Getwd()
	fmt.Println("pwd", wd, "host", os.Getenv("HOSTNAME"))
	b, err := os.ReadFile("/data/in.txt")
	fmt.Printf("data %q %v\n", b, err)
	fmt.Println("write-ro", os.WriteFile("/data/out.txt", []byte("x"), 0o644) != nil)
	fmt.Println("write-root", os.WriteFile("/root.txt", []byte("y"), 0o644))
	os.Exit(5)
}
`

// A bundle as containerd writes one (Linux sections, proc/sysfs mounts, an absolute
// root path) runs: binds become preopens, ro is honoured, pseudo file systems are
// skipped, the cwd reaches the guest as PWD, and the exit code is the module's.
func TestRunContainerdStyleBundle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rootfs := filepath.Join(t.TempDir(), "snapshot-rootfs") // absolute, outside the bundle
	os.MkdirAll(filepath.Join(rootfs, "app"), 0o755)
	wasm := testguest.Read(t, testguest.Go(t, guest))
	os.WriteFile(filepath.Join(rootfs, "app", "main.wasm"), wasm, 0o755)
	data := t.TempDir()
	os.WriteFile(filepath.Join(data, "in.txt"), []byte("hello"), 0o644)
	limit := int64(256 << 20)
	spec := specs.Spec{
		Version:  specs.Version,
		Process:  &specs.Process{Args: []string{"/app/main.wasm"}, Env: []string{"HOSTNAME=pod"}, Cwd: "/app", Terminal: false},
		Root:     &specs.Root{Path: rootfs},
		Hostname: "pod",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc"},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "ro"}},
			{Destination: "/data", Type: "bind", Source: data, Options: []string{"rbind", "ro"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}},
			Resources:  &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}, CPU: &specs.LinuxCPU{}},
		},
	}
	b, _ := json.Marshal(spec)
	os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)

	eng, err := engine.New(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	var out bytes.Buffer
	code, err := runtime.New(eng).Run(ctx, dir, runtime.Options{Stdout: &out, Stderr: &out})
	if err != nil || code != 5 {
		t.Fatalf("Run = %d, %v\n%s", code, err, out.String())
	}
	for _, want := range []string{"pwd /app host pod", `data "hello" <nil>`, "write-ro true", "write-root <nil>"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(rootfs, "root.txt")); err != nil {
		t.Errorf("write to / did not land in the rootfs: %v", err)
	}

	// A module path that is missing, or a symlink out of the root, is ErrModuleNotFound
	// or refused, never a host file.
	os.Symlink("/etc/hostname", filepath.Join(rootfs, "app", "evil.wasm"))
	for _, m := range []string{"/app/none.wasm", "/app/evil.wasm", "/../../etc/hostname"} {
		spec.Process.Args = []string{m}
		b, _ := json.Marshal(spec)
		os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)
		_, err := runtime.New(eng).Run(ctx, dir, runtime.Options{Stdout: &out, Stderr: &out})
		if err == nil {
			t.Fatalf("module %s: ran", m)
		}
		if m == "/app/none.wasm" && !errors.Is(err, runtime.ErrModuleNotFound) {
			t.Fatalf("module %s: err = %v", m, err)
		}
	}
}

const rootGuest = `#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <wasi/api.h>
int main(void) {
	char buf[64] = {0};
	for (__wasi_fd_t fd = 3;; fd++) {
		__wasi_prestat_t ps;
		if (__wasi_fd_prestat_get(fd, &ps) != 0) break;
		char name[64] = {0};
		__wasi_fd_prestat_dir_name(fd, (uint8_t *)name, ps.u.dir.pr_name_len < 63 ? ps.u.dir.pr_name_len : 63);
		printf("preopen %d %s\n", fd, name);
	}
	FILE *f = fopen("/in.txt", "r");
	if (!f || !fgets(buf, sizeof buf, f)) { perror("in.txt"); return 2; }
	fclose(f);
	printf("in %s\n", buf);
	printf("module visible %d\n", access("/main.wasm", F_OK) == 0);
	f = fopen("/sub/out.txt", "w");
	if (!f) { perror("out.txt"); return 3; }
	fputs("written", f);
	fclose(f);
	printf("pwd %s\n", getenv("PWD"));
	return 0;
}
`

// A bind mount at "/" (berth run -v DIR:/) is the guest's root instead of the rootfs,
// as `wasmtime run --dir=/` makes the host's: one preopen "/", the bind's; the module,
// read from the rootfs, still runs, and the working directory reaches the guest as PWD.
// On both WASI hosts (wazero's merges preopens of one path by itself, berth's does not).
func TestRunBindAtRoot(t *testing.T) {
	ctx := context.Background()
	wasm := testguest.Read(t, testguest.C(t, rootGuest))
	for _, h := range []engine.Host{engine.HostWazero, engine.HostBerth} {
		t.Run(h.String(), func(t *testing.T) {
			dir := t.TempDir()
			rootfs := filepath.Join(dir, "rootfs")
			os.Mkdir(rootfs, 0o755)
			os.WriteFile(filepath.Join(rootfs, "main.wasm"), wasm, 0o755)
			host := t.TempDir()
			os.Mkdir(filepath.Join(host, "sub"), 0o755)
			os.WriteFile(filepath.Join(host, "in.txt"), []byte("from host"), 0o644)
			spec := specs.Spec{
				Version: specs.Version,
				Process: &specs.Process{Args: []string{"/main.wasm"}, Cwd: "/sub"},
				Root:    &specs.Root{Path: "rootfs", Readonly: true},
				Mounts:  []specs.Mount{{Destination: "/", Type: "bind", Source: host, Options: []string{"rbind", "rw"}}},
			}
			b, _ := json.Marshal(spec)
			os.WriteFile(filepath.Join(dir, "config.json"), b, 0o644)

			eng, err := engine.New(ctx, t.TempDir(), engine.WithHost(h))
			if err != nil {
				t.Fatal(err)
			}
			defer eng.Close(ctx)
			var out bytes.Buffer
			code, err := runtime.New(eng).Run(ctx, dir, runtime.Options{Stdout: &out, Stderr: &out})
			if ie := (*engine.ImportError)(nil); errors.As(err, &ie) && h == engine.HostBerth {
				t.Skipf("berth's WASI host does not provide %s yet", ie.Name)
			}
			if err != nil || code != 0 {
				t.Fatalf("Run = %d, %v\n%s", code, err, out.String())
			}
			if want := "preopen 3 /\nin from host\nmodule visible 0\npwd /sub\n"; out.String() != want {
				t.Errorf("output %q, want %q", out.String(), want)
			}
			if b, err := os.ReadFile(filepath.Join(host, "sub", "out.txt")); err != nil || string(b) != "written" {
				t.Errorf("host sub/out.txt = %q, %v; want the guest's write (the read-only rootfs is not /)", b, err)
			}
		})
	}
}
