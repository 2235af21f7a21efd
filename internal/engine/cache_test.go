package engine

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

// fileStamp identifies a file's version without timing: a recompilation writes a new file
// (temp file + rename), so its inode changes.
type fileStamp struct {
	ino   uint64
	mtime time.Time
	size  int64
}

func stamps(t *testing.T, dir string) map[string]fileStamp {
	t.Helper()
	m := map[string]fileStamp{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		m[p] = fileStamp{ino: info.Sys().(*syscall.Stat_t).Ino, mtime: info.ModTime(), size: info.Size()}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "cache", "compiled") // New creates it
	e := newEngine(t, dir)
	hello := cHello(t)
	digest := Digest(hello)
	hexDigest := digest[len("sha256:"):]

	got, err := e.Precompile(ctx, hello)
	if err != nil || got != digest {
		t.Fatalf("Precompile = %q, %v; want %q", got, err, digest)
	}
	sub, err := e.versionSubdir()
	if err != nil {
		t.Fatal(err)
	}
	if want := "wazero-v1.12.0-"; e.Version() == "wazero v1.12.0" && sub[:len(want)] != want {
		t.Errorf("version directory %q does not start with %q", sub, want)
	}
	codeDir := filepath.Join(dir, hexDigest, sub)
	before := stamps(t, codeDir)
	if len(before) == 0 {
		t.Fatalf("no compiled code under %s", codeDir)
	}
	if cached, err := e.Cached(ctx); err != nil || !slices.Equal(cached, []string{digest}) {
		t.Errorf("Cached = %q, %v; want [%s]", cached, err, digest)
	}
	if size, err := e.CacheSize(ctx); err != nil || size <= 0 {
		t.Errorf("CacheSize = %d, %v; want > 0", size, err)
	}

	// Precompiling again, and running from a second engine on the same directory, reuse
	// the compiled code instead of compiling again.
	if _, err := e.Precompile(ctx, hello); err != nil {
		t.Fatal(err)
	}
	e2 := newEngine(t, dir)
	var out bytes.Buffer
	if code, err := e2.Run(ctx, Spec{Module: hello, Digest: digest, Stdout: &out}); err != nil || code != 0 || out.String() != "hello from c\n" {
		t.Fatalf("Run from the cache = %d, %v, %q", code, err, out.String())
	}
	if after := stamps(t, codeDir); !mapsEqual(before, after) {
		t.Errorf("compiled code was rewritten:\nbefore %v\nafter  %v", before, after)
	}

	// Remove drops the directory; removing again is fine.
	if err := e.Remove(ctx, digest); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, hexDigest)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Remove: %v, want the directory gone", err)
	}
	if cached, err := e.Cached(ctx); err != nil || len(cached) != 0 {
		t.Errorf("Cached after Remove = %q, %v", cached, err)
	}
	if err := e.Remove(ctx, digest); err != nil {
		t.Errorf("second Remove: %v", err)
	}
	if err := e.Remove(ctx, "sha256:../.."); err == nil {
		t.Error("Remove accepted a bad digest")
	}

	// The module runs (and is cached) again after removal, in the same engine.
	if code, err := e.Run(ctx, Spec{Module: hello, Digest: digest}); err != nil || code != 0 {
		t.Fatalf("Run after Remove = %d, %v", code, err)
	}
	if cached, _ := e.Cached(ctx); !slices.Equal(cached, []string{digest}) {
		t.Errorf("Cached after re-run = %q", cached)
	}
}

