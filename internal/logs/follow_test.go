package logs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// follower runs Read with Follow in a goroutine and collects what it hands over.
type follower struct {
	mu      sync.Mutex
	got     []string
	damage  []Corrupt
	err     error
	done    chan struct{} // closed when Read returned
	arrived chan struct{} // one send per entry, if not nil
}

func follow(ctx context.Context, path string, opts ReadOptions, arrived chan struct{}) *follower {
	f := &follower{done: make(chan struct{}), arrived: arrived}
	opts.Follow = true
	opts.OnCorrupt = func(c Corrupt) {
		f.mu.Lock()
		f.damage = append(f.damage, c)
		f.mu.Unlock()
	}
	go func() {
		defer close(f.done)
		f.err = Read(ctx, path, opts, func(e Entry) error {
			f.mu.Lock()
			f.got = append(f.got, e.Log)
			f.mu.Unlock()
			if f.arrived != nil {
				f.arrived <- struct{}{}
			}
			return nil
		})
	}()
	return f
}

func (f *follower) wait(t *testing.T) []string {
	t.Helper()
	select {
	case <-f.done:
	case <-time.After(30 * time.Second):
		t.Fatal("the follower did not end")
	}
	if f.err != nil {
		t.Fatalf("follow: %v", f.err)
	}
	if len(f.damage) > 0 {
		t.Fatalf("follower saw damage: %+v", f.damage)
	}
	return f.got
}

func padLine(i int) string {
	return fmt.Sprintf("line %08d: the quick brown fox jumps over the lazy dog\n", i)
}

// checkSequence checks that got is lines from..to-1 of padLine, each once, in order.
func checkSequence(t *testing.T, got []string, from, to int) {
	t.Helper()
	if len(got) != to-from {
		t.Errorf("%d lines, want %d", len(got), to-from)
	}
	for i, l := range got {
		if want := padLine(from + i); l != want {
			t.Fatalf("line %d is %q, want %q", i, l, want)
		}
	}
}

// The check: every line a guest writes at 10 000 lines/s for 10 s is kept,
// across rotation, and a follower reading meanwhile gets each exactly once, in order.
func TestFollow10kLinesPerSecond(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s")
	}
	const total, perTick, tick = 100_000, 100, 10 * time.Millisecond // 10 000 lines/s
	path := filepath.Join(t.TempDir(), FileName("c"))
	w, err := NewWriter(path, Options{MaxSize: 256 << 10, MaxFile: 1000})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Stderr: true, Done: done}, nil)

	start := time.Now()
	next := start
	for i := 0; i < total; {
		for range perTick {
			if _, err := w.Stdout().Write([]byte(padLine(i))); err != nil {
				t.Fatal(err)
			}
			i++
		}
		next = next.Add(tick)
		time.Sleep(time.Until(next))
	}
	elapsed := time.Since(start)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	close(done)
	got := f.wait(t)
	checkSequence(t, got, 0, total)

	rotated, _ := filepath.Glob(path + ".*")
	t.Logf("%d lines in %v (%.0f lines/s), %d rotations; the follower got them all, in order",
		total, elapsed.Round(time.Millisecond), total/elapsed.Seconds(), len(rotated))
	if len(rotated) < 10 {
		t.Fatalf("only %d rotations: the test does not exercise rotation", len(rotated))
	}
	// And a plain read of the files gives them all again.
	checkSequence(t, readAll(t, path, ReadOptions{Tail: -1, Stdout: true}), 0, total)
}

