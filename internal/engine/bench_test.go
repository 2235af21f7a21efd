package engine

import (
	"context"
	"crypto/rand"
	"io"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// The Run benchmarks measure a warm-cache run, the cost `berth run` adds to process
// start. Compare them with the BenchmarkBaseline* ones, a minimal runner using wazero
// and its disk cache directly: Run should stay within 1.3x of it.

func benchRun(b *testing.B, wasm []byte) {
	ctx := context.Background()
	e := newEngine(b, b.TempDir())
	digest, err := e.Precompile(ctx, wasm)
	if err != nil {
		b.Fatal(err)
	}
	spec := Spec{Module: wasm, Digest: digest, Args: []string{"hello"}, Stdout: io.Discard, Stderr: io.Discard}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if code, err := e.Run(ctx, spec); err != nil || code != 0 {
			b.Fatalf("Run = %d, %v", code, err)
		}
	}
}

func BenchmarkRunCHello(b *testing.B)  { benchRun(b, cHello(b)) }
func BenchmarkRunGoHello(b *testing.B) { benchRun(b, goHello(b)) }

func benchBaseline(b *testing.B, wasm []byte) {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer cache.Close(ctx)
	run := func() {
		rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
		defer rt.Close(ctx)
		wasi_snapshot_preview1.MustInstantiate(ctx, rt)
		cfg := wazero.NewModuleConfig().WithArgs("hello").WithStdout(io.Discard).WithStderr(io.Discard).
			WithSysWalltime().WithSysNanotime().WithSysNanosleep().WithRandSource(rand.Reader)
		if _, err := rt.InstantiateWithConfig(ctx, wasm, cfg); err != nil {
			b.Fatal(err)
		}
	}
	run() // fill the cache
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		run()
	}
}

func BenchmarkBaselineCHello(b *testing.B)  { benchBaseline(b, cHello(b)) }
func BenchmarkBaselineGoHello(b *testing.B) { benchBaseline(b, goHello(b)) }

// BenchmarkPrecompileCached measures Precompile of a module already in the cache (what an
// image pull or load pays again for a known module): hashing, screening, loading.
func BenchmarkPrecompileCached(b *testing.B) {
	ctx := context.Background()
	wasm := goHello(b)
	e := newEngine(b, b.TempDir())
	if _, err := e.Precompile(ctx, wasm); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.Precompile(ctx, wasm); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScanModule measures the screening Run does before wazero decodes a module.
func BenchmarkScanModule(b *testing.B) {
	wasm := goHello(b)
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := scanModule(wasm, false); err != nil {
			b.Fatal(err)
		}
	}
}
