package fsutil

import (
	"bytes"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
)

func TestWriteBehind(t *testing.T) {
	data := make([]byte, 3*writeBehindChunk+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	tests := []struct {
		name  string
		write int // bytes per Write call
	}{
		{"small writes", 4096 + 7},
		{"one chunk per write", writeBehindChunk},
		{"one write", len(data)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "blob"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			type span struct{ off, n int64 }
			var started []span
			w := &writeBehind{f: f, start: func(g *os.File, off, n int64) {
				if g != f {
					t.Errorf("writeback started on %v, want %v", g.Name(), f.Name())
				}
				startWriteback(g, off, n) // the real call must not disturb the file
				started = append(started, span{off, n})
			}}
			for p := data; len(p) > 0; {
				n := min(tt.write, len(p))
				if m, err := w.Write(p[:n]); err != nil || m != n {
					t.Fatalf("Write = %d, %v; want %d, nil", m, err, n)
				}
				p = p[n:]
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(f.Name())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Fatalf("file holds %d bytes that differ from the %d written", len(got), len(data))
			}
			// The hints cover the file from its start, in order, without gaps, each at
			// least a chunk; what is left after the last one is less than a chunk.
			var next int64
			for _, s := range started {
				if s.off != next || s.n < writeBehindChunk {
					t.Fatalf("writeback started for %+v after %d bytes; all: %+v", s, next, started)
				}
				next = s.off + s.n
			}
			if left := int64(len(data)) - next; left < 0 || left >= writeBehindChunk {
				t.Errorf("%d bytes after the last hint (%+v)", left, started)
			}
			if len(started) == 0 {
				t.Error("no writeback was started")
			}
		})
	}
}

// A failed write is reported as the file's, and starts no writeback.
func TestWriteBehindError(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p) // read-only
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := &writeBehind{f: f, start: func(*os.File, int64, int64) { t.Error("writeback started after a failed write") }}
	if n, err := w.Write(make([]byte, 2*writeBehindChunk)); err == nil || n != 0 {
		t.Fatalf("Write to a read-only file = %d, %v; want 0 and an error", n, err)
	}
	var _ io.Writer = WriteBehind(f)
}
