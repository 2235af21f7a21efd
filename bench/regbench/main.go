// Command regbench measures berth pull and push of a 10 MB Wasm image against crane's,
// side by side in one run, through Debian's docker-registry on loopback, and a pull of
// an image that is already present. It prints medians and ratios.
//
//	go run ./bench/regbench [-n 10] [-size 10] [-crane PATH] [-berth PATH] [-against PATH]
//
// The image holds one module whose data section is size MB of random (incompressible)
// bytes. Each round runs, in this order: berth pull into a store that exists but holds
// no image (created beforehand, untimed, by `berth images`), crane pull into an empty
// OCI layout, berth push and crane push (each to a repository it has not pushed to, so
// every byte is uploaded again), berth pull of the image already present. Every figure
// is the wall time of a whole process.
//
// berth pull precompiles the module; the time of that phase comes from `berth --debug
// pull` (slog lines msg=phase phase=precompile dur=D) and is reported next to the total,
// with the total minus it. Since the snapshot is stored and the image indexed while the
// module compiles, that subtraction also removes work a pull without a compile would
// still wait for; so the total minus the time the pull only waited for the compile
// ("pull: waited for the compile", per round) is reported too: the stricter figure.
// The other steps the debug log times are listed too. A
// counting proxy in front of the registry checks, in one extra run, that a pull of a
// present image downloads no blob. With -against, a second berth binary (say, the
// commit before a change) pulls in each round too, the two taking turns going first,
// and its figures are printed beside: a before/after in one run, on the same noise.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/berth-dev/berth/internal/registrytest"
)

var (
	n       = flag.Int("n", 10, "rounds")
	size    = flag.Int("size", 10, "size of the module's data section in MB")
	crane   = flag.String("crane", "", "crane binary (default: $BERTH_E2E_CRANE_BIN/crane, else the .ci/run cache)")
	berth   = flag.String("berth", "", "berth binary to measure (default: build ./cmd/berth as make does: the core build, berth-full beside it)")
	keep    = flag.Bool("keep", false, "keep the work directory")
	against = flag.String("against", "", "a second berth binary whose pull is timed in the same rounds")
)

