package jsonlite

import (
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"
)

// Writer writes JSON laid out as json.MarshalIndent(v, "", "  ") lays it out, for
// records written on the path of `berth run`, whose encoding/json encoders would be
// built by reflection in every process (~0.5 ms for the container record; see the
// package notes). Callers write members in their struct's field order and leave out
// what encoding/json's omitempty would, so that the bytes are the same; their tests
// compare them with encoding/json's.
type Writer struct {
	b        []byte
	depth    int
	first    bool // no member or element written yet at this depth
	afterKey bool // a member's name was written: its value comes next
}

// Bytes returns what was written.
func (w *Writer) Bytes() []byte { return w.b }

func (w *Writer) newline() {
	w.b = append(w.b, '\n')
	for i := 0; i < w.depth; i++ {
		w.b = append(w.b, ' ', ' ')
	}
}

// item starts a member or an element.
func (w *Writer) item() {
	if w.depth == 0 {
		return
	}
	if !w.first {
		w.b = append(w.b, ',')
	}
	w.first = false
	w.newline()
}

// open starts an object or array; close ends it.
func (w *Writer) open(c byte) {
	w.b = append(w.b, c)
	w.depth++
	w.first = true
}

func (w *Writer) close(c byte) {
	w.depth--
	if !w.first {
		w.newline()
	}
	w.first = false
	w.b = append(w.b, c)
}

// Object writes an object whose members fn writes (with Key and a value each).
func (w *Writer) Object(fn func()) {
	w.value()
	w.open('{')
	fn()
	w.close('}')
}

// Array writes an array whose elements fn writes.
func (w *Writer) Array(fn func()) {
	w.value()
	w.open('[')
	fn()
	w.close(']')
}

// Key starts a member; a value must follow.
func (w *Writer) Key(name string) {
	w.item()
	w.b = AppendString(w.b, name)
	w.b = append(w.b, ':', ' ')
	w.afterKey = true
}

// value starts a value: a member's, or an array's next element.
func (w *Writer) value() {
	if w.afterKey {
		w.afterKey = false
		return
	}
	w.item()
}

// String writes a string value.
func (w *Writer) String(s string) { w.value(); w.b = AppendString(w.b, s) }

// Bool writes true or false.
func (w *Writer) Bool(v bool) { w.value(); w.b = strconv.AppendBool(w.b, v) }

// Int writes an integer.
func (w *Writer) Int(n int64) { w.value(); w.b = strconv.AppendInt(w.b, n, 10) }

// Raw writes a value already encoded (such as time.Time's MarshalJSON).
func (w *Writer) Raw(v []byte) { w.value(); w.b = append(w.b, v...) }

// Strings writes an array of strings; nil is null, as encoding/json writes a nil slice.
func (w *Writer) Strings(list []string) {
	w.value()
	if list == nil {
		w.b = append(w.b, "null"...)
		return
	}
	w.open('[')
	for _, s := range list {
		w.String(s)
	}
	w.close(']')
}

// StringMap writes an object of strings with its keys sorted, as encoding/json writes
// a map[string]string; nil is null.
func (w *Writer) StringMap(m map[string]string) {
	if m == nil {
		w.value()
		w.b = append(w.b, "null"...)
		return
	}
	w.Object(func() {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			w.Key(k)
			w.String(m[k])
		}
	})
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json escapes it (HTML
// characters, U+2028 and U+2029 too; invalid UTF-8 becomes \ufffd).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '\\', '"':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
