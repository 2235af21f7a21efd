package service_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/service"
)

func TestIsLocalModule(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"app.wasm", "os.test"} {
		os.WriteFile(filepath.Join(dir, f), []byte("\x00asm"), 0o755)
	}
	os.Mkdir(filepath.Join(dir, "d.wasm"), 0o755)
	t.Chdir(dir)
	tests := []struct {
		ref  string
		want bool
	}{
		{"app.wasm", true},
		{filepath.Join(dir, "app.wasm"), true},
		{filepath.Join(dir, "os.test"), true}, // an absolute path, as go test -exec gives
		{"./os.test", true},
		{"../" + filepath.Base(dir) + "/os.test", true},
		{"os.test", false}, // could be an image reference
		{"d.wasm", false},  // a directory
		{"missing.wasm", false},
		{"/no/such/file", false},
		{"hello:1", false},
	}
	for _, tt := range tests {
		if got := service.IsLocalModule(tt.ref); got != tt.want {
			t.Errorf("IsLocalModule(%q) = %v, want %v", tt.ref, got, tt.want)
		}
	}
}
