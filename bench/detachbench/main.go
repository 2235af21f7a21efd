// Command detachbench measures detached containers (issue 6), the three figures side by
// side in one run:
//
//   - `berth run -d` of a stored image until the container runs (run -d returns once its
//     shim has started the module), per container, n in a row, against `berth run --rm`
//     of the same guest in the foreground (it prints a line and exits) as a reference;
//     the two are interleaved so that machine noise hits both alike;
//
//   - the memory of those n idle containers: the total PSS and RSS of every berth
//     process they keep (a containerd-shim-berth-v1 and a berth-guest each), from
//     /proc/PID/smaps_rollup, per container (goal: at most 5 MB);
//
//   - `berth ps` and `berth ps -a` with -ps containers, the n running ones and the
//     rest exited (run -d of the guest told to exit at once, their exits recorded by an
//     untimed ps -a first), median of -reps (goal: at most 100 ms).
//
//     go run ./bench/detachbench [-n 100] [-ps 1000] [-reps 20] [-keep]
//
// The guest is C (clang --target=wasm32-wasi): `idle` sleeps for ever in sleep(3600),
// which wasi-libc makes a poll_oneoff on a clock, so it uses no CPU; `exit` prints a
// line and exits 0. A detached container's stdin is /dev/null, so a guest blocked on
// stdin would read EOF at once.
//
// Every figure is the wall time of a whole berth process, fork to exit. Everything the
// benchmark starts it removes at the end (rm -f of every container, then a check that
// no shim or guest of its data root is left), also when a step fails.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

var (
	n     = flag.Int("n", 100, "containers started with run -d (and foreground runs, interleaved), left idle for the memory figure")
	total = flag.Int("ps", 1000, "containers when ps is timed (the -n running ones and the rest exited)")
	reps  = flag.Int("reps", 20, "timed runs of ps and of ps -a")
	keep  = flag.Bool("keep", false, "keep the work directory")
)

const guestSrc = `#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc > 1 && !strcmp(argv[1], "exit")) { printf("bye\n"); return 0; }
	printf("idle\n");
	fflush(stdout);
	for (;;) sleep(3600);
}
`

const (
	shimName  = benchkit.ShimName
	guestName = benchkit.GuestName
)

// bench is one data root and state directory and the binaries that serve them.
type bench struct {
	work, root, state string
	berth             string
	env               []string
}

