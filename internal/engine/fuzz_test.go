package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
)

// FuzzScanModule checks scanModule against wazero's decoder. When scanModule accepts a
// module, wazero must be safe to run on it (a miss shows up as the fuzzer's process dying
// of an enormous allocation) and must read imports and memory the same way. When it
// refuses a module as malformed (rather than for a size), wazero must refuse it too.
func FuzzScanModule(f *testing.F) {
	// Small seeds only: the fuzzer minimises every new input it finds, which takes
	// minutes for a 40 KB module. Real modules are checked by TestScanModule.
	for _, m := range smallModules {
		f.Add(m)
	}
	for _, b := range bombs {
		f.Add(b.wasm)
	}
	f.Add([]byte("\x00asm\x01\x00\x00\x00"))
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x05\x03\x01\x00\x02"))                     // memory, 2 pages
	f.Add([]byte("\x00asm\x01\x00\x00\x00\x02\x0b\x01\x03env\x01m\x02\x01\x01\x05")) // imported memory 1..5
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithDebugInfoEnabled(false))
	defer rt.Close(ctx)

	f.Fuzz(func(t *testing.T, wasm []byte) {
		info, err := scanModule(wasm, true)
		var be *boundError
		if errors.As(err, &be) {
			return // not safe to hand to wazero
		}
		cm, werr := compileModule(ctx, rt, wasm)
		if err != nil {
			if werr == nil {
				cm.Close(ctx)
				t.Fatalf("scanModule refuses (%v) a module wazero accepts", err)
			}
			return
		}
		if werr != nil {
			return
		}
		defer cm.Close(ctx)
		var funcs, mems []string
		for _, imp := range info.Imports {
			switch imp.Kind {
			case externFunc:
				funcs = append(funcs, imp.Module+"."+imp.Name)
			case externMemory:
				mems = append(mems, imp.Module+"."+imp.Name)
			}
		}
		var wfuncs, wmems []string
		for _, d := range cm.ImportedFunctions() {
			m, n, _ := d.Import()
			wfuncs = append(wfuncs, m+"."+n)
		}
		wasmMems := cm.ImportedMemories()
		for _, d := range wasmMems {
			m, n, _ := d.Import()
			wmems = append(wmems, m+"."+n)
			if len(wasmMems) == 1 && uint64(d.Min()) != info.MemoryMin {
				t.Errorf("imported memory min = %d, wazero says %d", info.MemoryMin, d.Min())
			}
		}
		if !slices.Equal(funcs, wfuncs) || !slices.Equal(mems, wmems) {
			t.Errorf("imports = %q %q, wazero says %q %q", funcs, mems, wfuncs, wmems)
		}
		for _, d := range cm.ExportedMemories() {
			if _, _, imported := d.Import(); !imported && (!info.HasMemory || uint64(d.Min()) != info.MemoryMin) {
				t.Errorf("memory min = %d (has %v), wazero says %d", info.MemoryMin, info.HasMemory, d.Min())
			}
		}
	})
}

// wasmModule assembles a module from sections (id, then contents).
func wasmModule(sections ...[]byte) []byte {
	m := []byte("\x00asm\x01\x00\x00\x00")
	for _, s := range sections {
		m = append(m, s[0])
		m = append(m, uleb(len(s)-1)...)
		m = append(m, s[1:]...)
	}
	return m
}