func main() {
	flag.Parse()
	work, err := os.MkdirTemp("", "berth-regbench-")
	check(err)
	if !*keep {
		defer os.RemoveAll(work)
	}
	craneBin := *crane
	if craneBin == "" {
		craneBin = defaultCrane()
	}
	bin := *berth
	if bin == "" {
		// As `make berth`: the core build, which hands pull and push to the complete
		// berth beside it (berth-full), as a user's bin/berth does.
		bin = filepath.Join(work, "berth")
		fmt.Println("building berth…")
		for _, b := range [][]string{{"-tags", "berth_core", "-o", bin}, {"-o", filepath.Join(work, "berth-full")}} {
			build := exec.Command("go", append(append([]string{"build", "-trimpath"}, b...), "./cmd/berth")...)
			build.Env, build.Stderr = append(os.Environ(), "CGO_ENABLED=0"), os.Stderr
			check(build.Run())
			// Rewritten with write(2), as runbench does: how the linker's output sits in
			// the page cache moves a process's start by up to ~1 ms (docs/benchmarks.md).
			out := b[len(b)-1]
			data, err := os.ReadFile(out)
			check(err)
			check(os.WriteFile(out, data, 0o755))
		}
	}

	reg, err := registrytest.Launch(filepath.Join(work, "registry"), registrytest.Options{})
	check(err)
	defer reg.Stop()

	ctx := filepath.Join(work, "ctx")
	check(os.MkdirAll(ctx, 0o755))
	module := bigModule(*size << 20)
	check(os.WriteFile(filepath.Join(ctx, "big.wasm"), module, 0o644))
	check(os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY big.wasm /big.wasm\nENTRYPOINT [\"/big.wasm\"]\n"), 0o644))
	ref := reg.Addr + "/bench/big:1"
	src := filepath.Join(work, "src-root")
	berthEnv := func(root string) []string {
		return append(os.Environ(), "BERTH_ROOT="+root, "BERTH_STATE="+root+"-state", "DOCKER_CONFIG="+filepath.Join(work, "docker"))
	}
	must(berthEnv(src), bin, "build", "-q", "-t", ref, ctx)
	must(berthEnv(src), bin, "push", "-q", ref)
	must(berthEnv(src), bin, "run", "--rm", "--pull", "never", ref) // the module runs
	layout := filepath.Join(work, "layout")
	must(os.Environ(), craneBin, "pull", "--format", "oci", ref, layout)
	fmt.Printf("module: %d bytes (data section of %d MB random bytes); registry %s\n", len(module), *size, reg.Addr)

	var cranePull, berthPush, cranePush, present []time.Duration
	main, before := &pulls{phases: map[string][]time.Duration{}}, &pulls{phases: map[string][]time.Duration{}}
	presentRoot := filepath.Join(work, "present-root")
	must(berthEnv(presentRoot), bin, "pull", "-q", ref)
	for i := 0; i < *n; i++ {
		pullInto := func(bin string, p *pulls) {
			root := filepath.Join(work, fmt.Sprintf("pull-root-%d", i))
			must(berthEnv(root), bin, "images", "-q") // an empty store, as a user's is before a pull
			d, out := timed(berthEnv(root), bin, "--debug", "pull", "-q", ref)
			p.add(d, parsePhases(out))
			check(os.RemoveAll(root))
			check(os.RemoveAll(root + "-state"))
		}
		// With -against the two binaries take turns going first.
		if *against != "" && i%2 == 1 {
			pullInto(*against, before)
		}
		pullInto(bin, main)
		if *against != "" && i%2 == 0 {
			pullInto(*against, before)
		}

		dir := filepath.Join(work, fmt.Sprintf("crane-layout-%d", i))
		d, _ := timed(os.Environ(), craneBin, "pull", "--format", "oci", ref, dir)
		cranePull = append(cranePull, d)
		check(os.RemoveAll(dir))

		name := fmt.Sprintf("%s/bench/berth-push-%d:1", reg.Addr, i)
		must(berthEnv(src), bin, "tag", ref, name) // push takes a local name
		d, _ = timed(berthEnv(src), bin, "push", "-q", name)
		berthPush = append(berthPush, d)
		d, _ = timed(os.Environ(), craneBin, "push", layout, fmt.Sprintf("%s/bench/crane-push-%d:1", reg.Addr, i))
		cranePush = append(cranePush, d)

		d, _ = timed(berthEnv(presentRoot), bin, "pull", "-q", ref)
		present = append(present, d)
	}

	// One pull of the present image through a counting proxy: it must fetch no blob.
	blobs, manifests := countPull(berthEnv(presentRoot), bin, reg.Addr)

	fmt.Printf("\n## berth vs crane, %d MB Wasm image, loopback docker-registry (median of %d, interleaved)\n\n", *size, *n)
	fmt.Println("| operation | berth | crane | berth / crane | target |")
	fmt.Println("|---|---|---|---|---|")
	cp := median(cranePull)
	main.print("berth", cp, true)
	if *against != "" {
		before.print("-against "+filepath.Base(*against), cp, false)
		fmt.Printf("| pull, berth / -against (whole process) | | | %.3f× | |\n", ratio(median(main.whole), median(before.whole)))
	}
	bs, cs := median(berthPush), median(cranePush)
	fmt.Printf("| push | %s | %s | **%.2f×** | ≤ 1.2× |\n", ms(bs), ms(cs), ratio(bs, cs))
	fmt.Printf("| pull of a present image | %s | | | ≤ 20 ms, no blob |\n", ms(median(present)))
	fmt.Printf("\nPull of the present image through a counting proxy: %d blob GETs, %d manifest requests.\n", blobs, manifests)
	if len(main.order) > 0 {
		var parts []string
		for _, p := range main.order {
			parts = append(parts, fmt.Sprintf("%s %s", p, ms(median(main.phases[p]))))
		}
		fmt.Printf("Phases of `berth --debug pull` (medians): %s.\n", strings.Join(parts, ", "))
	}
}

// pulls are one binary's timed pulls.
type pulls struct {
	whole  []time.Duration // the whole process
	strict []time.Duration // the whole process minus the time it only waited for the compile
	phases map[string][]time.Duration
	order  []string
}

const waitedPhase = "pull: waited for the compile"

func (p *pulls) add(d time.Duration, phases []phase) {
	p.whole = append(p.whole, d)
	for _, ph := range phases {
		if _, seen := p.phases[ph.name]; !seen {
			p.order = append(p.order, ph.name)
		}
		p.phases[ph.name] = append(p.phases[ph.name], ph.d)
		if ph.name == waitedPhase {
			p.strict = append(p.strict, d-ph.d)
		}
	}
}

// print writes the pull rows of the table, against crane's median cp.
func (p *pulls) print(who string, cp time.Duration, target bool) {
	goal := ""
	if target {
		goal = "≤ 1.2×"
	}
	bp := median(p.whole)
	fmt.Printf("| pull by %s (whole process, precompile included) | %s | %s | %.2f× | |\n", who, ms(bp), ms(cp), ratio(bp, cp))
	if c, name := compilePhase(p.phases); name != "" {
		fmt.Printf("| pull by %s, `%s` phase (%s) excluded | %s | %s | **%.2f×** | %s |\n", who, name, ms(c), ms(bp-c), ms(cp), ratio(bp-c, cp), goal)
	} else {
		fmt.Printf("| pull by %s, precompile excluded | (no compile phase in `berth --debug pull`) | | | %s |\n", who, goal)
	}
	if len(p.strict) == len(p.whole) {
		sp := median(p.strict)
		fmt.Printf("| pull by %s, only its wait for the compile (%s) excluded | %s | %s | **%.2f×** | |\n", who, ms(median(p.phases[waitedPhase])), ms(sp), ms(cp), ratio(sp, cp))
	}
}

