// Package benchkit holds what the HTTP benchmarks under bench/ share: building a
// package, loading a server with wrk, the CPU time of a process from the scheduler's
// counters, finding the processes a private berth data root keeps, medians and the
// machine's load. It starts nothing it does not wait for.
//
// # Notes
//
//   - CPU time comes from /proc/PID/task/*/schedstat (nanoseconds the scheduler ran each
//     thread): /proc/PID/stat counts in 10 ms ticks, too coarse for an idle server. A
//     thread that ended between two samples drops out of the second; a Go process keeps
//     its threads, so for Go servers (berth, its shim and guest included) that is moot.
//   - wrk's -d takes whole seconds; shorter durations are rounded up to 1 s. wrk wants at
//     least as many connections as threads, so it runs min(2, connections) threads.
package benchkit

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// WorkDirs makes a bench's temporary work directory ("berth-PROG-…") and a state
// directory with a short name ("SHORT…"): a shim's socket path, under the state
// directory, has at most 107 bytes. On error nothing is left behind.
func WorkDirs(prog, short string) (work, state string, err error) {
	if work, err = os.MkdirTemp("", "berth-"+prog+"-"); err != nil {
		return "", "", err
	}
	if state, err = os.MkdirTemp("", short); err != nil {
		os.RemoveAll(work)
		return "", "", err
	}
	return work, state, nil
}

// GoBuild builds pkg (CGO_ENABLED=0, -trimpath, as the Makefile does) to out, with env
// added to this process's environment (GOOS=wasip1 GOARCH=wasm for a guest).
func GoBuild(env []string, out, pkg string) error {
	c := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	c.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Run(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, errb.String())
	}
	return nil
}

// TaskCPU is the CPU time process pid has used: the sum over its threads of the time
// the scheduler ran them. A process that is gone is an error.
func TaskCPU(pid int) (time.Duration, error) {
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0, err
	}
	if len(tasks) == 0 {
		return 0, fmt.Errorf("process %d: no /proc/%d/task/*/schedstat (gone?)", pid, pid)
	}
	var total time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, fmt.Errorf("%s: empty", t)
		}
		ns, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", t, err)
		}
		total += time.Duration(ns)
	}
	return total, nil
}

// WrkResult is what one wrk run measured.
type WrkResult struct {
	RPS      float64       // requests per second
	P50, P99 time.Duration // latency percentiles (zero unless latency was asked)
	// Errors is wrk's lines on failed requests (socket errors, non-2xx or 3xx
	// answers), empty when every request succeeded.
	Errors string
}

var (
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)
	wrkErrors  = regexp.MustCompile(`(?m)^\s*(Non-2xx or 3xx responses:.*|Socket errors:.*)$`)
)

// Wrk loads url with wrk (Debian's package, on PATH) over conns keep-alive connections
// for d; with latency, it also reads the 50th and 99th percentiles of --latency.
// Failed requests are reported in Errors, for the caller to show next to the figure.
func Wrk(url string, conns int, d time.Duration, latency bool) (WrkResult, error) {
	secs := max(1, int((d+time.Second-1)/time.Second))
	args := []string{fmt.Sprintf("-t%d", min(2, conns)), fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", secs)}
	if latency {
		args = append(args, "--latency")
	}
	out, err := exec.Command("wrk", append(args, url)...).CombinedOutput()
	if err != nil {
		return WrkResult{}, fmt.Errorf("wrk %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return parseWrk(out, latency)
}

func parseWrk(out []byte, latency bool) (WrkResult, error) {
	var r WrkResult
	var errs []string
	for _, m := range wrkErrors.FindAllSubmatch(out, -1) {
		errs = append(errs, strings.TrimSpace(string(m[1])))
	}
	r.Errors = strings.Join(errs, "; ")
	m := wrkRPS.FindSubmatch(out)
	if m == nil {
		return r, fmt.Errorf("wrk: no Requests/sec in\n%s", out)
	}
	var err error
	if r.RPS, err = strconv.ParseFloat(string(m[1]), 64); err != nil {
		return r, fmt.Errorf("wrk: %w", err)
	}
	if !latency {
		return r, nil
	}
	for _, l := range wrkLatency.FindAllSubmatch(out, -1) {
		v, err := strconv.ParseFloat(string(l[2]), 64)
		if err != nil {
			return r, fmt.Errorf("wrk: %w", err)
		}
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second, "m": time.Minute}[string(l[3])]
		d := time.Duration(v * float64(unit))
		if string(l[1]) == "50" {
			r.P50 = d
		} else {
			r.P99 = d
		}
	}
	if r.P50 == 0 || r.P99 == 0 {
		return r, fmt.Errorf("wrk: no 50%%/99%% latency in\n%s", out)
	}
	return r, nil
}

// Process names a berth process of a data root.
const (
	ShimName  = "containerd-shim-berth-v1"
	GuestName = "berth-guest"
)

// Proc is a shim or guest process of a berth data root.
type Proc struct {
	PID     int
	Shim    bool // containerd-shim-berth-v1, else berth-guest
	Cmdline string
}

// BerthProcesses lists the shims and guests of a data root: a containerd-shim-berth-v1
// whose command line names the state directory, or a berth-guest working under the
// root. A benchmark with a root and state directory of its own finds exactly its own.
func BerthProcesses(root, state string) []Proc {
	var out []Proc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		argv := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		base := filepath.Base(argv[0])
		if base != ShimName && base != GuestName {
			continue
		}
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		if !strings.HasPrefix(cwd, root) && !bytes.Contains(cmd, []byte(state)) {
			continue
		}
		out = append(out, Proc{PID: pid, Shim: base == ShimName, Cmdline: strings.Join(argv, " ")})
	}
	return out
}

// Median is the median of v (the upper one of an even count); 0 for none.
func Median[T float64 | time.Duration](v []T) T {
	if len(v) == 0 {
		return 0
	}
	s := append([]T(nil), v...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// LoadAvg is the 1, 5 and 15 minute load averages, for the header of a report.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// RunBerth runs the berth binary bin with env and args and returns its stdout; on
// failure the error names the command and holds its stderr.
func RunBerth(bin string, env []string, args ...string) (string, error) {
	c := exec.Command(bin, args...)
	c.Env = env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	if err := c.Run(); err != nil {
		return out.String(), fmt.Errorf("berth %s: %w\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}
