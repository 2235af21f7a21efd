package image_test

import (
	"fmt"

	"github.com/berth-dev/berth/internal/image"
)

func ExampleParseName() {
	n, _ := image.ParseName("hello:1")
	fmt.Println(n.String())
	fmt.Println(n.Familiar())
	// Output:
	// docker.io/library/hello:1
	// hello:1
}

func ExampleConfig_Process() {
	cfg := image.Config{Entrypoint: []string{"/app.wasm"}, Cmd: []string{"--help"}, Env: []string{"MODE=prod"}}
	p, _ := cfg.Process(image.Overrides{Args: []string{"serve"}, Env: []string{"MODE=dev"}}, nil)
	fmt.Println(p.Args, p.Env, p.Cwd)
	// Output: [/app.wasm serve] [MODE=dev] /
}
