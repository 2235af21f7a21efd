package build

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// ignorePattern is one line of a .dockerignore file.
type ignorePattern struct {
	text      string
	exclusion bool // "!" line: re-includes what earlier lines excluded
	re        *regexp.Regexp
}

// ignoreMatcher implements .dockerignore: a path is left out of the context
// when the last pattern that matches it, or one of its parent directories,
// is not a "!" exception.
type ignoreMatcher struct {
	patterns      []ignorePattern
	hasExceptions bool
}

// parseIgnore reads .dockerignore patterns: one per line, # comments, blank
// lines skipped, surrounding white space trimmed, paths cleaned and made
// relative to the context root, "!" for exceptions, "*", "?", "[...]" and
// "**" (any number of directories) as wildcards.
func parseIgnore(r io.Reader) (*ignoreMatcher, error) {
	m := &ignoreMatcher{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		if lineNo == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		p := ignorePattern{}
		if line[0] == '!' {
			p.exclusion = true
			line = strings.TrimSpace(line[1:])
			if line == "" {
				return nil, fmt.Errorf(".dockerignore:%d: \"!\" must be followed by a pattern", lineNo)
			}
		}
		line = path.Clean(line)
		if len(line) > 1 && line[0] == '/' {
			line = strings.TrimLeft(line, "/")
		}
		re, err := compileIgnore(line)
		if err != nil {
			return nil, fmt.Errorf(".dockerignore:%d: bad pattern %q: %w", lineNo, line, err)
		}
		p.text, p.re = line, re
		m.patterns = append(m.patterns, p)
		m.hasExceptions = m.hasExceptions || p.exclusion
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	return m, nil
}

// compileIgnore turns a .dockerignore pattern into an anchored regular
// expression over slash-separated paths.
func compileIgnore(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteByte('^')
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch c {
		case '*':
			if i+1 < len(p) && p[i+1] == '*' {
				i++
				// Treat **/ as "zero or more directories".
				if i+1 < len(p) && p[i+1] == '/' {
					i++
					b.WriteString("(.*/)?")
				} else {
					b.WriteString(".*")
				}
			} else {
				b.WriteString("[^/]*")
			}
		case '?':
			b.WriteString("[^/]")
		case '\\':
			if i+1 == len(p) {
				return nil, fmt.Errorf("trailing \\")
			}
			i++
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		case '[':
			j := i + 1
			if j < len(p) && (p[j] == '!' || p[j] == '^') {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				return nil, fmt.Errorf("unclosed [")
			}
			class := p[i+1 : j]
			if class != "" && class[0] == '!' {
				class = "^" + class[1:]
			}
			class = strings.ReplaceAll(class, `\`, `\\`)
			b.WriteString("[" + class + "]")
			i = j
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteByte('$')
	return regexp.Compile(b.String())
}

// excluded reports whether the context-relative, slash-separated path p is
// left out of the build context.
func (m *ignoreMatcher) excluded(p string) bool {
	if m == nil || len(m.patterns) == 0 || p == "." || p == "" {
		return false
	}
	matched := false
	for _, pat := range m.patterns {
		// An exclusion cannot change an unmatched path, nor an inclusion
		// a matched one.
		if pat.exclusion != matched {
			continue
		}
		hit := pat.re.MatchString(p)
		for dir := p; !hit; {
			i := strings.LastIndexByte(dir, '/')
			if i < 0 {
				break
			}
			dir = dir[:i]
			hit = pat.re.MatchString(dir)
		}
		if hit {
			matched = !pat.exclusion
		}
	}
	return matched
}
