package engine

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// The mapping never moves: what the guest wrote stays at the same address as the
// memory grows, up to the maximum and not beyond.
func TestMappedMemory(t *testing.T) {
	const maxBytes = 64 << 20
	lm := allocateMemory(64<<10, maxBytes)
	m, ok := lm.(*mappedMemory)
	if !ok {
		t.Fatalf("allocateMemory = %T, want *mappedMemory", lm)
	}
	defer m.Free()
	b := m.Reallocate(64 << 10)
	if len(b) != 64<<10 || cap(b) != len(b) {
		t.Fatalf("Reallocate(64 KiB): len %d cap %d", len(b), cap(b))
	}
	b[100] = 42
	base := unsafe.SliceData(b)
	b = m.Reallocate(32 << 20)
	if len(b) != 32<<20 || unsafe.SliceData(b) != base || b[100] != 42 {
		t.Fatalf("Reallocate(32 MiB): len %d, moved %v, byte %d; want 32 MiB in place with the byte kept",
			len(b), unsafe.SliceData(b) != base, b[100])
	}
	b[len(b)-1] = 7
	if got := m.Reallocate(maxBytes); len(got) != maxBytes || got[32<<20-1] != 7 {
		t.Fatalf("Reallocate(max): len %d", len(got))
	}
	if got := m.Reallocate(maxBytes + 1); got != nil {
		t.Fatalf("Reallocate(max+1) = %d bytes, want nil (memory.grow fails)", len(got))
	}
	m.Free()
	if got := m.Reallocate(1); got != nil {
		t.Fatalf("Reallocate after Free = %d bytes, want nil", len(got))
	}
	m.Free() // twice is harmless
}

// Where no mapping can be made, the memory grows as wazero's own does.
func TestGrowingMemory(t *testing.T) {
	for _, tt := range []struct {
		name     string
		cap, max uint64
	}{
		{"no maximum", 0, 0},
		{"maximum beyond int", 1 << 16, 1<<64 - 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			lm := allocateMemory(tt.cap, tt.max)
			m, ok := lm.(*growingMemory)
			if !ok {
				t.Fatalf("allocateMemory(%d, %d) = %T, want *growingMemory", tt.cap, tt.max, lm)
			}
			b := m.Reallocate(1 << 16)
			b[5] = 9
			b = m.Reallocate(1 << 20)
			if len(b) != 1<<20 || b[5] != 9 {
				t.Fatalf("Reallocate(1 MiB): len %d, byte %d", len(b), b[5])
			}
			m.Free()
		})
	}
}

// cHog keeps argv[1] MiB of linear memory, touched, 1 MiB at a time.
const cHog = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static char *keep[1024];
int main(int argc, char **argv) {
	int n = atoi(argv[1]);
	long sum = 0;
	for (int i = 0; i < n && i < 1024; i++) {
		keep[i] = malloc(1 << 20);
		if (!keep[i]) { printf("malloc failed at %d MiB\n", i); return 1; }
		memset(keep[i], i + 1, 1 << 20);
	}
	for (int i = 0; i < n && i < 1024; i++) sum += keep[i][i];
	printf("kept %d MiB (%ld)\n", n, sum);
	return 0;
}
`

// envHogHelper makes TestMemoryHogHelper run the hog guest (see TestLinearMemoryRSS).
const envHogHelper = "BERTH_ENGINE_HOG_HELPER"

// A guest growing its memory to 96 MiB, 1 MiB at a time, costs its process about that
// much: the memory is not copied at each grow (wazero's default left 2-3 times the
// guest's memory resident, and a Kubernetes pod OOM-killed at a third of its limit). Run
// in a child process, so that the peak RSS (getrusage) is the guest's alone.
func TestLinearMemoryRSS(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process holding 96 MiB")
	}
	hog := cGuest(t, cHog) // built here: the child finds it in testguest's cache
	_ = hog
	cmd := exec.Command(os.Args[0], "-test.run=^TestMemoryHogHelper$", "-test.v")
	cmd.Env = append(os.Environ(), envHogHelper+"=96")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "kept 96 MiB") {
		t.Fatalf("helper output lacks \"kept 96 MiB\":\n%s", out.String())
	}
	maxRSS := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss << 10 // KiB on Linux
	t.Logf("peak RSS of a process whose guest kept 96 MiB: %d MiB", maxRSS>>20)
	// 96 MiB of guest memory, plus the test binary, the Go heap and the compiled code;
	// copying growth peaked at ~2.5x the guest's memory.
	if limit := int64(96<<20 + 64<<20); maxRSS > limit {
		t.Errorf("peak RSS %d MiB, want ≤ %d MiB (96 MiB kept by the guest, plus 64 MiB)", maxRSS>>20, limit>>20)
	}
}

// TestMemoryHogHelper is TestLinearMemoryRSS's child: it runs cHog with the number of
// MiB in $BERTH_ENGINE_HOG_HELPER.
func TestMemoryHogHelper(t *testing.T) {
	n := os.Getenv(envHogHelper)
	if n == "" {
		t.Skip("helper of TestLinearMemoryRSS")
	}
	e := newEngine(t, t.TempDir())
	var out bytes.Buffer
	code, err := e.Run(context.Background(), Spec{Module: cGuest(t, cHog), Args: []string{"hog", n}, Stdout: &out})
	fmt.Print(out.String())
	if err != nil || code != 0 {
		t.Fatalf("Run = %d, %v", code, err)
	}
}
