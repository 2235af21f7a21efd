package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	tasktypes "github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/ttrpc"
)

// Benchmark knobs (bench/shim.sh sets them). The benchmarks run only with BERTH_E2E=1
// and BERTH_BENCH=1, so neither `go test ./...` nor `make e2e` runs them.
const (
	envBench      = "BERTH_BENCH"
	envBenchN     = "BERTH_BENCH_N"     // samples per side for latencies (default 30)
	envBenchTasks = "BERTH_BENCH_TASKS" // tasks per side for throughput (default 200; bench/shim.sh: 1000)
	envBenchGroup = "BERTH_BENCH_GROUP" // idle containers in one shim group (default 100)
	envBenchOut   = "BERTH_BENCH_OUT"   // a file the report (markdown) is appended to
)

// groupAnnotation puts containers in one berth shim; runcGroupAnnotation does the same for
// containerd's runc shim v2.
const (
	groupAnnotation     = "dev.berth.shim.group"
	runcGroupAnnotation = "io.containerd.runc.v2.group"
)

// requireBench skips the test unless BERTH_E2E=1 and BERTH_BENCH=1.
func requireBench(t *testing.T) {
	t.Helper()
	requireE2E(t)
	if os.Getenv(envBench) != "1" {
		t.Skip("benchmark: run with BERTH_E2E=1 BERTH_BENCH=1 (bench/shim.sh)")
	}
}

// benchInt reads a positive integer knob.
func benchInt(t *testing.T, env string, def int) int {
	t.Helper()
	s := os.Getenv(env)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", env, s)
	}
	return n
}

var reportMu sync.Mutex

// report logs a line of the benchmark report and appends it to BERTH_BENCH_OUT.
func report(t *testing.T, format string, args ...any) {
	t.Helper()
	s := fmt.Sprintf(format, args...)
	t.Log(s)
	p := os.Getenv(envBenchOut)
	if p == "" {
		return
	}
	reportMu.Lock()
	defer reportMu.Unlock()
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatalf("benchmark report: %v", err)
	}
	defer f.Close()
	fmt.Fprintln(f, s)
}

// median of a sample; zero for none.
func median(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ms formats a duration in milliseconds; "–" for a missing figure.
func ms(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// ratio is a/b as "0.73×".
func ratio(a, b time.Duration) string {
	if a <= 0 || b <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

func logSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("daemon log: %v", err)
	}
	return fi.Size()
}

// logLine is one logrus line of containerd's log (the shim's relayed lines have the same
// form, with the shim's own timestamps).
type logLine struct {
	at   time.Time
	msg  string
	text string
}

// parseLog reads the time= and msg= of each line.
func parseLog(b []byte) []logLine {
	var out []logLine
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, `time="`) {
			continue
		}
		end := strings.IndexByte(l[6:], '"')
		if end < 0 {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, l[6:6+end])
		if err != nil {
			continue
		}
		out = append(out, logLine{at: at, msg: logField(l, "msg"), text: l})
	}
	return out
}

// logField is the value of key=value or key="value" in a logrus line.
func logField(l, key string) string {
	i := strings.Index(l, " "+key+"=")
	if i < 0 {
		return ""
	}
	v := l[i+len(key)+2:]
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		for j := 1; j < len(v); j++ {
			switch v[j] {
			case '\\':
				if j+1 < len(v) {
					j++
					b.WriteByte(v[j])
				}
			case '"':
				return b.String()
			default:
				b.WriteByte(v[j])
			}
		}
		return b.String()
	}
	if j := strings.IndexByte(v, ' '); j >= 0 {
		v = v[:j]
	}
	return v
}

// runTimeline is where the time of one `ctr run --rm` went, from containerd's debug log.
// Every field is a duration; zero when the log had no marker for it.
type runTimeline map[string]time.Duration

// The phases of a `ctr run --rm`, in order, with how they are measured.
var runPhases = []struct{ key, what string }{
	{"client", "ctr start-up (through nsenter) to containerd's first log line of the run (image and snapshot lookups)"},
	{"container", "snapshot prepare and container record, to the task create request (2nd `get snapshot mounts`)"},
	{"shim-start", "task create request → long-lived shim serving (`starting signal loop`): containerd's `start` exec, the shim's process start"},
	{"  start-exec", "of which: task create request → `connecting to shim` (containerd 2.x only: the `start` exec returned)"},
	{"shim-task", "shim serving → `shim disconnected`: create, start, the guest's run, wait, delete, shim exit"},
	{"  create", "shim serving → /tasks/create event (containerd 1.6 only: 2.x does not log task events)"},
	{"    mount", "berth: rootfs mount (`created` mount=)"},
	{"    spawn", "berth: berth-guest spawn (`created` spawn=)"},
	{"    cgroup", "berth: cgroup create + join (`created` cgroup=)"},
	{"    load", "berth: module load in the guest process (`created` load=)"},
	{"  start", "/tasks/create → /tasks/start events (1.6)"},
	{"  guest", "/tasks/start → /tasks/exit events: the process runs (1.6)"},
	{"  reap+delete", "/tasks/exit → /tasks/delete events: ctr sees the exit, asks Delete (1.6)"},
	{"    cleanup", "berth: delete's cleanup (`deleted` cleanup=: unmount, cgroup removal)"},
	{"  shim-exit", "/tasks/delete event → `shim disconnected` (1.6)"},
	{"  created→deleted", "berth, any containerd: `created` → `deleted` less cleanup: start, the guest's run, exit, delete request"},
	{"  deleted→gone", "berth, any containerd: `deleted` → `shim disconnected` (the shim exits)"},
	{"teardown", "`shim disconnected` → `remove snapshot`: containerd's dead-shim cleanup (`shim delete` exec) and container delete"},
	{"client-exit", "`remove snapshot` → ctr exit"},
}

