package logs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// MaxLine is the longest piece of a line one entry holds: a longer line is split into
// entries of MaxLine bytes without the newline, the last piece ending with it, as
// docker's log copier does with its 16 KiB buffer.
const MaxLine = 16 * 1024

// maxBatch bounds the entries gathered for one write(2), so that a large Write does not
// leave a large buffer behind.
const maxBatch = 256 << 10

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("log writer closed")

// FileName is the name docker gives a container's json-file log: "<id>-json.log".
func FileName(id string) string { return id + "-json.log" }

// Writer appends docker json-file entries to one file and rotates it by size. Its
// methods and those of its streams may be called from several goroutines. One Writer,
// in one process, writes a given file.
type Writer struct {
	path string
	opts Options

	mu     sync.Mutex // guards what follows
	f      *os.File
	size   int64
	buf    []byte // entries waiting for one write(2)
	closed bool
	now    func() time.Time

	stdout, stderr *Stream
}

// Stream turns one output stream's bytes into entries: each line becomes one entry,
// stamped with the time it was complete. A line not yet ended waits in the Stream
// until its newline, until MaxLine bytes of it are there, or until Flush.
type Stream struct {
	w    *Writer
	name string

	mu        sync.Mutex
	pending   []byte    // the start of a line whose newline has not come
	partialTS time.Time // time of a line's first piece, when it was split
	lines     [][]byte  // Write's scratch: the pieces of one call
	partial   []bool    // and whether each is a split piece
}

// NewWriter opens (creating it if needed, 0640 as docker) the log file at path for
// appending; a file left by an earlier run keeps growing, as after a container's
// restart. Rotation follows opts: see Options.
func NewWriter(path string, opts Options) (*Writer, error) {
	if opts.MaxSize < 0 || opts.MaxFile < 0 {
		return nil, fmt.Errorf("%w: MaxSize %d and MaxFile %d cannot be negative", ErrBadOption, opts.MaxSize, opts.MaxFile)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open log file: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open log file: %w", err)
	}
	w := &Writer{path: path, opts: opts, f: f, size: st.Size(), now: time.Now}
	w.stdout = &Stream{w: w, name: "stdout"}
	w.stderr = &Stream{w: w, name: "stderr"}
	return w, nil
}

// Path is the file the Writer appends to.
func (w *Writer) Path() string { return w.path }

// Stdout is the writer for the container's standard output.
func (w *Writer) Stdout() *Stream { return w.stdout }

// Stderr is the writer for the container's standard error.
func (w *Writer) Stderr() *Stream { return w.stderr }

// Write takes a stream's bytes. All of p is always consumed: a complete line is written
// to the file before Write returns. An error means a line could not be written (a full
// disk) or the file could not be rotated (the lines are then in the file, past
// max-size): like docker's copier, a caller copying a container's output should report
// it and keep writing, or the container would block on a full pipe.
func (s *Stream) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The pieces to write, each ending in '\n' unless split at MaxLine.
	lines, partial := s.lines[:0], s.partial[:0]
	data := p
	if len(s.pending) > 0 {
		data = append(s.pending, p...)
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i >= 0 && i < MaxLine {
			lines = append(lines, data[:i+1])
			partial = append(partial, false)
			data = data[i+1:]
			continue
		}
		if len(data) >= MaxLine {
			lines = append(lines, data[:MaxLine])
			partial = append(partial, true)
			data = data[MaxLine:]
			continue
		}
		break // the start of a line: keep it
	}
	err := s.w.write(s, lines, partial)
	s.pending = append(s.pending[:0:0], data...)
	clear(lines) // keep no reference to p
	s.lines, s.partial = lines, partial
	return len(p), err
}

// Flush writes the line the stream holds without its newline as a partial entry (no
// "\n" at the end of "log"), as docker does when a stream ends: call it when the
// container's process exits.
func (s *Stream) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.pending) == 0 {
		return nil
	}
	err := s.w.write(s, [][]byte{s.pending}, []bool{true})
	s.pending = s.pending[:0]
	s.partialTS = time.Time{}
	return err
}

// Flush writes both streams' unfinished lines as partial entries (see Stream.Flush).
// Complete lines need no flush: each Write puts them in the file.
func (w *Writer) Flush() error {
	return errors.Join(w.stdout.Flush(), w.stderr.Flush())
}

// Close flushes both streams and closes the file. Writes after Close fail with
// ErrClosed.
func (w *Writer) Close() error {
	ferr := w.Flush()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ferr
	}
	w.closed = true
	if w.f == nil {
		return ferr
	}
	return errors.Join(ferr, w.f.Close())
}

