package cli

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/container"
)

func TestParseTimestamp(t *testing.T) {
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
		err  bool
	}{
		{in: "10m", want: now.Add(-10 * time.Minute)},
		{in: "1h30m", want: now.Add(-90 * time.Minute)},
		{in: "1700000000", want: time.Unix(1700000000, 0)},
		{in: "1700000000.5", want: time.Unix(1700000000, 5e8)},
		{in: "1700000000.000000001", want: time.Unix(1700000000, 1)},
		{in: "2026-11-27T07:00:00Z", want: now.Add(-time.Hour)},
		{in: "2026-11-27T07:00:00.25+01:00", want: now.Add(-2*time.Hour + 250*time.Millisecond)},
		{in: "2026-11-27T07:00Z", want: now.Add(-time.Hour)},
		{in: "2026-11-27T07:00:00", want: time.Date(2026, 11, 27, 7, 0, 0, 0, time.Local)},
		{in: "2026-11-27", want: time.Date(2026, 11, 27, 0, 0, 0, 0, time.Local)},
		{in: "0001-01-01T00:00:00Z", want: time.Time{}.Add(time.Nanosecond)}, // not "no bound"
		{in: "", err: true},
		{in: "yesterday", err: true},
		{in: "1700000000.", err: true},
		{in: ".5", err: true},
		{in: "99999999999999999999", err: true},
		{in: "2026-13-01", err: true},
	}
	for _, tt := range tests {
		got, err := ParseTimestamp(tt.in, now)
		if tt.err {
			if err == nil || !errors.Is(err, ErrBadSpec) {
				t.Errorf("ParseTimestamp(%q) = %v, %v; want an ErrBadSpec error", tt.in, got, err)
			}
			continue
		}
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseTimestamp(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"10m", "1700000000.5", "2026-11-27T07:00:00Z", "2026-11-27", "x"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp(s, now)
		if err != nil {
			if !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "RFC 3339") {
				t.Fatalf("ParseTimestamp(%q): error %v does not say what to give", s, err)
			}
			return
		}
		if got.IsZero() && s != "0" {
			t.Fatalf("ParseTimestamp(%q) accepted it as the zero time", s)
		}
	})
}

func TestParseSignal(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want syscall.Signal
		err  bool
	}{
		{in: "KILL", want: syscall.SIGKILL}, {in: "SIGTERM", want: syscall.SIGTERM}, {in: "term", want: syscall.SIGTERM},
		{in: "sigusr1", want: syscall.SIGUSR1}, {in: "9", want: 9}, {in: "0", want: 0}, {in: "64", want: 64},
		{in: "65", err: true}, {in: "-1", err: true}, {in: "", err: true}, {in: "SIG", err: true}, {in: "NOPE", err: true},
	} {
		got, err := ParseSignal(tt.in)
		if tt.err != (err != nil) || !tt.err && got != tt.want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v (error %v)", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !errors.Is(err, ErrBadSpec) {
			t.Errorf("ParseSignal(%q): %v does not wrap ErrBadSpec", tt.in, err)
		}
	}
}

func FuzzParseSignal(f *testing.F) {
	for _, s := range []string{"KILL", "sigterm", "15", "99"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSignal(s)
		if err == nil && (n < 0 || n > 64) {
			t.Fatalf("ParseSignal(%q) = %d", s, n)
		}
	})
}

func TestParseLogOpts(t *testing.T) {
	o, err := parseLogOpts([]string{"max-size=10m", "max-file=3"})
	if err != nil || o.MaxSize != 10e6 || o.MaxFile != 3 {
		t.Errorf("parseLogOpts = %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"max-size"}, {"=1"}, {"max-size=1m", "max-size=2m"}, {"max-file=2"}, {"colour=red"}} {
		if _, err := parseLogOpts(bad); err == nil || !strings.Contains(err.Error(), "log-opt") {
			t.Errorf("parseLogOpts(%q) = %v; want an error naming --log-opt", bad, err)
		}
	}
}

func TestParsePsFilter(t *testing.T) {
	c := &container.Container{ID: "abcdef0123", Name: "web-1", Image: "shop/web", ImageDigest: "sha256:feedbeef99",
		State: container.State{Status: container.StatusExited, ExitCode: 3}}
	for _, tt := range []struct {
		args  []string
		match bool
		all   bool
	}{
		{nil, true, false},
		{[]string{"status=exited"}, true, true},
		{[]string{"status=running"}, false, false},
		{[]string{"status=running", "status=exited"}, true, true},
		{[]string{"name=^web"}, true, false},
		{[]string{"name=db"}, false, false},
		{[]string{"id=abc"}, true, false},
		{[]string{"ancestor=shop/web:latest"}, true, false},
		{[]string{"ancestor=shop/web"}, true, false},
		{[]string{"ancestor=feedbeef"}, true, false},
		{[]string{"ancestor=sha256:feed"}, true, false},
		{[]string{"ancestor=shop/web:2"}, false, false},
		{[]string{"exited=3"}, true, true},
		{[]string{"exited=0"}, false, true},
		{[]string{"name=web", "exited=0"}, false, true},
	} {
		f, err := ParsePsFilter(tt.args)
		if err != nil {
			t.Errorf("ParsePsFilter(%q): %v", tt.args, err)
			continue
		}
		if got := f.match(c); got != tt.match {
			t.Errorf("filter %q matches = %v, want %v", tt.args, got, tt.match)
		}
		if got := f.wantsAll(); got != tt.all {
			t.Errorf("filter %q wantsAll = %v, want %v", tt.args, got, tt.all)
		}
	}
	for _, bad := range []string{"status", "status=", "status=sleeping", "name=(", "exited=x", "label=a=b", "=x"} {
		if _, err := ParsePsFilter([]string{bad}); err == nil || !errors.Is(err, ErrBadSpec) || !strings.Contains(err.Error(), "--filter") {
			t.Errorf("ParsePsFilter(%q) = %v; want an ErrBadSpec error naming --filter", bad, err)
		}
	}
}

func FuzzParsePsFilter(f *testing.F) {
	for _, s := range []string{"status=exited", "name=^w.*", "ancestor=a/b:1", "exited=137", "x=y"} {
		f.Add(s)
	}
	c := &container.Container{ID: "abc", Name: "n", Image: "i", State: container.State{Status: "running"}}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParsePsFilter([]string{s})
		if err != nil {
			if !errors.Is(err, ErrBadSpec) {
				t.Fatalf("error %v does not wrap ErrBadSpec", err)
			}
			return
		}
		flt.match(c)
		flt.wantsAll()
	})
}
