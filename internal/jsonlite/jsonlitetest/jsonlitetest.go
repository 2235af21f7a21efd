// Package jsonlitetest draws random values for the tests that check a hand-written
// jsonlite encoder against encoding/json byte for byte.
package jsonlitetest

import "math/rand/v2"

// Strings are the strings drawn: empty, plain, and the ones encoding/json escapes
// (HTML characters, control characters, quotes, backslashes, U+2028/U+2029, invalid UTF-8).
var Strings = []string{"", "a", "x<y>&z", "tab\there \"q\" \\ \u2028\u2029 é 😀", "bad\xffutf8\x01\x1f", "/app.wasm"}

// Gen draws values from R.
type Gen struct{ R *rand.Rand }

// String returns one of Strings.
func (g Gen) String() string { return Strings[g.R.IntN(len(Strings))] }

// List returns nil, an empty list, or one to three strings: encoding/json writes the
// first two differently (null and []).
func (g Gen) List() []string {
	switch g.R.IntN(3) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	l := make([]string, 1+g.R.IntN(3))
	for i := range l {
		l[i] = g.String()
	}
	return l
}