// timeline reads the phases of one run from its part of containerd's log; start and end
// are the client's wall-clock start and end (the log's clock is the same).
func timeline(seg []byte, start, end time.Time) runTimeline {
	ls := parseLog(seg)
	tl := runTimeline{}
	find := func(msg string, nth int) (logLine, bool) {
		for _, l := range ls {
			if l.msg == msg {
				if nth--; nth == 0 {
					return l, true
				}
			}
		}
		return logLine{}, false
	}
	span := func(key string, a, b time.Time) {
		if !a.IsZero() && !b.IsZero() && b.After(a) {
			tl[key] = b.Sub(a)
		}
	}
	topic := func(name string) time.Time { // containerd 1.6: msg="event forwarded" topic=/tasks/…
		for _, l := range ls {
			if l.msg == "event forwarded" && logField(l.text, "topic") == name {
				return l.at
			}
		}
		return time.Time{}
	}
	var first, req, conn, serving, created, deleted, disc, rm time.Time
	if len(ls) > 0 {
		first = ls[0].at
	}
	if l, ok := find("get snapshot mounts", 2); ok {
		req = l.at
	}
	for _, l := range ls { // containerd 2.x: "connecting to shim ID"
		if strings.HasPrefix(l.msg, "connecting to shim ") {
			conn = l.at
			break
		}
	}
	if l, ok := find("starting signal loop", 1); ok {
		serving = l.at
	}
	if l, ok := find("created", 1); ok {
		created = l.at
		for _, k := range []string{"mount", "spawn", "cgroup", "load"} {
			if d, err := time.ParseDuration(logField(l.text, k)); err == nil {
				tl["    "+k] = d
			}
		}
	}
	var cleanup time.Duration
	if l, ok := find("deleted", 1); ok {
		deleted = l.at
		if d, err := time.ParseDuration(logField(l.text, "cleanup")); err == nil {
			cleanup = d
			tl["    cleanup"] = d
		}
	}
	if l, ok := find("shim disconnected", 1); ok {
		disc = l.at
	}
	if l, ok := find("remove snapshot", 1); ok {
		rm = l.at
	}
	span("client", start, first)
	span("container", first, req)
	span("shim-start", req, serving)
	span("  start-exec", req, conn)
	span("shim-task", serving, disc)
	tCreate, tStart, tExit, tDelete := topic("/tasks/create"), topic("/tasks/start"), topic("/tasks/exit"), topic("/tasks/delete")
	span("  create", serving, tCreate)
	span("  start", tCreate, tStart)
	span("  guest", tStart, tExit)
	span("  reap+delete", tExit, tDelete)
	span("  shim-exit", tDelete, disc)
	if !created.IsZero() && !deleted.IsZero() {
		span("  created→deleted", created, deleted.Add(-cleanup))
	}
	span("  deleted→gone", deleted, disc)
	span("teardown", disc, rm)
	span("client-exit", rm, end)
	return tl
}

// phaseMedians is the median of each phase over the runs that have it.
func phaseMedians(tls []runTimeline) map[string]time.Duration {
	out := map[string]time.Duration{}
	for _, p := range runPhases {
		var d []time.Duration
		for _, tl := range tls {
			if v, ok := tl[p.key]; ok {
				d = append(d, v)
			}
		}
		out[p.key] = median(d)
	}
	return out
}

// TestBenchCtrRun measures `ctr run --rm` of the Wasm C hello through the shim against
// the same program built natively (gcc -static) run by runc, on containerd 1.6 and 2.4,
// runs interleaved, with `ctr version` as the client's own cost and the phases of each
// run read from containerd's debug log (the shim's `created` and `deleted` lines
// included).
func TestBenchCtrRun(t *testing.T) {
	requireBench(t)
	n := benchInt(t, envBenchN, 30)
	for _, v := range containerdVersions {
		t.Run(v, func(t *testing.T) { benchCtrRun(t, v, n) })
	}
}

