package wasi_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/testguest"
)

// The file-system benchmarks of issue 4, each run on the same engine with wazero's
// built-in WASI and with berth's host, side by side:
//
//	go test -run XXX -bench . -count 6 ./internal/wasi/ | benchstat -col /host -
//
// One iteration is one run of a C guest (instantiation included, the same for both).

const benchWriteC = `#include <unistd.h>
int main(void) {
	for (int i = 0; i < 1000000; i++) if (write(1, "x", 1) != 1) return 1;
	return 0;
}
`

const benchOpenC = `#include <wasi/api.h>
int main(void) {
	__wasi_fd_t fd;
	for (int i = 0; i < 100000; i++) {
		if (__wasi_path_open(3, 0, "f", 0, __WASI_RIGHTS_FD_READ, 0, 0, &fd)) return 1;
		if (__wasi_fd_close(fd)) return 2;
	}
	return 0;
}
`

const benchReaddirC = `#include <dirent.h>
int main(void) {
	DIR *d = opendir("/dir");
	if (!d) return 1;
	int n = 0;
	while (readdir(d)) n++;
	closedir(d);
	return n == 10002 ? 0 : 2; /* ".", "..", 10 000 files */
}
`

const benchCopyC = `#include <fcntl.h>
#include <unistd.h>
static char buf[1 << 16];
int main(void) {
	int in = open("/data/src", O_RDONLY), out = open("/data/dst", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0) return 1;
	ssize_t n;
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (write(out, buf, n) != n) return 2;
	close(in);
	close(out);
	return n == 0 ? 0 : 3;
}
`

var benchHosts = []engine.Host{engine.HostWazero, engine.HostBerth}

// benchGuest runs wasm once per iteration on each host; spec is made per host by mk.
func benchGuest(b *testing.B, src string, mk func(b *testing.B) engine.Spec) {
	wasm := testguest.Read(b, testguest.C(b, src))
	for _, host := range benchHosts {
		b.Run("host="+host.String(), func(b *testing.B) {
			ctx := context.Background()
			eng, err := engine.New(ctx, b.TempDir(), engine.WithHost(host))
			if err != nil {
				b.Fatal(err)
			}
			defer eng.Close(ctx)
			digest, err := eng.Precompile(ctx, wasm)
			if err != nil {
				b.Fatal(err)
			}
			spec := mk(b)
			spec.Module, spec.Digest = wasm, digest
			b.ResetTimer()
			for b.Loop() {
				if code, err := eng.Run(ctx, spec); err != nil || code != 0 {
					b.Fatalf("run: %d, %v", code, err)
				}
			}
		})
	}
}

// BenchmarkWritePipe: 1 M one-byte fd_writes to a pipe.
func BenchmarkWritePipe(b *testing.B) {
	benchGuest(b, benchWriteC, func(b *testing.B) engine.Spec {
		r, w, err := os.Pipe()
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { io.Copy(io.Discard, r); close(done) }()
		b.Cleanup(func() { w.Close(); <-done; r.Close() })
		return engine.Spec{Stdout: w}
	})
}

// BenchmarkOpenClose: 100 k path_open + fd_close of one file.
func BenchmarkOpenClose(b *testing.B) {
	benchGuest(b, benchOpenC, func(b *testing.B) engine.Spec {
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
			b.Fatal(err)
		}
		return engine.Spec{Mounts: []engine.Mount{{Source: dir, Target: "/data"}}}
	})
}

// BenchmarkReaddir: readdir (wasi-libc, over fd_readdir) of a 10 000-entry directory.
func BenchmarkReaddir(b *testing.B) {
	benchGuest(b, benchReaddirC, func(b *testing.B) engine.Spec {
		dir := b.TempDir()
		for i := range 10000 {
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file-%05d", i)), nil, 0o644); err != nil {
				b.Fatal(err)
			}
		}
		return engine.Spec{Mounts: []engine.Mount{{Source: dir, Target: "/dir"}}}
	})
}

// BenchmarkCopy: a 64 MiB file copied with read/write of 64 KiB.
func BenchmarkCopy(b *testing.B) {
	benchGuest(b, benchCopyC, func(b *testing.B) engine.Spec {
		dir := b.TempDir()
		src := make([]byte, 64<<20)
		for i := range src {
			src[i] = byte(i * 7)
		}
		if err := os.WriteFile(filepath.Join(dir, "src"), src, 0o644); err != nil {
			b.Fatal(err)
		}
		b.SetBytes(int64(len(src)))
		return engine.Spec{Mounts: []engine.Mount{{Source: dir, Target: "/data"}}}
	})
}
