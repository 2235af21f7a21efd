package archive_test

import (
	"bytes"
	"context"
	"fmt"
	"log"

	"github.com/berth-dev/berth/internal/archive"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/static"
)

// Save an image under a name, as `berth save` does, then load it back, as `berth load` does.
func Example() {
	ctx := context.Background()
	module := []byte("\x00asm\x01\x00\x00\x00")
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(module, "application/wasm"))
	if err != nil {
		log.Fatal(err)
	}

	var buf bytes.Buffer // a file in real life: berth save -o FILE
	err = archive.Write(ctx, &buf, []archive.SaveEntry{{Names: []string{"docker.io/library/hello:1"}, Image: img}})
	if err != nil {
		log.Fatal(err)
	}

	a, err := archive.Read(ctx, &buf, "", archive.Limits{}) // any io.Reader: a file, stdin
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	for _, e := range a.Entries() {
		got, _ := e.Image.Digest()
		want, _ := img.Digest()
		fmt.Println(e.Names, e.RefName, got == want)
	}
	// Output: [docker.io/library/hello:1] 1 true
}