func benchCtrRun(t *testing.T, version string, n int) {
	s := newShimEnv(t, version)
	c := s.c
	c.importImage(t, c.ns, s.set.archives[imgNative])
	type side struct {
		name  string
		argv  func(id string) []string
		hello bool
		durs  []time.Duration
		tls   []runTimeline
	}
	berth := &side{name: "berth", hello: true, argv: func(id string) []string { return runArgv([]string{"--rm"}, imgHello, id) }}
	runc := &side{name: "runc", hello: true, argv: func(id string) []string {
		return []string{"run", "--rm", "--runtime", runcRuntime, imgNative, id}
	}}
	client := &side{name: "ctr-version", argv: func(string) []string { return []string{"version"} }}

	type run struct {
		s          *side
		off        int64
		start, end time.Time
	}
	var runs []run
	one := func(sd *side, id string, keep bool) {
		off := logSize(t, c.log)
		start := time.Now()
		r := c.ctr(t, cmdOpts{timeout: time.Minute}, sd.argv(id)...)
		end := time.Now()
		if sd.hello {
			checkHello(t, r, 0)
		} else {
			must(t, r)
		}
		if keep {
			sd.durs = append(sd.durs, r.dur)
			runs = append(runs, run{s: sd, off: off, start: start, end: end})
		}
	}
	for i := 0; i < 3; i++ { // warm-up: caches, compiled module, first shim exec
		one(berth, fmt.Sprintf("warm-berth-%d", i), false)
		one(runc, fmt.Sprintf("warm-runc-%d", i), false)
	}
	for i := 0; i < n; i++ {
		order := []*side{berth, runc, client}
		if i%2 == 1 {
			order = []*side{client, runc, berth}
		}
		for _, sd := range order {
			one(sd, fmt.Sprintf("%s-%d", sd.name, i), true)
		}
	}
	time.Sleep(200 * time.Millisecond) // relayed shim log lines of the last run
	logb, err := os.ReadFile(c.log)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		end := int64(len(logb))
		if i+1 < len(runs) {
			end = runs[i+1].off
		}
		if r.s != client {
			r.s.tls = append(r.s.tls, timeline(logb[r.off:end], r.start, r.end))
		}
	}

	b, rc, cv := median(berth.durs), median(runc.durs), median(client.durs)
	report(t, "")
	report(t, "### ctr run --rm, containerd %s (%s), n=%d per side, interleaved", version, c.bin, n)
	report(t, "")
	report(t, "| berth (Wasm C hello) | runc (static native hello) | berth / runc | `ctr version` | berth / runc, less `ctr version` |")
	report(t, "|---|---|---|---|---|")
	report(t, "| %s | %s | **%s** | %s | %s |", ms(b), ms(rc), ratio(b, rc), ms(cv), ratio(b-cv, rc-cv))
	report(t, "")
	report(t, "Phases, medians (containerd %s; the medians of phases do not add up to the median run):", version)
	report(t, "")
	report(t, "| phase | berth | runc | measured as |")
	report(t, "|---|---|---|---|")
	bm, rm := phaseMedians(berth.tls), phaseMedians(runc.tls)
	for _, p := range runPhases {
		if bm[p.key] == 0 && rm[p.key] == 0 {
			continue
		}
		report(t, "| %s | %s | %s | %s |", strings.ReplaceAll(p.key, " ", "&nbsp;"), ms(bm[p.key]), ms(rm[p.key]), strings.TrimSpace(p.what))
	}
	t.Logf("berth %s; runc %s; ctr version %s", stats(berth.durs), stats(runc.durs), stats(client.durs))
}

// TestBenchDocker measures `docker run --rm` of the Wasm C hello through the shim
// against the native static hello through runc, on Docker 29 over containerd 2.4,
// interleaved, with `docker version` as the client's own cost.
func TestBenchDocker(t *testing.T) {
	requireBench(t)
	n := benchInt(t, envBenchN, 30)
	shim := shimBin(t)
	set := testImages(t)
	e := newEnv(t)
	c := e.startContainerd(t, v24, containerdOpts{shimDir: filepath.Dir(shim)})
	d := e.startDockerd(t, c)
	for _, name := range []string{imgHello, imgNative} {
		must(t, d.docker(t, cmdOpts{timeout: 2 * time.Minute}, "load", "-i", set.archives[name]))
	}
	berth := []string{"run", "--rm", "--runtime=" + runtimeType, "--platform=wasi/wasm", imgHello}
	runc := []string{"run", "--rm", imgNative}
	for i := 0; i < 3; i++ {
		checkHello(t, d.docker(t, cmdOpts{timeout: time.Minute}, berth...), 0)
		checkHello(t, d.docker(t, cmdOpts{timeout: time.Minute}, runc...), 0)
	}
	var bd, rd, vd []time.Duration
	for i := 0; i < n; i++ {
		steps := []func(){
			func() {
				r := d.docker(t, cmdOpts{timeout: time.Minute}, berth...)
				checkHello(t, r, 0)
				bd = append(bd, r.dur)
			},
			func() {
				r := d.docker(t, cmdOpts{timeout: time.Minute}, runc...)
				checkHello(t, r, 0)
				rd = append(rd, r.dur)
			},
			func() { vd = append(vd, must(t, d.docker(t, cmdOpts{}, "version")).dur) },
		}
		if i%2 == 1 {
			slices.Reverse(steps)
		}
		for _, f := range steps {
			f()
		}
	}
	b, r, v := median(bd), median(rd), median(vd)
	report(t, "")
	report(t, "### docker run --rm, Docker 29 on containerd 2.4, n=%d per side, interleaved", n)
	report(t, "")
	report(t, "| berth (Wasm C hello) | runc (static native hello) | berth / runc | `docker version` | berth / runc, less `docker version` |")
	report(t, "|---|---|---|---|---|")
	report(t, "| %s | %s | **%s** | %s | %s |", ms(b), ms(r), ratio(b, r), ms(v), ratio(b-v, r-v))
	t.Logf("berth %s; runc %s; docker version %s", stats(bd), stats(rd), stats(vd))
}

