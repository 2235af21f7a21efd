package logs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// FuzzRead reads arbitrary bytes as a log file (and as a rotated one): Read never
// panics nor fails on damage, hands over only entries of the streams asked for, reports
// every skipped line with an offset inside the file, and --tail N gives a suffix of what
// a whole read gives.
func FuzzRead(f *testing.F) {
	good := `{"log":"hi\n","stream":"stdout","time":"2026-11-27T08:00:00Z"}` + "\n"
	f.Add([]byte(good), []byte(good), 1)
	f.Add([]byte(good+"garbage\n"+good), []byte(""), 2)
	f.Add([]byte("\x00\x00"+good+`{"log":"cut`), []byte(`{"log":`), 0)
	f.Add([]byte(`{"log":"a","stream":"stderr","time":"2026-11-27T08:00:00.5+02:00"}`+"\n"+`null`+"\n"+`[]`+"\n"), []byte("\n\n\n"), 3)
	f.Add([]byte(`{"log":"\ud800","stream":"stdout","time":"0001-01-01T00:00:00Z","attrs":{"a":"b"}}`+"\n"), []byte(good), -1)
	dir := f.TempDir() // one per fuzzing process; each input rewrites the two files
	f.Fuzz(func(t *testing.T, current, older []byte, tail int) {
		path := filepath.Join(dir, "c-json.log")
		if err := os.WriteFile(path, current, 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".1", older, 0o640); err != nil {
			t.Fatal(err)
		}
		sizes := map[string]int64{path: int64(len(current)), path + ".1": int64(len(older))}
		read := func(tail int) []Entry {
			var got []Entry
			err := Read(t.Context(), path, ReadOptions{Tail: tail, Stdout: true, Stderr: true, OnCorrupt: func(c Corrupt) {
				if c.Err == nil || c.Offset < 0 || c.Offset >= sizes[c.File] {
					t.Fatalf("damage reported as %+v (file of %d bytes)", c, sizes[c.File])
				}
			}}, func(e Entry) error {
				if e.Stream != "stdout" && e.Stream != "stderr" {
					t.Fatalf("entry of stream %q", e.Stream)
				}
				got = append(got, e)
				return nil
			})
			if err != nil {
				t.Fatalf("Read(tail %d): %v", tail, err)
			}
			return got
		}
		all := read(-1)
		if tail < 0 {
			return
		}
		tail %= 1000
		part := read(tail)
		if len(part) > tail || len(part) > len(all) {
			t.Fatalf("tail %d gave %d entries (all: %d)", tail, len(part), len(all))
		}
		if !slices.EqualFunc(part, all[len(all)-len(part):], func(a, b Entry) bool {
			return a.Log == b.Log && a.Stream == b.Stream && a.Time.Equal(b.Time)
		}) {
			t.Fatalf("tail %d is not the end of the whole read", tail)
		}
	})
}
