// Command httpbench serves one Go HTTP program (bench/guests/gohttp) natively and as a
// wasip1 guest on berth's WASI host, side by side on loopback, and prints the idle CPU
// of each server and the requests per second a load generator gets from it.
//
//	go run ./bench/httpbench [-d 10s] [-c 32] [-rounds 3] [-idle 10s]
//
// # Notes
//
//   - Both servers are child processes that inherit their listener as fd 3: the native
//     build takes it with net.FileListener, the guest with the same call through berth's
//     preopened-listener support (this command, re-executed with -serve, runs it with
//     internal/engine and WithHost(HostBerth)). So the figures compare the same server
//     code, with berth's WASI host and the Wasm engine as the only difference. A third
//     server is the same program as a guest that binds its own loopback port with
//     github.com/stealthrocket/net (the WasmEdge socket ABI), as Docker's Wasm demo
//     images do.
//   - Load: wrk (Debian's package) with -c connections when it is on PATH, else a Go
//     client with as many keep-alive connections. Rounds alternate the servers' order,
//     so machine noise hits both alike; medians are printed.
//   - -cpuprofile profiles the host side only: Go's profiler cannot name the guest's
//     compiled code. To see the guest's own functions, build this command with
//     `-tags perfmap` (wazero then writes /tmp/perf-PID.map, naming each compiled wasm
//     function, when it compiles a module; so give -serve a fresh -cache), and record
//     the -serve process with `perf record -g -p PID` while wrk runs.
//   - Idle CPU is the time the server's threads ran (/proc/PID/task/*/schedstat) over
//     -idle after the load, with no connection open. A thread that ended during the
//     window is not counted; a Go process keeps its threads.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/berth-dev/berth/bench/internal/benchkit"
	"github.com/berth-dev/berth/internal/engine"
)

var (
	dur    = flag.Duration("d", 10*time.Second, "load duration per round")
	conns  = flag.Int("c", 32, "connections")
	rounds = flag.Int("rounds", 3, "rounds (each loads both servers)")
	idle   = flag.Duration("idle", 10*time.Second, "idle window for the CPU measure")
	serve  = flag.String("serve", "", "internal: run this .wasm on berth's host, listener on fd 3")
	bindTo = flag.String("bind", "", "internal: with -serve, the guest binds this address itself (stealthrocket/net) instead of using fd 3")
	cache  = flag.String("cache", "", "internal: compile cache of -serve")
	prof   = flag.String("cpuprofile", "", "write the berth server's CPU profile here")
)

func main() {
	flag.Parse()
	if *serve != "" {
		serveWasm(*serve, *cache)
		return
	}
	work, err := os.MkdirTemp("", "berth-httpbench-")
	check(err)
	defer os.RemoveAll(work)
	bin := func(name string) string { return filepath.Join(work, name) }
	fmt.Println("building the server (native and wasip1) and this command…")
	goBuild(nil, bin("gohttp-native"), "./bench/guests/gohttp")
	goBuild([]string{"GOOS=wasip1", "GOARCH=wasm"}, bin("gohttp.wasm"), "./bench/guests/gohttp")
	goBuild(nil, bin("httpbench"), "./bench/httpbench")

	native := start("native", bin("gohttp-native"))
	defer native.stop()
	serveArgs := []string{"-serve", bin("gohttp.wasm"), "-cache", bin("cache")}
	if *prof != "" {
		serveArgs = append(serveArgs, "-cpuprofile", *prof)
	}
	wasm := start("berth (wasip1)", bin("httpbench"), serveArgs...)
	defer wasm.stop()
	addr := freeAddr()
	edge := &server{name: "berth (stealthrocket/net)", url: "http://" + addr + "/",
		cmd: exec.Command(bin("httpbench"), append([]string{"-bind", addr}, serveArgs...)...)}
	edge.cmd.Stdout, edge.cmd.Stderr = os.Stderr, os.Stderr
	check(edge.cmd.Start())
	defer edge.stop()
	servers := []*server{native, wasm, edge}
	for _, s := range servers {
		s.waitReady(5 * time.Minute) // the guest's first start compiles it
	}

	load := "Go client"
	if _, err := exec.LookPath("wrk"); err == nil {
		load = "wrk"
	}
	fmt.Printf("\nload: %s, %d connections, %v per round, %d rounds, loopback; %s\n", load, *conns, *dur, *rounds, "load average "+benchkit.LoadAvg())
	rps := make([][]float64, len(servers))
	for r := range *rounds {
		for i := range servers {
			j := (i + r) % len(servers) // alternate the order
			v := measure(load, servers[j].url)
			rps[j] = append(rps[j], v)
			fmt.Printf("round %d: %-15s %10.0f req/s\n", r+1, servers[j].name, v)
		}
	}

	fmt.Printf("\nidle for %v…\n", *idle)
	cpu := make([]time.Duration, len(servers))
	before := make([]time.Duration, len(servers))
	for i, s := range servers {
		before[i] = s.cpuTime()
	}
	time.Sleep(*idle)
	for i, s := range servers {
		cpu[i] = s.cpuTime() - before[i]
	}

	fmt.Printf("\n## Go HTTP server: native vs wasip1 on berth's WASI host (median of %d rounds)\n\n", *rounds)
	fmt.Println("| server | requests/s | vs native | idle CPU |")
	fmt.Println("|---|---|---|---|")
	for i, s := range servers {
		m := benchkit.Median(rps[i])
		fmt.Printf("| %s | %.0f | %.2f× | %.2f %% (%v in %v) |\n", s.name, m, m/benchkit.Median(rps[0]),
			100*cpu[i].Seconds()/idle.Seconds(), cpu[i].Round(10*time.Microsecond), *idle)
	}
}