// TestBenchThroughput runs BERTH_BENCH_TASKS `ctr run --rm` tasks per side to
// completion, 4 at a time, on containerd 1.6 and 2.4: the Wasm C hello through the shim
// and the native hello through runc, in alternating chunks of a tenth each.
func TestBenchThroughput(t *testing.T) {
	requireBench(t)
	total := benchInt(t, envBenchTasks, 200)
	for _, v := range containerdVersions {
		t.Run(v, func(t *testing.T) { benchThroughput(t, v, total) })
	}
}

func benchThroughput(t *testing.T, version string, total int) {
	const workers = 4
	s := newShimEnv(t, version)
	c := s.c
	c.importImage(t, c.ns, s.set.archives[imgNative])
	type side struct {
		name string
		argv func(id string) []string
		done int
		wall time.Duration
		// CPU time while the side ran: the whole machine's, the ctr processes' (with
		// nsenter), containerd's (with the `shim start`/`shim delete` execs it reaps).
		busy, client, daemon time.Duration
	}
	berth := &side{name: "berth", argv: func(id string) []string { return runArgv([]string{"--rm"}, imgHello, id) }}
	runc := &side{name: "runc", argv: func(id string) []string {
		return []string{"run", "--rm", "--runtime", runcRuntime, imgNative, id}
	}}
	chunk := max(total/10, workers)
	// chunkRun runs count tasks with 4 workers and returns the wall time.
	chunkRun := func(sd *side, count int) time.Duration {
		var next atomic.Int64
		var mu sync.Mutex
		var fails []string
		var wg sync.WaitGroup
		var client atomic.Int64
		busy0, daemon0 := busyCPU(t), procCPU(t, c.pid())
		start := time.Now()
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1)) - 1
					if i >= count {
						return
					}
					id := fmt.Sprintf("tp-%s-%d", sd.name, sd.done+i)
					p := startProc(t, cmdOpts{}, c.e.inside(c.ctrArgv(sd.argv(id)...)...)...)
					r := p.wait(2 * time.Minute)
					if ps := p.cmd.ProcessState; ps != nil {
						client.Add(int64(ps.UserTime() + ps.SystemTime()))
					}
					if !r.ok() || r.stdout != "hello stdout\n" {
						mu.Lock()
						fails = append(fails, r.String())
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		d := time.Since(start)
		sd.busy += busyCPU(t) - busy0
		sd.daemon += procCPU(t, c.pid()) - daemon0
		sd.client += time.Duration(client.Load())
		if len(fails) > 0 {
			t.Fatalf("%d of %d %s tasks failed; the first:\n%s", len(fails), count, sd.name, fails[0])
		}
		sd.done += count
		sd.wall += d
		return d
	}
	chunkRun(berth, workers) // warm-up
	chunkRun(runc, workers)
	for _, sd := range []*side{berth, runc} {
		sd.done, sd.wall, sd.busy, sd.client, sd.daemon = 0, 0, 0, 0, 0
	}
	for i := 0; berth.done < total || runc.done < total; i++ {
		order := []*side{berth, runc}
		if i%2 == 1 {
			order = []*side{runc, berth}
		}
		for _, sd := range order {
			if k := min(chunk, total-sd.done); k > 0 {
				chunkRun(sd, k)
			}
		}
	}
	rate := func(sd *side) float64 { return float64(sd.done) / sd.wall.Seconds() }
	report(t, "")
	report(t, "### Throughput, containerd %s: %d `ctr run --rm` tasks per side, %d at a time, chunks of %d alternated", version, total, workers, chunk)
	report(t, "")
	report(t, "| berth (Wasm C hello) | runc (static native hello) | berth / runc | runwasi's best published |")
	report(t, "|---|---|---|---|")
	report(t, "| %.1f tasks/s (%v) | %.1f tasks/s (%v) | %.2f× | 52.5 tasks/s |", rate(berth), berth.wall.Round(time.Millisecond),
		rate(runc), runc.wall.Round(time.Millisecond), rate(berth)/rate(runc))
	report(t, "")
	report(t, "CPU time per task (all %d CPUs busy ⇒ at most %d s of CPU per s of wall time):", runtime.NumCPU(), runtime.NumCPU())
	report(t, "")
	report(t, "| side | machine, not idle | ctr (and nsenter) | containerd (with the shim execs it reaps) | the rest: shims, guests, runc, kernel | machine busy |")
	report(t, "|---|---|---|---|---|---|")
	for _, sd := range []*side{berth, runc} {
		per := func(d time.Duration) time.Duration { return d / time.Duration(max(sd.done, 1)) }
		report(t, "| %s | %s | %s | %s | %s | %.0f%% |", sd.name, ms(per(sd.busy)), ms(per(sd.client)), ms(per(sd.daemon)),
			ms(per(sd.busy-sd.client-sd.daemon)), 100*sd.busy.Seconds()/(sd.wall.Seconds()*float64(runtime.NumCPU())))
	}
	t.Run("no-leftovers", func(t *testing.T) { checkNoLeftovers(t, c, s.shim, s.before) })
}

