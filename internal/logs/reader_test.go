package logs

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// readAll returns the "log" values Read hands over.
func readAll(t *testing.T, path string, opts ReadOptions) []string {
	t.Helper()
	var got []string
	if err := Read(t.Context(), path, opts, func(e Entry) error {
		got = append(got, e.Log)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return got
}

func lines(prefix string, from, to int) []string {
	var s []string
	for i := from; i < to; i++ {
		s = append(s, fmt.Sprintf("%s %d\n", prefix, i))
	}
	return s
}

// A log of 100 lines over several rotated files, stdout with even, stderr with odd
// lines, one ms apart from t0+1ms.
func writeRotated(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c-json.log")
	w := newTestWriter(t, path, Options{MaxSize: 700, MaxFile: 100})
	for i := range 100 {
		s := w.Stdout()
		if i%2 == 1 {
			s = w.Stderr()
		}
		fmt.Fprintf(s, "line %d\n", i)
	}
	w.Close()
	if names, _ := filepath.Glob(path + ".*"); len(names) < 5 {
		t.Fatalf("want several rotated files, have %v", names)
	}
	return path
}

func TestRead(t *testing.T) {
	path := writeRotated(t)
	at := func(i int) time.Time { return t0.Add(time.Duration(i+1) * time.Millisecond) }
	all := lines("line", 0, 100)
	odd := func(from, to int) []string {
		var s []string
		for i := from; i < to; i++ {
			if i%2 == 1 {
				s = append(s, fmt.Sprintf("line %d\n", i))
			}
		}
		return s
	}
	tests := []struct {
		name string
		opts ReadOptions
		want []string
	}{
		{"all", ReadOptions{Tail: -1, Stdout: true, Stderr: true}, all},
		{"tail 0", ReadOptions{Tail: 0, Stdout: true, Stderr: true}, nil},
		{"tail 1", ReadOptions{Tail: 1, Stdout: true, Stderr: true}, all[99:]},
		{"tail 7", ReadOptions{Tail: 7, Stdout: true, Stderr: true}, all[93:]},
		{"tail 50 crosses files", ReadOptions{Tail: 50, Stdout: true, Stderr: true}, all[50:]},
		{"tail 100", ReadOptions{Tail: 100, Stdout: true, Stderr: true}, all},
		{"tail 1000", ReadOptions{Tail: 1000, Stdout: true, Stderr: true}, all},
		{"stderr", ReadOptions{Tail: -1, Stderr: true}, odd(0, 100)},
		// As in docker, the tail counts entries of both streams.
		{"stderr tail 10", ReadOptions{Tail: 10, Stderr: true}, odd(90, 100)},
		{"since", ReadOptions{Tail: -1, Stdout: true, Stderr: true, Since: at(95)}, all[95:]},
		{"until", ReadOptions{Tail: -1, Stdout: true, Stderr: true, Until: at(4)}, all[:5]},
		{"since until", ReadOptions{Tail: -1, Stdout: true, Stderr: true, Since: at(10), Until: at(12)}, all[10:13]},
		{"tail since", ReadOptions{Tail: 5, Stdout: true, Stderr: true, Since: at(97)}, all[97:]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readAll(t, path, tt.opts)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestReadErrors(t *testing.T) {
	path := writeRotated(t)
	if err := Read(t.Context(), path, ReadOptions{Tail: -1}, func(Entry) error { return nil }); !errors.Is(err, ErrNoStream) {
		t.Fatalf("no stream: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none-json.log")
	if err := Read(t.Context(), missing, ReadOptions{Tail: -1, Stdout: true}, func(Entry) error { return nil }); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	stop := errors.New("enough")
	n := 0
	err := Read(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Stderr: true}, func(Entry) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("callback error: %v after %d entries", err, n)
	}
}

// --tail reads from the end: a 64 GiB sparse file (a hole of NULs, then three entries)
// would take minutes to read whole and would report its NULs as damage.
func TestTailReadsFromTheEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 30); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	f.Close()
	w := newTestWriter(t, path, Options{})
	fmt.Fprint(w.Stdout(), "a\nb\nc\n")
	w.Close()
	start := time.Now()
	var corrupt []Corrupt
	got := readAll(t, path, ReadOptions{Tail: 2, Stdout: true, OnCorrupt: func(c Corrupt) { corrupt = append(corrupt, c) }})
	if !slices.Equal(got, []string{"b\n", "c\n"}) || len(corrupt) != 0 {
		t.Fatalf("got %q, damage %v", got, corrupt)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("tail 2 of a 64 GiB file took %v", d)
	}
}

func TestCorruptLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	good := func(s string) string {
		return `{"log":"` + s + `\n","stream":"stdout","time":"2026-11-27T08:00:00Z"}` + "\n"
	}
	content := good("one") +
		"not json\n" +
		"\x00\x00\x00\x00" + good("two") + // what a crash leaves before the next entry
		`{"log":"x","stream":"stdout","time":"yesterday"}` + "\n" +
		`{"log":"half` + "\n" +
		strings.Repeat("z", maxEntry+10) + "\n" +
		good("three") +
		`{"log":"cut by a cra` // no newline: the file being written
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	// The same bytes as a rotated file: its cut end is damage.
	if err := os.WriteFile(path+".1", []byte(good("zero")+`{"log":"cut`), 0o640); err != nil {
		t.Fatal(err)
	}
	var damage []Corrupt
	got := readAll(t, path, ReadOptions{Tail: -1, Stdout: true, OnCorrupt: func(c Corrupt) { damage = append(damage, c) }})
	if want := []string{"zero\n", "one\n", "two\n", "three\n"}; !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	type at struct {
		file string
		off  int64
	}
	var where []at
	for _, d := range damage {
		where = append(where, at{filepath.Base(d.File), d.Offset})
		if d.Err == nil {
			t.Errorf("damage at %s:%d without an error", d.File, d.Offset)
		}
	}
	o1 := int64(len(good("one")))
	o2 := o1 + int64(len("not json\n"))
	o3 := o2 + int64(4+len(good("two")))
	o4 := o3 + int64(len(`{"log":"x","stream":"stdout","time":"yesterday"}`+"\n"))
	o5 := o4 + int64(len(`{"log":"half`+"\n"))
	// "not json" at o1, the bad time at o3, the cut line at o4, the overlong one at o5;
	// the entry after the NULs (at o2) is good.
	want := []at{{"c-json.log.1", int64(len(good("zero")))}, {"c-json.log", o1}, {"c-json.log", o3}, {"c-json.log", o4}, {"c-json.log", o5}}
	if !slices.Equal(where, want) {
		t.Fatalf("damage reported at %v, want %v", where, want)
	}
}

// Lines as dockerd writes them (attrs from --log-opt labels/tag, a split line, a
// partial one at the end of a stream) read back as docker would show them.
func TestReadDockerWrittenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	docker := `{"log":"Server started \u003cv1.2\u003e\n","stream":"stdout","attrs":{"tag":"web"},"time":"2024-05-01T10:00:00.000000001Z"}
{"log":"part one ","stream":"stderr","time":"2024-05-01T10:00:01.5Z"}
{"log":"and two\n","stream":"stderr","time":"2024-05-01T10:00:01.5Z"}
{"log":"bye","stream":"stdout","time":"2024-05-01T10:00:02Z"}
`
	if err := os.WriteFile(path, []byte(docker), 0o640); err != nil {
		t.Fatal(err)
	}
	var got []Entry
	if err := Read(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Stderr: true}, func(e Entry) error {
		got = append(got, e)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	want := []Entry{
		{Log: "Server started <v1.2>\n", Stream: "stdout", Time: time.Date(2024, 5, 1, 10, 0, 0, 1, time.UTC)},
		{Log: "part one ", Stream: "stderr", Time: time.Date(2024, 5, 1, 10, 0, 1, 5e8, time.UTC)},
		{Log: "and two\n", Stream: "stderr", Time: time.Date(2024, 5, 1, 10, 0, 1, 5e8, time.UTC)},
		{Log: "bye", Stream: "stdout", Time: time.Date(2024, 5, 1, 10, 0, 2, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i := range want {
		if got[i].Log != want[i].Log || got[i].Stream != want[i].Stream || !got[i].Time.Equal(want[i].Time) {
			t.Errorf("entry %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	if !got[1].Partial() || got[2].Partial() || !got[3].Partial() {
		t.Errorf("Partial: %v %v %v", got[1].Partial(), got[2].Partial(), got[3].Partial())
	}
}

// A process that ends without a newline leaves a partial entry (Flush); what the next
// run writes starts a new entry.
func TestFlushBetweenRuns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w := newTestWriter(t, path, Options{})
	fmt.Fprint(w.Stdout(), "ready> ")
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil { // nothing left: no entry
		t.Fatal(err)
	}
	fmt.Fprint(w.Stdout(), "second run\n")
	w.Close()
	if got := readAll(t, path, ReadOptions{Tail: -1, Stdout: true}); !slices.Equal(got, []string{"ready> ", "second run\n"}) {
		t.Fatalf("got %q", got)
	}
}

// Without Follow, Read hands over what the file held when it began, even while a
// writer keeps writing: it ends, and what it gives is the start of what was written.
func TestReadWhileWritten(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w, err := NewWriter(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	written := make(chan int)
	go func() {
		i := 0
		for ; ; i++ {
			select {
			case <-stop:
				written <- i
				return
			default:
			}
			fmt.Fprint(w.Stdout(), padLine(i))
		}
	}()
	time.Sleep(50 * time.Millisecond)
	got := readAll(t, path, ReadOptions{Tail: -1, Stdout: true})
	close(stop)
	n := <-written
	w.Close()
	if len(got) == 0 || len(got) > n {
		t.Fatalf("%d lines read, %d written", len(got), n)
	}
	checkSequence(t, got, 0, len(got))
}
