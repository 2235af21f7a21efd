package restart

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is a restart policy's name, as docker spells it.
type Mode string

// The four policies docker knows.
const (
	No            Mode = "no"
	OnFailure     Mode = "on-failure"
	Always        Mode = "always"
	UnlessStopped Mode = "unless-stopped"
)

// ErrBadPolicy is wrapped by every error Parse returns.
var ErrBadPolicy = errors.New("invalid restart policy")

// Policy is a parsed --restart value. The zero value is the policy "no".
type Policy struct {
	Mode Mode
	// MaxRetries is on-failure's N: the most restarts allowed; 0 means no limit.
	MaxRetries int
}

// Parse parses a --restart value: "no", "on-failure", "on-failure:N" (N ≥ 0),
// "always" or "unless-stopped". An empty string is "no", as in docker.
func Parse(s string) (Policy, error) {
	if s == "" {
		return Policy{Mode: No}, nil
	}
	name, count, hasColon := strings.Cut(s, ":")
	if hasColon && name == "" {
		return Policy{}, fmt.Errorf("%w %q: no policy before the colon; use no, on-failure[:N], always or unless-stopped", ErrBadPolicy, s)
	}
	// docker's CLI reads "on-failure:" and "always:" as if there were no colon.
	hasCount := count != ""
	p := Policy{Mode: Mode(name)}
	switch p.Mode {
	case No, Always, UnlessStopped:
		if hasCount {
			return Policy{}, fmt.Errorf("%w %q: maximum retry count can only be used with 'on-failure'", ErrBadPolicy, s)
		}
	case OnFailure:
		if hasCount {
			n, err := strconv.Atoi(count)
			if err != nil {
				return Policy{}, fmt.Errorf("%w %q: maximum retry count must be an integer, as in on-failure:3", ErrBadPolicy, s)
			}
			if n < 0 {
				return Policy{}, fmt.Errorf("%w %q: maximum retry count cannot be negative", ErrBadPolicy, s)
			}
			p.MaxRetries = n
		}
	default:
		return Policy{}, fmt.Errorf("%w: unknown policy %q; use one of 'no', 'always', 'on-failure', or 'unless-stopped'", ErrBadPolicy, name)
	}
	return p, nil
}

// String gives the policy back in the form Parse reads.
func (p Policy) String() string {
	if p.Mode == "" {
		return string(No)
	}
	if p.Mode == OnFailure && p.MaxRetries > 0 {
		return string(OnFailure) + ":" + strconv.Itoa(p.MaxRetries)
	}
	return string(p.Mode)
}

// ShouldRestart says whether a container that just exited with exitCode is started
// again. stoppedByUser is true when the exit follows `stop`, `kill` or `rm -f`: then no
// policy restarts it. restartCount is how many times the policy already restarted this
// container (docker's RestartCount), checked against on-failure's N.
func (p Policy) ShouldRestart(exitCode int, stoppedByUser bool, restartCount int) bool {
	if stoppedByUser {
		return false
	}
	switch p.Mode {
	case Always, UnlessStopped:
		return true
	case OnFailure:
		if p.MaxRetries > 0 && restartCount >= p.MaxRetries {
			return false
		}
		return exitCode != 0
	default:
		return false
	}
}

// StartAtBoot says whether the container is started when the engine itself starts
// again (docker: when the daemon starts, after a reboot): `always` does, even after a
// user's stop; `unless-stopped` does unless the user stopped it; `no` and `on-failure`
// do not.
func (p Policy) StartAtBoot(stoppedByUser bool) bool {
	switch p.Mode {
	case Always:
		return true
	case UnlessStopped:
		return !stoppedByUser
	default:
		return false
	}
}

// The back-off timings of moby's restartmanager.
const (
	FirstDelay = 100 * time.Millisecond
	MaxDelay   = time.Minute
	// ResetAfter is the run length after which the delay starts again at FirstDelay.
	ResetAfter = 10 * time.Second
)

// Backoff computes the delay before each restart. The zero value is ready to use.
type Backoff struct {
	// Last is the delay Next returned last time (0 before the first restart). It is
	// exported so the state can be stored between processes.
	Last time.Duration
}

// Next returns how long to wait before restarting a container whose last run lasted
// ran, and remembers it: 100 ms, then twice the previous delay, at most one minute;
// back to 100 ms when the run lasted 10 s or more.
func (b *Backoff) Next(ran time.Duration) time.Duration {
	switch {
	case ran >= ResetAfter || b.Last <= 0:
		b.Last = FirstDelay
	case b.Last < MaxDelay:
		b.Last *= 2
	}
	if b.Last > MaxDelay {
		b.Last = MaxDelay
	}
	return b.Last
}

// Reset forgets the delays, as after a user's `start` or `restart`.
func (b *Backoff) Reset() { b.Last = 0 }