// clockTick is /proc's unit of CPU time (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// busyCPU is the CPU time the machine has spent not idle since boot: user, nice,
// system, irq, softirq and steal of /proc/stat.
func busyCPU(t *testing.T) time.Duration {
	t.Helper()
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]) // cpu user nice system idle iowait irq softirq steal
	var sum int64
	for _, i := range []int{1, 2, 3, 6, 7, 8} {
		if i < len(f) {
			v, _ := strconv.ParseInt(f[i], 10, 64)
			sum += v
		}
	}
	return time.Duration(sum) * clockTick
}

// procCPU is a process's CPU time with that of the children it has waited for
// (utime, stime, cutime, cstime of /proc/PID/stat).
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:])) // state ppid … : utime is field 14, f[11]
	var sum int64
	for _, i := range []int{11, 12, 13, 14} {
		v, _ := strconv.ParseInt(f[i], 10, 64)
		sum += v
	}
	return time.Duration(sum) * clockTick
}

// memUse is the memory of a set of processes, from /proc/PID/smaps_rollup, in kB.
type memUse struct {
	procs          int
	rss, pss, anon int64
}

func (m memUse) add(o memUse) memUse {
	return memUse{m.procs + o.procs, m.rss + o.rss, m.pss + o.pss, m.anon + o.anon}
}

// per is the share of one of k containers.
func (m memUse) per(k int) memUse {
	k = max(k, 1)
	return memUse{m.procs, m.rss / int64(k), m.pss / int64(k), m.anon / int64(k)}
}

// row is the RSS, PSS and anonymous columns of the memory table.
func (m memUse) row() string { return mb(m.rss) + " | " + mb(m.pss) + " | " + mb(m.anon) }

// memOf sums the Rss and Pss of the processes.
func memOf(t *testing.T, pids []int) memUse {
	t.Helper()
	var m memUse
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
		if err != nil {
			t.Fatalf("process %d (%s): %v", pid, cmdline(pid), err)
		}
		m.procs++
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Rss:":
				m.rss += v
			case "Pss:":
				m.pss += v
			case "Anonymous:":
				m.anon += v
			}
		}
	}
	return m
}

// mb formats /proc's kB (KiB) as MB (MiB).
func mb(kb int64) string { return fmt.Sprintf("%.2f MB", float64(kb)/1024) }

// procsByExe lists the processes of the environment whose executable's base name is one
// of names.
func procsByExe(e *env, names ...string) []int {
	var out []int
	for _, pid := range e.procsInside() {
		p, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil {
			continue
		}
		if slices.Contains(names, filepath.Base(strings.TrimSuffix(p, " (deleted)"))) {
			out = append(out, pid)
		}
	}
	slices.Sort(out)
	return out
}

// childrenOf lists the processes whose parent is one of pids (a runc shim's containers,
// which live in mount namespaces of their own).
func childrenOf(pids []int) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, ent := range ents {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(f[1]); err == nil && slices.Contains(pids, ppid) {
			out = append(out, pid)
		}
	}
	return out
}

// byMapping sums the Rss of a process's mappings by what they map: the file's base name,
// or "anonymous" ([heap], [stack] and unnamed mappings), largest first, as "name X MB".
func byMapping(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		t.Fatalf("process %d: %v", pid, err)
	}
	sum := map[string]int64{}
	name := ""
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			name = "anonymous"
			if len(f) >= 6 && strings.HasPrefix(f[5], "/") {
				name = filepath.Base(f[5])
			}
		case len(f) >= 2 && f[0] == "Rss:":
			v, _ := strconv.ParseInt(f[1], 10, 64)
			sum[name] += v
		}
	}
	names := make([]string, 0, len(sum))
	for n := range sum {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int { return int(sum[b] - sum[a]) })
	var parts []string
	for _, n := range names {
		if sum[n] >= 100 {
			parts = append(parts, n+" "+mb(sum[n]))
		}
	}
	return strings.Join(parts, ", ")
}

