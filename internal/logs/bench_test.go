package logs

import (
	"path/filepath"
	"testing"
)

// BenchmarkWriter writes one 60-byte line per Write, as a guest writing line by line,
// with rotation at 10 MB (docker's common max-size=10m max-file=3), and reports lines/s.
func BenchmarkWriter(b *testing.B) {
	for _, bc := range []struct {
		name    string
		perCall int
	}{{"line-per-write", 1}, {"64-lines-per-write", 64}} {
		b.Run(bc.name, func(b *testing.B) {
			w, err := NewWriter(filepath.Join(b.TempDir(), "c-json.log"), Options{MaxSize: 10_000_000, MaxFile: 3})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			line := []byte(padLine(0))
			var chunk []byte
			for range bc.perCall {
				chunk = append(chunk, line...)
			}
			b.SetBytes(int64(len(chunk)))
			b.ResetTimer()
			for b.Loop() {
				if _, err := w.Stdout().Write(chunk); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*bc.perCall)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

// BenchmarkReadTail reads the last 100 entries of a 100 000-entry log.
func BenchmarkReadTail(b *testing.B) {
	path := filepath.Join(b.TempDir(), "c-json.log")
	w, err := NewWriter(path, Options{MaxSize: 1_000_000, MaxFile: 100})
	if err != nil {
		b.Fatal(err)
	}
	for i := range 100_000 {
		w.Stdout().Write([]byte(padLine(i)))
	}
	w.Close()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := Read(b.Context(), path, ReadOptions{Tail: 100, Stdout: true}, func(Entry) error { n++; return nil }); err != nil || n != 100 {
			b.Fatal(n, err)
		}
	}
}
