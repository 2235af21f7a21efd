package restart

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in      string
		want    Policy
		wantErr string // a piece of the error text; "" for no error
	}{
		{in: "", want: Policy{Mode: No}},
		{in: "no", want: Policy{Mode: No}},
		{in: "always", want: Policy{Mode: Always}},
		{in: "unless-stopped", want: Policy{Mode: UnlessStopped}},
		{in: "on-failure", want: Policy{Mode: OnFailure}},
		{in: "on-failure:0", want: Policy{Mode: OnFailure}},
		{in: "on-failure:5", want: Policy{Mode: OnFailure, MaxRetries: 5}},
		{in: "on-failure:", want: Policy{Mode: OnFailure}},
		{in: "always:", want: Policy{Mode: Always}},
		{in: "on-failure:-1", wantErr: "cannot be negative"},
		{in: "on-failure:x", wantErr: "must be an integer"},
		{in: "on-failure:1:2", wantErr: "must be an integer"},
		{in: "always:3", wantErr: "can only be used with 'on-failure'"},
		{in: "no:1", wantErr: "can only be used with 'on-failure'"},
		{in: "unless-stopped:2", wantErr: "can only be used with 'on-failure'"},
		{in: ":3", wantErr: "no policy before the colon"},
		{in: "sometimes", wantErr: `unknown policy "sometimes"`},
		{in: "Always", wantErr: "unknown policy"},
		{in: " always", wantErr: "unknown policy"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want an error with %q", tt.in, got, tt.wantErr)
				}
				if !errors.Is(err, ErrBadPolicy) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error %q: want ErrBadPolicy and %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestStringRoundTrip(t *testing.T) {
	for _, s := range []string{"no", "always", "unless-stopped", "on-failure", "on-failure:7"} {
		p, err := Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		if p.String() != s {
			t.Errorf("Parse(%q).String() = %q", s, p.String())
		}
	}
	if (Policy{}).String() != "no" {
		t.Errorf("zero Policy is %q, want no", Policy{}.String())
	}
}

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		policy   string
		exit     int
		byUser   bool
		restarts int
		want     bool
	}{
		{"no", 1, false, 0, false},
		{"no", 0, false, 0, false},
		{"always", 0, false, 0, true},
		{"always", 1, false, 100, true},
		{"always", 137, true, 0, false}, // docker stop cancels the restart manager
		{"unless-stopped", 0, false, 0, true},
		{"unless-stopped", 143, true, 0, false},
		{"on-failure", 0, false, 0, false},
		{"on-failure", 1, false, 0, true},
		{"on-failure", 1, false, 1000, true}, // no N: no limit
		{"on-failure", 1, true, 0, false},
		{"on-failure:3", 1, false, 0, true},
		{"on-failure:3", 1, false, 2, true},
		{"on-failure:3", 1, false, 3, false},
		{"on-failure:3", 0, false, 0, false},
		{"on-failure:3", -1, false, 0, true},
	}
	for _, tt := range tests {
		p, err := Parse(tt.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.ShouldRestart(tt.exit, tt.byUser, tt.restarts); got != tt.want {
			t.Errorf("%s.ShouldRestart(exit %d, byUser %v, count %d) = %v, want %v",
				tt.policy, tt.exit, tt.byUser, tt.restarts, got, tt.want)
		}
	}
}

// on-failure:N runs the container at most N+1 times.
func TestOnFailureRunCount(t *testing.T) {
	p, _ := Parse("on-failure:3")
	runs, restarts := 1, 0
	for p.ShouldRestart(1, false, restarts) {
		restarts++
		runs++
	}
	if runs != 4 {
		t.Fatalf("on-failure:3 ran %d times, want 4", runs)
	}
}

func TestStartAtBoot(t *testing.T) {
	tests := []struct {
		policy string
		byUser bool
		want   bool
	}{
		{"no", false, false},
		{"on-failure", false, false},
		{"always", false, true},
		{"always", true, true},
		{"unless-stopped", false, true},
		{"unless-stopped", true, false},
	}
	for _, tt := range tests {
		p, _ := Parse(tt.policy)
		if got := p.StartAtBoot(tt.byUser); got != tt.want {
			t.Errorf("%s.StartAtBoot(%v) = %v, want %v", tt.policy, tt.byUser, got, tt.want)
		}
	}
}

func TestBackoff(t *testing.T) {
	ms := time.Millisecond
	var b Backoff
	short := time.Second
	want := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms,
		6400 * ms, 12800 * ms, 25600 * ms, 51200 * ms, time.Minute, time.Minute}
	for i, w := range want {
		if got := b.Next(short); got != w {
			t.Fatalf("restart %d: delay %v, want %v", i+1, got, w)
		}
	}
	// A run of 10 s or more starts the delays again.
	if got := b.Next(10 * time.Second); got != 100*ms {
		t.Fatalf("after a 10 s run: %v, want 100ms", got)
	}
	if got := b.Next(9 * time.Second); got != 200*ms {
		t.Fatalf("after a 9 s run: %v, want 200ms", got)
	}
	b.Reset()
	if got := b.Next(0); got != 100*ms {
		t.Fatalf("after Reset: %v, want 100ms", got)
	}
	// A stored value beyond the cap (a hand-edited state file) is brought back to it.
	b = Backoff{Last: time.Hour}
	if got := b.Next(0); got != time.Minute {
		t.Fatalf("from 1h: %v, want 1m", got)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "no", "always", "unless-stopped", "on-failure", "on-failure:3", "on-failure:-1", "always:1", ":", "on-failure:99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrBadPolicy) {
				t.Fatalf("Parse(%q): error %v does not wrap ErrBadPolicy", s, err)
			}
			return
		}
		if p.MaxRetries < 0 || (p.MaxRetries > 0 && p.Mode != OnFailure) {
			t.Fatalf("Parse(%q) = %+v", s, p)
		}
		// What Parse accepts, it gives back in a form it reads to the same policy.
		q, err := Parse(p.String())
		if err != nil || q != p {
			t.Fatalf("Parse(%q) = %+v, but Parse(%q) = %+v, %v", s, p, p.String(), q, err)
		}
	})
}
