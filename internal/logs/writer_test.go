package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 27, 8, 0, 0, 123456789, time.UTC)

// newTestWriter returns a Writer whose clock is fixed at t0 and advances by 1 ms at
// each write, so the file's bytes can be compared.
func newTestWriter(t *testing.T, path string, opts Options) *Writer {
	t.Helper()
	w, err := NewWriter(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	w.now = func() time.Time { now = now.Add(time.Millisecond); return now }
	t.Cleanup(func() { w.Close() })
	return w
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWriterFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("abc"))
	w := newTestWriter(t, path, Options{})
	fmt.Fprint(w.Stdout(), "hello\nwor")
	fmt.Fprint(w.Stderr(), "oops\n")
	fmt.Fprint(w.Stdout(), "ld\n\nno newline")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	want := `{"log":"hello\n","stream":"stdout","time":"2026-11-27T08:00:00.124456789Z"}
{"log":"oops\n","stream":"stderr","time":"2026-11-27T08:00:00.125456789Z"}
{"log":"world\n","stream":"stdout","time":"2026-11-27T08:00:00.126456789Z"}
{"log":"\n","stream":"stdout","time":"2026-11-27T08:00:00.126456789Z"}
{"log":"no newline","stream":"stdout","time":"2026-11-27T08:00:00.127456789Z"}
`
	if got := readFile(t, path); got != want {
		t.Fatalf("file:\n%s\nwant:\n%s", got, want)
	}
	if _, err := w.Stdout().Write([]byte("late\n")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after Close: %v, want ErrClosed", err)
	}
}

// The time is written as docker's RFC3339Nano: trailing zeros of the fraction dropped.
func TestWriterTimeFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w := newTestWriter(t, path, Options{})
	w.now = func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 100000000, time.FixedZone("X", 3600)) }
	fmt.Fprint(w.Stdout(), "x\n")
	w.Close()
	want := `{"log":"x\n","stream":"stdout","time":"2026-01-02T02:04:05.1Z"}` + "\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

func TestEscaping(t *testing.T) {
	in := "a\"b\\c<d>e&f\tg\x01h\ri\xffj\u2028k\u2029lé😀"
	got := string(appendString(nil, []byte(in)))
	want := `"a\"b\\c\u003cd\u003ee\u0026f\u0009g\u0001h\ri\ufffdj\u2028k\u2029lé😀"`
	if got != want {
		t.Fatalf("appendString:\n got %s\nwant %s", got, want)
	}
	var back string
	if err := json.Unmarshal([]byte(got), &back); err != nil {
		t.Fatal(err)
	}
	if back != strings.ToValidUTF8(in, "\ufffd") {
		t.Fatalf("round trip: %q", back)
	}
}

