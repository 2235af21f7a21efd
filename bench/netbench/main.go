// Command netbench measures issue 7's workload, Docker's Wasm demo server under
// `berth run -d -p`, against the same server compiled natively, side by side in one run:
//
//   - examples/http-server built for wasip1, made an image with `berth build`, and run
//     detached with `berth run -d -p 127.0.0.1:PORT:8080` (a free loopback port), with a
//     data root and state directory of its own and the shim and berth-guest built from
//     this tree (BERTH_SHIM_BINARY, as bench/detachbench does);
//
//   - the same program (same source, listen_other.go instead of listen_wasip1.go: the
//     one file that differs is how it binds its socket) built natively, binding another
//     free loopback port itself;
//
//   - wrk on 127.0.0.1 for -d at 1 and 32 connections with --latency: requests/s, p50,
//     p99, in -rounds rounds that alternate the servers' order; medians are printed;
//
//   - the CPU each server's processes use under every load, as % of one core and per
//     request answered (CPU time over wrk's requests/s × -d): it shows where a server is
//     bound, e.g. a wasip1 guest's one thread at 100 % of a core;
//
//   - the idle CPU of each, as % of one core, over -idle after the load with no
//     connection open: for berth the container's every process (its
//     containerd-shim-berth-v1 and berth-guest), for native the server process;
//
//   - the ratio berth / native, and issue 7's goal: ≥ 10 000 requests/s at 32
//     connections and idle CPU ≤ 1 %.
//
//     go run ./bench/netbench [-d 10s] [-rounds 3] [-idle 10s] [-keep]
//
// Run it from the repository's root (it builds ./cmd/... and ./examples/http-server).
//
// # Notes
//
//   - Both servers bind their own socket: the guest through the WasmEdge socket ABI
//     (github.com/stealthrocket/net), which berth's WASI host maps onto the published
//     host port; the native build with net.Listen. The figures therefore compare the
//     same handler and net/http code, with the Wasm engine, berth's WASI host and its
//     port publishing as the difference (bench/httpbench compares the engine alone,
//     without berth run, containers or the shim).
//   - Everything it starts it removes at the end, also on failure or SIGINT/SIGTERM:
//     rm -f of the container, SIGTERM then SIGKILL of the native server by PID, a
//     check that no shim or guest of its root is left (killed and reported if one
//     is), and the temporary directories.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
)

var (
	dur    = flag.Duration("d", 10*time.Second, "wrk duration per load (whole seconds)")
	rounds = flag.Int("rounds", 3, "rounds; each loads both servers at every connection count")
	idle   = flag.Duration("idle", 10*time.Second, "idle window for the CPU measure, after the load")
	keep   = flag.Bool("keep", false, "keep the work directory")
)

// connCounts are the wrk connection counts of issue 7; the last is the goal's.
var connCounts = []int{1, 32}

const (
	image     = "netbench/http-server:1"
	wantBody  = "hello from Wasm\n"
	goalRPS   = 10000
	goalIdle  = 1.0 // % of one core
	goalConns = 32
)

// bench is the benchmark's private berth (data root, state directory, binaries) and
// what it started, for the clean-up.
type bench struct {
	work, root, state string
	berth             string
	env               []string
	container         string    // the detached container's id, once started
	native            *exec.Cmd // the native server, once started
	cleanOnce         sync.Once
}

// server is one of the two servers under load.
type server struct {
	name string
	url  string
	pids func() []int // the processes whose CPU is the server's
}

func main() {
	flag.Parse()
	if *rounds < 1 || *dur <= 0 || *idle <= 0 {
		fmt.Fprintln(os.Stderr, "netbench: want -rounds ≥ 1, -d > 0 and -idle > 0")
		os.Exit(2)
	}
	if _, err := os.Stat("examples/http-server/Dockerfile"); err != nil {
		fmt.Fprintln(os.Stderr, "netbench: run it from the root of the berth repository:", err)
		os.Exit(2)
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		fmt.Fprintln(os.Stderr, "netbench: wrk is not on PATH (Debian: apt-get install wrk)")
		os.Exit(1)
	}
	work, state, err := benchkit.WorkDirs("netbench", "bnb")
	if err != nil {
		fmt.Fprintln(os.Stderr, "netbench:", err)
		os.Exit(1)
	}
	b := &bench{work: work, root: filepath.Join(work, "root"), state: state, berth: filepath.Join(work, "berth")}
	b.env = append(os.Environ(), "BERTH_ROOT="+b.root, "BERTH_STATE="+b.state, "BERTH_SHIM_BINARY="+filepath.Join(work, benchkit.ShimName))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Fprintf(os.Stderr, "\nnetbench: %v: cleaning up\n", s)
		b.cleanup()
		os.Exit(1)
	}()
	defer func() {
		r := recover()
		b.cleanup()
		if f, ok := r.(failure); ok {
			fmt.Fprintln(os.Stderr, "netbench:", f.err)
			os.Exit(1)
		} else if r != nil {
			panic(r)
		}
	}()
	b.run()
}

