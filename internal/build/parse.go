package build

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"sync"
	"unicode"
)

// Dockerfile is a parsed Dockerfile: its instructions in order and the parser
// directives that preceded them.
type Dockerfile struct {
	// Instructions in file order, across all build stages.
	Instructions []Instruction
	// Escape is the escape character: '\\' unless a "# escape=`" directive
	// chose the backtick.
	Escape rune
	// Syntax is the value of a "# syntax=" directive, if any. Build ignores
	// it: berth has one frontend, this package.
	Syntax string
}

// Instruction is one Dockerfile instruction, after line continuations are
// joined and comments removed. Variables are not substituted yet: Build does
// that, with the ARG and ENV values in scope at that point.
//
// Args depends on Cmd:
//   - COPY, ADD, VOLUME, EXPOSE, FROM: the arguments, from the JSON array or
//     split at white space.
//   - CMD, ENTRYPOINT, RUN, SHELL: the JSON array's elements (JSON is true),
//     or the whole shell-form command line as a single element.
//   - ENV, LABEL: alternating keys and values, quotes still in place
//     (ENV a=1 b="x y" gives ["a", "1", "b", "\"x y\""]); the legacy form
//     ENV key value gives [key, value].
//   - ARG: the words as written, each "name" or "name=default".
//   - USER, WORKDIR, STOPSIGNAL, MAINTAINER, HEALTHCHECK, ONBUILD: the rest of
//     the line as a single element.
type Instruction struct {
	// Cmd is the instruction name in upper case: FROM, COPY, ...
	Cmd string
	// Line is the 1-based line where the instruction starts.
	Line int
	// Args are the arguments; see the type's documentation.
	Args []string
	// JSON is true for the exec (JSON array) form.
	JSON bool
	// Flags are the --name=value flags that preceded the arguments, as
	// written (quotes removed), e.g. "--chmod=0755".
	Flags []string
	// Original is the whole instruction as written, continuations joined.
	Original string
}

// Flag returns the value of the flag --name and whether it was given.
// A flag given without "=value" has the value "".
func (in *Instruction) Flag(name string) (string, bool) {
	for _, f := range in.Flags {
		k, v, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if k == name {
			return v, true
		}
	}
	return "", false
}

// argKind says how an instruction's arguments are split.
type argKind int

const (
	argsList       argKind = iota // JSON array or white space separated
	argsMaybeJSON                 // JSON array or the whole line
	argsNameVal                   // ENV, LABEL
	argsNameOrVal                 // ARG
	argsString                    // the whole line
	argsWhitespace                // white space separated, never JSON
)

type command struct {
	args    argKind
	flags   []string // flags the instruction accepts
	minArgs int
}

var commands = map[string]command{
	"ADD":         {argsList, []string{"chown", "chmod", "link", "checksum", "keep-git-dir", "exclude", "unpack"}, 2},
	"ARG":         {argsNameOrVal, nil, 1},
	"CMD":         {argsMaybeJSON, nil, 0},
	"COPY":        {argsList, []string{"from", "chown", "chmod", "link", "parents", "exclude"}, 2},
	"ENTRYPOINT":  {argsMaybeJSON, nil, 0},
	"ENV":         {argsNameVal, nil, 1},
	"EXPOSE":      {argsWhitespace, nil, 1},
	"FROM":        {argsWhitespace, []string{"platform"}, 1},
	"HEALTHCHECK": {argsString, []string{"interval", "timeout", "start-period", "start-interval", "retries"}, 1},
	"LABEL":       {argsNameVal, nil, 1},
	"MAINTAINER":  {argsString, nil, 1},
	"ONBUILD":     {argsString, nil, 1},
	"RUN":         {argsMaybeJSON, []string{"mount", "network", "security"}, 1},
	"SHELL":       {argsMaybeJSON, nil, 1},
	"STOPSIGNAL":  {argsString, nil, 1},
	"USER":        {argsString, nil, 1},
	"VOLUME":      {argsList, nil, 1},
	"WORKDIR":     {argsString, nil, 1},
}

