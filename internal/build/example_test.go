package build_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/build"
)

// Build an image from a Dockerfile. The module here is the smallest valid
// WebAssembly module; a real one comes from GOOS=wasip1 GOARCH=wasm go build.
func ExampleBuild() {
	dir, err := os.MkdirTemp("", "berth-build-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	files := map[string]string{
		"Dockerfile": `FROM scratch
ARG PORT=8080
COPY app.wasm /app.wasm
EXPOSE $PORT
ENTRYPOINT ["/app.wasm"]
`,
		"app.wasm": "\x00asm\x01\x00\x00\x00",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			log.Fatal(err)
		}
	}

	img, err := build.Build(context.Background(), build.Options{
		Context:   dir,
		BuildArgs: map[string]string{"PORT": "9000"},
	})
	if err != nil {
		log.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(cf.OS, cf.Architecture, cf.Config.Entrypoint, cf.Config.ExposedPorts, cf.Created.UTC())
	// Output: wasi wasm [/app.wasm] map[9000/tcp:{}] 1970-01-01 00:00:00 +0000 UTC
}

// Parse errors carry the line number.
func ExampleParse() {
	_, err := build.Parse(strings.NewReader("FROM scratch\nCOPY app.wasm\n"))
	fmt.Println(err)
	// Output: Dockerfile:2: COPY requires at least 2 arguments, a source and a destination
}
