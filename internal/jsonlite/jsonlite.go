// Package jsonlite reads and writes the small JSON files on the path of `berth run`
// without reflection: it reads the image store's index.json and a snapshot's meta.json
// into a tree (Parse), and writes the container record and config.json (Writer).
//
// # Notes
//
//   - encoding/json builds a decoder for each Go type on its first use in a process, by
//     reflection: in the berth binary, decoding index.json and meta.json into their
//     structs cost ~0.2 ms each in a fresh process (docs/benchmarks.md), on the critical
//     path of every `berth run`. A process decodes each file once, so that set-up is
//     never amortised. Parsing into a Value and reading the fields by hand costs a
//     fraction of it.
//   - The syntax accepted is RFC 8259's, as encoding/json accepts it (FuzzParse checks
//     Parse against json.Unmarshal): strings are unescaped the same way, invalid UTF-8
//     and lone surrogates becoming U+FFFD, and data after the value is refused.
//   - Writer lays values out as json.MarshalIndent(v, "", "  ") does and escapes strings
//     as encoding/json does; the packages that use it test their output byte for byte
//     against encoding/json's.
//   - Decode helpers find members as encoding/json matches struct fields: by name,
//     ignoring ASCII and Unicode case (strings.EqualFold). An object naming one member
//     twice, which encoding/json would merge in ways that depend on the field's type, is
//     refused (ErrDuplicate) instead.
package jsonlite

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind is the type of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Array
	Object
)

func (k Kind) String() string {
	switch k {
	case Null:
		return "null"
	case Bool:
		return "boolean"
	case Number:
		return "number"
	case String:
		return "string"
	case Array:
		return "array"
	case Object:
		return "object"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is a parsed JSON value.
type Value struct {
	Kind    Kind
	Bool    bool
	Text    string   // a String's text, unescaped; a Number's literal
	Items   []Value  // an Array's elements
	Members []Member // an Object's members, in order
}

// Member is one name/value pair of an object.
type Member struct {
	Name  string
	Value Value
}

// ErrSyntax is returned (wrapped) for data that is not one JSON value.
var ErrSyntax = errors.New("invalid JSON")

// ErrDuplicate is returned (wrapped) by Value.Field for an object that names a member
// twice (ignoring case).
var ErrDuplicate = errors.New("duplicate member")

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

// Parse parses data, which must hold exactly one JSON value (and white space).
func Parse(data []byte) (Value, error) {
	p := parser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return Value{}, err
	}
	p.space()
	if p.i < len(p.data) {
		return Value{}, p.fail("data after the value")
	}
	return v, nil
}

type parser struct {
	data []byte
	i    int
}

func (p *parser) fail(what string) error {
	return fmt.Errorf("%w: %s at offset %d", ErrSyntax, what, p.i)
}

func (p *parser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) value(depth int) (Value, error) {
	if p.i >= len(p.data) {
		return Value{}, p.fail("unexpected end")
	}
	switch c := p.data[p.i]; {
	case c == '{':
		return p.object(depth + 1)
	case c == '[':
		return p.array(depth + 1)
	case c == '"':
		s, err := p.str()
		return Value{Kind: String, Text: s}, err
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	case p.word("true"):
		return Value{Kind: Bool, Bool: true}, nil
	case p.word("false"):
		return Value{Kind: Bool}, nil
	case p.word("null"):
		return Value{Kind: Null}, nil
	}
	return Value{}, p.fail("unexpected character")
}

func (p *parser) word(w string) bool {
	if len(p.data)-p.i >= len(w) && string(p.data[p.i:p.i+len(w)]) == w {
		p.i += len(w)
		return true
	}
	return false
}

func (p *parser) object(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.fail("nested too deeply")
	}
	p.i++ // {
	v := Value{Kind: Object}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return Value{}, p.fail("expected a member name")
		}
		name, err := p.str()
		if err != nil {
			return Value{}, err
		}
		p.space()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return Value{}, p.fail("expected ':'")
		}
		p.i++
		p.space()
		m, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		v.Members = append(v.Members, Member{Name: name, Value: m})
		p.space()
		if p.i >= len(p.data) {
			return Value{}, p.fail("unexpected end")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return v, nil
		default:
			return Value{}, p.fail("expected ',' or '}'")
		}
	}
}

func (p *parser) array(depth int) (Value, error) {
	if depth > maxDepth {
		return Value{}, p.fail("nested too deeply")
	}
	p.i++ // [
	v := Value{Kind: Array}
	p.space()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return v, nil
	}
	for {
		p.space()
		e, err := p.value(depth)
		if err != nil {
			return Value{}, err
		}
		v.Items = append(v.Items, e)
		p.space()
		if p.i >= len(p.data) {
			return Value{}, p.fail("unexpected end")
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			return v, nil
		default:
			return Value{}, p.fail("expected ',' or ']'")
		}
	}
}

// number checks a number's syntax (RFC 8259 §6) and keeps its literal.
func (p *parser) number() (Value, error) {
	start := p.i
	if p.data[p.i] == '-' {
		p.i++
	}
	digits := func() int {
		n := 0
		for p.i < len(p.data) && p.data[p.i] >= '0' && p.data[p.i] <= '9' {
			p.i++
			n++
		}
		return n
	}
	if p.i < len(p.data) && p.data[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return Value{}, p.fail("invalid number")
	}
	if p.i < len(p.data) && p.data[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return Value{}, p.fail("invalid number")
		}
	}
	if p.i < len(p.data) && (p.data[p.i] == 'e' || p.data[p.i] == 'E') {
		p.i++
		if p.i < len(p.data) && (p.data[p.i] == '+' || p.data[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return Value{}, p.fail("invalid number")
		}
	}
	return Value{Kind: Number, Text: string(p.data[start:p.i])}, nil
}

