package logs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// rotated lists the numbers n of the files path.n that exist, smallest first.
func rotated(path string) ([]int, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("read logs: %w", err)
	}
	var ns []int
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || strconv.Itoa(n) != rest {
			continue
		}
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns, nil
}

func rotatedName(path string, n int) string { return path + "." + strconv.Itoa(n) }

// openChain opens the log files as one snapshot, oldest first (path.N … path.1, path).
// It opens the newest first and skips a file it already holds: a rotation while it
// opens shifts the names by one, and the file it would then find twice is found once.
func openChain(path string) ([]*os.File, error) {
	ns, err := rotated(path)
	if err != nil {
		return nil, err
	}
	var files []*os.File
	var infos []os.FileInfo
	add := func(name string) (bool, error) {
		f, err := os.Open(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return false, nil
			}
			return false, fmt.Errorf("read logs: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return false, fmt.Errorf("read logs: %w", err)
		}
		for _, o := range infos {
			if os.SameFile(o, st) {
				f.Close()
				return true, nil
			}
		}
		files, infos = append(files, f), append(infos, st)
		return true, nil
	}
	fail := func(err error) ([]*os.File, error) {
		for _, f := range files {
			f.Close()
		}
		return nil, err
	}
	if _, err := add(path); err != nil {
		return fail(err)
	}
	max := 0
	if len(ns) > 0 {
		max = ns[len(ns)-1]
	}
	for n := 1; n <= max+1; n++ {
		if _, err := add(rotatedName(path, n)); err != nil {
			return fail(err)
		}
		if n == max+1 { // a rotation while we opened may have made one more
			if more, err := rotated(path); err == nil && len(more) > 0 && more[len(more)-1] > max {
				max = more[len(more)-1]
			}
		}
	}
	slices.Reverse(files)
	return files, nil
}

type link struct {
	name string
	info os.FileInfo
}

// chain stats the log files, oldest first.
func chain(path string) ([]link, error) {
	ns, err := rotated(path)
	if err != nil {
		return nil, err
	}
	var c []link
	for i := len(ns) - 1; i >= -1; i-- {
		name := path
		if i >= 0 {
			name = rotatedName(path, ns[i])
		}
		st, err := os.Stat(name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read logs: %w", err)
		}
		c = append(c, link{name, st})
	}
	return c, nil
}

func sameChain(a, b []link) bool {
	return slices.EqualFunc(a, b, func(x, y link) bool { return x.name == y.name && os.SameFile(x.info, y.info) })
}

// successor opens the file written after cur, which was rotated: the one after it in
// the chain, or the oldest there is if cur was already dropped (max-file reached: what
// was between is lost, as in docker). It returns nil when there is none yet (a
// rotation in progress). The chain is read again after the open, so that a rotation
// in between is not mistaken for the order of the files.
func successor(path string, cur os.FileInfo) (*os.File, error) {
	for range 10 {
		c, err := chain(path)
		if err != nil || len(c) == 0 {
			return nil, err
		}
		idx := slices.IndexFunc(c, func(l link) bool { return os.SameFile(l.info, cur) })
		if idx == len(c)-1 && c[idx].name == path {
			return nil, nil // cur is still the file being written
		}
		if idx == len(c)-1 {
			return nil, nil // renamed, and the new file is not there yet
		}
		next := c[idx+1] // idx is -1 when cur is gone: the oldest
		f, err := os.Open(next.name)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("read logs: %w", err)
		}
		st, err := f.Stat()
		c2, err2 := chain(path)
		if err == nil && err2 == nil && os.SameFile(st, next.info) && sameChain(c, c2) {
			return f, nil
		}
		f.Close()
	}
	return nil, nil // the files keep moving: try again at the next poll
}

