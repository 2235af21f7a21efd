package logs

import (
	"os"
	"path/filepath"
	"testing"
)

// successor in each state a rotation goes through.
func TestSuccessor(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	mk := func(name, content string) os.FileInfo {
		t.Helper()
		if err := os.WriteFile(name, []byte(content), 0o640); err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	content := func(f *os.File) string {
		t.Helper()
		if f == nil {
			return "<none>"
		}
		defer f.Close()
		b, err := os.ReadFile(f.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cur := mk(path, "A")
	if f, err := successor(path, cur); f != nil || err != nil {
		t.Fatalf("not rotated: %q, %v", content(f), err)
	}
	// Renamed to .1, the new file not created yet.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if f, err := successor(path, cur); f != nil || err != nil {
		t.Fatalf("new file missing: %q, %v", content(f), err)
	}
	mk(path, "B")
	if f, err := successor(path, cur); content(f) != "B" || err != nil {
		t.Fatalf("after one rotation: %q, %v", content(f), err)
	}
	// Two more rotations: A is .3, then come .2 (B) and .1 (C).
	os.Rename(path+".1", path+".2")
	os.Rename(path, path+".1")
	mk(path, "C")
	os.Rename(path+".2", path+".3")
	os.Rename(path+".1", path+".2")
	os.Rename(path, path+".1")
	mk(path, "D")
	if f, err := successor(path, cur); content(f) != "B" || err != nil {
		t.Fatalf("after three rotations: %q, %v", content(f), err)
	}
	// A dropped by max-file: the oldest left.
	os.Remove(path + ".3")
	if f, err := successor(path, cur); content(f) != "B" || err != nil {
		t.Fatalf("after A was removed: %q, %v", content(f), err)
	}
	// openChain: oldest first.
	files, err := openChain(path)
	if err != nil {
		t.Fatal(err)
	}
	var got string
	for _, f := range files {
		got += content(f)
	}
	if got != "BCD" {
		t.Fatalf("openChain: %q, want BCD", got)
	}
	// Names that are not rotations are not files of the log.
	mk(path+".01", "x")
	mk(path+".tmp", "x")
	mk(path+".-1", "x")
	if ns, _ := rotated(path); len(ns) != 2 || ns[0] != 1 || ns[1] != 2 {
		t.Fatalf("rotated: %v", ns)
	}
}
