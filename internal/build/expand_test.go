package build

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": "", "SP": "x y", "PATH": "/bin"}
	lookup := func(n string) (string, bool) { v, ok := vars[n]; return v, ok }
	tests := []struct {
		in     string
		escape rune
		want   string
		err    string
	}{
		{in: "plain", want: "plain"},
		{in: "$A", want: "a"},
		{in: "${A}", want: "a"},
		{in: "x${A}y$A", want: "xaya"},
		{in: "$A.wasm", want: "a.wasm"},
		{in: "$UNSET", want: ""},
		{in: "${UNSET:-def}", want: "def"},
		{in: "${EMPTY:-def}", want: "def"},
		{in: "${EMPTY-def}", want: ""},
		{in: "${UNSET-def}", want: "def"},
		{in: "${A:-def}", want: "a"},
		{in: "${A:+alt}", want: "alt"},
		{in: "${EMPTY:+alt}", want: ""},
		{in: "${EMPTY+alt}", want: "alt"},
		{in: "${UNSET+alt}", want: ""},
		{in: "${UNSET:-${A}b}", want: "ab"},
		{in: "${UNSET:-'$A'}", want: "$A"},
		{in: "${A:?must be set}", want: "a"},
		{in: `\$A`, want: "$A"},
		{in: `\${A}`, want: "${A}"},
		{in: `'$A'`, want: "$A"},
		{in: `"$A b"`, want: "a b"},
		{in: `"\$A \"q\" \x"`, want: `$A "q" \x`},
		{in: `a\ b`, want: "a b"},
		{in: `"$SP"`, want: "x y"},
		{in: "$SP", want: "x y"},
		{in: "$", want: "$"},
		{in: "a$", want: "a$"},
		{in: "$/x", want: "$/x"},
		{in: "$1x", want: "x"},
		{in: `trailing\`, want: "trailing"},
		{in: "`$A", escape: '`', want: "$A"},
		{in: `C:\dir\$A`, escape: '`', want: `C:\dir\a`},
		{in: "${A", err: "missing"},
		{in: "${", err: "missing '}'"},
		{in: "${}", err: "bad substitution"},
		{in: "${:-x}", err: "bad substitution"},
		{in: "${A%x}", err: "unsupported modifier"},
		{in: "${A:=x}", err: "unsupported modifier"},
		{in: "${UNSET:?must be set}", err: "UNSET: must be set"},
		{in: "${EMPTY:?}", err: "EMPTY: is not allowed to be empty"},
		{in: "${UNSET?}", err: "UNSET: is not allowed to be unset"},
		{in: "'open", err: "unterminated single quote"},
		{in: `"open`, err: "unterminated double quote"},
		{in: "${UNSET:-open", err: "missing"},
	}
	for _, tt := range tests {
		esc := tt.escape
		if esc == 0 {
			esc = '\\'
		}
		got, err := expand(tt.in, esc, lookup)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}