func (b *bench) run() {
	bin := func(name string) string { return filepath.Join(b.work, name) }
	fmt.Println("building berth, the shim, berth-guest and examples/http-server (wasip1 and native)…")
	check(benchkit.GoBuild(nil, b.berth, "./cmd/berth"))
	check(benchkit.GoBuild(nil, bin(benchkit.ShimName), "./cmd/"+benchkit.ShimName))
	check(benchkit.GoBuild(nil, bin(benchkit.GuestName), "./cmd/"+benchkit.GuestName))
	check(benchkit.GoBuild(nil, bin("http-server-native"), "./examples/http-server"))
	ctx := bin("ctx")
	check(os.MkdirAll(ctx, 0o755))
	check(benchkit.GoBuild([]string{"GOOS=wasip1", "GOARCH=wasm"}, filepath.Join(ctx, "http-server.wasm"), "./examples/http-server"))
	dockerfile, err := os.ReadFile("examples/http-server/Dockerfile")
	check(err)
	check(os.WriteFile(filepath.Join(ctx, "Dockerfile"), dockerfile, 0o644))
	b.must("build", "-q", "-t", image, ctx)
	fi, err := os.Stat(filepath.Join(ctx, "http-server.wasm"))
	check(err)

	berthAddr := freeAddr()
	_, port, _ := net.SplitHostPort(berthAddr)
	b.container = strings.TrimSpace(b.must("run", "-d", "-p", "127.0.0.1:"+port+":8080", image))
	berthSrv := &server{name: "berth run -d -p", url: "http://" + berthAddr + "/", pids: func() []int {
		var pids []int
		for _, p := range benchkit.BerthProcesses(b.root, b.state) {
			pids = append(pids, p.PID)
		}
		return pids
	}}

	nativeAddr := freeAddr()
	b.native = exec.Command(bin("http-server-native"), nativeAddr)
	b.native.Stdout, b.native.Stderr = io.Discard, os.Stderr
	// Should this process be killed outright, the server goes with it.
	b.native.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	check(b.native.Start())
	nativeSrv := &server{name: "native", url: "http://" + nativeAddr + "/", pids: func() []int { return []int{b.native.Process.Pid} }}

	servers := []*server{nativeSrv, berthSrv}
	for _, s := range servers {
		waitReady(s, 5*time.Minute) // the container's first start compiles the module
	}
	if procs := benchkit.BerthProcesses(b.root, b.state); len(procs) != 2 {
		fail(fmt.Errorf("the container runs %d berth processes, want 2 (a shim and a berth-guest): %v", len(procs), procs))
	}

	fmt.Printf("\n%s, commit %s; `go run ./bench/netbench -d %v -rounds %d -idle %v`\n", time.Now().UTC().Format("2006-01-02"), commit(), secs(*dur), *rounds, *idle)
	fmt.Printf("guest: examples/http-server, %d bytes of wasip1; %d cores; load average %s\n", fi.Size(), numCPU(), benchkit.LoadAvg())
	fmt.Printf("berth: %s (container %.12s); native: %s\n", berthSrv.url, b.container, nativeSrv.url)
	// res[c][s] are the results at connCounts[c] of servers[s], one per round, and
	// load[c][s] the CPU its processes used meanwhile.
	res := make([][][]benchkit.WrkResult, len(connCounts))
	load := make([][][]loadCPU, len(connCounts))
	for c := range res {
		res[c] = make([][]benchkit.WrkResult, len(servers))
		load[c] = make([][]loadCPU, len(servers))
	}
	for r := range *rounds {
		for c, conns := range connCounts {
			for i := range servers {
				j := (i + r) % len(servers) // alternate the order
				cpu0, _ := serverCPU(servers[j])
				t0 := time.Now()
				w, err := benchkit.Wrk(servers[j].url, conns, *dur, true)
				check(err)
				l := newLoadCPU(serverCPUSince(servers[j], cpu0), time.Since(t0), w.RPS*secs(*dur).Seconds())
				res[c][j] = append(res[c][j], w)
				load[c][j] = append(load[c][j], l)
				note := ""
				if w.Errors != "" {
					note = "  (wrk: " + w.Errors + ")"
				}
				fmt.Printf("round %d, %2d conn: %-16s %9.0f req/s  p50 %-9v p99 %-9v CPU %3.0f %% of a core, %s/request%s\n",
					r+1, conns, servers[j].name, w.RPS, w.P50, w.P99, l.core, lat(l.perReq), note)
			}
		}
	}

	fmt.Printf("\nidle for %v, no connection open…\n", *idle)
	cpu := idleCPU(servers, *idle)

	fmt.Printf("\n## examples/http-server: berth run -d -p against native, wrk on loopback (%v per load, median of %d rounds)\n\n", secs(*dur), *rounds)
	fmt.Println("| server | connections | requests/s | p50 | p99 | requests/s berth / native | CPU under load (% of one core) | CPU per request |")
	fmt.Println("|---|---|---|---|---|---|---|---|")
	med := func(c, s int) (rps float64, p50, p99 time.Duration) {
		var r []float64
		var l50, l99 []time.Duration
		for _, w := range res[c][s] {
			r, l50, l99 = append(r, w.RPS), append(l50, w.P50), append(l99, w.P99)
		}
		return benchkit.Median(r), benchkit.Median(l50), benchkit.Median(l99)
	}
	medLoad := func(c, s int) (core float64, perReq time.Duration) {
		var cores []float64
		var per []time.Duration
		for _, l := range load[c][s] {
			cores, per = append(cores, l.core), append(per, l.perReq)
		}
		return benchkit.Median(cores), benchkit.Median(per)
	}
	var berthGoalRPS, ratioGoal float64
	for c, conns := range connCounts {
		nr, _, _ := med(c, 0)
		for s, srv := range servers {
			rps, p50, p99 := med(c, s)
			ratio := ""
			if s == 1 {
				ratio = fmt.Sprintf("%.2f×", rps/nr)
				if conns == goalConns {
					berthGoalRPS, ratioGoal = rps, rps/nr
				}
			}
			core, perReq := medLoad(c, s)
			fmt.Printf("| %s | %d | %.0f | %s | %s | %s | %.0f %% | %s |\n", srv.name, conns, rps, lat(p50), lat(p99), ratio, core, lat(perReq))
		}
	}
	fmt.Printf("\n| server | processes | idle CPU (%% of one core) |\n|---|---|---|\n")
	for s, srv := range servers {
		fmt.Printf("| %s | %s | %.3f %% (%v in %v) |\n", srv.name, cpu[s].what, pct(cpu[s].d), cpu[s].d.Round(10*time.Microsecond), *idle)
	}
	met := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	fmt.Printf("\nberth / native at %d connections: %.2f× requests/s\n", goalConns, ratioGoal)
	fmt.Printf("goal (issue 7): ≥ %d requests/s at %d connections: %.0f, %s; idle CPU ≤ %.0f %%: %.3f %%, %s\n",
		goalRPS, goalConns, berthGoalRPS, met(berthGoalRPS >= goalRPS), goalIdle, pct(cpu[1].d), met(pct(cpu[1].d) <= goalIdle))
}

