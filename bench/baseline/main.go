// Command baseline is the yardstick of bench/: the fewest lines that run a WASI module
// with wazero in compiler mode and its disk cache. Usage: baseline CACHE_DIR MODULE [ARG…]
package main

import (
	"context"
	"errors"
	"os"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

func main() {
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(os.Args[1])
	if err != nil {
		panic(err)
	}
	rc := wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache)
	if os.Getenv("BASELINE_NO_DWARF") == "1" { // as berth by default; give it a cache of its own
		rc = rc.WithDebugInfoEnabled(false)
	}
	r := wazero.NewRuntimeWithConfig(ctx, rc)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	wasm, err := os.ReadFile(os.Args[2])
	if err != nil {
		panic(err)
	}
	cfg := wazero.NewModuleConfig().WithArgs(os.Args[2:]...).WithStdout(os.Stdout).WithStderr(os.Stderr).
		WithSysWalltime().WithSysNanotime().WithSysNanosleep()
	_, err = r.InstantiateWithConfig(ctx, wasm, cfg)
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		os.Exit(int(exit.ExitCode()))
	} else if err != nil {
		panic(err)
	}
}