func TestPrune(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	e := newEngine(t, dir)
	hello, args := cHello(t), cGuest(t, cArgsEnv)
	dHello, dArgs := Digest(hello), Digest(args)
	for _, w := range [][]byte{hello, args} {
		if _, err := e.Precompile(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	// Code of another engine version, a crash leftover and an unrelated file.
	oldVersion := filepath.Join(dir, dHello[7:], "wazero-v0.0.1-amd64-linux")
	trash := filepath.Join(dir, trashPrefix+"leftover")
	for _, d := range []string{oldVersion, trash} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	other := filepath.Join(dir, "README")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	var asked []string
	removed, err := e.Prune(ctx, func(d string) bool { asked = append(asked, d); return d == dHello })
	if err != nil || removed != 1 {
		t.Fatalf("Prune = %d, %v; want 1", removed, err)
	}
	slices.Sort(asked)
	if want := []string{dHello, dArgs}; !slices.Equal(asked, slices.Sorted(slices.Values(want))) {
		t.Errorf("keep asked about %q, want %q", asked, want)
	}
	if cached, _ := e.Cached(ctx); !slices.Equal(cached, []string{dHello}) {
		t.Errorf("Cached after Prune = %q, want [%s]", cached, dHello)
	}
	for _, gone := range []string{oldVersion, trash} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s survived Prune: %v", gone, err)
		}
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("Prune removed an unrelated file: %v", err)
	}

	removed, err = e.Prune(ctx, func(string) bool { return false })
	if err != nil || removed != 1 {
		t.Fatalf("Prune(keep none) = %d, %v; want 1", removed, err)
	}
	if cached, _ := e.Cached(ctx); len(cached) != 0 {
		t.Errorf("Cached after Prune(keep none) = %q", cached)
	}
	if size, err := e.CacheSize(ctx); err != nil || size != 1 { // the README
		t.Errorf("CacheSize after Prune = %d, %v; want 1", size, err)
	}
}

func mapsEqual(a, b map[string]fileStamp) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !v.mtime.Equal(w.mtime) || v.ino != w.ino || v.size != w.size {
			return false
		}
	}
	return true
}

// Compiled code that wazero cannot read (a cache file cut short, as a crash leaves one:
// wazero writes without fsync) is compiled again, not reported as an invalid module.
func TestUnreadableCacheRecompiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hello := cHello(t)
	digest := Digest(hello)
	for _, damage := range []struct {
		name string
		do   func(path string) error
	}{
		{"empty", func(p string) error { return os.Truncate(p, 0) }},
		{"cut short", func(p string) error {
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			return os.Truncate(p, fi.Size()/2)
		}},
	} {
		t.Run(damage.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "compiled")
			if _, err := newEngine(t, dir).Precompile(ctx, hello); err != nil {
				t.Fatal(err)
			}
			e := newEngine(t, dir) // another process: nothing in memory
			sub, err := e.versionSubdir()
			if err != nil {
				t.Fatal(err)
			}
			codeDir := filepath.Join(dir, digest[len("sha256:"):], sub)
			files := stamps(t, codeDir)
			if len(files) == 0 {
				t.Fatalf("no compiled code under %s", codeDir)
			}
			for path := range files {
				if err := damage.do(path); err != nil {
					t.Fatal(err)
				}
			}
			var out bytes.Buffer
			if code, err := e.Run(ctx, Spec{Module: hello, Digest: digest, Stdout: &out}); err != nil || code != 0 || out.String() != "hello from c\n" {
				t.Fatalf("Run over a damaged cache = %d, %v, %q", code, err, out.String())
			}
			// The code was written again, whole: a third engine loads it.
			if after := stamps(t, codeDir); len(after) != len(files) {
				t.Errorf("cache after the run holds %v, want %d files", after, len(files))
			}
			out.Reset()
			if code, err := newEngine(t, dir).Run(ctx, Spec{Module: hello, Digest: digest, Stdout: &out}); err != nil || code != 0 {
				t.Fatalf("Run from the rewritten cache = %d, %v", code, err)
			}
		})
	}
	// A module that is not valid still fails as one, once it is past the screen (an
	// unknown opcode in the body of a function): there is no code to drop.
	bad := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + "\x03\x02\x01\x00" +
		"\x07\x0a\x01\x06_start\x00\x00" + "\x0a\x05\x01\x03\x00\xff\x0b")
	e := newEngine(t, filepath.Join(t.TempDir(), "compiled"))
	if _, err := e.Run(ctx, Spec{Module: bad, Digest: Digest(bad)}); !errors.Is(err, ErrInvalidModule) {
		t.Fatalf("Run of an invalid module = %v, want ErrInvalidModule", err)
	}
}
