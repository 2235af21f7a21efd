package engine

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		name string
		want Host
		err  bool
	}{
		{"", HostBerth, false},
		{"wazero", HostWazero, false},
		{"berth", HostBerth, false},
		{"Berth", 0, true},
		{"wasmtime", 0, true},
	}
	for _, tt := range tests {
		h, err := ParseHost(tt.name)
		if tt.err {
			if !errors.Is(err, ErrUnknownHost) || !strings.Contains(err.Error(), HostEnv) || !strings.Contains(err.Error(), tt.name) {
				t.Errorf("ParseHost(%q) err = %v, want ErrUnknownHost naming %s and the value", tt.name, err, HostEnv)
			}
			continue
		}
		if err != nil || h != tt.want {
			t.Errorf("ParseHost(%q) = %v, %v; want %v", tt.name, h, err, tt.want)
		}
		if err == nil && tt.name != "" && h.String() != tt.name {
			t.Errorf("ParseHost(%q).String() = %q", tt.name, h.String())
		}
	}
	ctx := context.Background()
	for _, h := range []Host{HostWazero, HostBerth} {
		e, err := New(ctx, t.TempDir(), WithHost(h))
		if err != nil {
			t.Fatal(err)
		}
		if e.Host() != h {
			t.Errorf("Host() = %v, want %v", e.Host(), h)
		}
		e.Close(ctx)
	}
}