type cpuUse struct {
	d    time.Duration
	what string
}

// loadCPU is the CPU a server's processes used during one wrk load.
type loadCPU struct {
	core   float64       // % of one core
	perReq time.Duration // CPU time per request answered
}

func newLoadCPU(used, elapsed time.Duration, requests float64) loadCPU {
	l := loadCPU{core: 100 * used.Seconds() / elapsed.Seconds()}
	if requests > 0 {
		l.perReq = time.Duration(float64(used) / requests)
	}
	return l
}

// serverCPU is the CPU time s's processes have used so far, and their PIDs.
func serverCPU(s *server) (time.Duration, []int) {
	pids := s.pids()
	var total time.Duration
	for _, pid := range pids {
		d, err := benchkit.TaskCPU(pid)
		check(err)
		total += d
	}
	return total, pids
}

// serverCPUSince is the CPU time s's processes have used since they had used before.
func serverCPUSince(s *server, before time.Duration) time.Duration {
	after, _ := serverCPU(s)
	return after - before
}

// idleCPU is the CPU time each server's processes use over window.
func idleCPU(servers []*server, window time.Duration) []cpuUse {
	sample := serverCPU
	out := make([]cpuUse, len(servers))
	before := make([]time.Duration, len(servers))
	pids := make([][]int, len(servers))
	for i, s := range servers {
		before[i], pids[i] = sample(s)
	}
	time.Sleep(window)
	for i, s := range servers {
		after, p := sample(s)
		if fmt.Sprint(p) != fmt.Sprint(pids[i]) {
			fail(fmt.Errorf("%s: processes %v before the idle window, %v after", s.name, pids[i], p))
		}
		var names []string
		for _, pid := range p {
			comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
			names = append(names, fmt.Sprintf("%s (%d)", strings.TrimSpace(string(comm)), pid))
		}
		out[i] = cpuUse{after - before[i], strings.Join(names, " + ")}
	}
	return out
}

