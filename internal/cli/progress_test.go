package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/registry"
)

func TestProgress(t *testing.T) {
	a := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	b := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	updates := []registry.Progress{
		{Digest: a, Status: registry.Waiting, Total: 10_000_000},
		{Digest: b, Status: registry.Waiting, Total: 2000},
		{Digest: a, Status: registry.Moving, Current: 5_000_000, Total: 10_000_000},
		{Digest: b, Status: registry.Present, Current: 2000, Total: 2000},
		{Digest: a, Status: registry.Done, Current: 10_000_000, Total: 10_000_000},
	}
	tests := []struct {
		name string
		tty  bool
		want []string
	}{
		{"plain", false, []string{"bbbbbbbbbbbb: already exists\n", "aaaaaaaaaaaa: done 10MB in 0.4 s (25MB/s)\n"}},
		{"terminal", true, []string{"\x1b[2Kaaaaaaaaaaaa: Downloading [===============>              ] 5MB/10MB ",
			"\x1b[2A\x1b[2Kaaaaaaaaaaaa: Pull complete  10MB in 0.4s\n\x1b[2Kbbbbbbbbbbbb: Already exists\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newProgress(&out, false)
			p.tty = tt.tty
			clock := time.Unix(1000, 0)
			p.now = func() time.Time { return clock }
			for _, u := range updates {
				clock = clock.Add(200 * time.Millisecond)
				p.update(u)
			}
			p.finish()
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%q", w, out.String())
				}
			}
			if !tt.tty && strings.Contains(out.String(), "\x1b") {
				t.Errorf("escape codes off a terminal: %q", out.String())
			}
		})
	}
	// A blob done in microseconds (a small one on loopback) gets no speed.
	t.Run("plain, fast", func(t *testing.T) {
		var out bytes.Buffer
		p := newProgress(&out, false)
		clock := time.Unix(1000, 0)
		p.now = func() time.Time { return clock }
		p.update(registry.Progress{Digest: a, Status: registry.Moving, Current: 1, Total: 15_300})
		clock = clock.Add(time.Microsecond)
		p.update(registry.Progress{Digest: a, Status: registry.Done, Current: 15_300, Total: 15_300})
		p.finish()
		if want := "aaaaaaaaaaaa: done 15.3kB in 0.0 s\n"; out.String() != want {
			t.Errorf("output %q, want %q", out.String(), want)
		}
	})
}