// bigModule returns a Wasm module (WASI command: exports _start and memory) whose data
// section holds dataSize random bytes.
func bigModule(dataSize int) []byte {
	data := make([]byte, dataSize)
	_, err := rand.Read(data)
	check(err)
	pages := uint64(dataSize+65535)/65536 + 1
	section := func(id byte, content []byte) []byte {
		return append(append([]byte{id}, uleb(uint64(len(content)))...), content...)
	}
	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	m = append(m, section(1, []byte{0x01, 0x60, 0x00, 0x00})...)             // type 0: () -> ()
	m = append(m, section(3, []byte{0x01, 0x00})...)                         // func 0: type 0
	m = append(m, section(5, append([]byte{0x01, 0x00}, uleb(pages)...))...) // memory 0: min pages
	exports := []byte{0x02}
	exports = append(append(append(exports, 0x06), "memory"...), 0x02, 0x00) // "memory": memory 0
	exports = append(append(append(exports, 0x06), "_start"...), 0x00, 0x00) // "_start": func 0
	m = append(m, section(7, exports)...)
	m = append(m, section(10, []byte{0x01, 0x02, 0x00, 0x0b})...) // body: no locals, end
	seg := []byte{0x01, 0x00, 0x41, 0x00, 0x0b}                   // one active segment at i32.const 0
	seg = append(append(seg, uleb(uint64(dataSize))...), data...)
	return append(m, section(11, seg)...)
}

func uleb(v uint64) []byte {
	b := make([]byte, binary.MaxVarintLen64)
	return b[:binary.PutUvarint(b, v)]
}

// countPull pulls the present image through a reverse proxy that counts requests, and
// returns the blob GETs and the manifest requests it saw.
func countPull(env []string, bin, upstream string) (blobs, manifests int64) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	u, _ := url.Parse("http://" + upstream)
	rp := httputil.NewSingleHostReverseProxy(u)
	var nb, nm atomic.Int64
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch registrytest.KindOf(r.URL.Path) {
		case registrytest.KindBlob:
			if r.Method == http.MethodGet {
				nb.Add(1)
			}
		case registrytest.KindManifest:
			nm.Add(1)
		}
		r.Host = upstream
		rp.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	defer srv.Close()
	// The proxy is another registry address to berth: tag the present image with it, so
	// the pull finds the image in the store by that name.
	via := l.Addr().String() + "/bench/big:1"
	must(env, bin, "tag", upstream+"/bench/big:1", via)
	must(env, bin, "pull", "-q", via)
	return nb.Load(), nm.Load()
}

type phase struct {
	name string
	d    time.Duration
}

// parsePhases reads berth's debug lines: `msg=phase phase=NAME dur=D` (a run or
// prepare phase) and `msg="pull: WHAT" … took=D` (the steps of a pull).
func parsePhases(out string) []phase {
	var ps []phase
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		var p phase
		switch {
		case strings.Contains(line, "msg=phase "):
			for _, f := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(f, "phase="); ok {
					p.name = v
				}
				if v, ok := strings.CutPrefix(f, "dur="); ok {
					p.d, _ = time.ParseDuration(v)
				}
			}
		case strings.Contains(line, `msg="pull: `):
			rest := line[strings.Index(line, `msg="pull: `)+len(`msg="`):]
			p.name = rest[:strings.IndexByte(rest, '"')]
			for _, f := range strings.Fields(rest) {
				if v, ok := strings.CutPrefix(f, "took="); ok {
					p.d, _ = time.ParseDuration(v)
				}
			}
		}
		if p.name != "" && p.d > 0 {
			ps = append(ps, p)
		}
	}
	return ps
}

// compilePhase returns the median of the precompile phase, if berth logged one.
func compilePhase(phases map[string][]time.Duration) (time.Duration, string) {
	if ds, ok := phases["precompile"]; ok {
		return median(ds), "precompile"
	}
	return 0, ""
}

func defaultCrane() string {
	if d := os.Getenv("BERTH_E2E_CRANE_BIN"); d != "" {
		return filepath.Join(d, "crane")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "berth-ci", "bin", "crane-v0.22.1", "crane")
}

// timed runs a command, fails on error, and returns its wall time and combined output.
func timed(env []string, name string, args ...string) (time.Duration, string) {
	c := exec.Command(name, args...)
	c.Env = env
	start := time.Now()
	b, err := c.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n%s", name, args, err, b)
		os.Exit(1)
	}
	return d, string(b)
}

func must(env []string, name string, args ...string) { timed(env, name, args...) }

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string        { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "regbench:", err)
		os.Exit(1)
	}
}
