package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// PollInterval is how often a follower at the end of the file looks for new entries,
// a rotation or the end of the container (see the package notes for why a poll).
const PollInterval = 50 * time.Millisecond

// maxEntry bounds one line of the file. docker's longest entry is a 16 KiB piece whose
// every byte was escaped as \u00XX, about 100 KiB; a longer "line" is damage (a file
// of NULs after a crash) and is skipped, not held in memory.
const maxEntry = 1 << 20

// ErrNoStream is returned by Read when neither Stdout nor Stderr is asked for.
var ErrNoStream = errors.New("logs: choose at least one stream (stdout, stderr)")

// Entry is one json-file entry.
type Entry struct {
	// Log is the text, ending with "\n" unless the entry is partial: a piece of a line
	// longer than MaxLine, or the last bytes a process wrote without a newline.
	Log    string
	Stream string // "stdout" or "stderr"
	Time   time.Time
}

// Partial reports whether the entry is not a whole line (see Entry.Log).
func (e Entry) Partial() bool { return len(e.Log) == 0 || e.Log[len(e.Log)-1] != '\n' }

// Corrupt describes a line of a log file that is not an entry, handed to
// ReadOptions.OnCorrupt before it is skipped.
type Corrupt struct {
	File   string // the file it is in
	Offset int64  // where the line starts in that file
	Err    error  // what is wrong with it
}

// ReadOptions choose the entries Read hands over, as `docker logs` flags do.
type ReadOptions struct {
	// Tail is how many entries, counted back from the end, to start with (--tail N);
	// -1 (or any negative) means all of them, 0 none (with Follow: only new ones). As in
	// docker, it counts the file's entries before the Stream and time filters.
	Tail int
	// Since and Until, when set, keep only entries at or after Since and stop reading at
	// the first entry after Until.
	Since, Until time.Time
	// Follow keeps reading entries as they are written, across rotations, until ctx
	// ends, Done is closed, fn returns an error or the clock passes Until.
	Follow bool
	// Stdout and Stderr choose the streams; at least one must be set.
	Stdout, Stderr bool
	// Done, when closed, tells a follower that no more entries will come (the
	// container ended and its Writer was flushed): Read hands over what the files
	// hold, then returns nil. A closed Done before Read makes Follow a plain read.
	Done <-chan struct{}
	// OnCorrupt, if set, is told about each line that is not an entry (damaged by a
	// crash or edited by hand) before it is skipped.
	OnCorrupt func(Corrupt)
}

// Read hands the entries of the json-file log at path (and of its rotated files
// path.1, path.2, … oldest first) to fn, in order. It returns fn's error if fn fails,
// ctx.Err() if ctx ends while following, and nil at the end of the logs (or when Done
// is closed, with Follow). With --tail, only the end of the files is read.
func Read(ctx context.Context, path string, opts ReadOptions, fn func(Entry) error) error {
	if !opts.Stdout && !opts.Stderr {
		return ErrNoStream
	}
	r := &reader{path: path, opts: opts, fn: fn}
	defer r.closeAll()
	if err := r.start(); err != nil {
		return err
	}
	return r.run(ctx)
}

type reader struct {
	path  string
	opts  ReadOptions
	fn    func(Entry) error
	files []*os.File  // oldest first; the last is the newest when we looked
	lr    *lineReader // reads files[i]
	i     int
	stop  bool        // an entry after Until was seen
	cur   os.FileInfo // the file lr reads, for rotation checks
	tmp   jsonEntry
}

type jsonEntry struct {
	Log    string    `json:"log"`
	Stream string    `json:"stream"`
	Time   time.Time `json:"time"`
}

func (r *reader) closeAll() {
	for _, f := range r.files {
		if f != nil {
			f.Close()
		}
	}
}

// start opens the files as they are now and places the reader at the start of the
// entries to hand over.
func (r *reader) start() error {
	files, err := openChain(r.path)
	if err != nil {
		return err
	}
	r.files = files
	if len(files) == 0 {
		if !r.opts.Follow {
			return fmt.Errorf("read logs: %w", &os.PathError{Op: "open", Path: r.path, Err: os.ErrNotExist})
		}
		return nil
	}
	i, off := 0, int64(0)
	if r.opts.Tail >= 0 {
		i, off, err = tailStart(files, r.opts.Tail)
		if err != nil {
			return err
		}
		for j := range i { // files before the tail are not read
			files[j].Close()
			files[j] = nil
		}
	}
	return r.open(i, off)
}

