package procstat

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in         string
		ut, st     uint64
		wantFormat bool
	}{
		{in: "42 (berth-guest) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 3 0 100 1000 200 18446744073709551615\n", ut: 17, st: 5},
		{in: "7 (a (b) c) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0", ut: 1, st: 2},
		{in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 1", wantFormat: true},
		{in: "7 x R 1 7 7 0 -1 0 0 0 0 0 1 2 3", wantFormat: true},
		{in: "7 (x) R 1 7 7 0 -1 0 0 0 0 0 -1 2 0", wantFormat: true},
		{in: "", wantFormat: true},
	} {
		ut, st, err := ParseStat([]byte(tc.in))
		if tc.wantFormat {
			if !errors.Is(err, ErrFormat) {
				t.Errorf("ParseStat(%q) = %d, %d, %v; want ErrFormat", tc.in, ut, st, err)
			}
			continue
		}
		if err != nil || ut != tc.ut || st != tc.st {
			t.Errorf("ParseStat(%q) = %d, %d, %v; want %d, %d", tc.in, ut, st, err, tc.ut, tc.st)
		}
	}
}

func TestParseStatus(t *testing.T) {
	for _, tc := range []struct {
		in         string
		rss        int64
		threads    int
		wantFormat bool
	}{
		{in: "Name:\tberth-guest\nVmRSS:\t    6144 kB\nThreads:\t5\n", rss: 6144 << 10, threads: 5},
		{in: "Name:\tzombie\nThreads:\t1\n", threads: 1},
		{in: "VmRSS:\t 12 MB\nThreads:\t1\n", wantFormat: true},
		{in: "VmRSS:\t 12 kB\n", wantFormat: true},
		{in: "Threads:\tmany\n", wantFormat: true},
		{in: "VmRSS:\t-1 kB\nThreads:\t1\n", wantFormat: true},
	} {
		rss, th, err := ParseStatus([]byte(tc.in))
		if tc.wantFormat {
			if !errors.Is(err, ErrFormat) {
				t.Errorf("ParseStatus(%q) = %d, %d, %v; want ErrFormat", tc.in, rss, th, err)
			}
			continue
		}
		if err != nil || rss != tc.rss || th != tc.threads {
			t.Errorf("ParseStatus(%q) = %d, %d, %v; want %d, %d", tc.in, rss, th, err, tc.rss, tc.threads)
		}
	}
}

func TestParseIO(t *testing.T) {
	r, w, err := ParseIO([]byte("rchar: 1\nwchar: 2\nsyscr: 3\nsyscw: 4\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n"))
	if err != nil || r != 4096 || w != 8192 {
		t.Errorf("ParseIO = %d, %d, %v", r, w, err)
	}
	for _, in := range []string{"", "read_bytes: 1\n", "read_bytes: x\nwrite_bytes: 1\n", "read_bytes: -5\nwrite_bytes: 1\n"} {
		if _, _, err := ParseIO([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseIO(%q): %v, want ErrFormat", in, err)
		}
	}
}

func TestParseSystemStat(t *testing.T) {
	in := "cpu  10 1 5 100 2 0 3 7 0 0\ncpu0 5 0 2 50 1 0 1 0 0 0\ncpu1 5 1 3 50 1 0 2 7 0 0\nintr 1 2\nctxt 5\n"
	total, cpus, err := ParseSystemStat([]byte(in))
	if err != nil || total != 121 || cpus != 2 {
		t.Errorf("ParseSystemStat = %d, %d, %v; want 121 (steal and guest left out, as docker), 2", total, cpus, err)
	}
	for _, in := range []string{"", "intr 1\n", "cpu 1 2 3\n", "cpu 1 2 3 4 5 6 x\n"} {
		if _, _, err := ParseSystemStat([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseSystemStat(%q): %v, want ErrFormat", in, err)
		}
	}
}

func TestParseMeminfo(t *testing.T) {
	if n, err := ParseMeminfo([]byte("MemTotal:        8000000 kB\nMemFree: 1 kB\n")); err != nil || n != 8000000<<10 {
		t.Errorf("ParseMeminfo = %d, %v", n, err)
	}
	for _, in := range []string{"", "MemFree: 1 kB\n", "MemTotal: lots\n"} {
		if _, err := ParseMeminfo([]byte(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("ParseMeminfo(%q): %v, want ErrFormat", in, err)
		}
	}
}

// The test process itself: its numbers are there and plausible, and a thread that
// spins for a while shows as CPU time and a percentage in docker's range.
func TestReadSelf(t *testing.T) {
	h0, err := ReadHost()
	if err != nil {
		t.Fatal(err)
	}
	p0, err := ReadProcess(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if p0.RSS < 1<<20 || p0.Threads < 1 || p0.ReadBytes < 0 || p0.WriteBytes < 0 || h0.CPUs < 1 || h0.CPUs > 4096 {
		t.Errorf("samples %+v %+v", p0, h0)
	}
	mem, err := MemTotal()
	if err != nil || mem < p0.RSS {
		t.Errorf("MemTotal = %d, %v", mem, err)
	}
	for end := time.Now().Add(300 * time.Millisecond); time.Now().Before(end); {
		runtime.Gosched()
	}
	p1, _ := ReadProcess(os.Getpid())
	h1, _ := ReadHost()
	if p1.CPU <= p0.CPU {
		t.Errorf("CPU time did not grow while spinning: %v → %v", p0.CPU, p1.CPU)
	}
	if pc := CPUPercent(p0, p1, h0, h1); pc <= 0 || pc > float64(h1.CPUs)*100+1 {
		t.Errorf("CPUPercent = %.2f, want in (0, %d]", pc, h1.CPUs*100)
	}
	if _, err := ReadProcess(1 << 30); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadProcess of no process: %v, want ErrNotExist", err)
	}
}

func TestCPUPercent(t *testing.T) {
	p0, p1 := Process{CPU: time.Second}, Process{CPU: 1500 * time.Millisecond}
	h0, h1 := Host{CPU: 10 * time.Second}, Host{CPU: 12 * time.Second, CPUs: 2}
	if got := CPUPercent(p0, p1, h0, h1); got != 50 {
		t.Errorf("CPUPercent = %v, want 50 (0.5 s of 1 s wall on 2 CPUs)", got)
	}
	if got := CPUPercent(p1, p0, h0, h1); got != 0 {
		t.Errorf("CPUPercent backwards = %v, want 0", got)
	}
}
