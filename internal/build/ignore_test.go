package build

import (
	"strings"
	"testing"
)

func TestDockerignore(t *testing.T) {
	tests := []struct {
		name     string
		patterns string
		excluded []string
		included []string
	}{
		{
			name:     "names and directories",
			patterns: "# comment\n\n  secret.txt  \nbuild\n/abs\n",
			excluded: []string{"secret.txt", "build", "build/x/y", "abs", "abs/f"},
			included: []string{"a/secret.txt", "builder", "src/build", ".", "app.wasm"},
		},
		{
			name:     "single-level wildcards",
			patterns: "*.md\n*/tmp\nfile?.txt\n[ab].log\n[!c]x\n",
			excluded: []string{"README.md", "a/tmp", "a/tmp/x", "file1.txt", "a.log", "bx"},
			included: []string{"docs/README.md", "tmp", "a/b/tmp", "file10.txt", "c.log", "cx"},
		},
		{
			name:     "double star",
			patterns: "**/*.o\nlogs/**\n**/cache\n",
			excluded: []string{"a.o", "x/y/a.o", "logs/a", "logs/a/b", "cache", "d/cache", "d/e/cache/f"},
			included: []string{"a.c", "logsx", "x/cachex"},
		},
		{
			name:     "exceptions, last match wins",
			patterns: "*.wasm\n!keep.wasm\ndir\n!dir/keep\n",
			excluded: []string{"a.wasm", "dir", "dir/other", "dir/sub/x"},
			included: []string{"keep.wasm", "dir/keep", "dir/keep/inner", "main.go"},
		},
		{
			name:     "re-exclusion after exception",
			patterns: "*\n!src\nsrc/*.tmp\n",
			excluded: []string{"Dockerfile", "x", "src/a.tmp"},
			included: []string{"src", "src/main.go"},
		},
		{
			name:     "escaped metacharacter and cleaned path",
			patterns: "a\\*b\n./c/../d\n",
			excluded: []string{"a*b", "d"},
			included: []string{"axb", "c"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := parseIgnore(strings.NewReader(tt.patterns))
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.excluded {
				if !m.excluded(p) {
					t.Errorf("%q is included, want excluded", p)
				}
			}
			for _, p := range tt.included {
				if m.excluded(p) {
					t.Errorf("%q is excluded, want included", p)
				}
			}
		})
	}
}

func TestDockerignoreErrors(t *testing.T) {
	for _, p := range []string{"!\n", "[abc\n", "foo\\\n"} {
		if _, err := parseIgnore(strings.NewReader(p)); err == nil || !strings.Contains(err.Error(), ".dockerignore:1") {
			t.Errorf("parseIgnore(%q) error = %v, want one naming .dockerignore:1", p, err)
		}
	}
}
