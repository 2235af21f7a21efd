package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/berth-dev/berth/internal/store"
	"github.com/google/go-containerregistry/pkg/v1/random"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "berth-store-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	ctx := context.Background()
	s, err := store.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}

	// Store an image under a (normalised) name.
	img, err := random.Image(256, 1)
	if err != nil {
		log.Fatal(err)
	}
	desc, err := s.AddImage(ctx, img, "docker.io/library/hello:1")
	if err != nil {
		log.Fatal(err)
	}

	// Find it by name or by a prefix of its ID, and read it back.
	rec, err := s.Resolve(ctx, desc.Digest.Hex[:12])
	if err != nil {
		log.Fatal(err)
	}
	stored, err := s.Image(ctx, rec.Digest)
	if err != nil {
		log.Fatal(err)
	}
	layers, err := stored.Layers()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.Names, len(layers), "layer")

	// Remove it and collect its blobs: manifest, config and one layer.
	if err := s.Remove(ctx, rec.Digest); err != nil {
		log.Fatal(err)
	}
	removed, _, err := s.GC(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(removed), "blobs removed")
	// Output:
	// [docker.io/library/hello:1] 1 layer
	// 3 blobs removed
}