// str reads a string at p.i (its opening quote) and unescapes it as encoding/json does.
func (p *parser) str() (string, error) {
	p.i++ // "
	start := p.i
	// Fast path: no escapes, ASCII or valid UTF-8.
	for p.i < len(p.data) {
		c := p.data[p.i]
		if c == '"' {
			s := p.data[start:p.i]
			if utf8.Valid(s) {
				p.i++
				return string(s), nil
			}
			break
		}
		if c == '\\' || c < 0x20 {
			break
		}
		p.i++
	}
	p.i = start
	var b strings.Builder
	for {
		if p.i >= len(p.data) {
			return "", p.fail("unterminated string")
		}
		c := p.data[p.i]
		switch {
		case c == '"':
			p.i++
			return b.String(), nil
		case c < 0x20:
			return "", p.fail("control character in string")
		case c == '\\':
			p.i++
			if p.i >= len(p.data) {
				return "", p.fail("unterminated string")
			}
			e := p.data[p.i]
			p.i++
			switch e {
			case '"', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := p.hex4()
				if !ok {
					return "", p.fail("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					// A pair is two escapes; anything else is a lone surrogate.
					save := p.i
					if p.word(`\u`) {
						if r2, ok := p.hex4(); ok {
							if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
								b.WriteRune(d)
								continue
							}
						}
					}
					p.i = save
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", p.fail("invalid escape")
			}
		case c < utf8.RuneSelf:
			b.WriteByte(c)
			p.i++
		default:
			r, size := utf8.DecodeRune(p.data[p.i:])
			p.i += size
			b.WriteRune(r) // utf8.RuneError for an invalid byte, as encoding/json
		}
	}
}

func (p *parser) hex4() (rune, bool) {
	if len(p.data)-p.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range p.data[p.i : p.i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	p.i += 4
	return r, true
}

// ErrType is returned (wrapped) by the As methods for a value of the wrong kind.
var ErrType = errors.New("wrong JSON type")

func typeError(what string, v Value, want string) error {
	return fmt.Errorf("%w: %s is a %s, want %s", ErrType, what, v.Kind, want)
}

// Field returns the member of object v called name, matched as encoding/json matches a
// struct field (strings.EqualFold), or a null Value when there is none. v must be an
// object or null (which has no members). Two members that match are ErrDuplicate.
func (v Value) Field(name string) (Value, error) {
	var found Value
	n := 0
	for _, m := range v.Members {
		if m.Name == name || strings.EqualFold(m.Name, name) {
			found = m.Value
			n++
		}
	}
	if n > 1 {
		return Value{}, fmt.Errorf("%w %q", ErrDuplicate, name)
	}
	return found, nil
}

// AsObject checks that v is an object or null (read as an object with no members), as
// encoding/json requires of a value it decodes into a struct.
func (v Value) AsObject(what string) (Value, error) {
	if v.Kind != Object && v.Kind != Null {
		return Value{}, typeError(what, v, "an object")
	}
	return v, nil
}

// AsString returns a string's text; null is "", as encoding/json leaves a string field.
func (v Value) AsString(what string) (string, error) {
	switch v.Kind {
	case String:
		return v.Text, nil
	case Null:
		return "", nil
	}
	return "", typeError(what, v, "a string")
}

// AsInt64 returns an integer; null is 0. A number with a fraction or exponent, or out
// of range, is refused, as encoding/json refuses it for an int64.
func (v Value) AsInt64(what string) (int64, error) {
	switch v.Kind {
	case Number:
		n, err := strconv.ParseInt(v.Text, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%w: %s is %s, want a 64-bit integer", ErrType, what, v.Text)
		}
		return n, nil
	case Null:
		return 0, nil
	}
	return 0, typeError(what, v, "a number")
}

// AsStrings returns an array of strings (a null element is ""); null is nil.
func (v Value) AsStrings(what string) ([]string, error) {
	switch v.Kind {
	case Null:
		return nil, nil
	case Array:
	default:
		return nil, typeError(what, v, "an array")
	}
	out := make([]string, len(v.Items))
	for i, e := range v.Items {
		s, err := e.AsString(what + "[" + strconv.Itoa(i) + "]")
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// AsStringMap returns an object of strings (a null member is ""; the last of two members
// with one name wins, as in encoding/json's maps); null is nil.
func (v Value) AsStringMap(what string) (map[string]string, error) {
	switch v.Kind {
	case Null:
		return nil, nil
	case Object:
	default:
		return nil, typeError(what, v, "an object")
	}
	out := make(map[string]string, len(v.Members))
	for _, m := range v.Members {
		s, err := m.Value.AsString(what + "[" + strconv.Quote(m.Name) + "]")
		if err != nil {
			return nil, err
		}
		out[m.Name] = s
	}
	return out, nil
}

// AsSet returns the names of an object whose members are objects (or null), as
// encoding/json decodes a map[string]struct{}; null is nil.
func (v Value) AsSet(what string) (map[string]struct{}, error) {
	switch v.Kind {
	case Null:
		return nil, nil
	case Object:
	default:
		return nil, typeError(what, v, "an object")
	}
	out := make(map[string]struct{}, len(v.Members))
	for _, m := range v.Members {
		if _, err := m.Value.AsObject(what + "[" + strconv.Quote(m.Name) + "]"); err != nil {
			return nil, err
		}
		out[m.Name] = struct{}{}
	}
	return out, nil
}
