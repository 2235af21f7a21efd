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
