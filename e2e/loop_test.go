package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestRunLoop runs `ctr run --rm` of the C hello guest BERTH_E2E_LOOPS times (default
// 50) on containerd 1.6 and 2.4, checks each run's output and exit code, then that no
// shim or guest process, no /run/containerd/s socket and no mount under containerd's
// state directory is left. It logs the latency against the same program built
// natively (gcc -static) and run by runc, as a baseline.
func TestRunLoop(t *testing.T) {
	requireE2E(t)
	n := loops(t)
	for _, v := range containerdVersions {
		t.Run(v, func(t *testing.T) {
			s := newShimEnv(t, v)
			c := s.c
			c.importImage(t, c.ns, s.set.archives[imgNative])
			wasm := func(i int) []string {
				return runArgv([]string{"--rm"}, imgHello, fmt.Sprintf("loop-%d", i), "/hello.wasm", "3")
			}
			native := func(i int) []string {
				return []string{"run", "--rm", "--runtime", runcRuntime, imgNative, fmt.Sprintf("native-%d", i), "/hello", "3"}
			}
			durs := runMany(t, c, n, wasm)
			t.Run("no-leftovers", func(t *testing.T) { checkNoLeftovers(t, c, s.shim, s.before) })
			base := runMany(t, c, max(n/5, 5), native)
			t.Logf("ctr run --rm, containerd %s: berth shim (Wasm C hello) %s; runc (native static hello) %s",
				v, stats(durs), stats(base))
		})
	}
}

// runMany runs `ctr ARGV(i)` n times, each expected to print the hello lines and exit 3,
// and returns the durations. It stops at the first failure.
func runMany(t *testing.T, c *containerd, n int, argv func(i int) []string) []time.Duration {
	t.Helper()
	var durs []time.Duration
	for i := 0; i < n; i++ {
		r := c.ctr(t, cmdOpts{timeout: time.Minute}, argv(i)...)
		if r.err != nil || r.code != 3 {
			t.Errorf("run %d of %d failed", i+1, n)
		}
		checkHello(t, r, 3)
		durs = append(durs, r.dur)
	}
	return durs
}

// stats is "median X, p90 Y over N runs".
func stats(d []time.Duration) string {
	if len(d) == 0 {
		return "no runs"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	p := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))].Round(100 * time.Microsecond) }
	return fmt.Sprintf("median %v, p90 %v over %d runs", p(0.5), p(0.9), len(s))
}
