package wasi

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"
)

// edgeRun is a guest running on a System in the background, with its stdout and
// stderr read line by line. The tests here run guests on wazero directly rather than
// through internal/engine so they can give the System any Config (a socket policy).
type edgeRun struct {
	t      *testing.T
	cancel context.CancelFunc // ends the System's context: interrupts the guest
	lines  chan string
	done   chan uint32
	seen   []string
}

// startEdgeGuest starts wasm with cfg and args. A guest importing a function the host
// does not provide yet is skipped, naming it.
func startEdgeGuest(t *testing.T, wasm []byte, cfg Config, args ...string) *edgeRun {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(os.TempDir(), fmt.Sprintf("berth-wasi-test-wazero-%d", os.Getuid())))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCompilationCache(cache))
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	funcs := Funcs()
	var s *System
	hb := rt.NewHostModuleBuilder(ModuleName)
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		f, found, ok := Lookup(funcs, name, edgeTypes(imp.ParamTypes()), edgeTypes(imp.ResultTypes()))
		if mod != ModuleName || !ok {
			rt.Close(ctx)
			cancel()
			what := "function"
			if found {
				what = "signature of"
			}
			t.Skipf("berth's WASI host has no %s %s.%s yet (another part of issue 4): guest skipped", what, mod, name)
		}
		call := f.Call
		params := make([]api.ValueType, len(f.Params))
		for i, p := range f.Params {
			params[i] = api.ValueType(p)
		}
		results := make([]api.ValueType, len(f.Results))
		for i, r := range f.Results {
			results[i] = api.ValueType(r)
		}
		hb.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, m api.Module, stack []uint64) {
			var mem []byte
			if m.Memory() != nil {
				mem, _ = m.Memory().Read(0, m.Memory().Size())
			}
			call(ctx, s, mem, stack)
		}), params, results).Export(name)
	}
	if _, err := hb.Instantiate(ctx); err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s, err = New(ctx, cfg.WithArgs(append([]string{"guest"}, args...)...).WithStdout(w).WithStderr(w).
		WithExit(func(code uint32) { panic(sys.NewExitError(code)) }))
	if err != nil {
		t.Fatal(err)
	}
	run := &edgeRun{t: t, cancel: cancel, lines: make(chan string, 64), done: make(chan uint32, 1)}
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			run.lines <- sc.Text()
		}
		close(run.lines)
		r.Close()
	}()
	go func() {
		var code uint32
		_, err := rt.InstantiateModule(ctx, cm, wazero.NewModuleConfig())
		var ee *sys.ExitError
		switch {
		case errors.As(err, &ee):
			code = ee.ExitCode()
		case err != nil:
			code = 255
			w.WriteString("ERROR " + err.Error() + "\n")
		}
		w.Close()
		s.Close()
		rt.Close(context.Background())
		run.done <- code
	}()
	t.Cleanup(func() {
		cancel() // interrupts a guest still waiting in a host call
		select {
		case <-run.done:
		case <-time.After(10 * time.Second):
			t.Errorf("guest did not stop after its context ended")
		}
	})
	return run
}

func edgeTypes(ts []api.ValueType) []ValueType {
	out := make([]ValueType, len(ts))
	for i, t := range ts {
		out[i] = ValueType(t)
	}
	return out
}

// expect returns the rest of the next output line that starts with prefix, failing
// on a "FAIL" line, on the guest's end or after a timeout.
func (r *edgeRun) expect(prefix string) string {
	r.t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				r.t.Fatalf("guest ended before printing %q; output:\n%s", prefix, strings.Join(r.seen, "\n"))
			}
			r.seen = append(r.seen, l)
			if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "ERROR") || strings.HasPrefix(l, "panic") {
				r.drain()
				r.t.Fatalf("guest: %s; output:\n%s", l, strings.Join(r.seen, "\n"))
			}
			if rest, ok := strings.CutPrefix(l, prefix); ok {
				return strings.TrimSpace(rest)
			}
		case <-timeout:
			r.t.Fatalf("no %q from the guest after 20s; output:\n%s", prefix, strings.Join(r.seen, "\n"))
		}
	}
}

// drain collects what is left of the output (until the guest closes it or 2 s pass).
func (r *edgeRun) drain() {
	timeout := time.After(2 * time.Second)
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				return
			}
			r.seen = append(r.seen, l)
		case <-timeout:
			return
		}
	}
}

// wait waits for the guest to end and checks its exit code.
func (r *edgeRun) wait(want uint32) {
	r.t.Helper()
	select {
	case code := <-r.done:
		r.done <- code
		r.drain()
		for _, l := range r.seen {
			if strings.HasPrefix(l, "FAIL") || strings.HasPrefix(l, "ERROR") {
				r.t.Errorf("guest: %s", l)
			}
		}
		if code != want {
			r.t.Fatalf("guest exit code %d, want %d; output:\n%s", code, want, strings.Join(r.seen, "\n"))
		}
	case <-time.After(30 * time.Second):
		r.drain()
		r.t.Fatalf("guest still running after 30s; output:\n%s", strings.Join(r.seen, "\n"))
	}
}