func pct(d time.Duration) float64 { return 100 * d.Seconds() / idle.Seconds() }

func secs(d time.Duration) time.Duration { return max(time.Second, d.Round(time.Second)) }

// lat prints a latency in µs below a millisecond, else in ms.
func lat(d time.Duration) string {
	if d < time.Millisecond {
		return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
	}
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// waitReady polls s until it answers the page the example serves.
func waitReady(s *server, timeout time.Duration) {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(s.url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != wantBody {
				fail(fmt.Errorf("%s answered %q on %s, want %q", s.name, body, s.url, wantBody))
			}
			return
		}
		if time.Now().After(deadline) {
			fail(fmt.Errorf("%s not ready on %s after %v: %w", s.name, s.url, timeout, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr is a loopback address with a port nobody listens on.
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().String()
}

// cleanup stops the native server, removes every container of the root, kills (reporting
// it) any shim or guest of the root left after that, and removes the temporary
// directories. It runs once, whoever calls it first (the end of main or a signal).
func (b *bench) cleanup() {
	b.cleanOnce.Do(func() {
		fmt.Println("\ncleaning up…")
		if b.native != nil && b.native.Process != nil {
			_ = b.native.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { b.native.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = b.native.Process.Kill()
				<-done
			}
		}
		if _, err := os.Stat(b.berth); err == nil {
			out, _ := b.exec("ps", "-a", "-q", "--no-trunc")
			if ids := strings.Fields(out); len(ids) > 0 {
				if out, err := b.exec(append([]string{"rm", "-f"}, ids...)...); err != nil {
					fmt.Fprintf(os.Stderr, "netbench: rm -f: %v\n%s", err, out)
				}
			}
		}
		deadline := time.Now().Add(5 * time.Second)
		left := benchkit.BerthProcesses(b.root, b.state)
		for len(left) > 0 && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
			left = benchkit.BerthProcesses(b.root, b.state)
		}
		for _, p := range left {
			fmt.Fprintf(os.Stderr, "netbench: process %d (%s) left after rm -f: killed\n", p.PID, p.Cmdline)
			syscall.Kill(p.PID, syscall.SIGKILL)
		}
		os.RemoveAll(b.state)
		if *keep {
			fmt.Println("kept", b.work)
		} else {
			os.RemoveAll(b.work)
		}
	})
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

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "?"
	}
	if st, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(st) > 0 {
		return strings.TrimSpace(string(out)) + " (with local changes)"
	}
	return strings.TrimSpace(string(out))
}

func numCPU() int {
	c, _ := os.ReadFile("/proc/cpuinfo")
	return strings.Count(string(c), "processor\t:")
}

// failure is what fail panics with; main recovers it after cleaning up, so that a step
// that fails deep in the benchmark still removes what it started.
type failure struct{ err error }

func check(err error) {
	if err != nil {
		fail(err)
	}
}

func fail(err error) { panic(failure{err}) }
