package engine

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestRun(t *testing.T) {
	t.Parallel()
	e := newEngine(t, sharedCacheDir(t))
	cHelloWasm, goHelloWasm := cHello(t), goHello(t)
	argsEnv, stdin := cGuest(t, cArgsEnv), cGuest(t, cStdin)

	tests := []struct {
		name     string
		spec     Spec
		wantOut  string
		wantCode int
	}{
		{"c hello", Spec{Module: cHelloWasm, Args: []string{"hello"}}, "hello from c\n", 0},
		{"go hello with args", Spec{Module: goHelloWasm, Args: []string{"hello", "a", "b c"}}, "hello from wasm\na\nb c\n", 0},
		{"go os.Exit(3)", Spec{Module: goHelloWasm, Args: []string{"hello"}, Env: []string{"EXIT=3"}}, "hello from wasm\n", 3},
		{"go os.Exit(255)", Spec{Module: goHelloWasm, Args: []string{"hello"}, Env: []string{"EXIT=255"}}, "hello from wasm\n", 255},
		{"c args and env", Spec{Module: argsEnv, Args: []string{"prog", "x y", "-z"}, Env: []string{"GREETING=hi=there"}},
			"arg0=prog\narg1=x y\narg2=-z\nGREETING=hi=there\n", 0},
		{"c no env", Spec{Module: argsEnv, Args: []string{"prog"}}, "arg0=prog\nGREETING=(unset)\n", 0},
		{"c exit(0)", Spec{Module: argsEnv, Args: []string{"prog"}, Env: []string{"EXIT=0"}}, "arg0=prog\nGREETING=(unset)\n", 0},
		{"c exit(3)", Spec{Module: argsEnv, Args: []string{"prog"}, Env: []string{"EXIT=3"}}, "arg0=prog\nGREETING=(unset)\n", 3},
		{"c exit(255)", Spec{Module: argsEnv, Args: []string{"prog"}, Env: []string{"EXIT=255"}}, "arg0=prog\nGREETING=(unset)\n", 255},
		{"stdin", Spec{Module: stdin, Stdin: strings.NewReader("line one\nline two\n")}, "got: line one\nline two\n", 0},
		{"nil stdin reads empty", Spec{Module: stdin}, "got: ", 0},
		{"digest given", Spec{Module: cHelloWasm, Digest: Digest(cHelloWasm)}, "hello from c\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			tt.spec.Stdout, tt.spec.Stderr = &stdout, &stderr
			code, err := e.Run(context.Background(), tt.spec)
			if err != nil {
				t.Fatalf("Run: %v (stderr %q)", err, stderr.String())
			}
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d", code, tt.wantCode)
			}
			if got := stdout.String(); got != tt.wantOut {
				t.Errorf("stdout = %q, want %q", got, tt.wantOut)
			}
		})
	}
}

// bombs are tiny modules whose declared sizes make wazero v1.12.0's decoder try to
// allocate gigabytes, which kills the process; scanModule must refuse them first.
var bombs = []struct {
	name string
	wasm []byte
}{
	{"3 billion parameters", []byte("\x00asm\x01\x00\x00\x00\x01\x07\x01\x60\xfe\xff\xff\xff\x0b")},
	{"4 billion locals", []byte("\x00asm\x01\x00\x00\x00\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00" +
		"\x0a\x0a\x01\x08\x01\xff\xff\xff\xff\x0f\x7f\x0b")},
	{"4 GiB custom section", []byte("\x00asm\x01\x00\x00\x00\x00\xff\xff\xff\xff\x0f\x04abcd")},
	{"4 billion function names", []byte("\x00asm\x01\x00\x00\x00\x00\x0c\x04name\x01\x05\xff\xff\xff\xff\x0f")},
	{"4 GiB data segment", []byte("\x00asm\x01\x00\x00\x00\x0b\x07\x01\x01\xff\xff\xff\xff\x0f")},
	{"4 billion imports", []byte("\x00asm\x01\x00\x00\x00\x02\x05\xff\xff\xff\xff\x0f")},
	{"4 GiB import name", []byte("\x00asm\x01\x00\x00\x00\x02\x06\x01\xff\xff\xff\xff\x0f")},
}

func TestRunErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEngine(t, dir)
	hello := cHello(t)
	envFoo := cGuest(t, cImportsEnvFoo)
	reactor := cGuest(t, cReactor, "-mexec-model=reactor")

	tests := []struct {
		name    string
		wasm    []byte
		is      error  // errors.Is target
		wantMsg string // substring of the message
	}{
		{"malformed bytes", []byte("this is not wasm at all"), ErrInvalidModule, "not a valid WebAssembly module: invalid magic number"},
		{"empty", nil, ErrInvalidModule, "not a valid WebAssembly module: "},
		{"native executable", []byte("\x7fELF\x02\x01\x01\x00rest of an ELF header"), ErrInvalidModule,
			"not a valid WebAssembly module: invalid magic number: this is a native ELF executable, not WebAssembly (an image for linux instead of wasi/wasm?)"},
		{"truncated", hello[:len(hello)/2], ErrInvalidModule, "not a valid WebAssembly module: "},
		{"imports env.foo", envFoo, ErrUnknownImport,
			"the module imports env.foo, which berth does not provide (it provides wasi_snapshot_preview1)"},
		{"reactor", reactor, ErrNotCommand, "no _start export"},
		{"_start with a parameter", wasmModule(
			[]byte("\x01\x01\x60\x01\x7f\x00"),
			[]byte("\x03\x01\x00"),
			cat([]byte{7, 1}, wasmName("_start"), []byte{0, 0}),
			[]byte("\x0a\x01\x02\x00\x0b"),
		), ErrNotCommand, "_start must take no parameters"},
	}
	for _, b := range bombs {
		tests = append(tests, struct {
			name    string
			wasm    []byte
			is      error
			wantMsg string
		}{"bomb: " + b.name, b.wasm, ErrInvalidModule, "not a valid WebAssembly module: section "})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, op := range []string{"Run", "Precompile"} {
				var err error
				if op == "Run" {
					var code int
					code, err = e.Run(context.Background(), Spec{Module: tt.wasm})
					if code != -1 {
						t.Errorf("Run exit code = %d, want -1 with an error", code)
					}
				} else {
					var digest string
					digest, err = e.Precompile(context.Background(), tt.wasm)
					if digest != Digest(tt.wasm) {
						t.Errorf("Precompile digest = %q, want %q", digest, Digest(tt.wasm))
					}
				}
				if !errors.Is(err, tt.is) {
					t.Fatalf("%s error = %v, want errors.Is %v", op, err, tt.is)
				}
				if !strings.Contains(err.Error(), tt.wantMsg) {
					t.Errorf("%s error = %q, want it to contain %q", op, err, tt.wantMsg)
				}
				// A module that cannot run leaves nothing in the cache.
				if _, err := os.Stat(filepath.Join(dir, Digest(tt.wasm)[7:])); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("after %s: cache directory of the bad module: %v, want it absent", op, err)
				}
			}
		})
	}

	t.Run("ImportError fields", func(t *testing.T) {
		_, err := e.Run(context.Background(), Spec{Module: envFoo})
		var ie *ImportError
		if !errors.As(err, &ie) || ie.Module != "env" || ie.Name != "foo" {
			t.Fatalf("error = %#v, want *ImportError{env, foo}", err)
		}
	})

	t.Run("bad spec", func(t *testing.T) {
		for _, spec := range []Spec{
			{Module: hello, Digest: "sha256:../../etc"},
			{Module: hello, Digest: "md5:abc"},
			{Module: hello, Env: []string{"NOEQUALS"}},
			{Module: hello, Env: []string{"=x"}},
			{Module: hello, Mounts: []Mount{{Source: filepath.Join(dir, "missing"), Target: "/data"}}},
			{Module: hello, Mounts: []Mount{{Source: dir, Target: "relative"}}},
		} {
			if code, err := e.Run(context.Background(), spec); err == nil || code != -1 {
				t.Errorf("Run(%+v) = %d, %v; want an error", spec, code, err)
			}
		}
	})

	t.Run("context done before start", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var out bytes.Buffer
		if _, err := e.Run(ctx, Spec{Module: hello, Stdout: &out}); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run error = %v, want context.Canceled", err)
		}
		if out.Len() != 0 {
			t.Errorf("guest ran: %q", out.String())
		}
	})
}

