// Command runbench measures `berth run --rm` against a minimal wazero runner (bench/baseline)
// and against the same program compiled natively, side by side in one run, and the first
// run after `berth load` against the second. It prints medians and ratios.
//
//	go run ./bench/runbench [-n 40] [-first 6] [-fifo] [-against OLD_BERTH]
//
// Runs are interleaved (native, baseline, berth, native, …) so that machine noise hits all
// alike. Every figure is the wall time of a whole process, fork to exit.
//
// The guests: the C hello (~4 KB, built with -s), the same C hello with the DWARF
// sections Debian's wasi-libc brings (42 KB; the baseline reads them, as wazero does by
// default, and berth does not), and a Go hello (~2.6 MB, no DWARF).
//
// berth is measured twice: with its default state directory (where a --rm container's
// files go: /run/berth as root, $XDG_RUNTIME_DIR/berth otherwise; see internal/paths),
// and with BERTH_STATE on a tmpfs (/dev/shm). /run is a tmpfs on a standard Linux host
// (systemd mounts it so), where the two agree; the output says what the default is on
// this machine, so that a figure measured on disk is not mistaken for the standard case.
//
// With -fifo the timed processes run under SCHED_FIFO (priority 10, as `chrt -f 10`), so
// that other work on a shared machine does not preempt them: the figures approach those
// of an idle machine. It needs CAP_SYS_NICE (root); the builds before it run as usual.
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berth-dev/berth/internal/paths"
)

var (
	n     = flag.Int("n", 40, "runs per command")
	first = flag.Int("first", 6, "first-vs-second run pairs")
	keep  = flag.Bool("keep", false, "keep the work directory")
	fifo  = flag.Bool("fifo", false, "time the processes under SCHED_FIFO priority 10 (needs root)")
	// -against: a before/after in one run, on the same noise.
	against = flag.String("against", "", "a second berth binary (say, the commit before a change) timed in the same rounds, with a data root of its own")
)

