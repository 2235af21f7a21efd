// Command baseline is the yardstick of bench/: the fewest lines that run a WASI module
// with wazero in compiler mode and its disk cache. Usage: baseline CACHE_DIR MODULE [ARG…]
package main

import (
	_ "github.com/google/go-containerregistry/pkg/v1/tarball"
	_ "github.com/google/go-containerregistry/pkg/v1/mutate"
	_ "github.com/spf13/cobra"
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
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
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
