package jsonlite

import (
	"encoding/json"
	"testing"
)

func TestWriterMatchesMarshalIndent(t *testing.T) {
	type inner struct {
		S string
		L []string
	}
	v := struct {
		A  string
		B  bool
		N  int64
		L  []string
		E  []string
		Z  []string
		O  inner
		OS []inner
		M  map[string]string
		EM map[string]string
		NM map[string]string
		R  json.RawMessage
	}{"x<&>\u2028\xff", true, -3, []string{"a", "b"}, []string{}, nil, inner{"s", nil},
		[]inner{{"1", []string{"q"}}, {}}, map[string]string{"b": "2", "a": "1"}, map[string]string{}, nil, json.RawMessage(`"raw"`)}
	want, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	var w Writer
	w.Object(func() {
		w.Key("A")
		w.String(v.A)
		w.Key("B")
		w.Bool(v.B)
		w.Key("N")
		w.Int(v.N)
		w.Key("L")
		w.Strings(v.L)
		w.Key("E")
		w.Strings(v.E)
		w.Key("Z")
		w.Strings(v.Z)
		in := func(i inner) {
			w.Object(func() {
				w.Key("S")
				w.String(i.S)
				w.Key("L")
				w.Strings(i.L)
			})
		}
		w.Key("O")
		in(v.O)
		w.Key("OS")
		w.Array(func() {
			for _, i := range v.OS {
				in(i)
			}
		})
		w.Key("M")
		w.StringMap(v.M)
		w.Key("EM")
		w.StringMap(v.EM)
		w.Key("NM")
		w.StringMap(v.NM)
		w.Key("R")
		w.Raw(v.R)
	})
	if got := w.Bytes(); string(got) != string(want) {
		t.Errorf("Writer:\n%s\nMarshalIndent:\n%s", got, want)
	}
}
