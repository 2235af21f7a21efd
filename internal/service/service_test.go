package service_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/service"
	"github.com/berth-dev/berth/internal/testguest"
)

// When the store cannot take an image, its snapshot and compiled code do not stay behind.
func TestFailedAddLeavesNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := service.Open(ctx, root, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(ctx)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "app.wasm"), testguest.Read(t, testguest.C(t, testguest.CHello)), 0o755)
	os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"), 0o644)
	// Sabotage the content store after Open: its blob directory becomes a file.
	blobs := filepath.Join(root, "content", "blobs")
	if err := os.RemoveAll(blobs); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(blobs, []byte("not a directory"), 0o644)

	if _, err := s.Build(ctx, build.Options{Context: dir}, []string{"app:1"}); err == nil {
		t.Fatal("Build succeeded into a broken store")
	}
	snaps, _ := os.ReadDir(filepath.Join(root, "snapshots"))
	for _, e := range snaps {
		if e.IsDir() {
			t.Fatalf("snapshot left behind: %s", e.Name())
		}
	}
	if cached, _ := s.Engine().Cached(ctx); len(cached) != 0 {
		t.Fatalf("compiled code left behind: %v", cached)
	}
}
