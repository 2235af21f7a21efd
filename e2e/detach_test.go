package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
)

// Detached containers (issue 6, "nothing is lost, nothing hangs") through the real
// berth binary and the real containerd-shim-berth-v1, with no daemon: many berth
// processes at once against one data root, and a guest writing 10 000 log lines a
// second across rotation. The shim killed with SIGKILL and the state wiped as after a
// reboot are tested in internal/cli (TestDetachedShimKilled, TestDetachedAfterReboot,
// TestDetachedStartRestart), also with the real shim.

// envStressDuration sets how long TestDetachedStress runs its berth processes
// (a Go duration; default 60s, the figure).
const envStressDuration = "BERTH_E2E_STRESS_DURATION"

// stressGuestSrc: "serve" prints a line and sleeps for ever (blocked in poll_oneoff);
// "exit N" prints a line and exits with N.
const stressGuestSrc = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc > 2 && !strcmp(argv[1], "exit")) { printf("bye\n"); return atoi(argv[2]); }
	printf("up\n");
	fflush(stdout);
	for (;;) sleep(60);
}
`

// logRateSrc writes lines "line NNNNNN" numbered from 0, N of them at R lines a second
// (argv[1], argv[2]), one write per line, paced against the monotonic clock (it sleeps
// only when more than 1 ms ahead, so the rate holds on average), then says on stderr how
// long it took.
const logRateSrc = `#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static long long now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}
int main(int argc, char **argv) {
	long n = atol(argv[1]), rate = atol(argv[2]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	long long start = now();
	for (long i = 0; i < n; i++) {
		long long ahead = start + (long long)i * 1000000000LL / rate - now();
		if (ahead > 1000000) {
			struct timespec ts = {ahead / 1000000000LL, ahead % 1000000000LL};
			nanosleep(&ts, NULL);
		}
		printf("line %06ld\n", i);
	}
	fprintf(stderr, "wrote %ld lines in %lld ms\n", n, (now() - start) / 1000000);
	return 0;
}
`

// detachEnv is one data root and state directory, the real berth and shim, and the
// images the tests run.
type detachEnv struct {
	berthPath   string
	root, state string
	env         []string // BERTH_ROOT, BERTH_STATE, BERTH_SHIM_BINARY
}

// newDetachEnv builds berth and the shim (once per run) and the images "sleeper:1"
// (stressGuestSrc) and "lograte:1" (logRateSrc) in a new data root. Its cleanup removes
// every container left and fails the test if a shim or guest of the root still runs.
func newDetachEnv(t *testing.T) *detachEnv {
	t.Helper()
	if os.Getenv(envGate) != "1" {
		t.Skip("end-to-end test: run with BERTH_E2E=1 (make e2e)")
	}
	berth := berthBin(t)
	shim := shimBin(t)
	// A short state directory: a shim's socket path has at most 107 bytes.
	state, err := os.MkdirTemp("", "bst")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	d := &detachEnv{berthPath: berth, root: t.TempDir(), state: state}
	d.env = []string{"BERTH_ROOT=" + d.root, "BERTH_STATE=" + d.state, "BERTH_SHIM_BINARY=" + shim}
	for _, im := range []struct{ tag, src string }{{"sleeper:1", stressGuestSrc}, {"lograte:1", logRateSrc}} {
		ctx := t.TempDir()
		if err := copyFile(testguest.C(t, im.src), filepath.Join(ctx, "app.wasm")); err != nil {
			t.Fatal(err)
		}
		df := "FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"
		if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		must(t, d.berth(t, time.Minute, "build", "-q", "-t", im.tag, ctx))
	}
	t.Cleanup(func() {
		if ids := strings.Fields(d.berth(t, time.Minute, "ps", "-a", "-q", "--no-trunc").stdout); len(ids) > 0 {
			d.berth(t, 2*time.Minute, append([]string{"rm", "-f"}, ids...)...)
		}
		d.checkNoProcesses(t)
	})
	return d
}

// berth runs the berth binary with the env's root, state and shim.
func (d *detachEnv) berth(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	return runCmd(t, cmdOpts{env: d.env, timeout: timeout}, append([]string{d.berthPath}, args...)...)
}

// berthProc is a process of the env: a shim or a berth-guest.
type berthProc struct {
	pid, ppid int
	shim      bool
	id        string // the shim's -id
	cmdline   string
}

// processes lists the shims and guests of the env: a containerd-shim-berth-v1 or
// berth-guest process whose command line names the env's root or state, or whose
// working directory is in them. Zombies (dead, waiting for their parent) are left out.
func (d *detachEnv) processes() []berthProc {
	var out []berthProc
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		cwd, _ := os.Readlink("/proc/" + e.Name() + "/cwd")
		stat, _ := os.ReadFile("/proc/" + e.Name() + "/stat")
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 || i+2 >= len(stat) || stat[i+2] == 'Z' {
			continue
		}
		argv := strings.Split(strings.TrimRight(string(cmd), "\x00"), "\x00")
		base := filepath.Base(argv[0])
		if len(cmd) == 0 {
			// Exiting: the kernel has dropped the process's memory (cmdline reads
			// empty) but not yet its files, so its locks are still held.
			comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
			switch string(bytes.TrimSpace(comm)) {
			case guestName:
				base = guestName
			case shimName[:15]: // comm is cut to 15 bytes
				base = shimName
			}
		}
		if base != shimName && base != guestName {
			continue
		}
		if !strings.HasPrefix(cwd, d.root) && !strings.HasPrefix(cwd, d.state) &&
			!bytes.Contains(cmd, []byte(d.root)) && !bytes.Contains(cmd, []byte(d.state)) {
			continue
		}
		p := berthProc{pid: pid, shim: base == shimName, cmdline: strings.Join(argv, " ")}
		if f := strings.Fields(string(stat[i+2:])); len(f) > 1 {
			p.ppid, _ = strconv.Atoi(f[1])
		}
		for j := 1; j+1 < len(argv); j++ {
			if argv[j] == "-id" {
				p.id = argv[j+1]
			}
		}
		out = append(out, p)
	}
	return out
}

// checkNoProcesses fails the test if a shim or guest of the env still runs after 5 s,
// and kills it.
func (d *detachEnv) checkNoProcesses(t testing.TB) {
	t.Helper()
	var left []berthProc
	eventually(5*time.Second, func() bool { left = d.processes(); return len(left) == 0 })
	for _, p := range left {
		t.Errorf("process %d (%s) of the test still runs", p.pid, p.cmdline)
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// record is what the tests read of a container record (container.json) and of inspect.
type record struct {
	ID, Name, LogPath string
	Detached          bool
	State             struct {
		Status   string
		Running  bool
		Pid      int
		ExitCode int
	}
}

// stressLedger is what the workers of TestDetachedStress did: the ids berth printed for
// each successful run -d, and how many successful rm named each.
type stressLedger struct {
	mu      sync.Mutex
	ids     []string       // every id created, in order
	removed map[string]int // id → successful rm / rm -f of it
	ops     map[string]int // operation → count
	refused map[string]int // operation → expected refusals (name in use, no such container…)
	slowest map[string]time.Duration
	errs    []string
}

func (l *stressLedger) note(op string, r result, refused bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ops[op]++
	if refused {
		l.refused[op]++
	}
	if r.dur > l.slowest[op] {
		l.slowest[op] = r.dur
	}
}

func (l *stressLedger) fail(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, fmt.Sprintf(format, args...))
}

// pick returns a created id (most often one not removed yet), or "" when none is.
func (l *stressLedger) pick(rng *rand.Rand) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ids) == 0 {
		return ""
	}
	if rng.IntN(10) > 0 {
		var live []string
		for _, id := range l.ids {
			if l.removed[id] == 0 {
				live = append(live, id)
			}
		}
		if len(live) > 0 {
			return live[rng.IntN(len(live))]
		}
	}
	return l.ids[rng.IntN(len(l.ids))]
}

func (l *stressLedger) live() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.ids) - len(l.removed)
}

// stressNames are the names run -d gives half of its containers: few, so that they
// collide on purpose.
var stressNames = []string{"n0", "n1", "n2", "n3", "n4", "n5"}

// The check: 8 berth processes doing run -d, stop, rm, rm -f, start and ps in
// parallel (and kill, rename, container prune and inspect; names colliding on purpose) for 60 s against one data root, then every
// container is accounted for (each id a run -d printed is either listed by ps -a or was
// removed by one successful rm, never both), no record is corrupt (each parses and
// inspect reads it), and no process, socket or directory is left that the records do
// not explain; after a final rm -f of everything, nothing at all is left.
func TestDetachedStress(t *testing.T) {
	d := newDetachEnv(t)
	dur := 60 * time.Second
	if s := os.Getenv(envStressDuration); s != "" {
		v, err := time.ParseDuration(s)
		if err != nil || v <= 0 {
			t.Fatalf("%s=%q: want a positive Go duration such as 60s", envStressDuration, s)
		}
		dur = v
	}
	const workers, maxLive = 8, 24
	// A command that takes longer than this is a hang.
	const hang = 60 * time.Second
	seed := uint64(time.Now().UnixNano())
	t.Logf("%d berth processes for %v, seed %d", workers, dur, seed)
	l := &stressLedger{removed: map[string]int{}, ops: map[string]int{}, refused: map[string]int{}, slowest: map[string]time.Duration{}}
	// expect checks a command's outcome: success, or a refusal whose stderr says one of
	// the allowed things; anything else (another error, a timeout) is a failure.
	expect := func(op string, r result, allowed ...string) bool {
		if r.ok() {
			l.note(op, r, false)
			return true
		}
		if r.err == nil && r.code != 0 {
			for _, a := range allowed {
				if strings.Contains(r.stderr, a) {
					l.note(op, r, true)
					return false
				}
			}
		}
		l.note(op, r, false)
		l.fail("%s", r)
		return false
	}
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(w)))
			// ref is how a command names a container: its full id, a 12-digit prefix,
			// or (for commands whose outcome the ledger does not need) a pool name.
			ref := func(id string, byName bool) string {
				if byName && rng.IntN(3) == 0 {
					return stressNames[rng.IntN(len(stressNames))]
				}
				if rng.IntN(2) == 0 {
					return id[:12]
				}
				return id
			}
			for time.Now().Before(deadline) {
				id := l.pick(rng)
				op := rng.IntN(100)
				if id == "" || (op < 35 && l.live() < maxLive) {
					args := []string{"run", "-d"}
					if rng.IntN(2) == 0 {
						args = append(args, "--name", stressNames[rng.IntN(len(stressNames))])
					}
					args = append(args, "sleeper:1")
					if rng.IntN(5) == 0 {
						args = append(args, "exit", strconv.Itoa(rng.IntN(3)))
					} else {
						args = append(args, "serve")
					}
					r := d.berth(t, hang, args...)
					if expect("run -d", r, "is already in use") {
						id := strings.TrimSpace(r.stdout)
						if len(id) != 64 {
							l.fail("run -d printed %q, want an id:\n%s", r.stdout, r)
							continue
						}
						l.mu.Lock()
						l.ids = append(l.ids, id)
						l.mu.Unlock()
					} else if strings.TrimSpace(r.stdout) != "" {
						l.fail("a refused run -d printed %q on stdout:\n%s", r.stdout, r)
					}
					continue
				}
				switch {
				case op < 35 || op < 45: // too many live containers, or rm -f
					if r := d.berth(t, hang, "rm", "-f", ref(id, false)); expect("rm -f", r, "No such container", "no such container") {
						l.mu.Lock()
						l.removed[id]++
						l.mu.Unlock()
					}
				case op < 53:
					if r := d.berth(t, hang, "rm", ref(id, false)); expect("rm", r, "No such container", "no such container", "container is running") {
						l.mu.Lock()
						l.removed[id]++
						l.mu.Unlock()
					}
				case op < 63:
					expect("stop", d.berth(t, hang, "stop", "-t", "1", ref(id, true)), "No such container", "no such container")
				case op < 71:
					expect("start", d.berth(t, hang, "start", ref(id, true)), "No such container", "no such container")
				case op < 76:
					expect("kill", d.berth(t, hang, "kill", ref(id, true)), "No such container", "no such container", "is not running")
				case op < 80:
					expect("rename", d.berth(t, hang, "rename", ref(id, true), stressNames[rng.IntN(len(stressNames))]),
						"No such container", "no such container", "already in use", "already named")
				case op < 81:
					// prune removes every container not running, and names them.
					r := d.berth(t, hang, "container", "prune", "-f")
					expect("prune", r)
					if head, rest, ok := strings.Cut(r.stdout, "Deleted Containers:\n"); ok && head == "" {
						ids, _, _ := strings.Cut(rest, "\n\n")
						l.mu.Lock()
						for _, id := range strings.Fields(ids) {
							l.removed[id]++
						}
						l.mu.Unlock()
					}
				case op < 89:
					expect("ps", d.berth(t, hang, "ps"))
				case op < 95:
					expect("ps -a", d.berth(t, hang, "ps", "-a"))
				default:
					expect("inspect", d.berth(t, hang, "inspect", ref(id, true)), "No such object", "no such object")
				}
			}
		}()
	}
	wg.Wait()
	var ops []string
	for op := range l.ops {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	for _, op := range ops {
		t.Logf("%-8s %5d commands, %4d refused as expected, slowest %v", op, l.ops[op], l.refused[op], l.slowest[op].Round(time.Millisecond))
	}
	t.Logf("%d containers created, %d removed", len(l.ids), len(l.removed))
	for _, e := range l.errs {
		t.Errorf("unexpected outcome:\n%s", e)
	}

	// Accounting: ps -a (which also records the exits of the guests that ended) against
	// the ledger. The guests told to exit by the last run -d may still be exiting: ps
	// would rightly show them running, and the checks below would count their shims
	// gone by then against it.
	time.Sleep(2 * time.Second)
	r := must(t, d.berth(t, hang, "ps", "-a", "-q", "--no-trunc"))
	if r.stderr != "" {
		t.Errorf("ps -a wrote to stderr:\n%s", r)
	}
	listed := map[string]bool{}
	for _, id := range strings.Fields(r.stdout) {
		listed[id] = true
	}
	created := map[string]bool{}
	for _, id := range l.ids {
		created[id] = true
		switch n := l.removed[id]; {
		case n > 1:
			t.Errorf("container %s was removed by %d successful rm", id, n)
		case n == 1 && listed[id]:
			t.Errorf("container %s was removed by a successful rm, yet ps -a lists it", id)
		case n == 0 && !listed[id]:
			t.Errorf("container %s was never removed, yet ps -a does not list it", id)
		}
	}
	for id := range listed {
		if !created[id] {
			t.Errorf("ps -a lists container %s, which no successful run -d created", id)
		}
	}

	// Records: the containers directory holds exactly the listed containers, each record
	// parses and says what it is, and the names directory matches the records.
	dir := filepath.Join(d.root, "containers")
	recs := map[string]record{}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() == "lock" || e.Name() == "names" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "container.json"))
		if err != nil {
			t.Errorf("containers/%s: %v", e.Name(), err)
			continue
		}
		var rec record
		if err := json.Unmarshal(b, &rec); err != nil {
			t.Errorf("containers/%s/container.json does not parse: %v\n%s", e.Name(), err, b)
			continue
		}
		if rec.ID != e.Name() || rec.Name == "" || !rec.Detached || !slices.Contains([]string{"created", "running", "exited"}, rec.State.Status) ||
			rec.State.Running != (rec.State.Status == "running") {
			t.Errorf("containers/%s/container.json is not a detached container's record: %s", e.Name(), b)
		}
		if !listed[e.Name()] {
			t.Errorf("containers/%s is not listed by ps -a", e.Name())
		}
		recs[rec.ID] = rec
	}
	for id := range listed {
		if _, ok := recs[id]; !ok {
			t.Errorf("ps -a lists %s, which has no record in %s", id, dir)
		}
	}
	names, _ := os.ReadDir(filepath.Join(dir, "names"))
	held := map[string]string{}
	for _, n := range names {
		b, _ := os.ReadFile(filepath.Join(dir, "names", n.Name()))
		held[n.Name()] = string(b)
		if rec, ok := recs[string(b)]; !ok || rec.Name != n.Name() {
			t.Errorf("names/%s is held by %q, which is not a container of that name", n.Name(), b)
		}
	}
	for id, rec := range recs {
		if held[rec.Name] != id {
			t.Errorf("container %s is named %q, but names/%s says %q", id, rec.Name, rec.Name, held[rec.Name])
		}
	}
	if len(listed) > 0 {
		var ids []string
		for id := range listed {
			ids = append(ids, id)
		}
		ins := must(t, d.berth(t, hang, append([]string{"inspect"}, ids...)...))
		var got []record
		if err := json.Unmarshal([]byte(ins.stdout), &got); err != nil || len(got) != len(ids) {
			t.Errorf("inspect of the %d containers left: %d records, %v", len(ids), len(got), err)
		}
		for _, g := range got {
			if rec := recs[g.ID]; g.State.Running != rec.State.Running || "/"+rec.Name != g.Name {
				t.Errorf("inspect %s = %+v, its record %+v", g.ID, g, rec)
			}
		}
	}

	// Processes and sockets: one shim per container recorded running, serving it, with
	// its guest; no other shim or guest; one socket per running container, the one its
	// bundle's address file names.
	running := map[string]bool{}
	for id, rec := range recs {
		if rec.State.Running {
			running[id] = true
		}
	}
	procs := d.processes()
	shims := map[int]string{}
	for _, p := range procs {
		if p.shim {
			shims[p.pid] = p.id
			if !running[p.id] {
				t.Errorf("shim %d serves %s, which no record says is running: %s", p.pid, p.id, p.cmdline)
			}
		}
	}
	served := map[string]int{}
	for _, p := range procs {
		if p.shim {
			served[p.id]++
		} else if _, ok := shims[p.ppid]; !ok {
			t.Errorf("guest %d (parent %d) has no shim of the test as its parent: %s", p.pid, p.ppid, p.cmdline)
		}
	}
	for id := range running {
		if served[id] != 1 {
			t.Errorf("container %s is recorded running and has %d shims", id, served[id])
		}
	}
	sockets, _ := filepath.Glob(filepath.Join(d.state, "*", "s", "*"))
	addressed := map[string]string{}
	for id := range running {
		b, err := os.ReadFile(filepath.Join(dir, id, "address"))
		if err != nil {
			t.Errorf("running container %s has no address file: %v", id, err)
			continue
		}
		addressed[strings.TrimPrefix(strings.TrimSpace(string(b)), "unix://")] = id
	}
	for _, s := range sockets {
		if _, ok := addressed[s]; !ok {
			t.Errorf("socket %s is no running container's", s)
		}
	}
	if len(sockets) != len(running) {
		t.Errorf("%d sockets in the state directory for %d running containers: %v", len(sockets), len(running), sockets)
	}
	t.Logf("left: %d containers (%d running, %d shims, %d sockets)", len(recs), len(running), len(shims), len(sockets))

	// Final clean-up: rm -f of everything leaves nothing.
	if len(listed) > 0 {
		var ids []string
		for id := range listed {
			ids = append(ids, id)
		}
		must(t, d.berth(t, hang, append([]string{"rm", "-f"}, ids...)...))
	}
	if out := must(t, d.berth(t, hang, "ps", "-a", "-q")).stdout; out != "" {
		t.Errorf("containers left after rm -f of all: %q", out)
	}
	d.checkNoProcesses(t)
	ents, _ = os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "lock" && e.Name() != "names" {
			t.Errorf("left in the containers directory: %s", e.Name())
		}
	}
	if names, _ := os.ReadDir(filepath.Join(dir, "names")); len(names) > 0 {
		t.Errorf("%d names left reserved", len(names))
	}
	filepath.Walk(d.state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			t.Errorf("left in the state directory: %s", p)
		}
		return nil
	})
}

// lineNumbers are the stdout lines "line NNNNNN" of a log, as numbers; anything else
// fails the test.
func lineNumbers(t *testing.T, what, out string) []int {
	t.Helper()
	var nums []int
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		n, err := strconv.Atoi(strings.TrimPrefix(line, "line "))
		if err != nil || !strings.HasPrefix(line, "line ") {
			t.Fatalf("%s: unexpected line %q", what, line)
		}
		nums = append(nums, n)
	}
	return nums
}

// checkRun fails unless nums is from, from+1, …, to.
func checkRun(t *testing.T, what string, nums []int, from, to int) {
	t.Helper()
	if len(nums) == 0 {
		t.Fatalf("%s: no lines, want %d..%d", what, from, to)
	}
	for i, n := range nums {
		if n != from+i {
			t.Fatalf("%s: line %d is number %d, want %d (lines %d..%d expected, %d read)", what, i, n, from+i, from, to, len(nums))
		}
	}
	if last := nums[len(nums)-1]; last != to {
		t.Fatalf("%s: the last line is %d, want %d", what, last, to)
	}
}

// readLogFiles reads the json-file log at path and its rotated files, oldest first, and
// returns the stdout entries' text and how many files there were.
func readLogFiles(t *testing.T, path string) (string, int) {
	t.Helper()
	files := []string{path}
	for i := 1; ; i++ {
		p := path + "." + strconv.Itoa(i)
		if _, err := os.Stat(p); err != nil {
			break
		}
		files = append([]string{p}, files...)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
			var e struct{ Log, Stream, Time string }
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("%s: a line that is not a json-file entry: %q: %v", f, line, err)
			}
			if e.Stream == "stdout" {
				b.WriteString(e.Log)
			}
		}
	}
	return b.String(), len(files)
}

// The check: a guest writing 10 000 lines a second for 10 s, one write per line,
// through run -d with --log-opt max-size=1m. "Every line" means: with a max-file that
// keeps them all (20 files of 1 MB for ~8.3 MB), berth logs gives lines 0…99 999 each
// once and in order, and so does a berth logs -f that followed the container from its
// start across every rotation. With max-file=3 rotation drops the oldest files, by
// design; what is kept must then be one unbroken run of lines ending at the last one,
// in berth logs and in the files read directly.
func TestDetachedLogRate(t *testing.T) {
	d := newDetachEnv(t)
	const total, rate = 100_000, 10_000
	for _, tc := range []struct {
		maxFile int
		keepAll bool
	}{{20, true}, {3, false}} {
		t.Run("max-file="+strconv.Itoa(tc.maxFile), func(t *testing.T) {
			r := must(t, d.berth(t, time.Minute, "run", "-d", "--log-opt", "max-size=1m", "--log-opt", "max-file="+strconv.Itoa(tc.maxFile),
				"lograte:1", strconv.Itoa(total), strconv.Itoa(rate)))
			id := strings.TrimSpace(r.stdout)
			var follow *proc
			if tc.keepAll {
				follow = startProc(t, cmdOpts{env: d.env}, d.berthPath, "logs", "-f", id)
			}
			start := time.Now()
			if w := must(t, d.berth(t, time.Minute, "wait", id)); w.stdout != "0\n" {
				t.Fatalf("wait: %q, want 0", w.stdout)
			}
			elapsed := time.Since(start)
			logs := must(t, d.berth(t, time.Minute, "logs", id))
			var ms int
			if _, err := fmt.Sscanf(logs.stderr, "wrote 100000 lines in %d ms", &ms); err != nil || ms < 9_900 {
				t.Fatalf("the guest's report %q: want 100000 lines in about 10 s (%v)", logs.stderr, err)
			}
			nums := lineNumbers(t, "berth logs", logs.stdout)
			fromFiles, files := readLogFiles(t, filepath.Join(d.root, "containers", id, id+"-json.log"))
			if fromFiles != logs.stdout {
				t.Errorf("berth logs and the log files differ (%d and %d bytes)", len(logs.stdout), len(fromFiles))
			}
			t.Logf("%d lines in %d ms by the guest's clock (%.0f lines/s), %v until wait returned; %d log files, %d lines kept",
				total, ms, float64(total)/(float64(ms)/1000), elapsed.Round(time.Millisecond), files, len(nums))
			// Behind by half: the guest was held up (a shim that does not drain its
			// pipes fast enough blocks the guest's writes), and the test did not test the
			// rate it claims to.
			if ms > 20_000 {
				t.Errorf("the guest took %d ms for 10 s of lines: below half the rate", ms)
			}
			if files != tc.maxFile && !tc.keepAll {
				t.Errorf("%d log files, want max-file=%d", files, tc.maxFile)
			}
			if tc.keepAll {
				if files < 5 {
					t.Errorf("only %d log files: the test meant to cross rotations", files)
				}
				checkRun(t, "berth logs", nums, 0, total-1)
				f := follow.wait(30 * time.Second)
				if !f.ok() {
					t.Fatalf("berth logs -f did not end cleanly after the container ended:\n%s", f)
				}
				checkRun(t, "berth logs -f", lineNumbers(t, "berth logs -f", f.stdout), 0, total-1)
			} else {
				if nums[0] == 0 {
					t.Errorf("max-file=%d kept every line: the test meant to drop old files", tc.maxFile)
				}
				checkRun(t, "berth logs", nums, nums[0], total-1)
			}
			must(t, d.berth(t, time.Minute, "rm", id))
		})
	}
}