func main() {
	flag.Parse()
	work, err := os.MkdirTemp("", "berth-bench-")
	check(err)
	if !*keep {
		defer os.RemoveAll(work)
	}
	root := filepath.Join(work, "root")
	bin := func(name string) string { return filepath.Join(work, name) }
	fmt.Println("building berth, the baseline runner and the guests…")
	// As `make berth`: the core build times `run`, the complete one beside it does the
	// builds, saves and loads the core build hands it.
	goBuild(nil, bin("berth"), "./cmd/berth", "-tags", "berth_core")
	goBuild(nil, bin("berth-full"), "./cmd/berth")
	if *against != "" {
		copyFile(*against, bin("berth-against"))
	}
	goBuild(nil, bin("baseline"), "./bench/baseline")
	goBuild([]string{"GOOS=wasip1", "GOARCH=wasm"}, bin("gohello.wasm"), "./bench/guests/gohello")
	goBuild(nil, bin("gohello-native"), "./bench/guests/gohello")
	// The C hello is ~4 KB: without the debug sections Debian's wasi-libc brings
	// (-s). The one with them (42 KB) is measured too, as a module with DWARF.
	run("clang", "--target=wasm32-wasi", "-O2", "-s", "bench/guests/hello.c", "-o", bin("chello.wasm"))
	run("clang", "--target=wasm32-wasi", "-O2", "bench/guests/hello.c", "-o", bin("chello-dwarf.wasm"))
	run("cc", "-O2", "bench/guests/hello.c", "-o", bin("chello-native"))
	// Every timed binary is a copied file, as the -against binary is: how a binary's file
	// sits in the page cache moves its start-up by up to ~1 ms (docs/benchmarks.md).
	for _, name := range []string{"berth", "baseline", "gohello-native", "chello-native"} {
		copyFile(bin(name), bin(name))
	}

	env := append(withoutEnv(os.Environ(), "BERTH_STATE"), "BERTH_ROOT="+root)
	defaultState := paths.DefaultState(func(k string) string {
		if k == "BERTH_STATE" {
			return ""
		}
		return os.Getenv(k)
	}, os.Getuid())
	if defaultState == "" {
		defaultState = filepath.Join(root, "state")
	}
	_, statErr := os.Stat(defaultState)
	defer cleanState(defaultState, root, errors.Is(statErr, fs.ErrNotExist))
	var tmpfsEnv []string
	if fsType(filepath.Dir(defaultState)) != "tmpfs" && fsType("/dev/shm") == "tmpfs" {
		shm, err := os.MkdirTemp("/dev/shm", "berth-bench-state-")
		check(err)
		defer os.RemoveAll(shm)
		tmpfsEnv = slices.Concat(env, []string{"BERTH_STATE=" + shm})
	}
	// The baseline as berth runs by default: without reading the module's DWARF (see
	// engine.WithBacktraceDetails). The baseline reads it, as wazero does by default.
	// slices.Concat, never append(env, …): env has spare capacity, and two appends to it
	// would share (and overwrite) one element.
	noDWARF := slices.Concat(env, []string{"BASELINE_NO_DWARF=1"})
	rootAgainst := filepath.Join(work, "root-against")
	envAgainst := append(withoutEnv(env, "BERTH_ROOT"), "BERTH_ROOT="+rootAgainst)
	var tmpfsAgainst []string
	if tmpfsEnv != nil {
		tmpfsAgainst = append(withoutEnv(tmpfsEnv, "BERTH_ROOT"), "BERTH_ROOT="+rootAgainst)
	}
	if *against != "" {
		defer cleanState(defaultState, rootAgainst, false)
	}
	type guest struct{ name, wasm, native, image string }
	guests := []guest{
		{"C hello", bin("chello.wasm"), bin("chello-native"), "bench/chello:1"},
		{"C hello with DWARF", bin("chello-dwarf.wasm"), bin("chello-native"), "bench/chello-dwarf:1"},
		{"Go hello", bin("gohello.wasm"), bin("gohello-native"), "bench/gohello:1"},
	}
	for _, g := range guests {
		fi, _ := os.Stat(g.wasm)
		fmt.Printf("%s: %s (%d bytes)\n", g.name, filepath.Base(g.wasm), fi.Size())
		ctx := filepath.Join(work, "ctx-"+filepath.Base(g.wasm))
		check(os.MkdirAll(ctx, 0o755))
		copyFile(g.wasm, filepath.Join(ctx, "app.wasm"))
		check(os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte("FROM scratch\nCOPY app.wasm /app.wasm\nENTRYPOINT [\"/app.wasm\"]\n"), 0o644))
		runEnv(env, bin("berth"), "build", "-q", "-t", g.image, ctx)
		if *against != "" {
			runEnv(envAgainst, bin("berth-against"), "build", "-q", "-t", g.image, ctx)
		}
		runEnv(env, bin("baseline"), filepath.Join(work, "basecache"), g.wasm) // warm the baseline's cache
		runEnv(noDWARF, bin("baseline"), filepath.Join(work, "basecache-nodwarf"), g.wasm)
	}

	if *fifo {
		// Children inherit the scheduling policy of the thread that forks them: this one,
		// which every later exec.Command runs on.
		runtime.LockOSThread()
		check(unix.SchedSetAttr(0, &unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}, 0))
		fmt.Println("\nTimed processes run under SCHED_FIFO priority 10 (-fifo).")
	}
	fmt.Printf("\n## berth run --rm vs baseline vs native (whole process, median of %d, interleaved)\n\n", *n)
	fmt.Printf("berth's default state directory here: %s, on %s", defaultState, fsType(filepath.Dir(defaultState)))
	if tmpfsEnv != nil {
		fmt.Printf(" (a standard host has /run on tmpfs); berth is also measured with BERTH_STATE on tmpfs (/dev/shm).\n\n")
		fmt.Println("| guest | native | baseline (wazero + disk cache) | berth run --rm, default state | berth run --rm, state on tmpfs | berth / baseline | berth (tmpfs) / baseline | berth / native |")
		fmt.Println("|---|---|---|---|---|---|---|---|")
	} else {
		fmt.Printf(".\n\n")
		fmt.Println("| guest | native | baseline (wazero + disk cache) | berth run --rm | berth / baseline | berth / native |")
		fmt.Println("|---|---|---|---|---|---|")
	}
	var likeForLike, againstLines []string
	for _, g := range guests {
		cmds := []command{
			{env, []string{g.native}},
			{env, []string{bin("baseline"), filepath.Join(work, "basecache"), g.wasm}},
			{env, []string{bin("berth"), "run", "--rm", g.image}},
		}
		if tmpfsEnv != nil {
			cmds = append(cmds, command{tmpfsEnv, []string{bin("berth"), "run", "--rm", g.image}})
		}
		cmds = append(cmds, command{noDWARF, []string{bin("baseline"), filepath.Join(work, "basecache-nodwarf"), g.wasm}})
		nBase := len(cmds)
		if *against != "" {
			cmds = append(cmds, command{envAgainst, []string{bin("berth-against"), "run", "--rm", g.image}})
			if tmpfsEnv != nil {
				cmds = append(cmds, command{tmpfsAgainst, []string{bin("berth-against"), "run", "--rm", g.image}})
			}
		}
		meds := interleave(cmds, *n)
		nd := meds[nBase-1]
		if *against != "" {
			l := fmt.Sprintf("%s: -against %s; berth / -against %.3f×", g.name, ms(meds[nBase]), ratio(meds[2], meds[nBase]))
			if tmpfsEnv != nil {
				l += fmt.Sprintf(", with the state on tmpfs %s, %.3f×", ms(meds[nBase+1]), ratio(meds[3], meds[nBase+1]))
			}
			againstLines = append(againstLines, l)
		}
		line := fmt.Sprintf("%s: baseline not reading DWARF %s; berth / it %.2f×", g.name, ms(nd), ratio(meds[2], nd))
		if tmpfsEnv != nil {
			line += fmt.Sprintf(", %.2f× with the state on tmpfs", ratio(meds[3], nd))
		}
		likeForLike = append(likeForLike, line)
		if tmpfsEnv != nil {
			fmt.Printf("| %s | %s | %s | %s | %s | **%.2f×** | **%.2f×** | %.1f× |\n", g.name, ms(meds[0]), ms(meds[1]), ms(meds[2]), ms(meds[3]),
				ratio(meds[2], meds[1]), ratio(meds[3], meds[1]), ratio(meds[2], meds[0]))
		} else {
			fmt.Printf("| %s | %s | %s | %s | **%.2f×** | %.1f× |\n", g.name, ms(meds[0]), ms(meds[1]), ms(meds[2]),
				ratio(meds[2], meds[1]), ratio(meds[2], meds[0]))
		}
	}

	fmt.Printf("\nLike for like (the baseline not reading the module's DWARF either, as berth by default; same rounds):\n")
	for _, l := range likeForLike {
		fmt.Println("- " + l)
	}
	if *against != "" {
		fmt.Printf("\nBefore/after (-against %s, same rounds):\n", *against)
		for _, l := range againstLines {
			fmt.Println("- " + l)
		}
	}

	fmt.Printf("\n## first run after load vs second run (median of %d pairs)\n\n", *first)
	fmt.Println("| guest | first run | second run | first / second |")
	fmt.Println("|---|---|---|---|")
	for _, g := range guests {
		tar := filepath.Join(work, "img.tar")
		runEnv(env, bin("berth"), "save", "-o", tar, g.image)
		var r1, r2 []time.Duration
		for i := 0; i < *first; i++ {
			// rmi drops the snapshot and the compiled code; load brings both back.
			runEnv(env, bin("berth"), "rmi", g.image)
			runEnv(env, bin("berth"), "load", "-q", "-i", tar)
			r1 = append(r1, timeCmd(env, bin("berth"), "run", "--rm", g.image))
			r2 = append(r2, timeCmd(env, bin("berth"), "run", "--rm", g.image))
		}
		fmt.Printf("| %s | %s | %s | **%.2f×** |\n", g.name, ms(median(r1)), ms(median(r2)), ratio(median(r1), median(r2)))
	}

	fmt.Printf("\n## where berth's time goes (median of %d, from `berth --debug run`)\n\n", *n)
	fmt.Println("| guest | process start + CLI (`berth version`) | phases inside `run` |")
	fmt.Println("|---|---|---|")
	for _, g := range guests {
		var vt []time.Duration
		phases := map[string][]time.Duration{}
		var order []string
		for i := 0; i < *n; i++ {
			vt = append(vt, timeCmd(env, bin("berth"), "version"))
			out, err := execEnv(env, bin("berth"), "--debug", "run", "--rm", g.image)
			check(err)
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				name, d, ok := parsePhase(sc.Text())
				if !ok {
					continue
				}
				if _, seen := phases[name]; !seen {
					order = append(order, name)
				}
				phases[name] = append(phases[name], d)
			}
		}
		var parts []string
		for _, p := range order {
			parts = append(parts, fmt.Sprintf("%s %s", p, ms(median(phases[p]))))
		}
		fmt.Printf("| %s | %s | %s |\n", g.name, ms(median(vt)), strings.Join(parts, ", "))
	}
}