var (
	reDirective = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`) })
	knownDirect = []string{"escape", "syntax", "check"}
)

// maxLine bounds one physical line of a Dockerfile.
const maxLine = 1 << 20

// Parse reads a Dockerfile. It follows Docker's (BuildKit's) grammar:
// parser directives (# escape=, # syntax=) at the very top, comments, blank
// lines, line continuations with the escape character, case-insensitive
// instruction names, --flags, and the exec (JSON) and shell forms. Errors are
// *ParseError values that carry the line number.
//
// Parse checks the syntax and the shape of each instruction (how many
// arguments, which flags). Whether the instruction can be built into a Wasm
// image is Build's business, so that "RUN" parses and then fails with an
// explanation.
func Parse(r io.Reader) (*Dockerfile, error) {
	df := &Dockerfile{Escape: '\\'}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)

	directivesDone := false
	seen := map[string]bool{}
	lineNo := 0
	for sc.Scan() {
		raw := sc.Bytes()
		lineNo++
		if lineNo == 1 {
			raw = bytes.TrimPrefix(raw, []byte{0xEF, 0xBB, 0xBF})
		}
		trimmed := strings.TrimLeftFunc(string(raw), unicode.IsSpace)

		if !directivesDone {
			ok, err := df.directive(trimmed, lineNo, seen)
			if err != nil {
				return nil, err
			}
			directivesDone = !ok
		}
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}

		start := lineNo
		line, more := df.trimContinuation(trimmed)
		for more && sc.Scan() {
			lineNo++
			next := string(sc.Bytes())
			t := strings.TrimLeftFunc(next, unicode.IsSpace)
			if t == "" || t[0] == '#' {
				// Comments and empty lines inside a continued instruction are
				// skipped, as Docker does.
				continue
			}
			var part string
			part, more = df.trimContinuation(next)
			line += part
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		in, err := parseInstruction(line, start, df.Escape)
		if err != nil {
			return nil, err
		}
		df.Instructions = append(df.Instructions, in)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, &ParseError{Line: lineNo + 1, Msg: fmt.Sprintf("line longer than %d bytes", maxLine)}
		}
		return nil, &ParseError{Line: lineNo, Msg: err.Error()}
	}
	if len(df.Instructions) == 0 {
		return nil, &ParseError{Line: lineNo, Msg: "file with no instructions; a Wasm image needs at least FROM scratch"}
	}
	for _, in := range df.Instructions {
		if in.Cmd == "FROM" {
			break
		}
		if in.Cmd != "ARG" {
			return nil, &ParseError{Line: in.Line, Msg: fmt.Sprintf("%s before the first FROM: only ARG may come before FROM (start with FROM scratch)", in.Cmd)}
		}
	}
	return df, nil
}

// directive handles a possible parser directive on a line at the top of the
// file and reports whether the line was one. The first line that is not ends
// the directives: after it, "# escape=`" is an ordinary comment.
func (df *Dockerfile) directive(line string, lineNo int, seen map[string]bool) (bool, error) {
	m := reDirective().FindStringSubmatch(line)
	if m == nil {
		return false, nil
	}
	k := strings.ToLower(m[1])
	if !slices.Contains(knownDirect, k) {
		return false, nil
	}
	if seen[k] {
		return false, &ParseError{Line: lineNo, Msg: fmt.Sprintf("only one %s parser directive can be used", k)}
	}
	seen[k] = true
	switch k {
	case "escape":
		if m[2] != "\\" && m[2] != "`" {
			return false, &ParseError{Line: lineNo, Msg: fmt.Sprintf("invalid escape character %q: use \\ or `", m[2])}
		}
		df.Escape = rune(m[2][0])
	case "syntax":
		df.Syntax = m[2]
	}
	return true, nil
}

// trimContinuation removes a trailing escape character (followed only by
// spaces or tabs) and reports whether the instruction continues on the next
// line.
func (df *Dockerfile) trimContinuation(line string) (string, bool) {
	t := strings.TrimRight(line, " \t")
	if strings.HasSuffix(t, string(df.Escape)) {
		return t[:len(t)-1], true
	}
	return line, false
}

func isSplitSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\v' || r == '\f' || r == '\r'
}

// parseInstruction parses one logical line.
func parseInstruction(line string, lineNo int, escape rune) (Instruction, error) {
	original := strings.TrimSpace(line)
	name, rest := original, ""
	if i := strings.IndexFunc(original, isSplitSpace); i >= 0 {
		name, rest = original[:i], original[i+1:]
	}
	in := Instruction{Cmd: strings.ToUpper(name), Line: lineNo, Original: original}
	fail := func(format string, args ...any) (Instruction, error) {
		return Instruction{}, &ParseError{Line: lineNo, Msg: fmt.Sprintf(format, args...)}
	}
	cmd, ok := commands[in.Cmd]
	if !ok {
		return fail("unknown instruction: %s", name)
	}
	flags, rest := extractFlags(rest)
	rest = strings.TrimSpace(rest)
	for _, f := range flags {
		k, _, _ := strings.Cut(strings.TrimPrefix(f, "--"), "=")
		if !slices.Contains(cmd.flags, k) {
			return fail("unknown flag for %s: --%s", in.Cmd, k)
		}
	}
	in.Flags = flags

	switch cmd.args {
	case argsList:
		if list, isJSON, err := parseJSONArray(rest); err != nil {
			return fail("%s: %v", in.Cmd, err)
		} else if isJSON {
			in.Args, in.JSON = list, true
		} else {
			in.Args = strings.FieldsFunc(rest, isSplitSpace)
		}
	case argsMaybeJSON:
		if list, isJSON, err := parseJSONArray(rest); err != nil {
			return fail("%s: %v", in.Cmd, err)
		} else if isJSON {
			in.Args, in.JSON = list, true
		} else if rest != "" {
			in.Args = []string{rest}
		} else {
			return fail("%s requires at least one argument", in.Cmd)
		}
	case argsWhitespace:
		in.Args = strings.FieldsFunc(rest, isSplitSpace)
	case argsString:
		if rest != "" {
			in.Args = []string{rest}
		}
	case argsNameVal:
		args, err := parseNameVal(in.Cmd, rest, escape)
		if err != nil {
			return fail("%v", err)
		}
		in.Args = args
	case argsNameOrVal:
		in.Args = splitWords(rest, escape)
		for _, w := range in.Args {
			if k, _, _ := strings.Cut(w, "="); k == "" {
				return fail("ARG %q has no name", w)
			}
		}
	}

	if len(in.Args) < cmd.minArgs {
		switch cmd.minArgs {
		case 1:
			return fail("%s requires at least one argument", in.Cmd)
		default:
			return fail("%s requires at least %d arguments, a source and a destination", in.Cmd, cmd.minArgs)
		}
	}
	if in.Cmd == "FROM" && len(in.Args) != 1 && (len(in.Args) != 3 || !strings.EqualFold(in.Args[1], "AS")) {
		return fail("FROM takes an image and an optional stage name: FROM scratch [AS name]")
	}
	return in, nil
}