func (r *reader) open(i int, off int64) error {
	if r.lr != nil && r.i != i { // done with that file
		r.lr.f.Close()
		r.files[r.i] = nil
	}
	r.i = i
	st, err := r.files[i].Stat()
	if err != nil {
		return fmt.Errorf("read logs: %w", err)
	}
	r.cur = st
	r.lr = newLineReader(r.files[i], off)
	if !r.opts.Follow && i == len(r.files)-1 {
		// Without -f: what the file holds now, not what is written while we read.
		r.lr.limit = st.Size()
	}
	return nil
}

func (r *reader) run(ctx context.Context) error {
	done := false
	if r.opts.Done != nil {
		select {
		case <-r.opts.Done:
			done = true
		default:
		}
	}
	for {
		if r.lr != nil {
			if err := r.drain(ctx); err != nil || r.stop {
				return err
			}
			// At the end of files[i]: go on to the next file we opened at the start.
			if r.i+1 < len(r.files) {
				r.reportTail()
				if err := r.open(r.i+1, 0); err != nil {
					return err
				}
				continue
			}
		}
		if !r.opts.Follow {
			return nil
		}
		moved, err := r.next()
		if err != nil {
			return err
		}
		if moved {
			continue
		}
		if done {
			return nil
		}
		// No entry stamped after Until can come once the clock is past it.
		if !r.opts.Until.IsZero() && time.Now().After(r.opts.Until) {
			done = true
			continue
		}
		// Nothing new: wait. Done is checked before the last look at the files so that
		// everything written before it was closed is handed over.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.opts.Done:
			done = true
		case <-time.After(PollInterval):
		}
	}
}

// drain hands over the complete lines of the current file up to its end.
func (r *reader) drain(ctx context.Context) error {
	for {
		line, off, err := r.lr.next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var c *corruptErr
			if errors.As(err, &c) {
				r.corrupt(c.off, c.err)
				continue
			}
			return fmt.Errorf("read logs %s: %w", r.lr.f.Name(), err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := r.entry(line, off); err != nil || r.stop {
			return err
		}
	}
}

// reportTail reports what follows the last newline of a file that will not grow (a
// rotated file, or one a crash cut).
func (r *reader) reportTail() {
	if n := r.lr.leftover(); n > 0 {
		r.corrupt(r.lr.base+int64(r.lr.r), fmt.Errorf("the last %d bytes of the file are not a whole entry", n))
	}
}

func (r *reader) corrupt(off int64, err error) {
	if r.opts.OnCorrupt != nil {
		r.opts.OnCorrupt(Corrupt{File: r.lr.f.Name(), Offset: off, Err: err})
	}
}

func (r *reader) entry(line []byte, off int64) error {
	// A crash can leave NULs where the end of the file was allocated: the entry after
	// them is still good.
	line = bytes.TrimLeft(line, "\x00")
	r.tmp = jsonEntry{}
	if err := json.Unmarshal(line, &r.tmp); err != nil {
		r.corrupt(off, err)
		return nil
	}
	e := Entry{Log: r.tmp.Log, Stream: r.tmp.Stream, Time: r.tmp.Time}
	switch {
	case e.Stream == "stdout" && r.opts.Stdout, e.Stream == "stderr" && r.opts.Stderr:
	default:
		return nil
	}
	if !r.opts.Since.IsZero() && e.Time.Before(r.opts.Since) {
		return nil
	}
	if !r.opts.Until.IsZero() && e.Time.After(r.opts.Until) {
		r.stop = true
		return nil
	}
	return r.fn(e)
}

// next is called at the end of the newest file we know. It notices that this file was
// rotated (renamed: move on to the file written after it) or emptied in place (max-file
// 1: read it again from the start), or that the log file appeared. It reports whether
// there is something new to read.
func (r *reader) next() (bool, error) {
	if r.lr == nil { // no file yet
		files, err := openChain(r.path)
		if err != nil || len(files) == 0 {
			return false, err
		}
		r.files = files
		return true, r.open(0, 0)
	}
	st, err := os.Stat(r.path)
	if err == nil && os.SameFile(st, r.cur) {
		fst, err := r.lr.f.Stat()
		if err != nil {
			return false, fmt.Errorf("read logs: %w", err)
		}
		if fst.Size() < r.lr.end() { // emptied in place: start again
			r.lr = newLineReader(r.lr.f, 0)
			return true, nil
		}
		return fst.Size() > r.lr.end(), nil
	}
	// The file was renamed (or removed). Read what was written to it before that, then
	// move on to the file that came after it.
	if fst, err := r.lr.f.Stat(); err == nil && fst.Size() > r.lr.end() {
		return true, nil
	}
	f, err := successor(r.path, r.cur)
	if err != nil || f == nil {
		return false, err
	}
	r.reportTail()
	r.lr.f.Close()
	r.lr, r.files = nil, []*os.File{f}
	return true, r.open(0, 0)
}
