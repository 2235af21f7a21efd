package build

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// ins is a compact instruction for comparisons: Original is not compared.
type ins struct {
	Cmd   string
	Line  int
	Args  []string
	JSON  bool
	Flags []string
}

func summarize(df *Dockerfile) []ins {
	var out []ins
	for _, in := range df.Instructions {
		out = append(out, ins{in.Cmd, in.Line, in.Args, in.JSON, in.Flags})
	}
	return out
}

func TestParse(t *testing.T) {
	tests := []struct {
		name   string
		src    string
		want   []ins
		escape rune
		syntax string
	}{
		{
			name: "exec forms",
			src:  "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\nCMD [\"--port\", \"8080\"]\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"COPY", 2, []string{"app.wasm", "/app.wasm"}, false, nil},
				{"ENTRYPOINT", 3, []string{"/app.wasm"}, true, nil},
				{"CMD", 4, []string{"--port", "8080"}, true, nil},
			},
		},
		{
			name: "shell form is kept whole",
			src:  "FROM scratch\nCMD /app.wasm  --port 80\nRUN echo hi > x\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"CMD", 2, []string{"/app.wasm  --port 80"}, false, nil},
				{"RUN", 3, []string{"echo hi > x"}, false, nil},
			},
		},
		{
			name: "case-insensitive names, stage name",
			src:  "from scratch as build\nCoPy a b\nworkdir /app\n",
			want: []ins{
				{"FROM", 1, []string{"scratch", "as", "build"}, false, nil},
				{"COPY", 2, []string{"a", "b"}, false, nil},
				{"WORKDIR", 3, []string{"/app"}, false, nil},
			},
		},
		{
			name: "continuations, comments and blank lines",
			src:  "# leading comment\n\nFROM scratch\n\n# comment\nCOPY a \\\n  b \\\n# comment inside\n\n  /c/\nLABEL x=1\n",
			want: []ins{
				{"FROM", 3, []string{"scratch"}, false, nil},
				{"COPY", 6, []string{"a", "b", "/c/"}, false, nil},
				{"LABEL", 11, []string{"x", "1"}, false, nil},
			},
		},
		{
			name: "continuation with trailing blanks after the escape",
			src:  "FROM scratch\nEXPOSE 80 \\ \t\n 443\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"EXPOSE", 2, []string{"80", "443"}, false, nil},
			},
		},
		{
			name:   "escape directive",
			src:    "# escape=`\nFROM scratch\nCOPY a `\n  C:\\dir\\\n",
			escape: '`',
			want: []ins{
				{"FROM", 2, []string{"scratch"}, false, nil},
				{"COPY", 3, []string{"a", `C:\dir\`}, false, nil},
			},
		},
		{
			name:   "syntax and escape directives, any case and spacing",
			src:    "#  Syntax = docker/dockerfile:1\n# ESCAPE=\\\nFROM scratch\n",
			escape: '\\',
			syntax: "docker/dockerfile:1",
			want:   []ins{{"FROM", 3, []string{"scratch"}, false, nil}},
		},
		{
			name:   "directive after a comment is a comment",
			src:    "# hello\n# escape=`\nFROM scratch\nCOPY a \\\n b\n",
			escape: '\\',
			want: []ins{
				{"FROM", 3, []string{"scratch"}, false, nil},
				{"COPY", 4, []string{"a", "b"}, false, nil},
			},
		},
		{
			name:   "directive after a blank line is a comment",
			src:    "\n# escape=`\nFROM scratch\n",
			escape: '\\',
			want:   []ins{{"FROM", 3, []string{"scratch"}, false, nil}},
		},
		{
			name: "ENV forms keep quotes for expansion",
			src:  "FROM scratch\nENV a=1 b=\"x y\" c=z\\ d\nENV legacy value with spaces\nENV e=\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"ENV", 2, []string{"a", "1", "b", `"x y"`, "c", `z\ d`}, false, nil},
				{"ENV", 3, []string{"legacy", "value with spaces"}, false, nil},
				{"ENV", 4, []string{"e", ""}, false, nil},
			},
		},
		{
			name: "LABEL with quoted keys",
			src:  "FROM scratch\nLABEL \"com.example.vendor\"=\"ACME Inc\" version=1.0\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"LABEL", 2, []string{`"com.example.vendor"`, `"ACME Inc"`, "version", "1.0"}, false, nil},
			},
		},
		{
			name: "ARG before FROM",
			src:  "ARG BASE=scratch\nARG A B=2\nFROM $BASE\n",
			want: []ins{
				{"ARG", 1, []string{"BASE=scratch"}, false, nil},
				{"ARG", 2, []string{"A", "B=2"}, false, nil},
				{"FROM", 3, []string{"$BASE"}, false, nil},
			},
		},
		{
			name: "flags",
			src:  "FROM --platform=wasi/wasm scratch\nCOPY --chmod=0755 --chown=\"1:2\" a /b\nADD --link -- --odd /x\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, []string{"--platform=wasi/wasm"}},
				{"COPY", 2, []string{"a", "/b"}, false, []string{"--chmod=0755", "--chown=1:2"}},
				{"ADD", 3, []string{"--odd", "/x"}, false, []string{"--link"}},
			},
		},
		{
			name: "JSON COPY and VOLUME, broken JSON is shell form",
			src:  "FROM scratch\nCOPY [\"a b.wasm\", \"/c/\"]\nVOLUME [\"/data\"]\nVOLUME /a /b\nCMD [\"unterminated\"\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"COPY", 2, []string{"a b.wasm", "/c/"}, true, nil},
				{"VOLUME", 3, []string{"/data"}, true, nil},
				{"VOLUME", 4, []string{"/a", "/b"}, false, nil},
				{"CMD", 5, []string{`["unterminated"`}, false, nil},
			},
		},
		{
			name: "EXPOSE, USER, STOPSIGNAL, empty exec form",
			src:  "FROM scratch\nEXPOSE 8080 8080/tcp 53/udp\nUSER 1000:1000\nSTOPSIGNAL SIGINT\nCMD []\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"EXPOSE", 2, []string{"8080", "8080/tcp", "53/udp"}, false, nil},
				{"USER", 3, []string{"1000:1000"}, false, nil},
				{"STOPSIGNAL", 4, []string{"SIGINT"}, false, nil},
				{"CMD", 5, []string{}, true, nil},
			},
		},
		{
			name: "BOM and CRLF",
			src:  "\uFEFFFROM scratch\r\nCOPY a \\\r\n b\r\n",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"COPY", 2, []string{"a", "b"}, false, nil},
			},
		},
		{
			name: "no trailing newline, continuation at EOF",
			src:  "FROM scratch\nCOPY a b \\",
			want: []ins{
				{"FROM", 1, []string{"scratch"}, false, nil},
				{"COPY", 2, []string{"a", "b"}, false, nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			df, err := Parse(strings.NewReader(tt.src))
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := summarize(df); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("instructions:\n got %#v\nwant %#v", got, tt.want)
			}
			wantEscape := tt.escape
			if wantEscape == 0 {
				wantEscape = '\\'
			}
			if df.Escape != wantEscape {
				t.Errorf("Escape = %q, want %q", df.Escape, wantEscape)
			}
			if df.Syntax != tt.syntax {
				t.Errorf("Syntax = %q, want %q", df.Syntax, tt.syntax)
			}
		})
	}
}

