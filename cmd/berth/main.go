// Command berth runs WebAssembly images like containers, with no daemon.
package main

import (
	"context"
	"os"

	"github.com/berth-dev/berth/internal/cli"
)

func main() {
	app := &cli.App{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	os.Exit(app.Main(context.Background(), os.Args[1:]))
}