// parsePhase reads a slog line `… msg=phase phase=NAME dur=1.234ms`.
func parsePhase(line string) (string, time.Duration, bool) {
	if !strings.Contains(line, "msg=phase") {
		return "", 0, false
	}
	var name string
	var d time.Duration
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, "phase="); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(f, "dur="); ok {
			d, _ = time.ParseDuration(v)
		}
	}
	return name, d, name != ""
}

// command is a process to time: its environment and its argv.
type command struct {
	env  []string
	argv []string
}

func interleave(cmds []command, n int) []time.Duration {
	times := make([][]time.Duration, len(cmds))
	for i := 0; i < n; i++ {
		for j, c := range cmds {
			times[j] = append(times[j], timeCmd(c.env, c.argv[0], c.argv[1:]...))
		}
	}
	out := make([]time.Duration, len(cmds))
	for j := range cmds {
		out[j] = median(times[j])
	}
	return out
}

func timeCmd(env []string, name string, args ...string) time.Duration {
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	check(err)
	defer devnull.Close()
	c := exec.Command(name, args...)
	c.Env, c.Stdout, c.Stderr = env, devnull, devnull
	start := time.Now()
	if err := c.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n", name, args, err)
		os.Exit(1)
	}
	return time.Since(start)
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string        { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }
func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func goBuild(env []string, out, pkg string, flags ...string) {
	c := exec.Command("go", append(append([]string{"build", "-trimpath", "-o", out}, flags...), pkg)...)
	// Static binaries, as `make berth` builds them: no dynamic loader at start-up.
	c.Env = append(append(os.Environ(), "CGO_ENABLED=0"), env...)
	c.Stderr = os.Stderr
	check(c.Run())
}

