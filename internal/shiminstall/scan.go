package shiminstall

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2/unstable"
)

// expr is one top-level expression of a TOML document: a table header, a key/value
// or a comment on a line of its own.
type expr struct {
	kind unstable.Kind // Table, ArrayTable, KeyValue or Comment
	line int           // 0-based line where it starts
	// path is the header's key for tables and the full key (table + dotted key) for
	// key/values.
	path []string
	// inner holds, for a key/value whose value is an inline table, the full paths of
	// every key inside it (nested inline tables included).
	inner [][]string
	// comment is a Comment's text, trailing blanks (and \r) removed.
	comment string
}

// block is a marked region that Install wrote: lines first..last, both markers included.
type block struct {
	first, last int
	header      string // the begin marker's text
}

// doc is a scanned text: its lines (each with its line break, if any), its top-level
// expressions in order and its marked blocks.
type doc struct {
	lines   []string
	exprs   []expr
	blocks  []block
	comment map[int]bool // lines holding a comment expression
}

// scan reads text, which must already have parsed as TOML.
func scan(text []byte) (*doc, error) {
	d := &doc{lines: splitLines(string(text)), comment: map[int]bool{}}
	starts := make([]int, len(d.lines))
	off := 0
	for i, l := range d.lines {
		starts[i] = off
		off += len(l)
	}
	lineOf := func(offset int) int {
		return sort.Search(len(starts), func(i int) bool { return starts[i] > offset }) - 1
	}

	p := unstable.Parser{KeepComments: true}
	p.Reset(text)
	var table []string
	for p.NextExpression() {
		n := p.Expression()
		e := expr{kind: n.Kind}
		switch n.Kind {
		case unstable.Comment:
			e.line = lineOf(int(n.Raw.Offset))
			e.comment = strings.TrimRight(string(n.Data), " \t\r")
			d.comment[e.line] = true
		case unstable.Table, unstable.ArrayTable:
			it := n.Key()
			e.path, e.line = keyPath(&p, it, lineOf)
			table = e.path
		case unstable.KeyValue:
			key, line := keyPath(&p, n.Key(), lineOf)
			e.line = line
			e.path = append(append([]string(nil), table...), key...)
			if v := n.Value(); v.Kind == unstable.InlineTable {
				e.inner = inlinePaths(v, e.path)
			}
		default:
			continue
		}
		d.exprs = append(d.exprs, e)
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return d, d.findBlocks()
}

// keyPath returns a key's parts and the line of its first part.
func keyPath(p *unstable.Parser, it unstable.Iterator, lineOf func(int) int) ([]string, int) {
	var parts []string
	line := -1
	for it.Next() {
		k := it.Node()
		if line < 0 {
			line = lineOf(int(k.Raw.Offset))
		}
		parts = append(parts, string(k.Data))
	}
	return parts, line
}

// inlinePaths lists the full paths of the keys inside an inline table.
func inlinePaths(n *unstable.Node, prefix []string) [][]string {
	var out [][]string
	it := n.Children()
	for it.Next() {
		kv := it.Node()
		if kv.Kind != unstable.KeyValue {
			continue
		}
		path := append([]string(nil), prefix...)
		ki := kv.Key()
		for ki.Next() {
			path = append(path, string(ki.Node().Data))
		}
		out = append(out, path)
		if v := kv.Value(); v.Kind == unstable.InlineTable {
			out = append(out, inlinePaths(v, path)...)
		}
	}
	return out
}

// findBlocks pairs begin and end markers. An end marker outside a block is an
// ordinary comment; a begin marker inside a block, or one never ended, is an error.
func (d *doc) findBlocks() error {
	open := -1
	var header string
	for _, e := range d.exprs {
		if e.kind != unstable.Comment {
			continue
		}
		switch {
		case strings.HasPrefix(e.comment, BeginMarker):
			if open >= 0 {
				return fmt.Errorf("%w: line %d starts a berth block inside the one that line %d starts", ErrMarkers, e.line+1, open+1)
			}
			open, header = e.line, e.comment
		case e.comment == EndMarker && open >= 0:
			d.blocks = append(d.blocks, block{first: open, last: e.line, header: header})
			open = -1
		}
	}
	if open >= 0 {
		return fmt.Errorf("%w: the berth block that line %d starts has no %q line", ErrMarkers, open+1, EndMarker)
	}
	return nil
}

// lastLine returns the last line that belongs to expression i: a key/value's value
// may span lines, and a table owns its key/values. Blank lines and comment lines
// just before the next expression are not counted: they usually introduce it.
func (d *doc) lastLine(i int) int {
	e := d.exprs[i]
	next := len(d.lines)
	for j := i + 1; j < len(d.exprs); j++ {
		k := d.exprs[j].kind
		if k == unstable.Comment {
			continue
		}
		if e.kind == unstable.KeyValue || k == unstable.Table || k == unstable.ArrayTable {
			next = d.exprs[j].line
			break
		}
	}
	end := next - 1
	for end > e.line && (d.comment[end] || isBlank(d.lines[end])) {
		end--
	}
	return end
}

// isBlank reports whether a line holds nothing but TOML whitespace.
func isBlank(l string) bool {
	return strings.TrimRight(l, " \t\r\n") == ""
}

// splitLines splits s after every '\n'; the last line may have no line break.
func splitLines(s string) []string {
	var out []string
	for len(s) > 0 {
		i := strings.IndexByte(s, '\n')
		if i < 0 {
			out = append(out, s)
			break
		}
		out = append(out, s[:i+1])
		s = s[i+1:]
	}
	return out
}

// hasPrefix reports whether path starts with prefix.
func hasPrefix(path, prefix []string) bool {
	if len(path) < len(prefix) {
		return false
	}
	for i := range prefix {
		if path[i] != prefix[i] {
			return false
		}
	}
	return true
}

// tomlKey writes a dotted key as TOML, quoting the parts that need it with quote.
func tomlKey(path []string, quote byte) string {
	var b strings.Builder
	for i, p := range path {
		if i > 0 {
			b.WriteByte('.')
		}
		if p != "" && strings.IndexFunc(p, func(r rune) bool {
			return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
		}) < 0 {
			b.WriteString(p)
			continue
		}
		b.WriteByte(quote)
		b.WriteString(p)
		b.WriteByte(quote)
	}
	return b.String()
}

// lineBreak returns the line break a text mostly uses.
func lineBreak(text []byte) string {
	if crlf := bytes.Count(text, []byte("\r\n")); crlf > 0 && crlf*2 >= bytes.Count(text, []byte("\n")) {
		return "\r\n"
	}
	return "\n"
}