// berthMem is the memory of every shim and berth-guest process of this run's binaries:
// the shim processes, the guest processes and the sum.
func berthMem(t *testing.T, shim string) (shims, guests memUse) {
	t.Helper()
	for pid, cl := range shimProcs(shim) {
		m := memOf(t, []int{pid})
		if strings.Contains(strings.Fields(cl)[0], guestName) {
			guests = guests.add(m)
		} else {
			shims = shims.add(m)
		}
	}
	return shims, guests
}

// blocked starts `ctr run --rm` of the C stdin guest in the foreground with stdin the
// read end of a pipe nobody writes to, and waits until the guest blocks reading it.
func blocked(t *testing.T, c *containerd, stdin *os.File, id string, flags ...string) *proc {
	t.Helper()
	p := c.e.start(t, cmdOpts{stdin: stdin}, c.ctrArgv(runArgv(append([]string{"--rm"}, flags...), imgStdin, id)...)...)
	if !eventually(30*time.Second, func() bool { return p.exited() || strings.Contains(p.stdout.String(), "waiting for stdin") }) || p.exited() {
		t.Fatalf("guest %s did not block on stdin within 30s:\n%s", id, p.wait(time.Second))
	}
	return p
}

// settle waits for short-lived helper processes (`shim start`) to go and the Go runtimes
// to return start-up garbage.
func settle() { time.Sleep(2 * time.Second) }

// logLines is the lines of a daemon log from offset off on that contain one of words,
// at most 80 of them.
func logLines(t *testing.T, path string, off int64, words ...string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || off > int64(len(b)) {
		return fmt.Sprintf("(no log: %v)", err)
	}
	var out []string
	for _, l := range strings.Split(string(b[off:]), "\n") {
		if slices.ContainsFunc(words, func(w string) bool { return strings.Contains(l, w) }) && len(out) < 80 {
			out = append(out, tail(l, 400))
		}
	}
	return strings.Join(out, "\n")
}

