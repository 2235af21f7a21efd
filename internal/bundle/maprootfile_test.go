package bundle

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestMapRootFile(t *testing.T) {
	root := t.TempDir()
	big := bytes.Repeat([]byte("wasm"), 100_000)
	for name, data := range map[string][]byte{"app.wasm": big, "empty.wasm": nil} {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "escape.wasm")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    []byte
		wantErr bool
	}{
		{"/app.wasm", big, false},
		{"app.wasm", big, false},
		{"/empty.wasm", nil, false},
		{"/missing.wasm", nil, true},
		{"/dir", nil, true},
		{"/escape.wasm", nil, true}, // a symlink out of the root is not followed
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			data, unmap, err := MapRootFile(root, tc.path)
			if tc.wantErr {
				if err == nil {
					unmap()
					t.Fatalf("mapped %s (%d bytes), want an error", tc.path, len(data))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer unmap()
			if !bytes.Equal(data, tc.want) {
				t.Fatalf("got %d bytes, want %d", len(data), len(tc.want))
			}
		})
	}
}