// Lines longer than MaxLine are split as docker's copier splits them.
func TestLongLines(t *testing.T) {
	tests := []struct {
		name   string
		writes []string
		want   []string // the "log" values
	}{
		{"40000", []string{strings.Repeat("a", 40000) + "\n"},
			[]string{strings.Repeat("a", MaxLine), strings.Repeat("a", MaxLine), strings.Repeat("a", 40000-2*MaxLine) + "\n"}},
		{"exactly MaxLine", []string{strings.Repeat("b", MaxLine) + "\nc\n"},
			[]string{strings.Repeat("b", MaxLine), "\n", "c\n"}},
		{"MaxLine-1", []string{strings.Repeat("b", MaxLine-1) + "\n"},
			[]string{strings.Repeat("b", MaxLine-1) + "\n"}},
		{"in small writes", []string{strings.Repeat("d", 10000), strings.Repeat("d", 10000), "\n"},
			[]string{strings.Repeat("d", MaxLine), strings.Repeat("d", 20000-MaxLine) + "\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c-json.log")
			w := newTestWriter(t, path, Options{})
			for _, s := range tt.writes {
				if _, err := w.Stdout().Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			w.Close()
			var got []Entry
			if err := Read(t.Context(), path, ReadOptions{Tail: -1, Stdout: true}, func(e Entry) error {
				got = append(got, e)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("%d entries, want %d", len(got), len(tt.want))
			}
			for i := range got {
				if got[i].Log != tt.want[i] {
					t.Errorf("entry %d: %d bytes, want %d", i, len(got[i].Log), len(tt.want[i]))
				}
				if got[i].Partial() != !strings.HasSuffix(tt.want[i], "\n") {
					t.Errorf("entry %d: Partial %v", i, got[i].Partial())
				}
				// Every piece has the time of the first.
				if !got[i].Time.Equal(got[0].Time) {
					t.Errorf("entry %d time %v, first %v", i, got[i].Time, got[0].Time)
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c-json.log")
	const maxSize = 1000
	w := newTestWriter(t, path, Options{MaxSize: maxSize, MaxFile: 3})
	for i := range 200 {
		fmt.Fprintf(w.Stdout(), "line %d\n", i)
	}
	w.Close()
	names, _ := filepath.Glob(path + "*")
	if len(names) != 3 {
		t.Fatalf("files %v, want 3", names)
	}
	// The rotated files end at the first entry that reached max-size.
	for _, name := range []string{path + ".1", path + ".2"} {
		st, err := os.Stat(name)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() < maxSize || st.Size() > maxSize+100 {
			t.Errorf("%s: %d bytes, want max-size %d plus at most one entry", name, st.Size(), maxSize)
		}
	}
	// The files hold the last lines, consecutive, oldest in .2.
	var logs []string
	for _, name := range []string{path + ".2", path + ".1", path} {
		for _, l := range strings.Split(strings.TrimSpace(readFile(t, name)), "\n") {
			var e jsonEntry
			if err := json.Unmarshal([]byte(l), &e); err != nil {
				t.Fatal(err)
			}
			logs = append(logs, e.Log)
		}
	}
	first := 200 - len(logs)
	for i, l := range logs {
		if want := fmt.Sprintf("line %d\n", first+i); l != want {
			t.Fatalf("entry %d is %q, want %q", i, l, want)
		}
	}
}

func TestMaxFileOneEmptiesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w := newTestWriter(t, path, Options{MaxSize: 200})
	for i := range 10 {
		fmt.Fprintf(w.Stdout(), "line %d\n", i)
	}
	w.Close()
	if names, _ := filepath.Glob(path + ".*"); len(names) != 0 {
		t.Fatalf("rotated files %v with max-file 1", names)
	}
	got := readFile(t, path)
	if strings.Contains(got, "line 0") || !strings.Contains(got, "line 9") {
		t.Fatalf("file after max-file 1 rotation:\n%s", got)
	}
}

// A second Writer on the same file (a restarted container) appends, and rotates on the
// size the file already had.
func TestWriterReopenAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	w := newTestWriter(t, path, Options{MaxSize: 150, MaxFile: 2})
	fmt.Fprint(w.Stdout(), "first run\n")
	w.Close()
	w = newTestWriter(t, path, Options{MaxSize: 150, MaxFile: 2})
	fmt.Fprint(w.Stdout(), "second run\n")
	if got := readFile(t, path); !strings.Contains(got, "first run") || !strings.Contains(got, "second run") {
		t.Fatalf("file:\n%s", got)
	}
	fmt.Fprint(w.Stdout(), "third\n") // the file is past 150 bytes: rotate first
	w.Close()
	if got := readFile(t, path+".1"); !strings.Contains(got, "second run") {
		t.Fatalf("%s.1:\n%s", path, got)
	}
	if got := readFile(t, path); !strings.Contains(got, "third") || strings.Contains(got, "run") {
		t.Fatalf("file:\n%s", got)
	}
}

// A rotation that cannot be done (here: path.1 is a non-empty directory) loses no line:
// the Writer reports it and keeps appending to the file.
func TestRotationFailureKeepsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	if err := os.MkdirAll(filepath.Join(path+".1", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	w := newTestWriter(t, path, Options{MaxSize: 100, MaxFile: 2})
	var errs int
	for i := range 10 {
		if _, err := fmt.Fprintf(w.Stdout(), "line %d\n", i); err != nil {
			errs++
		}
	}
	w.Close()
	if errs == 0 {
		t.Fatal("no error from a rotation that cannot rename")
	}
	got := readFile(t, path)
	for i := range 10 {
		if !strings.Contains(got, fmt.Sprintf("line %d\\n", i)) {
			t.Fatalf("line %d lost:\n%s", i, got)
		}
	}
}

func TestNewWriterErrors(t *testing.T) {
	if _, err := NewWriter(filepath.Join(t.TempDir(), "no", "such", "dir", "c-json.log"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
	if _, err := NewWriter(filepath.Join(t.TempDir(), "c-json.log"), Options{MaxSize: -1}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("negative MaxSize: %v", err)
	}
}

func TestParseOptions(t *testing.T) {
	tests := []struct {
		in      map[string]string
		want    Options
		wantErr string
	}{
		{in: nil, want: Options{}},
		{in: map[string]string{"max-size": "10m"}, want: Options{MaxSize: 10_000_000}},
		{in: map[string]string{"max-size": "10m", "max-file": "3"}, want: Options{MaxSize: 10_000_000, MaxFile: 3}},
		{in: map[string]string{"max-size": "512k"}, want: Options{MaxSize: 512_000}},
		{in: map[string]string{"max-size": "1g"}, want: Options{MaxSize: 1_000_000_000}},
		{in: map[string]string{"max-size": "1.5MB"}, want: Options{MaxSize: 1_500_000}},
		{in: map[string]string{"max-size": "2 KiB"}, want: Options{MaxSize: 2000}},
		{in: map[string]string{"max-size": "4096"}, want: Options{MaxSize: 4096}},
		{in: map[string]string{"max-size": "100b"}, want: Options{MaxSize: 100}},
		{in: map[string]string{"max-size": "10m", "compress": "false"}, want: Options{MaxSize: 10_000_000}},
		{in: map[string]string{"max-size": "0"}, wantErr: "max-size=\"0\": use a positive size"},
		{in: map[string]string{"max-size": "-1"}, wantErr: "max-size=\"-1\""},
		{in: map[string]string{"max-size": "10x"}, wantErr: "max-size=\"10x\""},
		{in: map[string]string{"max-size": ""}, wantErr: "max-size=\"\""},
		{in: map[string]string{"max-size": "1.2.3m"}, wantErr: "max-size"},
		{in: map[string]string{"max-size": "99999999999p"}, wantErr: "max-size"},
		{in: map[string]string{"max-size": "1m", "max-file": "0"}, wantErr: "max-file=\"0\": use a whole number of files, 1 or more"},
		{in: map[string]string{"max-size": "1m", "max-file": "two"}, wantErr: "max-file=\"two\""},
		{in: map[string]string{"max-file": "3"}, wantErr: "needs max-size"},
		{in: map[string]string{"max-size": "1m", "compress": "true"}, wantErr: "compress=true"},
		{in: map[string]string{"max-size": "1m", "compress": "maybe"}, wantErr: "compress=\"maybe\": use true or false"},
		{in: map[string]string{"tag": "{{.Name}}"}, wantErr: "tag: not supported"},
		{in: map[string]string{"labels": "a"}, wantErr: "labels: not supported"},
		{in: map[string]string{"max-buffer-size": "1m"}, wantErr: "unknown log opt 'max-buffer-size' for json-file log driver"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			got, err := ParseOptions(tt.in)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrBadOption) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseOptions(%v) = %+v, %v; want ErrBadOption with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseOptions(%v) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzParseOptions(f *testing.F) {
	f.Add("10m", "3", "false")
	f.Add("1.5g", "", "")
	f.Add("", "1", "true")
	f.Add("0", "-1", "x")
	f.Add("9999999999999999999999p", "99999999999999999999", "")
	f.Fuzz(func(t *testing.T, size, file, compress string) {
		m := map[string]string{}
		if size != "" {
			m["max-size"] = size
		}
		if file != "" {
			m["max-file"] = file
		}
		if compress != "" {
			m["compress"] = compress
		}
		o, err := ParseOptions(m)
		if err != nil {
			if !errors.Is(err, ErrBadOption) {
				t.Fatalf("error %v does not wrap ErrBadOption", err)
			}
			return
		}
		if o.MaxSize < 0 || o.MaxFile < 0 || (o.MaxFile > 0 && o.MaxSize == 0) {
			t.Fatalf("ParseOptions(%v) = %+v", m, o)
		}
		if size != "" && o.MaxSize == 0 {
			t.Fatalf("max-size %q accepted as 0", size)
		}
	})
}

// One Write of many lines rotates at the same entries as one Write per line.
func TestBatchedWriteRotatesAsLineByLine(t *testing.T) {
	var all strings.Builder
	for i := range 300 {
		fmt.Fprintf(&all, "line %d\n", i)
	}
	files := func(batched bool) map[string]string {
		dir := t.TempDir()
		path := filepath.Join(dir, "c-json.log")
		w := newTestWriter(t, path, Options{MaxSize: 1000, MaxFile: 100})
		w.now = func() time.Time { return t0 }
		if batched {
			w.Stdout().Write([]byte(all.String()))
		} else {
			for _, l := range strings.SplitAfter(all.String(), "\n") {
				w.Stdout().Write([]byte(l))
			}
		}
		w.Close()
		m := map[string]string{}
		names, _ := filepath.Glob(path + "*")
		for _, n := range names {
			m[filepath.Base(n)] = readFile(t, n)
		}
		return m
	}
	a, b := files(true), files(false)
	if len(a) < 10 || fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("batched: %d files, line by line: %d files, or different contents", len(a), len(b))
	}
}