// TestBenchMemory measures the memory of idle containers on containerd 2.4: one C guest
// blocked on stdin alone (its shim and berth-guest), and BERTH_BENCH_GROUP of them in
// one shim group (annotation dev.berth.shim.group); the same for runc with a static
// pause process (alone, and grouped with io.containerd.runc.v2.group), for context.
// RSS counts shared binary pages once per process; PSS divides them among the sharers.
func TestBenchMemory(t *testing.T) {
	requireBench(t)
	n := benchInt(t, envBenchGroup, 100)
	s := newShimEnv(t, v24)
	c := s.c
	c.importImage(t, c.ns, s.set.archives[pauseImage])

	pipe := func() (*os.File, *os.File) {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(); w.Close() })
		return r, w
	}
	// end closes the guests' stdin: they print "stdin closed" and exit 0, and ctr --rm
	// deletes them.
	end := func(w *os.File, ps []*proc) {
		off := logSize(t, c.log)
		w.Close()
		failed := 0
		for _, p := range ps {
			if r := p.wait(time.Minute); !r.ok() {
				failed++
				if failed <= 3 {
					t.Errorf("idle guest after stdin closed: want exit 0:\n%s", r)
				}
			}
		}
		if failed > 0 {
			t.Errorf("%d of %d idle guests failed after their stdin closed; containerd's log meanwhile (errors, warnings, shim exits):\n%s",
				failed, len(ps), logLines(t, c.log, off, "level=error", "level=warning", "shim disconnected", "panic", "fatal"))
		}
		checkNoLeftovers(t, c, s.shim, s.before)
	}

	// Warm-up: the first run of a module compiles it (in the guest process); later
	// runs load the compiled code from berth's cache, as idle containers normally do.
	// (One line of input, not none: ctr closes its end of an empty stdin's FIFO before
	// the shim opens the other, and the guest then waits for a writer forever.)
	must(t, c.ctr(t, cmdOpts{timeout: time.Minute, stdin: strings.NewReader("warm\n")}, runArgv([]string{"--rm"}, imgStdin, "idle-warm")...))

	// One container alone.
	r1, w1 := pipe()
	p := blocked(t, c, r1, "idle-alone")
	settle()
	aloneShim, aloneGuest := berthMem(t, s.shim)
	var where []string
	for pid, cl := range shimProcs(s.shim) {
		where = append(where, fmt.Sprintf("%s: %s", filepath.Base(strings.Fields(cl)[0]), byMapping(t, pid)))
	}
	slices.Sort(where)
	end(w1, []*proc{p})

	// n containers in one group.
	rn, wn := pipe()
	var ps []*proc
	for i := 0; i < n; i++ {
		ps = append(ps, blocked(t, c, rn, fmt.Sprintf("idle-%d", i), "--annotation", groupAnnotation+"=bench"))
	}
	settle()
	groupShim, groupGuest := berthMem(t, s.shim)
	if groupShim.procs != 1 || groupGuest.procs != n {
		t.Errorf("%d containers in one group: %d shim and %d berth-guest processes, want 1 and %d", n, groupShim.procs, groupGuest.procs, n)
	}
	end(wn, ps)

	// runc: a static pause process per container, a child of the runc shim.
	runcMem := func() (shims, pauses memUse) {
		sp := procsByExe(c.e, "containerd-shim-runc-v2")
		return memOf(t, sp), memOf(t, childrenOf(sp))
	}
	pause := func(id string, flags ...string) {
		t.Cleanup(func() { c.removeContainer(t, id) })
		args := append([]string{"run", "-d", "--runtime", runcRuntime}, flags...)
		must(t, c.ctr(t, cmdOpts{timeout: time.Minute}, append(args, pauseImage, id)...))
	}
	pause("runc-alone")
	settle()
	runcAloneShim, runcAlonePause := runcMem()
	c.removeContainer(t, "runc-alone")
	for i := 0; i < n; i++ {
		pause(fmt.Sprintf("runc-%d", i), "--annotation", runcGroupAnnotation+"=bench")
	}
	settle()
	runcGroupShim, runcGroupPause := runcMem()
	if runcGroupShim.procs != 1 || runcGroupPause.procs != n {
		t.Errorf("%d runc containers in one group: %d shim and %d pause processes, want 1 and %d", n, runcGroupShim.procs, runcGroupPause.procs, n)
	}
	for i := 0; i < n; i++ {
		c.removeContainer(t, fmt.Sprintf("runc-%d", i))
	}

	alone := aloneShim.add(aloneGuest)
	group := groupShim.add(groupGuest)
	runcAlone := runcAloneShim.add(runcAlonePause)
	runcGroup := runcGroupShim.add(runcGroupPause)
	report(t, "")
	report(t, "### Memory of idle containers, containerd 2.4 (berth: C guest blocked on stdin; runc: static pause)")
	report(t, "")
	report(t, "| what | processes | RSS | PSS | anonymous |")
	report(t, "|---|---|---|---|---|")
	report(t, "| berth, 1 container alone: shim + berth-guest | %d | %s |", alone.procs, alone.row())
	report(t, "| &nbsp;&nbsp;the shim | %d | %s |", aloneShim.procs, aloneShim.row())
	report(t, "| &nbsp;&nbsp;berth-guest | %d | %s |", aloneGuest.procs, aloneGuest.row())
	report(t, "| berth, %d containers in one shim group: total | %d | %s |", n, group.procs, group.row())
	report(t, "| berth, %d in one group: per container (total / %d) | | %s |", n, n, group.per(n).row())
	report(t, "| &nbsp;&nbsp;the group's shim | %d | %s |", groupShim.procs, groupShim.row())
	report(t, "| &nbsp;&nbsp;one berth-guest (mean) | | %s |", groupGuest.per(groupGuest.procs).row())
	report(t, "| runc, 1 container alone: runc shim + pause | %d | %s |", runcAlone.procs, runcAlone.row())
	report(t, "| runc, %d in one shim group: per container (total / %d) | %d | %s |", n, n, runcGroup.procs, runcGroup.per(n).row())
	report(t, "")
	report(t, "RSS by mapping, the container alone: %s.", strings.Join(where, "; "))
}

// shimClient is a ttrpc connection straight to a task's shim (reached through the
// environment's /run), bypassing containerd and ctr.
type shimClient struct {
	id  string
	svc taskAPI.TaskService
	cl  *ttrpc.Client
	ctx context.Context
}

func dialShim(t *testing.T, c *containerd, id string) *shimClient {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.state, "io.containerd.runtime.v2.task", c.ns, id, "address"))
	if err != nil {
		t.Fatalf("shim address of %s: %v", id, err)
	}
	addr := strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://")
	conn, err := net.Dial("unix", c.e.hostPath(addr))
	if err != nil {
		t.Fatalf("connecting to the shim of %s at %s: %v", id, addr, err)
	}
	cl := ttrpc.NewClient(conn)
	t.Cleanup(func() { cl.Close() })
	return &shimClient{id: id, svc: taskAPI.NewTaskClient(cl), cl: cl, ctx: namespaces.WithNamespace(context.Background(), c.ns)}
}

// timed runs one call with a 10 s deadline and returns its duration.
func (s *shimClient) timed(t *testing.T, what string, f func(ctx context.Context) error) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := f(ctx); err != nil {
		t.Fatalf("shim %s of %s: %v", what, s.id, err)
	}
	return time.Since(start)
}

func (s *shimClient) state(t *testing.T) (time.Duration, tasktypes.Status) {
	var st tasktypes.Status
	d := s.timed(t, "State", func(ctx context.Context) error {
		r, err := s.svc.State(ctx, &taskAPI.StateRequest{ID: s.id})
		if err == nil {
			st = r.Status
		}
		return err
	})
	return d, st
}

