package build

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzParse(f *testing.F) {
	seeds := []string{
		"FROM scratch\nCOPY app.wasm /\nENTRYPOINT [\"/app.wasm\"]\n",
		"# escape=`\nFROM scratch\nCOPY a `\n b\n",
		"# syntax=docker/dockerfile:1\nARG X=1\nFROM scratch AS a\nENV a=1 b=\"x y\" c=z\\ d\nENV legacy v w\n",
		"FROM scratch\nCOPY --chmod=0755 --chown=1:2 [\"a b\", \"/c/\"]\nCMD /bin/sh -c x\nRUN [\"x\", 1]\n",
		"FROM scratch\nLABEL \"k\"='v' \\\n # c\n\n  x=y\nEXPOSE 80 53/udp\n",
		"\uFEFFfrom scratch\r\nworkdir /a\r\n",
		"FROM scratch\nCOPY a \\",
		"",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		df, err := Parse(strings.NewReader(src))
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok {
				t.Fatalf("error %v is %T, not *ParseError", err, err)
			}
			if pe.Line < 0 || pe.Line > strings.Count(src, "\n")+2 {
				t.Fatalf("error line %d out of range: %v", pe.Line, err)
			}
			return
		}
		lines := strings.Count(src, "\n") + 1
		prev := 0
		for _, in := range df.Instructions {
			if _, ok := commands[in.Cmd]; !ok {
				t.Fatalf("unknown command %q parsed", in.Cmd)
			}
			if in.Line <= prev || in.Line > lines {
				t.Fatalf("line %d after %d, in a %d-line file", in.Line, prev, lines)
			}
			prev = in.Line
			if in.Original == "" {
				t.Fatal("empty Original")
			}
			if len(in.Args) < commands[in.Cmd].minArgs {
				t.Fatalf("%s has %d args", in.Cmd, len(in.Args))
			}
		}
		if df.Instructions[0].Cmd != "FROM" && df.Instructions[0].Cmd != "ARG" {
			t.Fatalf("first instruction %s", df.Instructions[0].Cmd)
		}
	})
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$A", "${A:-d}", "${A:+x}", `\$A`, `"$A 'q'"`, "'$A'", "${A", "${}", "a\\", "${U:-${A}}", "$1$@", "${A?e}"} {
		f.Add(s, false)
	}
	vars := map[string]string{"A": "a$b", "E": ""}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	f.Fuzz(func(t *testing.T, word string, backtick bool) {
		esc := '\\'
		if backtick {
			esc = '`'
		}
		got, err := expand(word, esc, lookup)
		if err != nil {
			return
		}
		again, err := expand(word, esc, lookup)
		if err != nil || again != got {
			t.Fatalf("not deterministic: %q then %q, %v", got, again, err)
		}
		// Words without anything special come back unchanged.
		if !strings.ContainsAny(word, "$'\""+string(esc)) && got != word {
			t.Fatalf("expand(%q) = %q, want it unchanged", word, got)
		}
		// Substituted values are not expanded again: "a$b" stays.
		if word == "$A" && got != "a$b" {
			t.Fatalf("expand($A) = %q", got)
		}
		if utf8.ValidString(word) && !utf8.ValidString(got) {
			t.Fatalf("expand(%q) = %q: invalid UTF-8 from valid input", word, got)
		}
	})
}