// tailStart finds where the last n lines of the files begin: the index of the file and
// the offset in it. Only complete lines count; the files are read backwards in blocks
// from their end, so the cost is that of the lines asked for, not of the history.
// With n = 0 it is the end of the last complete line of the newest file.
func tailStart(files []*os.File, n int) (int, int64, error) {
	buf := make([]byte, 32*1024)
	have := 0
	for i := len(files) - 1; i >= 0; i-- {
		st, err := files[i].Stat()
		if err != nil {
			return 0, 0, fmt.Errorf("read logs: %w", err)
		}
		end := st.Size()
		first := true // before the newline that ends the file's last line
		for end > 0 {
			start := max(end-int64(len(buf)), 0)
			b := buf[:end-start]
			if _, err := files[i].ReadAt(b, start); err != nil && err != io.EOF {
				return 0, 0, fmt.Errorf("read logs: %w", err)
			}
			for j := len(b) - 1; j >= 0; j-- {
				if b[j] != '\n' {
					continue
				}
				if first {
					first = false
					if n == 0 {
						return i, start + int64(j) + 1, nil
					}
					continue
				}
				if have++; have == n {
					return i, start + int64(j) + 1, nil
				}
			}
			end = start
		}
		if n == 0 {
			return i, 0, nil // no complete line in the newest file
		}
		if !first { // the file's first line has no newline before it
			if have++; have == n {
				return i, 0, nil
			}
		}
	}
	return 0, 0, nil
}

// lineReader reads the lines of a file from an offset, without assuming the file has
// stopped growing: what follows the last newline stays until its newline comes.
type lineReader struct {
	f     *os.File
	base  int64 // file offset of buf[0]
	buf   []byte
	r, w  int   // unread bytes are buf[r:w]
	skip  bool  // dropping an overlong line up to its newline
	limit int64 // read no further than this offset; -1: to the end, however it grows
}

func newLineReader(f *os.File, off int64) *lineReader {
	return &lineReader{f: f, base: off, buf: make([]byte, 64*1024), limit: -1}
}

// end is the offset after the last byte read from the file.
func (lr *lineReader) end() int64 { return lr.base + int64(lr.w) }

// leftover is how many bytes after the last newline were read.
func (lr *lineReader) leftover() int {
	if lr.skip {
		return 0
	}
	return lr.w - lr.r
}

type corruptErr struct {
	off int64
	err error
}

func (e *corruptErr) Error() string { return e.err.Error() }

// next returns the next complete line (without its newline) and its offset, or io.EOF
// when the file holds no further complete line for now. The line is valid until the
// next call.
func (lr *lineReader) next() ([]byte, int64, error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.r:lr.w], '\n'); i >= 0 {
			line, off := lr.buf[lr.r:lr.r+i], lr.base+int64(lr.r)
			lr.r += i + 1
			if lr.skip {
				lr.skip = false
				continue
			}
			return line, off, nil
		}
		if lr.skip { // still inside an overlong line: drop what we hold
			lr.base += int64(lr.w)
			lr.r, lr.w = 0, 0
		}
		// Make room: move the unread bytes to the front, grow if a line fills the buffer.
		if lr.r > 0 {
			copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.base += int64(lr.r)
			lr.w -= lr.r
			lr.r = 0
		}
		if lr.w == len(lr.buf) {
			if len(lr.buf) >= maxEntry {
				off := lr.base
				lr.base += int64(lr.w)
				lr.r, lr.w = 0, 0
				lr.skip = true
				return nil, 0, &corruptErr{off, fmt.Errorf("a line longer than %d bytes: not an entry", maxEntry)}
			}
			lr.buf = append(lr.buf, make([]byte, len(lr.buf))...)
		}
		b := lr.buf[lr.w:]
		if lr.limit >= 0 {
			b = b[:max(min(int64(len(b)), lr.limit-lr.end()), 0)]
		}
		n, err := lr.f.ReadAt(b, lr.end())
		lr.w += n
		if n == 0 {
			if err == nil || err == io.EOF {
				return nil, 0, io.EOF
			}
			return nil, 0, err
		}
	}
}