// As fast as the writer goes, from two goroutines (stdout and stderr), max-file 1000:
// nothing is dropped and the follower gets each stream's lines once, in order.
func TestFollowFullSpeed(t *testing.T) {
	const total = 100_000
	path := filepath.Join(t.TempDir(), FileName("c"))
	w, err := NewWriter(path, Options{MaxSize: 256 << 10, MaxFile: 1000})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Stderr: true, Done: done}, nil)
	var wg sync.WaitGroup
	for _, s := range []*Stream{w.Stdout(), w.Stderr()} {
		wg.Go(func() {
			for i := range total / 2 {
				if _, err := s.Write([]byte(padLine(i))); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	w.Close()
	close(done)
	got := f.wait(t)
	if len(got) != total {
		t.Fatalf("%d lines, want %d", len(got), total)
	}
	// Each stream's lines in order: split by the stream they came from is not in the
	// log text, so check that every number appears twice and that the two sequences,
	// taken greedily, are each increasing.
	var next [2]int
	for _, l := range got {
		n, _ := strconv.Atoi(l[5:13])
		switch n {
		case next[0]:
			next[0]++
		case next[1]:
			next[1]++
		default:
			t.Fatalf("line %d out of order (streams at %d and %d)", n, next[0], next[1])
		}
	}
}

// With max-file 3 the writer drops the oldest files: the files hold a consecutive run of
// lines ending with the last one, and a follower never gets a line twice or out of order,
// and gets the last one.
func TestFollowMaxFile3(t *testing.T) {
	const total = 100_000
	path := filepath.Join(t.TempDir(), FileName("c"))
	w, err := NewWriter(path, Options{MaxSize: 256 << 10, MaxFile: 3})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Done: done}, nil)
	for i := range total {
		if _, err := w.Stdout().Write([]byte(padLine(i))); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	close(done)
	got := f.wait(t)
	prev := -1
	for _, l := range got {
		n, err := strconv.Atoi(l[5:13])
		if err != nil || n <= prev {
			t.Fatalf("line %q after line %d", l, prev)
		}
		prev = n
	}
	if prev != total-1 {
		t.Fatalf("the follower's last line is %d, want %d", prev, total-1)
	}
	names, _ := filepath.Glob(path + "*")
	if len(names) != 3 {
		t.Fatalf("files %v, want 3", names)
	}
	onDisk := readAll(t, path, ReadOptions{Tail: -1, Stdout: true})
	checkSequence(t, onDisk, total-len(onDisk), total)
	t.Logf("the follower got %d of %d lines (the rest were rotated away before it read them); the 3 files hold the last %d",
		len(got), total, len(onDisk))
}

func TestFollowEnds(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("c"))
	w := newTestWriter(t, path, Options{})
	fmt.Fprint(w.Stdout(), "a\n") // at t0+1ms
	fmt.Fprint(w.Stdout(), "b\n") // at t0+2ms

	t.Run("Done already closed: a plain read", func(t *testing.T) {
		done := make(chan struct{})
		close(done)
		f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Done: done}, nil)
		if got := f.wait(t); !slices.Equal(got, []string{"a\n", "b\n"}) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("context canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		arrived := make(chan struct{}, 10)
		f := follow(ctx, path, ReadOptions{Tail: -1, Stdout: true}, arrived)
		<-arrived
		<-arrived
		cancel()
		select {
		case <-f.done:
		case <-time.After(5 * time.Second):
			t.Fatal("Read did not end with its context")
		}
		if !errors.Is(f.err, context.Canceled) {
			t.Fatalf("Read returned %v, want context.Canceled", f.err)
		}
	})
	t.Run("callback error", func(t *testing.T) {
		stop := errors.New("client went away")
		err := Read(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Follow: true}, func(Entry) error { return stop })
		if !errors.Is(err, stop) {
			t.Fatalf("Read returned %v", err)
		}
	})
	t.Run("until", func(t *testing.T) {
		// The second entry is after Until: a follower stops there without Done.
		f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Until: t0.Add(time.Millisecond)}, nil)
		if got := f.wait(t); !slices.Equal(got, []string{"a\n"}) {
			t.Fatalf("got %q", got)
		}
	})
	t.Run("until passed", func(t *testing.T) {
		// Nothing after Until in the file, but the clock passes it: nothing more can come.
		path := filepath.Join(t.TempDir(), FileName("c"))
		w, err := NewWriter(path, Options{}) // the real clock
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(w.Stdout(), "a\n")
		w.Close()
		f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Until: time.Now().Add(3 * PollInterval)}, nil)
		if got := f.wait(t); !slices.Equal(got, []string{"a\n"}) {
			t.Fatalf("got %q", got)
		}
	})
}

