package build

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// lookupFunc returns a variable's value and whether it is set.
type lookupFunc func(name string) (string, bool)

// expand performs Docker's word processing on one word: it substitutes $V,
// ${V}, ${V:-default}, ${V-default}, ${V:+alt}, ${V+alt}, ${V:?msg} and
// ${V?msg}, removes single and double quotes, and honours the escape
// character (\$ is a literal dollar sign). White space is kept: the result is
// one word.
//
// It follows the rules of BuildKit's shell lexer: inside single quotes
// nothing is special; inside double quotes only $, the escape character and
// the closing quote are; an escape character at the end of the word is
// dropped; a $ that starts no name is literal.
func expand(word string, escape rune, lookup lookupFunc) (string, error) {
	x := expander{src: word, escape: escape, lookup: lookup}
	out, err := x.until(0)
	if err != nil {
		return "", fmt.Errorf("cannot substitute variables in %q: %w", word, err)
	}
	return out, nil
}

// expander works on bytes and copies literal characters byte for byte, so
// that file names that are not valid UTF-8 survive.
type expander struct {
	src    string
	pos    int // byte offset
	escape rune
	lookup lookupFunc
}

const eof = -1

func (x *expander) peek() rune {
	if x.pos >= len(x.src) {
		return eof
	}
	r, _ := utf8.DecodeRuneInString(x.src[x.pos:])
	return r
}

func (x *expander) next() rune {
	c, _ := x.take()
	return c
}

// take consumes one character and returns it and its bytes as written.
func (x *expander) take() (rune, string) {
	if x.pos >= len(x.src) {
		return eof, ""
	}
	r, n := utf8.DecodeRuneInString(x.src[x.pos:])
	s := x.src[x.pos : x.pos+n]
	x.pos += n
	return r, s
}

// until processes the input up to stop (0: the end) and consumes stop.
func (x *expander) until(stop rune) (string, error) {
	var b strings.Builder
	for {
		c := x.peek()
		switch {
		case c == eof:
			if stop != 0 {
				return "", fmt.Errorf("missing %q", stop)
			}
			return b.String(), nil
		case stop != 0 && c == stop:
			x.next()
			return b.String(), nil
		case c == '$':
			s, err := x.dollar()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case c == '\'':
			x.next()
			for {
				c, raw := x.take()
				if c == eof {
					return "", errors.New("unterminated single quote")
				}
				if c == '\'' {
					break
				}
				b.WriteString(raw)
			}
		case c == '"':
			x.next()
			s, err := x.doubleQuoted()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
		case c == x.escape:
			x.next()
			_, raw := x.take()
			b.WriteString(raw)
		default:
			_, raw := x.take()
			b.WriteString(raw)
		}
	}
}

func (x *expander) doubleQuoted() (string, error) {
	var b strings.Builder
	for {
		c := x.peek()
		switch c {
		case eof:
			return "", errors.New("unterminated double quote")
		case '"':
			x.next()
			return b.String(), nil
		case '$':
			s, err := x.dollar()
			if err != nil {
				return "", err
			}
			b.WriteString(s)
			continue
		}
		_, raw := x.take()
		if c == x.escape {
			switch n := x.peek(); {
			case n == eof:
				continue
			case n == '"' || n == '$' || n == x.escape:
				_, raw = x.take()
			}
		}
		b.WriteString(raw)
	}
}

func isSpecialParam(c rune) bool {
	return strings.ContainsRune("@*#?-$!0", c)
}

// name reads a variable name: letters, digits and _, a run of digits
// (positional), or a single special parameter character.
func (x *expander) name() string {
	start := x.pos
	if c := x.peek(); c != eof && unicode.IsDigit(c) {
		for c := x.peek(); c != eof && unicode.IsDigit(c); c = x.peek() {
			x.next()
		}
		return x.src[start:x.pos]
	} else if c != eof && isSpecialParam(c) {
		x.next()
		return string(c)
	}
	for c := x.peek(); c != eof && (unicode.IsLetter(c) || unicode.IsDigit(c) || c == '_'); c = x.peek() {
		x.next()
	}
	return x.src[start:x.pos]
}

func (x *expander) get(name string) (string, bool) {
	if x.lookup == nil {
		return "", false
	}
	return x.lookup(name)
}

func (x *expander) dollar() (string, error) {
	x.next() // $
	if x.peek() != '{' {
		name := x.name()
		if name == "" {
			return "$", nil
		}
		v, _ := x.get(name)
		return v, nil
	}
	x.next() // {
	switch x.peek() {
	case eof:
		return "", errors.New("missing '}'")
	case '{', '}', ':':
		return "", errors.New("bad substitution")
	}
	name := x.name()
	if name == "" {
		return "", errors.New("bad substitution")
	}
	op := x.next()
	switch op {
	case '}':
		v, _ := x.get(name)
		return v, nil
	case eof:
		return "", errors.New("missing '}'")
	}
	nullIsUnset := false
	if op == ':' {
		nullIsUnset = true
		op = x.next()
	}
	switch op {
	case '-', '+', '?':
	default:
		if nullIsUnset && op == eof {
			return "", errors.New("missing '}'")
		}
		mod := string(op)
		if nullIsUnset {
			mod = ":" + mod
		}
		return "", fmt.Errorf("unsupported modifier %q in ${%s...}: berth supports ${V}, ${V:-default}, ${V-default}, ${V:+alt}, ${V+alt}, ${V:?msg}, ${V?msg}", mod, name)
	}
	word, err := x.until('}')
	if err != nil {
		return "", err
	}
	v, set := x.get(name)
	empty := !set || (nullIsUnset && v == "")
	switch op {
	case '-':
		if empty {
			return word, nil
		}
		return v, nil
	case '+':
		if empty {
			return "", nil
		}
		return word, nil
	default: // '?'
		if empty {
			if word == "" {
				if !set {
					word = "is not allowed to be unset"
				} else {
					word = "is not allowed to be empty"
				}
			}
			return "", fmt.Errorf("%s: %s", name, word)
		}
		return v, nil
	}
}