// extractFlags takes the leading --name[=value] words off rest. Quotes in a
// flag are removed ("--chown="1:1"" is --chown=1:1). A lone "--" ends the
// flags.
func extractFlags(rest string) (flags []string, remaining string) {
	s := rest
	for {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
		if !strings.HasPrefix(s, "--") {
			return flags, s
		}
		var b strings.Builder
		var quote byte
		i := 0
		for ; i < len(s); i++ {
			c := s[i]
			if quote != 0 {
				if c == quote {
					quote = 0
					continue
				}
				b.WriteByte(c)
				continue
			}
			if c == '"' || c == '\'' {
				quote = c
				continue
			}
			if c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' {
				break
			}
			b.WriteByte(c)
		}
		s = s[i:]
		if b.String() == "--" {
			return flags, s
		}
		flags = append(flags, b.String())
	}
}

var errNotStrings = errors.New("a JSON array of arguments must hold only strings")

// parseJSONArray parses rest as a JSON array of strings. It reports
// isJSON=false when rest is not a JSON array (it is then shell form), and an
// error when it is one but holds something other than strings.
func parseJSONArray(rest string) (list []string, isJSON bool, err error) {
	if !strings.HasPrefix(rest, "[") {
		return nil, false, nil
	}
	var raw []any
	if json.Unmarshal([]byte(rest), &raw) != nil {
		return nil, false, nil
	}
	list = make([]string, 0, len(raw))
	for _, v := range raw {
		s, ok := v.(string)
		if !ok {
			return nil, false, errNotStrings
		}
		list = append(list, s)
	}
	return list, true, nil
}

// parseNameVal parses ENV and LABEL arguments: name=value pairs, or the
// legacy "name value" form.
func parseNameVal(cmd, rest string, escape rune) ([]string, error) {
	words := splitWords(rest, escape)
	if len(words) == 0 {
		return nil, nil
	}
	if !strings.Contains(words[0], "=") {
		i := strings.IndexFunc(rest, isSplitSpace)
		if i < 0 {
			return nil, fmt.Errorf("%s %s has no value: write %s %s=value", cmd, rest, cmd, rest)
		}
		return []string{rest[:i], strings.TrimLeftFunc(rest[i:], isSplitSpace)}, nil
	}
	args := make([]string, 0, 2*len(words))
	for _, w := range words {
		k, v, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("%s: can't find = in %q; it must be of the form name=value", cmd, w)
		}
		if k == "" {
			return nil, fmt.Errorf("%s: %q has an empty name", cmd, w)
		}
		args = append(args, k, v)
	}
	return args, nil
}

// splitWords splits s at white space outside quotes. Quotes and escapes stay
// in the words; expansion removes them later, as Docker does.
func splitWords(s string, escape rune) []string {
	var (
		words   []string
		b       strings.Builder
		inWord  bool
		blankOK bool
		quote   rune
	)
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		if quote != 0 {
			switch {
			case c == quote:
				quote = 0
			case c == escape && quote == '"':
				if i+1 == len(rs) {
					continue // a trailing escape character is dropped
				}
				b.WriteRune(c)
				i++
				c = rs[i]
			}
			b.WriteRune(c)
			continue
		}
		if unicode.IsSpace(c) {
			if inWord && (blankOK || b.Len() > 0) {
				words = append(words, b.String())
			}
			b.Reset()
			inWord, blankOK = false, false
			continue
		}
		inWord = true
		switch {
		case c == '\'' || c == '"':
			quote, blankOK = c, true
		case c == escape:
			if i+1 == len(rs) {
				continue
			}
			b.WriteRune(c)
			i++
			c = rs[i]
		}
		b.WriteRune(c)
	}
	if inWord && (blankOK || b.Len() > 0) {
		words = append(words, b.String())
	}
	return words
}