func TestParseOriginalAndFlag(t *testing.T) {
	df, err := Parse(strings.NewReader("FROM scratch\n  COPY  --chmod=755 a \\\n   /b  \n"))
	if err != nil {
		t.Fatal(err)
	}
	in := df.Instructions[1]
	if want := "COPY  --chmod=755 a    /b"; in.Original != want {
		t.Errorf("Original = %q, want %q", in.Original, want)
	}
	if v, ok := in.Flag("chmod"); !ok || v != "755" {
		t.Errorf(`Flag("chmod") = %q, %v`, v, ok)
	}
	if _, ok := in.Flag("chown"); ok {
		t.Error(`Flag("chown") found, want not`)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		line int
		msg  string
	}{
		{"unknown instruction", "FROM scratch\nCOPY a b\nFOO bar\n", 3, "unknown instruction: FOO"},
		{"COPY needs two args", "FROM scratch\nCOPY a\n", 2, "COPY requires at least 2 arguments"},
		{"FROM without image", "FROM\n", 1, "FROM requires at least one argument"},
		{"FROM with two words", "FROM scratch foo\n", 1, "FROM scratch [AS name]"},
		{"instruction before FROM", "# c\nCOPY a b\nFROM scratch\n", 2, "COPY before the first FROM"},
		{"empty file", "# only a comment\n\n", 2, "file with no instructions"},
		{"duplicate directive", "# escape=`\n# escape=\\\nFROM scratch\n", 2, "only one escape parser directive"},
		{"bad escape", "# escape=x\nFROM scratch\n", 1, "invalid escape character"},
		{"JSON with a number", "FROM scratch\n\nCMD [\"a\", 1]\n", 3, "only strings"},
		{"ENV without value", "FROM scratch\nENV k\n", 2, "ENV k has no value"},
		{"ENV mixed forms", "FROM scratch\nENV a=1 b\n", 2, `can't find = in "b"`},
		{"ENV empty name", "FROM scratch\nENV =1\n", 2, "empty name"},
		{"unknown COPY flag", "FROM scratch\nCOPY --foo=1 a b\n", 2, "unknown flag for COPY: --foo"},
		{"flag on ENV", "FROM scratch\nENV --x=1 a=b\n", 2, "unknown flag for ENV: --x"},
		{"empty CMD", "FROM scratch\nCMD\n", 2, "CMD requires at least one argument"},
		{"empty WORKDIR", "FROM scratch\nWORKDIR\n", 2, "WORKDIR requires at least one argument"},
		{"ARG without name", "ARG =x\nFROM scratch\n", 1, "has no name"},
		{"error after continuation counts from its start", "FROM scratch\nBAD \\\n x \\\n y\n", 2, "unknown instruction: BAD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.src))
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Fatalf("Parse error = %v (%T), want *ParseError", err, err)
			}
			if pe.Line != tt.line {
				t.Errorf("Line = %d, want %d (%v)", pe.Line, tt.line, err)
			}
			if !strings.Contains(pe.Msg, tt.msg) {
				t.Errorf("Msg = %q, want it to contain %q", pe.Msg, tt.msg)
			}
			if prefix := "Dockerfile:"; !strings.HasPrefix(err.Error(), prefix) {
				t.Errorf("Error() = %q, want prefix %q", err.Error(), prefix)
			}
		})
	}
}

func TestParseLongLine(t *testing.T) {
	src := "FROM scratch\nLABEL a=" + strings.Repeat("x", maxLine+10) + "\n"
	_, err := Parse(strings.NewReader(src))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("Parse error = %v, want a ParseError on line 2", err)
	}
}

func TestSplitWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a=1 b=2`, []string{"a=1", "b=2"}},
		{`a="x y"  b='p q'`, []string{`a="x y"`, `b='p q'`}},
		{`a=x\ y`, []string{`a=x\ y`}},
		{`a="q\"uote"`, []string{`a="q\"uote"`}},
		{`a=""`, []string{`a=""`}},
		{`""`, []string{`""`}},
		{`trailing\`, []string{"trailing"}},
		{"  ", nil},
	}
	for _, tt := range tests {
		if got := splitWords(tt.in, '\\'); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitWords(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