func (s *shimClient) stats(t *testing.T) time.Duration {
	return s.timed(t, "Stats", func(ctx context.Context) error {
		_, err := s.svc.Stats(ctx, &taskAPI.StatsRequest{ID: s.id})
		return err
	})
}

// TestBenchResponsive measures how fast the shim answers while its guest spins in a
// tight loop, against a sleeping guest: State and Stats straight to the shim over ttrpc
// (its own answer time), `ctr task metrics`, `ctr task ls` and `ctr task kill` (with the
// time until the shim reports STOPPED), on containerd 1.6 and 2.4.
func TestBenchResponsive(t *testing.T) {
	requireBench(t)
	n := benchInt(t, envBenchN, 30)
	for _, v := range containerdVersions {
		t.Run(v, func(t *testing.T) { benchResponsive(t, v, n) })
	}
}

func benchResponsive(t *testing.T, version string, n int) {
	const rounds = 5
	s := newShimEnv(t, version)
	c := s.c
	type side struct {
		name, image                 string
		state, stats, metrics, kill []time.Duration
		stopped                     []time.Duration
	}
	spin := &side{name: "spin", image: imgSpin}
	idle := &side{name: "sleep", image: imgSleep}
	var ls, vers []time.Duration
	per := max(n/rounds, 1)
	for round := 0; round < rounds; round++ {
		cl := map[*side]*shimClient{}
		for _, sd := range []*side{spin, idle} {
			id := fmt.Sprintf("%s-%d", sd.name, round)
			s.runDetached(t, sd.image, id)
			cl[sd] = dialShim(t, c, id)
		}
		time.Sleep(time.Second) // the spinning guest compiles and spins
		for i := 0; i < per; i++ {
			order := []*side{spin, idle}
			if i%2 == 1 {
				order = []*side{idle, spin}
			}
			for _, sd := range order {
				d, st := cl[sd].state(t)
				if st != tasktypes.Status_RUNNING {
					t.Fatalf("%s: status %v, want RUNNING", cl[sd].id, st)
				}
				sd.state = append(sd.state, d)
				sd.stats = append(sd.stats, cl[sd].stats(t))
				sd.metrics = append(sd.metrics, must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "metrics", cl[sd].id)).dur)
			}
			ls = append(ls, must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "ls")).dur)
			vers = append(vers, must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "version")).dur)
		}
		order := []*side{spin, idle}
		if round%2 == 1 {
			order = []*side{idle, spin}
		}
		for _, sd := range order {
			k := cl[sd]
			start := time.Now()
			sd.kill = append(sd.kill, must(t, c.ctr(t, cmdOpts{timeout: 10 * time.Second}, "task", "kill", k.id)).dur)
			for {
				if _, st := k.state(t); st == tasktypes.Status_STOPPED {
					break
				}
				if time.Since(start) > 10*time.Second {
					t.Fatalf("%s did not stop within 10s of ctr task kill", k.id)
				}
				time.Sleep(time.Millisecond)
			}
			sd.stopped = append(sd.stopped, time.Since(start))
			if code := c.deleteTask(t, k.id); code != 143 {
				t.Errorf("%s: exit status %d after SIGTERM, want 143", k.id, code)
			}
			must(t, c.ctr(t, cmdOpts{}, "container", "delete", k.id))
		}
	}
	v := median(vers)
	report(t, "")
	report(t, "### Shim responsiveness, containerd %s: a Go guest spinning in a tight loop vs one sleeping (wakes every 200 ms)", version)
	report(t, "")
	report(t, "| call | spinning guest | sleeping guest | samples |")
	report(t, "|---|---|---|---|")
	report(t, "| State, straight to the shim (ttrpc) | %s | %s | %d |", ms(median(spin.state)), ms(median(idle.state)), len(spin.state))
	report(t, "| Stats, straight to the shim (ttrpc) | %s | %s | %d |", ms(median(spin.stats)), ms(median(idle.stats)), len(spin.stats))
	report(t, "| `ctr task metrics` | %s | %s | %d |", ms(median(spin.metrics)), ms(median(idle.metrics)), len(spin.metrics))
	report(t, "| `ctr task kill` (SIGTERM) | %s | %s | %d |", ms(median(spin.kill)), ms(median(idle.kill)), len(spin.kill))
	report(t, "| kill → shim reports STOPPED (`ctr task kill` included) | %s | %s | %d |", ms(median(spin.stopped)), ms(median(idle.stopped)), len(spin.stopped))
	report(t, "| `ctr task ls` (both running) / `ctr version` | %s | %s | %d |", ms(median(ls)), ms(v), len(ls))
	report(t, "| max of State / Stats / ctr task kill | %s / %s / %s | %s / %s / %s | |",
		ms(slices.Max(spin.state)), ms(slices.Max(spin.stats)), ms(slices.Max(spin.kill)),
		ms(slices.Max(idle.state)), ms(slices.Max(idle.stats)), ms(slices.Max(idle.kill)))
}
