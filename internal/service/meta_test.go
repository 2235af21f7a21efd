package service

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/berth-dev/berth/internal/jsonlite"
)

// fill sets every field of the struct v points to, recursively, to a non-zero value, so
// that a field decodeMeta does not read makes the round trip below differ.
func fill(t *testing.T, v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		name := v.Type().Field(i).Name
		switch f.Kind() {
		case reflect.String:
			f.SetString("s-" + name + "\u00e9\"<>")
		case reflect.Slice:
			f.Set(reflect.ValueOf([]string{name, ""}))
		case reflect.Map:
			m := reflect.MakeMap(f.Type())
			m.SetMapIndex(reflect.ValueOf("k-"+name), reflect.Zero(f.Type().Elem()))
			f.Set(m)
		case reflect.Struct:
			fill(t, f)
		default:
			t.Fatalf("snapshotMeta has a field %s of kind %s that the test (and decodeMeta?) does not know", name, f.Kind())
		}
	}
}

func TestDecodeMetaReadsEveryField(t *testing.T) {
	var want snapshotMeta
	fill(t, reflect.ValueOf(&want).Elem())
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeMeta(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(*got, want) {
		t.Errorf("decodeMeta = %+v\nwant %+v", *got, want)
	}
}

func TestDecodeMetaErrors(t *testing.T) {
	for _, in := range []string{`[]`, `{"Module":1}`, `{"Config":[]}`, `{"Config":{"Env":"x"}}`, `{"Config":{"Labels":{"a":1}}}`, `{"Module":"a","module":"b"}`, `{`} {
		if _, err := decodeMeta([]byte(in)); err == nil {
			t.Errorf("decodeMeta(%s) accepted it", in)
		}
	}
}

// FuzzDecodeMeta checks decodeMeta against encoding/json.
func FuzzDecodeMeta(f *testing.F) {
	f.Add([]byte(`{"Manifest":"sha256:ab","Layout":"docker","OS":"wasi","Architecture":"wasm","Config":{"Entrypoint":["/app.wasm"],"Env":["PATH=/"],"Labels":{"a":"b"},"ExposedPorts":{"80/tcp":{}}},"Module":"/app.wasm","ModuleDigest":"sha256:cd"}`))
	f.Add([]byte(`{"config":null,"MODULE":"x","Config":{"cmd":[null]}}`))
	f.Add([]byte(`{"Manifest":"sha256:ab","Layout":"docker","Config":{},"Boot":"5c6ed3a4-4c1b-4e0e-9d59-6c1f1e0f4a10","boot":"x"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeMeta(data)
		var want snapshotMeta
		werr := json.Unmarshal(data, &want)
		switch {
		case err != nil && werr == nil:
			if !errors.Is(err, jsonlite.ErrDuplicate) {
				t.Fatalf("decodeMeta refused what encoding/json accepts: %v", err)
			}
		case err == nil && werr != nil:
			t.Fatalf("decodeMeta accepted what encoding/json refuses (%v)", werr)
		case err == nil && !reflect.DeepEqual(*got, want):
			t.Fatalf("decodeMeta = %+v, encoding/json %+v", *got, want)
		}
	})
}