func main() {
	flag.Parse()
	if *n < 1 || *total < *n || *reps < 1 {
		fmt.Fprintln(os.Stderr, "detachbench: want -n ≥ 1, -ps ≥ -n and -reps ≥ 1")
		os.Exit(2)
	}
	work, state, err := benchkit.WorkDirs("detachbench", "bdb")
	if err != nil {
		fmt.Fprintln(os.Stderr, "detachbench:", err)
		os.Exit(1)
	}
	b := &bench{work: work, root: filepath.Join(work, "root"), state: state, berth: filepath.Join(work, "berth")}
	defer func() {
		r := recover()
		b.cleanup()
		os.RemoveAll(state)
		if !*keep {
			os.RemoveAll(work)
		}
		if f, ok := r.(failure); ok {
			fmt.Fprintln(os.Stderr, "detachbench:", f.err)
			os.Exit(1)
		} else if r != nil {
			panic(r)
		}
	}()
	b.env = append(os.Environ(), "BERTH_ROOT="+b.root, "BERTH_STATE="+b.state, "BERTH_SHIM_BINARY="+filepath.Join(work, shimName))

	fmt.Println("building berth, the shim, berth-guest and the guest…")
	goBuild(b.berth, "./cmd/berth")
	goBuild(filepath.Join(work, shimName), "./cmd/"+shimName)
	goBuild(filepath.Join(work, guestName), "./cmd/"+guestName)
	ctx := filepath.Join(work, "ctx")
	check(os.MkdirAll(ctx, 0o755))
	check(os.WriteFile(filepath.Join(work, "guest.c"), []byte(guestSrc), 0o644))
	run(os.Environ(), "clang", "--target=wasm32-wasi", "-O2", filepath.Join(work, "guest.c"), "-o", filepath.Join(ctx, "app.wasm"))
	check(os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"), 0o644))
	b.must("build", "-q", "-t", "idle:1", ctx)
	fi, err := os.Stat(filepath.Join(ctx, "app.wasm"))
	check(err)
	fmt.Printf("guest: C, %d bytes; %d cores; load average %s\n", fi.Size(), numCPU(), loadAvg())
	// Warm up: one of each, removed.
	b.must("run", "--rm", "idle:1", "exit")
	b.must("rm", "-f", strings.TrimSpace(b.must("run", "-d", "idle:1")))

	// 1. run -d until running, against a foreground run --rm, interleaved.
	var detached, foreground []time.Duration
	for i := 0; i < *n; i++ {
		d, out := b.timed("run", "-d", "idle:1")
		if len(strings.TrimSpace(out)) != 64 {
			fail(fmt.Errorf("run -d printed %q, want an id", out))
		}
		detached = append(detached, d)
		f, _ := b.timed("run", "--rm", "idle:1", "exit")
		foreground = append(foreground, f)
	}
	fmt.Printf("\n## berth run -d until the container runs, %d in a row (whole process)\n\n", *n)
	fmt.Println("| command | median | p90 | min | max |")
	fmt.Println("|---|---|---|---|---|")
	row := func(name string, d []time.Duration) {
		fmt.Printf("| %s | %s | %s | %s | %s |\n", name, ms(quantile(d, 0.5)), ms(quantile(d, 0.9)), ms(quantile(d, 0)), ms(quantile(d, 1)))
	}
	row("`berth run -d idle:1` (the i-th with i-1 running)", detached)
	row("`berth run --rm idle:1 exit` (foreground, reference)", foreground)
	fmt.Printf("\nrun -d / run --rm (medians): %.2f×\n", float64(quantile(detached, 0.5))/float64(quantile(foreground, 0.5)))

	// 2. The memory of the n idle containers.
	time.Sleep(2 * time.Second) // let the shims settle (lazy page faults of their first calls)
	procs := b.processes()
	var shims, guests []proc
	for _, p := range procs {
		if p.shim {
			shims = append(shims, p)
		} else {
			guests = append(guests, p)
		}
	}
	if len(shims) != *n || len(guests) != *n {
		fail(fmt.Errorf("%d idle containers run %d shims and %d guests, want %d of each", *n, len(shims), len(guests), *n))
	}
	sum := func(ps []proc) (pss, rss int64) {
		for _, p := range ps {
			pss += p.pss
			rss += p.rss
		}
		return
	}
	sp, sr := sum(shims)
	gp, gr := sum(guests)
	per := func(kb int64) string { return fmt.Sprintf("%.2f MB", float64(kb)/1024/float64(*n)) }
	fmt.Printf("\n## %d idle detached containers: memory of every berth process they keep (/proc/PID/smaps_rollup)\n\n", *n)
	fmt.Println("| processes | PSS per container | RSS per container |")
	fmt.Println("|---|---|---|")
	fmt.Printf("| %s (%d) | %s | %s |\n", shimName, len(shims), per(sp), per(sr))
	fmt.Printf("| %s (%d) | %s | %s |\n", guestName, len(guests), per(gp), per(gr))
	fmt.Printf("| **all** | **%s** | **%s** |\n", per(sp+gp), per(sr+gr))
	fmt.Printf("\ngoal: ≤ 5 MB per container (PSS counts shared pages once; RSS counts them in every process)\n")

	// 3. ps and ps -a with total containers, most exited.
	fmt.Printf("\ncreating %d exited containers (run -d of the guest told to exit)…\n", *total-*n)
	t0 := time.Now()
	for i := *n; i < *total; i++ {
		b.must("run", "-d", "idle:1", "exit")
		if (i-*n)%50 == 49 {
			// An exited container keeps its shim until a berth command notices the
			// exit: notice every 50, or 900 shims would wait for the end.
			b.must("ps", "-a")
		}
	}
	fmt.Printf("created in %v; recording their exits (untimed ps -a)…\n", time.Since(t0).Round(time.Millisecond))
	b.must("ps", "-a")
	if got := len(strings.Fields(b.must("ps", "-a", "-q"))); got != *total {
		fail(fmt.Errorf("ps -a lists %d containers, want %d", got, *total))
	}
	if got := len(strings.Fields(b.must("ps", "-q"))); got != *n {
		fail(fmt.Errorf("ps lists %d running containers, want %d", got, *n))
	}
	var ps, psa []time.Duration
	for i := 0; i < *reps; i++ {
		d, _ := b.timed("ps")
		ps = append(ps, d)
		d, _ = b.timed("ps", "-a")
		psa = append(psa, d)
	}
	fmt.Printf("\n## berth ps with %d containers (%d running, %d exited), %d runs each, interleaved\n\n", *total, *n, *total-*n, *reps)
	fmt.Println("| command | median | p90 | min | max |")
	fmt.Println("|---|---|---|---|---|")
	row(fmt.Sprintf("`berth ps` (lists %d)", *n), ps)
	row(fmt.Sprintf("`berth ps -a` (lists %d)", *total), psa)
	fmt.Printf("\ngoal: ≤ 100 ms\n")
}

// cleanup removes every container of the root and kills (reporting it) any shim or
// guest of the root still running after that.
func (b *bench) cleanup() {
	fmt.Println("\ncleaning up…")
	out, _ := b.exec("ps", "-a", "-q", "--no-trunc")
	ids := strings.Fields(out)
	for len(ids) > 0 {
		k := min(len(ids), 200)
		if out, err := b.exec(append([]string{"rm", "-f"}, ids[:k]...)...); err != nil {
			fmt.Fprintf(os.Stderr, "detachbench: rm -f: %v\n%s", err, out)
		}
		ids = ids[k:]
	}
	deadline := time.Now().Add(5 * time.Second)
	left := b.processes()
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		left = b.processes()
	}
	for _, p := range left {
		fmt.Fprintf(os.Stderr, "detachbench: process %d (%s) left after rm -f of every container: killed\n", p.pid, p.cmdline)
		syscall.Kill(p.pid, syscall.SIGKILL)
	}
}

