package jsonlite

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// tree converts v to what encoding/json decodes into an any with UseNumber.
func tree(v Value) any {
	switch v.Kind {
	case Bool:
		return v.Bool
	case Number:
		return json.Number(v.Text)
	case String:
		return v.Text
	case Array:
		out := make([]any, len(v.Items))
		for i, e := range v.Items {
			out[i] = tree(e)
		}
		return out
	case Object:
		out := map[string]any{}
		for _, m := range v.Members {
			out[m.Name] = tree(m.Value) // the last of two members wins, as in encoding/json
		}
		return out
	}
	return nil
}

func stdDecode(data []byte) (any, error) {
	if !json.Valid(data) {
		return nil, errors.New("invalid")
	}
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	err := d.Decode(&v)
	return v, err
}

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want any // nil with ok false: an error
		ok   bool
	}{
		{`{}`, map[string]any{}, true},
		{` [1, -0.5e+3, "x", true, false, null] `, []any{json.Number("1"), json.Number("-0.5e+3"), "x", true, false, nil}, true},
		{`{"a":{"b":[]},"a":1}`, map[string]any{"a": json.Number("1")}, true},
		{`"\u00e9\ud83d\ude00\n\/\"\\"`, "é😀\n/\"\\", true},
		{`"\ud800x"`, "\ufffdx", true},      // lone surrogate
		{`"\ud800\u0041"`, "\ufffdA", true}, // high surrogate then not a low one
		{"\"a\xffb\"", "a\ufffdb", true},    // invalid UTF-8
		{`"\u12"`, nil, false},              // short escape
		{"\"a\tb\"", nil, false},            // raw control character
		{`01`, nil, false},                  // leading zero
		{`-`, nil, false},                   // sign alone
		{`1.`, nil, false},                  // no fraction digits
		{`1e`, nil, false},                  // no exponent digits
		{`{"a" 1}`, nil, false},             // no colon
		{`{"a":1,}`, nil, false},            // trailing comma
		{`[1 2]`, nil, false},               // no comma
		{`{} {}`, nil, false},               // data after the value
		{`{}]`, nil, false},                 // a bracket after the value
		{``, nil, false},                    // nothing
		{`nul`, nil, false},                 // cut word
		{`{"a":1`, nil, false},              // unterminated object
		{`"abc`, nil, false},                // unterminated string
		{`tru e`, nil, false},               // broken word
		{`{1:2}`, nil, false},               // non-string name
		{`[` + string(bytes.Repeat([]byte("["), maxDepth)), nil, false}, // too deep
	}
	for _, tt := range tests {
		v, err := Parse([]byte(tt.in))
		if (err == nil) != tt.ok {
			t.Errorf("Parse(%q) error = %v, want ok %v", tt.in, err, tt.ok)
			continue
		}
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("Parse(%q) error %v does not wrap ErrSyntax", tt.in, err)
			}
			continue
		}
		if got := tree(v); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Parse(%q) = %#v, want %#v", tt.in, got, tt.want)
		}
	}
}

func TestAs(t *testing.T) {
	v, err := Parse([]byte(`{"S":"x","n":-7,"big":1e3,"list":["a",null],"m":{"k":"v","k":"w","z":null},"set":{"80/tcp":{}},"nul":null,"Dup":1,"dUP":2}`))
	if err != nil {
		t.Fatal(err)
	}
	field := func(name string) Value {
		t.Helper()
		f, err := v.Field(name)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if s, err := field("s").AsString("s"); err != nil || s != "x" { // matched ignoring case
		t.Errorf("s = %q, %v", s, err)
	}
	if n, err := field("n").AsInt64("n"); err != nil || n != -7 {
		t.Errorf("n = %d, %v", n, err)
	}
	if _, err := field("big").AsInt64("big"); !errors.Is(err, ErrType) {
		t.Errorf("1e3 as an int64: %v, want ErrType", err)
	}
	if l, err := field("list").AsStrings("list"); err != nil || !reflect.DeepEqual(l, []string{"a", ""}) {
		t.Errorf("list = %q, %v", l, err)
	}
	if m, err := field("m").AsStringMap("m"); err != nil || !reflect.DeepEqual(m, map[string]string{"k": "w", "z": ""}) {
		t.Errorf("m = %q, %v", m, err)
	}
	if s, err := field("set").AsSet("set"); err != nil || !reflect.DeepEqual(s, map[string]struct{}{"80/tcp": {}}) {
		t.Errorf("set = %v, %v", s, err)
	}
	for _, name := range []string{"nul", "absent"} {
		f := field(name)
		if s, err := f.AsString(name); s != "" || err != nil {
			t.Errorf("%s as a string = %q, %v", name, s, err)
		}
		if l, err := f.AsStrings(name); l != nil || err != nil {
			t.Errorf("%s as strings = %q, %v", name, l, err)
		}
		if m, err := f.AsStringMap(name); m != nil || err != nil {
			t.Errorf("%s as a map = %q, %v", name, m, err)
		}
		if _, err := f.AsObject(name); err != nil {
			t.Errorf("%s as an object: %v", name, err)
		}
	}
	if _, err := v.Field("dup"); !errors.Is(err, ErrDuplicate) {
		t.Errorf("Field(dup) error = %v, want ErrDuplicate", err)
	}
	for _, bad := range []func() error{
		func() error { _, err := field("n").AsString("n"); return err },
		func() error { _, err := field("S").AsStrings("S"); return err },
		func() error { _, err := field("list").AsStringMap("list"); return err },
		func() error { _, err := field("m").AsSet("m"); return err },
		func() error { _, err := field("S").AsObject("S"); return err },
		func() error { _, err := field("S").AsInt64("S"); return err },
	} {
		if err := bad(); !errors.Is(err, ErrType) {
			t.Errorf("error %v, want ErrType", err)
		}
	}
}

// FuzzParse checks Parse against encoding/json: the same inputs are valid, and the same
// tree comes out.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\u00e9",true,null]}`, `"\ud83d\ude00"`, `[]`, "\"\xff\"", `{"a":1,"a":2}`, `-0`, `1E+2`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Parse(data)
		want, werr := stdDecode(data)
		if (err == nil) != (werr == nil) {
			t.Fatalf("Parse error %v, encoding/json error %v", err, werr)
		}
		if err != nil {
			return
		}
		if got := tree(v); !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse = %#v, encoding/json = %#v", got, want)
		}
	})
}