// serveWasm runs the guest on berth's WASI host with fd 3 as its preopened listener,
// until the process is signalled.
func serveWasm(wasmPath, cacheDir string) {
	ctx := context.Background()
	wasm, err := os.ReadFile(wasmPath)
	check(err)
	eng, err := engine.New(ctx, cacheDir, engine.WithHost(engine.HostBerth))
	check(err)
	defer eng.Close(ctx)
	if *prof != "" {
		// Profile from the first request on (after the compile), until SIGTERM.
		f, err := os.Create(*prof)
		check(err)
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		go func() {
			<-sig
			pprof.StopCPUProfile()
			f.Close()
			os.Exit(0)
		}()
		check(pprof.StartCPUProfile(f))
	}
	spec := engine.Spec{
		Module:    wasm,
		Args:      []string{"gohttp"},
		Stdout:    os.Stdout,
		Stderr:    os.Stderr,
		Listeners: []*os.File{os.NewFile(3, "listener")},
	}
	if *bindTo != "" {
		spec.Args, spec.Listeners = []string{"gohttp", *bindTo}, nil
	}
	code, err := eng.Run(ctx, spec)
	check(err)
	os.Exit(code)
}

// freeAddr is a loopback address with a port nobody listens on (for a guest that binds
// its own).
func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	defer l.Close()
	return l.Addr().String()
}

type server struct {
	name string
	url  string
	cmd  *exec.Cmd
}

// start runs a server process with a fresh loopback listener as its fd 3.
func start(name, path string, args ...string) *server {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	f, err := l.(*net.TCPListener).File()
	check(err)
	defer l.Close()
	defer f.Close()
	cmd := exec.Command(path, args...)
	cmd.ExtraFiles = []*os.File{f}
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	check(cmd.Start())
	return &server{name: name, url: "http://" + l.Addr().String() + "/", cmd: cmd}
}

func (s *server) waitReady(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get(s.url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != "hello from go\n" {
				check(fmt.Errorf("%s answered %q", s.name, b))
			}
			http.DefaultClient.CloseIdleConnections()
			return
		}
		if time.Now().After(deadline) {
			check(fmt.Errorf("%s not ready after %v: %w", s.name, timeout, err))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the server by its PID.
func (s *server) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

// cpuTime is the CPU time the server has used (benchkit.TaskCPU: its threads' schedstat).
func (s *server) cpuTime() time.Duration {
	d, err := benchkit.TaskCPU(s.cmd.Process.Pid)
	check(err)
	return d
}

// measure loads url for -d and returns requests per second.
func measure(load, url string) float64 {
	if load == "wrk" {
		r, err := benchkit.Wrk(url, *conns, *dur, false)
		check(err)
		if r.Errors != "" {
			fmt.Fprintf(os.Stderr, "httpbench: %s: wrk: %s\n", url, r.Errors)
		}
		return r.RPS
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	var n atomic.Int64
	stop := time.Now().Add(*dur)
	var wg sync.WaitGroup
	for range *conns {
		wg.Go(func() {
			for time.Now().Before(stop) {
				resp, err := client.Get(url)
				check(err)
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				n.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / dur.Seconds()
}

func goBuild(env []string, out, pkg string) { check(benchkit.GoBuild(env, out, pkg)) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "httpbench:", err)
		os.Exit(1)
	}
}