// write encodes the pieces as entries and appends them to the file, rotating before an
// entry when the file has reached MaxSize (as docker: a file ends at the first entry
// that takes it to MaxSize or past it). The pieces are batched into as few write(2)
// calls as rotation allows; an entry is never split across files.
func (w *Writer) write(s *Stream, lines [][]byte, partial []bool) error {
	if len(lines) == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	var errs []error
	now := w.now().UTC()
	w.buf = w.buf[:0]
	for i, line := range lines {
		// docker stamps every piece of a split line with the time of its first piece.
		ts := now
		if !s.partialTS.IsZero() {
			ts = s.partialTS
		}
		if partial[i] {
			if s.partialTS.IsZero() {
				s.partialTS = now
			}
		} else {
			s.partialTS = time.Time{}
		}
		if w.opts.MaxSize > 0 && w.size+int64(len(w.buf)) >= w.opts.MaxSize {
			if err := w.flushBuf(); err != nil {
				errs = append(errs, err)
			}
			if w.size >= w.opts.MaxSize {
				if err := w.rotate(); err != nil {
					errs = append(errs, err)
				}
			}
		}
		w.buf = appendEntry(w.buf, line, s.name, ts)
		if len(w.buf) >= maxBatch {
			if err := w.flushBuf(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := w.flushBuf(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (w *Writer) flushBuf() error {
	if len(w.buf) == 0 {
		return nil
	}
	if w.f == nil { // a failed rotation could not reopen the file: try again
		if err := w.reopen(nil); err != nil {
			w.buf = w.buf[:0]
			return err
		}
	}
	n, err := w.f.Write(w.buf)
	w.size += int64(n)
	w.buf = w.buf[:0]
	if err != nil {
		return fmt.Errorf("write log file %s: %w", w.path, err)
	}
	return nil
}

// rotate renames path.(n-1) to path.n, …, path to path.1 (dropping the oldest beyond
// MaxFile) and starts a new, empty path; with MaxFile ≤ 1 it empties the file, as
// docker. The old file holds every entry written before: renames lose nothing. If a
// step fails, the Writer goes on appending to path and tries again at the next entry.
func (w *Writer) rotate() error {
	if w.f != nil {
		if err := w.f.Close(); err != nil {
			return w.reopen(fmt.Errorf("rotate log file %s: %w", w.path, err))
		}
		w.f = nil
	}
	flags := os.O_WRONLY | os.O_APPEND | os.O_CREATE
	if w.opts.MaxFile <= 1 {
		flags |= os.O_TRUNC
	} else {
		name := func(i int) string { return w.path + "." + strconv.Itoa(i) }
		if err := os.Remove(name(w.opts.MaxFile - 1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return w.reopen(fmt.Errorf("rotate log file: %w", err))
		}
		for i := w.opts.MaxFile - 1; i > 1; i-- {
			if err := os.Rename(name(i-1), name(i)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return w.reopen(fmt.Errorf("rotate log file: %w", err))
			}
		}
		if err := os.Rename(w.path, name(1)); err != nil {
			return w.reopen(fmt.Errorf("rotate log file: %w", err))
		}
	}
	f, err := os.OpenFile(w.path, flags, 0o640)
	if err != nil {
		return w.reopen(fmt.Errorf("rotate log file: %w", err))
	}
	w.f, w.size = f, 0
	return nil
}

// reopen opens path again for appending after a failed rotation, so that no line is
// lost, and returns cause (with the reopen's own error, if any).
func (w *Writer) reopen(cause error) error {
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		w.f = nil // the next write tries again
		return errors.Join(cause, fmt.Errorf("reopen log file: %w", err))
	}
	st, err := f.Stat()
	if err == nil {
		w.size = st.Size()
	}
	w.f = f
	return cause
}

// appendEntry appends one docker json-file line: {"log":…,"stream":…,"time":…}\n,
// escaped as docker's encoder does (<, > and & as \u00XX, invalid UTF-8 as U+FFFD,
// U+2028 and U+2029 escaped), the time in RFC 3339 with nanoseconds, UTC.
func appendEntry(b, line []byte, stream string, ts time.Time) []byte {
	b = append(b, `{"log":`...)
	b = appendString(b, line)
	b = append(b, `,"stream":"`...)
	b = append(b, stream...)
	b = append(b, `","time":"`...)
	b = ts.AppendFormat(b, time.RFC3339Nano)
	return append(b, "\"}\n"...)
}

func appendString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