func run(name string, args ...string) { runEnv(os.Environ(), name, args...) }

func runEnv(env []string, name string, args ...string) {
	if _, err := execEnv(env, name, args...); err != nil {
		fmt.Fprintf(os.Stderr, "%s %v: %v\n", name, args, err)
		os.Exit(1)
	}
}

func execEnv(env []string, name string, args ...string) (string, error) {
	c := exec.Command(name, args...)
	c.Env = env
	b, err := c.CombinedOutput()
	if err != nil {
		return string(b), fmt.Errorf("%w\n%s", err, b)
	}
	return string(b), nil
}

// fsType names the file system dir is on ("tmpfs", "ext4", …), as far as runbench knows it.
func fsType(dir string) string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "an unknown file system (" + err.Error() + ")"
	}
	switch st.Type {
	case unix.TMPFS_MAGIC:
		return "tmpfs"
	case unix.EXT4_SUPER_MAGIC:
		return "ext4"
	case unix.XFS_SUPER_MAGIC:
		return "xfs"
	case unix.BTRFS_SUPER_MAGIC:
		return "btrfs"
	case unix.OVERLAYFS_SUPER_MAGIC:
		return "overlayfs"
	}
	return fmt.Sprintf("file system type %#x", st.Type)
}

// cleanState removes what the benchmark's data root left in the default state directory:
// its own subdirectory, and the directory itself when the benchmark made it and it is empty.
func cleanState(state, root string, made bool) {
	_ = os.RemoveAll(paths.StateFor(state, root))
	if made {
		_ = os.Remove(state)
	}
}

func withoutEnv(env []string, key string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	return out
}

func copyFile(src, dst string) {
	b, err := os.ReadFile(src)
	check(err)
	check(os.WriteFile(dst, b, 0o755))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "runbench:", err)
		os.Exit(1)
	}
}