func uleb(v int) []byte {
	var b []byte
	for {
		c := byte(v & 0x7f)
		if v >>= 7; v == 0 {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func wasmName(s string) []byte { return append(uleb(len(s)), s...) }

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// smallModules exercise every section scanModule reads.
var smallModules = [][]byte{
	// A WASI command writing to stdout, with a name section.
	wasmModule(
		[]byte("\x01\x02\x60\x04\x7f\x7f\x7f\x7f\x01\x7f\x60\x00\x00"),
		cat([]byte{2, 1}, wasmName("wasi_snapshot_preview1"), wasmName("fd_write"), []byte{0, 0}),
		[]byte("\x03\x01\x01"),
		[]byte("\x05\x01\x00\x01"),
		cat([]byte{7, 2}, wasmName("memory"), []byte{2, 0}, wasmName("_start"), []byte{0, 1}),
		[]byte("\x0a\x01\x0d\x00\x41\x01\x41\x00\x41\x01\x41\x08\x10\x00\x1a\x0b"),
		cat([]byte{11, 1, 0, 0x41, 0, 0x0b}, wasmName("\x08\x00\x00\x00\x02\x00\x00\x00hi")),
		cat([]byte{0}, wasmName("name"), []byte{1, 9, 1, 1}, wasmName("start!"), []byte{2, 3, 1, 1, 0}),
	),
	// Imported memory, table and global; a table, globals, element segments of every
	// flavour and a passive data segment.
	wasmModule(
		[]byte("\x01\x01\x60\x00\x00"),
		cat([]byte{2, 3}, wasmName("env"), wasmName("m"), []byte{2, 1, 1, 5},
			wasmName("env"), wasmName("t"), []byte{1, 0x70, 0, 1},
			wasmName("env"), wasmName("g"), []byte{3, 0x7f, 0}),
		[]byte("\x03\x01\x00"),
		[]byte("\x04\x01\x70\x00\x02"),
		[]byte("\x06\x02\x7e\x01\x42\x7f\x0b\x7c\x00\x44\x00\x00\x00\x00\x00\x00\xf0\x3f\x0b"),
		[]byte("\x09\x04\x00\x41\x00\x0b\x01\x00\x01\x00\x01\x00\x05\x70\x01\xd2\x00\x0b\x03\x00\x00"),
		[]byte("\x0c\x01"),
		[]byte("\x0a\x01\x02\x00\x0b"),
		[]byte("\x0b\x01\x01\x03abc"),
	),
}

func TestScanModule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		wasm       []byte
		wantMemMin uint64
		wantImport string // one of the imports, module.name
	}{
		{"c hello", cHello(t), 2, "wasi_snapshot_preview1.fd_write"},
		{"trap", cGuest(t, cTrap), 2, "wasi_snapshot_preview1.fd_write"},
		{"go hello", goHello(t), 0, "wasi_snapshot_preview1.sched_yield"},
		{"1 MiB initial memory", cGuest(t, cBigMemory, "-Wl,--initial-memory=1048576"), 16, "wasi_snapshot_preview1.proc_exit"},
		{"env.foo", cGuest(t, cImportsEnvFoo), 2, "env.foo"},
		{"small command", smallModules[0], 1, "wasi_snapshot_preview1.fd_write"},
		{"small kitchen sink", smallModules[1], 1, "env.m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			info, err := scanModule(tt.wasm, true)
			if err != nil {
				t.Fatalf("scanModule: %v", err)
			}
			if !info.HasMemory || (tt.wantMemMin != 0 && info.MemoryMin != tt.wantMemMin) {
				t.Errorf("memory = %v, %d pages; want %d", info.HasMemory, info.MemoryMin, tt.wantMemMin)
			}
			if !slices.ContainsFunc(info.Imports, func(i wasmImport) bool { return i.Module+"."+i.Name == tt.wantImport }) {
				t.Errorf("imports = %v, want %s among them", info.Imports, tt.wantImport)
			}
			// wazero agrees that it is a valid module.
			ctx := context.Background()
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter())
			defer rt.Close(ctx)
			if _, err := compileModule(ctx, rt, tt.wasm); err != nil {
				t.Errorf("wazero refuses the test module: %v", err)
			}
		})
	}
}

// FuzzParseTrap checks that wazero's trap text is split into reason and frames.
func FuzzParseTrap(f *testing.F) {
	f.Add("unreachable", "crash_here(i32)\nmain(i32,i32) i32")
	f.Add("out of bounds memory access", "")
	f.Add("invalid table access (recovered by wazero)", "$12()")
	f.Fuzz(func(t *testing.T, reason, frames string) {
		msg := "wasm error: " + reason + "\nwasm stack trace:\n\t" + strings.ReplaceAll(frames, "\n", "\n\t")
		te := parseTrap(msg)
		if te.Reason == "" {
			t.Fatal("empty reason")
		}
		for _, l := range te.Stack {
			if strings.Contains(l, "\n") || strings.TrimSpace(l) == "" {
				t.Fatalf("bad stack line %q", l)
			}
		}
		_ = te.Error()
		_ = parseTrap(reason + frames) // arbitrary text must not panic either

		simple := func(s string) bool {
			return strings.TrimSpace(s) == s && s != "" && !strings.ContainsAny(s, "\n\t") && !strings.HasPrefix(s, ".")
		}
		if !simple(reason) || strings.HasPrefix(reason, "wasm error: ") {
			return
		}
		if te.Reason != reason {
			t.Errorf("Reason = %q, want %q", te.Reason, reason)
		}
		var want []string
		for fr := range strings.SplitSeq(frames, "\n") {
			if !simple(fr) {
				return
			}
			want = append(want, fr)
		}
		if !slices.Equal(te.Stack, want) {
			t.Errorf("Stack = %q, want %q", te.Stack, want)
		}
	})
}

// FuzzDigest checks that digests name directories safely.
func FuzzDigest(f *testing.F) {
	f.Add("sha256:"+strings.Repeat("a", 64), []byte("wasm"))
	f.Add("sha256:../../../../etc/passwd", []byte{})
	f.Add("SHA256:"+strings.Repeat("A", 64), []byte{0})
	f.Fuzz(func(t *testing.T, digest string, b []byte) {
		if h, err := digestHex(Digest(b)); err != nil || "sha256:"+h != Digest(b) {
			t.Fatalf("digestHex(Digest) = %q, %v", h, err)
		}
		h, err := digestHex(digest)
		if err != nil {
			return
		}
		if "sha256:"+h != digest || len(h) != 64 || strings.ContainsAny(h, "./\\") {
			t.Errorf("digestHex(%q) = %q", digest, h)
		}
	})
}