// logs -f with --tail 0 shows only what comes next; a line written in two pieces (a
// writer caught mid-write) is one entry, not damage.
func TestFollowNewOnlyAndHalfWrittenEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("c"))
	w := newTestWriter(t, path, Options{})
	fmt.Fprint(w.Stdout(), "old\n")
	done := make(chan struct{})
	arrived := make(chan struct{}, 10)
	f := follow(t.Context(), path, ReadOptions{Tail: 0, Stdout: true, Done: done}, arrived)
	time.Sleep(2 * PollInterval) // let it reach the end
	entry := string(appendEntry(nil, []byte("new\n"), "stdout", t0))
	af, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	af.WriteString(entry[:20])
	time.Sleep(3 * PollInterval)
	af.WriteString(entry[20:])
	af.Close()
	<-arrived
	close(done)
	if got := f.wait(t); !slices.Equal(got, []string{"new\n"}) {
		t.Fatalf("got %q", got)
	}
}

// A restarted container's new Writer appends to the same file: -f goes on.
func TestFollowAcrossRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("c"))
	opts := Options{MaxSize: 300, MaxFile: 10}
	w := newTestWriter(t, path, opts)
	done := make(chan struct{})
	arrived := make(chan struct{}, 100)
	f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Done: done}, arrived)
	for i := range 5 {
		fmt.Fprint(w.Stdout(), padLine(i))
	}
	w.Close()
	for range 5 {
		<-arrived
	}
	w = newTestWriter(t, path, opts) // the container runs again
	for i := 5; i < 10; i++ {
		fmt.Fprint(w.Stdout(), padLine(i))
	}
	w.Close()
	close(done)
	checkSequence(t, f.wait(t), 0, 10)
}

// With max-file 1 the file is emptied in place at max-size: a follower that keeps up
// starts again at its beginning.
func TestFollowMaxFileOne(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("c"))
	w := newTestWriter(t, path, Options{MaxSize: 300})
	done := make(chan struct{})
	arrived := make(chan struct{}, 1)
	f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Done: done}, arrived)
	for i := range 10 {
		fmt.Fprint(w.Stdout(), padLine(i))
		<-arrived // one at a time, so the follower sees each before it is emptied
	}
	w.Close()
	close(done)
	checkSequence(t, f.wait(t), 0, 10)
}

// -f on a container whose log file is not there yet waits for it.
func TestFollowWaitsForTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("c"))
	done := make(chan struct{})
	arrived := make(chan struct{}, 10)
	f := follow(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Done: done}, arrived)
	time.Sleep(2 * PollInterval)
	w := newTestWriter(t, path, Options{})
	fmt.Fprint(w.Stdout(), "first\n")
	<-arrived
	w.Close()
	close(done)
	if got := f.wait(t); !slices.Equal(got, []string{"first\n"}) {
		t.Fatalf("got %q", got)
	}
}

// A follower that falls far behind a writer rotating many times reads the files in
// order: here the follower is held while the writer rotates ten times (max-file 1000).
func TestFollowSlowReaderManyRotations(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName("c"))
	w := newTestWriter(t, path, Options{MaxSize: 500, MaxFile: 1000})
	fmt.Fprint(w.Stdout(), padLine(0))
	done := make(chan struct{})
	gate := make(chan struct{})
	var got []string
	errc := make(chan error, 1)
	go func() {
		errc <- Read(t.Context(), path, ReadOptions{Tail: -1, Stdout: true, Follow: true, Done: done}, func(e Entry) error {
			if len(got) == 0 {
				<-gate // hold the follower after its first line
			}
			got = append(got, e.Log)
			return nil
		})
	}()
	time.Sleep(2 * PollInterval)
	for i := 1; i < 100; i++ {
		fmt.Fprint(w.Stdout(), padLine(i))
	}
	w.Close()
	close(gate)
	close(done)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if names, _ := filepath.Glob(path + ".*"); len(names) < 10 {
		t.Fatalf("only %d rotations", len(names))
	}
	checkSequence(t, got, 0, 100)
}