// proc is a shim or guest of the benchmark's root, with its memory in kB.
type proc struct {
	pid      int
	shim     bool
	cmdline  string
	pss, rss int64
}

// processes lists the shims and guests of the root (benchkit.BerthProcesses) with their
// memory; one gone meanwhile (or a zombie) is left out.
func (b *bench) processes() []proc {
	var out []proc
	for _, bp := range benchkit.BerthProcesses(b.root, b.state) {
		p := proc{pid: bp.PID, shim: bp.Shim, cmdline: bp.Cmdline}
		roll, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", bp.PID))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(roll), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "Pss:":
				p.pss = v
			case "Rss:":
				p.rss = v
			}
		}
		out = append(out, p)
	}
	return out
}

// exec runs berth with args and returns its stdout.
func (b *bench) exec(args ...string) (string, error) {
	return benchkit.RunBerth(b.berth, b.env, args...)
}

// must is exec, ending the benchmark (after the clean-up) on failure.
func (b *bench) must(args ...string) string {
	out, err := b.exec(args...)
	check(err)
	return out
}

// timed runs berth with args and returns its wall time, fork to exit, and its stdout.
func (b *bench) timed(args ...string) (time.Duration, string) {
	c := exec.Command(b.berth, args...)
	c.Env = b.env
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	start := time.Now()
	err := c.Run()
	d := time.Since(start)
	if err != nil {
		fail(fmt.Errorf("berth %s: %w\n%s", strings.Join(args, " "), err, errb.String()))
	}
	return d, out.String()
}

// quantile is the q-quantile of d (nearest rank): 0 the minimum, 1 the maximum.
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1)+0.5)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func goBuild(out, pkg string) { check(benchkit.GoBuild(nil, out, pkg)) }

func run(env []string, name string, args ...string) {
	c := exec.Command(name, args...)
	c.Env = env
	if out, err := c.CombinedOutput(); err != nil {
		fail(fmt.Errorf("%s %v: %w\n%s", name, args, err, out))
	}
}

func numCPU() int {
	b, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(b), "processor\t:")
}

func loadAvg() string { return benchkit.LoadAvg() }

// failure is what fail panics with; main recovers it after cleaning up. (A step that
// fails deep in the benchmark ends it this way rather than through os.Exit, so that the
// clean-up always runs.)
type failure struct{ err error }

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) { panic(failure{err}) }
