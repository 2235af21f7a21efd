package engine

import (
	"bytes"
	"context"
	"errors"
	"testing"
)

// A Prepared module runs without its bytes; one that does not match the run (other
// digest or memory limit) is closed and the module compiled from Spec instead; an
// invalid module's error reaches Run.
func TestPrepare(t *testing.T) {
	ctx := context.Background()
	e, err := New(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close(ctx)
	wasm := cHello(t)
	digest := Digest(wasm)
	tests := []struct {
		name    string
		prep    *Prepared
		spec    Spec
		want    string
		wantErr error
	}{
		{name: "prepared, no bytes", prep: e.Prepare(ctx, wasm, digest, 0), spec: Spec{Digest: digest}, want: "hello from c\n"},
		{name: "limit differs: compiled from spec", prep: e.Prepare(ctx, wasm, digest, 1<<20), spec: Spec{Module: wasm, Digest: digest}, want: "hello from c\n"},
		{name: "digest differs: compiled from spec", prep: e.Prepare(ctx, wasm, "sha256:"+string(bytes.Repeat([]byte("0"), 64)), 0), spec: Spec{Module: wasm}, want: "hello from c\n"},
		{name: "invalid module", prep: e.Prepare(ctx, []byte("\x00asm\x01\x00\x00\x00\x01"), "", 0), spec: Spec{}, wantErr: ErrInvalidModule},
		{name: "prepared now, no bytes", prep: e.PrepareNow(ctx, wasm, "", 0), spec: Spec{Digest: digest}, want: "hello from c\n"},
		{name: "prepared now, invalid module", prep: e.PrepareNow(ctx, []byte("\x00asm\x01\x00\x00\x00\x01"), "", 0), spec: Spec{}, wantErr: ErrInvalidModule},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			tt.spec.Args, tt.spec.Stdout, tt.spec.Prepared = []string{"hello"}, &out, tt.prep
			code, err := e.Run(ctx, tt.spec)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || code != 0 || out.String() != tt.want {
				t.Fatalf("Run = %d, %v, %q", code, err, out.String())
			}
		})
	}
	// An unused Prepared closes cleanly (and nil is fine).
	e.Prepare(ctx, wasm, digest, 0).Close(ctx)
	p := e.PrepareNow(ctx, wasm, digest, 0)
	select {
	case <-p.done:
	default:
		t.Error("PrepareNow returned before the load was done")
	}
	p.Close(ctx)
	var nilPrep *Prepared
	nilPrep.Close(ctx)
}
