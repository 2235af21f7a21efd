package network

import (
	"errors"
	"reflect"
	"testing"
)

func TestAnnotationsRoundTrip(t *testing.T) {
	for _, o := range []Options{
		{Mode: ModeDefault},
		{Mode: ModeNone},
		{Mode: ModeHost, Allow: mustRules(t, "example.com:443")},
		{Mode: ModeDefault, Ports: mustPorts(t, "127.0.0.1:18080:8080", "8443:443/udp", "[::1]:9000:9000"),
			Allow: mustRules(t, "*.example.com", "10.0.0.0/8:53", "[2001:db8::1]:443"), Deny: mustRules(t, "192.0.2.1", "bad.example.com:80-90")},
	} {
		ann := map[string]string{"other": "x"}
		Annotate(ann, o)
		got, ok, err := FromAnnotations(ann)
		if err != nil || !ok {
			t.Fatalf("FromAnnotations(%v) = %v, %v", ann, ok, err)
		}
		if !reflect.DeepEqual(got, o) {
			t.Errorf("round trip of %+v through %v gave %+v", o, ann, got)
		}
	}
	if _, ok, err := FromAnnotations(map[string]string{"dev.berth.module.digest": "sha256:x"}); ok || err != nil {
		t.Errorf("a spec without %s: ok %v, err %v; want not berth's, no error", AnnotationMode, ok, err)
	}
}

func TestAnnotationsBad(t *testing.T) {
	for _, ann := range []map[string]string{
		{AnnotationMode: "bridge2"},
		{AnnotationMode: ""},
		{AnnotationMode: "default", AnnotationPublish: "127.0.0.1::8080"}, // no host port chosen
		{AnnotationMode: "default", AnnotationPublish: "8000-8010:80"},    // a range
		{AnnotationMode: "default", AnnotationPublish: "18080:8080,"},     // empty item
		{AnnotationMode: "default", AnnotationAllowHost: "example.com:99999"},
		{AnnotationMode: "default", AnnotationDenyHost: "10.1.0.0/8"},
	} {
		if _, _, err := FromAnnotations(ann); !errors.Is(err, ErrInvalidAnnotation) {
			t.Errorf("FromAnnotations(%v) = %v, want ErrInvalidAnnotation", ann, err)
		}
	}
}
