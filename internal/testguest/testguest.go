// Package testguest builds WebAssembly guest programs for tests, from source, at test time.
//
// No guest binary is committed to the repository: tests describe their guests as Go
// (GOOS=wasip1 GOARCH=wasm) or C (clang --target=wasm32-wasi) source and this package
// builds them, caching the result by a hash of the source so a test binary builds each
// guest once.
//
// # Notes
//
//   - The cache lives under os.TempDir()/berth-testguest-<uid>, keyed by the sha256 of the
//     toolchain name, the flags and the source. Builds are atomic (temp file + rename), so
//     parallel test binaries may share it.
//   - C guests need Debian's clang, lld, wasi-libc and libclang-rt-14-dev-wasm32. When clang
//     is missing the test is skipped with a message that names the packages, unless
//     BERTH_REQUIRE_GUESTS=1 (set by CI), in which case it fails.
package testguest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// TB is the subset of testing.TB this package uses.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
	Skipf(format string, args ...any)
}

func cacheDir(t TB) string {
	t.Helper()
	d := filepath.Join(os.TempDir(), fmt.Sprintf("berth-testguest-%d", os.Getuid()))
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatalf("testguest: %v", err)
	}
	return d
}

func key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))[:24]
}

// Go builds a single-file Go program (package main) for GOOS=wasip1 GOARCH=wasm and
// returns the path of the .wasm file. extraFiles maps further file names (such as
// "go.mod") to contents; without a go.mod, a minimal one is written.
func Go(t TB, src string, extraFiles ...map[string]string) string {
	t.Helper()
	return GoTags(t, nil, src, extraFiles...)
}

// GoTags is Go with build tags (go build -tags), for guests whose libraries choose
// an implementation by tag (stealthrocket/net's getaddrinfo).
func GoTags(t TB, tags []string, src string, extraFiles ...map[string]string) string {
	t.Helper()
	files := map[string]string{"main.go": src}
	for _, m := range extraFiles {
		for k, v := range m {
			files[k] = v
		}
	}
	if _, ok := files["go.mod"]; !ok {
		files["go.mod"] = "module guest\n\ngo 1.24\n"
	}
	var parts []string
	for _, name := range slices.Sorted(maps.Keys(files)) {
		parts = append(parts, name, files[name])
	}
	parts = append(parts, runtime.Version())
	if len(tags) > 0 {
		parts = append(parts, "tags="+strings.Join(tags, ","))
	}
	out := filepath.Join(cacheDir(t), "go-"+key(parts...)+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	dir, err := os.MkdirTemp("", "testguest-go-")
	if err != nil {
		t.Fatalf("testguest: %v", err)
	}
	defer os.RemoveAll(dir)
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatalf("testguest: %v", err)
		}
	}
	// Built in this call's own directory, then renamed into the cache: parallel tests
	// of one process building the same guest once shared a pid-named temporary file,
	// and the second rename failed (ENOENT) after the first had moved it.
	tmp := filepath.Join(dir, "out.wasm")
	args := []string{"build", "-trimpath", "-o", tmp}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(goBin(), append(args, ".")...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testguest: building Go guest: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatalf("testguest: %v", err)
	}
	return out
}

// C builds a single-file C program with clang --target=wasm32-wasi and returns the path
// of the .wasm file. flags are passed to clang after the defaults (-O2).
func C(t TB, src string, flags ...string) string {
	t.Helper()
	clang, err := exec.LookPath("clang")
	if err != nil {
		msg := "testguest: clang not found; install Debian's clang lld wasi-libc libclang-rt-14-dev-wasm32"
		if os.Getenv("BERTH_REQUIRE_GUESTS") == "1" {
			t.Fatalf("%s", msg)
		}
		t.Skipf("%s", msg)
	}
	out := filepath.Join(cacheDir(t), "c-"+key(append([]string{src}, flags...)...)+".wasm")
	if _, err := os.Stat(out); err == nil {
		return out
	}
	dir, err := os.MkdirTemp("", "testguest-c-")
	if err != nil {
		t.Fatalf("testguest: %v", err)
	}
	defer os.RemoveAll(dir)
	srcPath := filepath.Join(dir, "main.c")
	if err := os.WriteFile(srcPath, []byte(src), 0o644); err != nil {
		t.Fatalf("testguest: %v", err)
	}
	// Built in this call's own directory, then renamed into the cache: parallel tests
	// of one process building the same guest once shared a pid-named temporary file,
	// and the second rename failed (ENOENT) after the first had moved it.
	tmp := filepath.Join(dir, "out.wasm")
	args := append([]string{"--target=wasm32-wasi", "-O2"}, flags...)
	args = append(args, srcPath, "-o", tmp)
	if b, err := exec.Command(clang, args...).CombinedOutput(); err != nil {
		t.Fatalf("testguest: building C guest: %v\n%s", err, b)
	}
	if err := os.Rename(tmp, out); err != nil {
		t.Fatalf("testguest: %v", err)
	}
	return out
}

// Read returns the bytes of a built guest.
func Read(t TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("testguest: %v", err)
	}
	return b
}

func goBin() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Hello sources used across packages' tests.
const (
	// GoHello prints "hello from wasm" and its arguments, one per line, then exits with the
	// code named by the environment variable EXIT (default 0).
	GoHello = `package main

import (
	"fmt"
	"os"
	"strconv"
)

func main() {
	fmt.Println("hello from wasm")
	for _, a := range os.Args[1:] {
		fmt.Println(a)
	}
	code, _ := strconv.Atoi(os.Getenv("EXIT"))
	os.Exit(code)
}
`
	// CHello prints "hello from c" and exits 0.
	CHello = `#include <stdio.h>
int main(void) { puts("hello from c"); return 0; }
`
)