func TestTrap(t *testing.T) {
	t.Parallel()
	e := newEngine(t, t.TempDir())
	var out bytes.Buffer
	code, err := e.Run(context.Background(), Spec{Module: cGuest(t, cTrap), Args: []string{"trap"}, Stdout: &out})
	var te *TrapError
	if !errors.As(err, &te) {
		t.Fatalf("Run = %d, %v; want a *TrapError", code, err)
	}
	if te.Reason != "unreachable" {
		t.Errorf("Reason = %q, want unreachable", te.Reason)
	}
	if len(te.Stack) < 2 || te.Stack[0] != "crash_here(i32)" || te.Stack[1] != "main(i32,i32) i32" {
		t.Errorf("Stack = %q, want crash_here(i32) then main innermost", te.Stack)
	}
	if !strings.Contains(err.Error(), "wasm trap: unreachable") || !strings.Contains(err.Error(), "crash_here") {
		t.Errorf("Error() = %q", err)
	}
	if out.String() != "before\n" {
		t.Errorf("stdout = %q, want the output before the trap", out.String())
	}
}

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	e := newEngine(t, t.TempDir())
	big := cGuest(t, cBigMemory, "-Wl,--initial-memory=1048576")
	malloc := cGuest(t, cMalloc)

	t.Run("initial memory above the limit", func(t *testing.T) {
		_, err := e.Run(context.Background(), Spec{Module: big, MemoryLimit: 512<<10 + 100})
		if !errors.Is(err, ErrMemoryLimit) {
			t.Fatalf("Run error = %v, want ErrMemoryLimit", err)
		}
		for _, want := range []string{"1 MiB", "16 pages", "512 KiB", "8 pages"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})

	tests := []struct {
		name  string
		wasm  []byte
		limit uint64
		want  string
	}{
		{"initial memory at the limit", big, 1 << 20, ""},
		{"no limit", malloc, 0, "malloc ok\n"},
		{"generous limit", malloc, 64 << 20, "malloc ok\n"},
		{"growing past the limit fails in the guest", malloc, 8 << 20, "malloc failed\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code, err := e.Run(context.Background(), Spec{Module: tt.wasm, MemoryLimit: tt.limit, Stdout: &out})
			if err != nil || code != 0 {
				t.Fatalf("Run = %d, %v", code, err)
			}
			if out.String() != tt.want {
				t.Errorf("stdout = %q, want %q", out.String(), tt.want)
			}
		})
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	e := newEngine(t, t.TempDir())
	hello := cHello(t)
	digest := Digest(hello)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var out bytes.Buffer
			if _, err := e.Run(context.Background(), Spec{Module: hello, Digest: digest, Stdout: &out}); err != nil {
				errs <- err
			} else if out.String() != "hello from c\n" {
				errs <- errors.New("bad output " + out.String())
			}
			if i%3 == 0 { // removal while other runs compile or execute
				if err := e.Remove(context.Background(), digest); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestVersion(t *testing.T) {
	e := newEngine(t, t.TempDir())
	if v := e.Version(); v != "wazero v1.12.0" && v != "wazero (devel)" {
		t.Errorf("Version() = %q", v)
	}
}

func TestClosed(t *testing.T) {
	e, err := New(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(context.Background(), Spec{Module: cHello(t)}); err == nil {
		t.Error("Run after Close succeeded")
	}
	if err := e.Close(context.Background()); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// A trap's stack trace gives source positions only when asked (WithBacktraceDetails):
// by default a module's DWARF is not read, and the trace says how to get them. The code
// compiled for details is cached apart from the default code, in both directions.
func TestTrapBacktraceDetails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	module := cGuest(t, cTrap, "-g")
	digest := Digest(module)
	run := func(details bool) *TrapError {
		t.Helper()
		e, err := New(context.Background(), dir, WithBacktraceDetails(details))
		if err != nil {
			t.Fatal(err)
		}
		defer e.Close(context.Background())
		code, err := e.Run(context.Background(), Spec{Module: module, Digest: digest, Args: []string{"trap"}, Stdout: io.Discard})
		var te *TrapError
		if !errors.As(err, &te) {
			t.Fatalf("details %v: Run = %d, %v; want a *TrapError", details, code, err)
		}
		return te
	}
	sources := func(te *TrapError) (n int) {
		for _, l := range te.Stack {
			if strings.HasPrefix(l, "\t") && strings.Contains(l, ".c:") {
				n++
			}
		}
		return n
	}
	for i, details := range []bool{false, true, false, true} { // each from the other's cache
		te := run(details)
		if len(te.Stack) < 2 || te.Stack[0] != "crash_here(i32)" {
			t.Fatalf("run %d: Stack = %q, want crash_here(i32) innermost", i, te.Stack)
		}
		switch n := sources(te); {
		case details && (n == 0 || !strings.HasPrefix(te.Stack[1], "\t") || !strings.Contains(te.Stack[1], "main.c:2:")):
			t.Errorf("run %d with details: Stack = %q, want source positions after crash_here", i, te.Stack)
		case details && te.Note != "":
			t.Errorf("run %d with details: Note = %q, want none", i, te.Note)
		case !details && n != 0:
			t.Errorf("run %d without details: Stack = %q, want no source positions", i, te.Stack)
		case !details && !strings.Contains(te.Error(), "note: the module carries DWARF debug information: set "+BacktraceEnv+"=1"):
			t.Errorf("run %d without details: Error() = %q, want the note naming %s", i, te.Error(), BacktraceEnv)
		}
	}
	h := strings.TrimPrefix(digest, "sha256:")
	if _, err := os.Stat(filepath.Join(dir, h, dwarfDir)); err != nil {
		t.Errorf("no separate cache for the code with a source map: %v", err)
	}
	e := newEngine(t, dir)
	if err := e.Remove(context.Background(), digest); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, h)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove left %s: %v", h, err)
	}
}

// A module without DWARF traps with no note: there is nothing more to show.
func TestTrapWithoutDWARFHasNoNote(t *testing.T) {
	t.Parallel()
	module := []byte("\x00asm\x01\x00\x00\x00" +
		"\x01\x04\x01\x60\x00\x00" + // type section: () -> ()
		"\x03\x02\x01\x00" + // function section: one function of that type
		"\x07\x0a\x01\x06_start\x00\x00" + // export section: _start
		"\x0a\x05\x01\x03\x00\x00\x0b") // code section: unreachable
	e := newEngine(t, t.TempDir())
	_, err := e.Run(context.Background(), Spec{Module: module})
	var te *TrapError
	if !errors.As(err, &te) || te.Reason != "unreachable" {
		t.Fatalf("Run = %v, want an unreachable trap", err)
	}
	if te.Note != "" || strings.Contains(te.Error(), "note:") {
		t.Errorf("Error() = %q, want no note", te.Error())
	}
}

func TestParseBacktraceDetails(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
		err  bool
	}{{"", false, false}, {"0", false, false}, {"false", false, false}, {"1", true, false}, {"TRUE", true, false}, {" 1 ", true, false}, {"yes", false, true}, {"2", false, true}} {
		got, err := ParseBacktraceDetails(tt.in)
		if got != tt.want || (err != nil) != tt.err {
			t.Errorf("ParseBacktraceDetails(%q) = %v, %v; want %v, error %v", tt.in, got, err, tt.want, tt.err)
		}
		if err != nil && !strings.Contains(err.Error(), BacktraceEnv) {
			t.Errorf("error %q does not name %s", err, BacktraceEnv)
		}
	}
}
