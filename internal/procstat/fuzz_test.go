package procstat

import "testing"

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (berth-guest) S 1 42 42 0 -1 4194560 100 0 0 0 17 5 0 0 20 0 3 0"))
	f.Add([]byte("7 (a) b)) R 1 7 7 0 -1 0 0 0 0 0 1 2 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ParseStat(b)
	})
}

func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmRSS:\t 6144 kB\nThreads:\t5\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rss, th, err := ParseStatus(b)
		if err == nil && (rss < 0 || th < 0) {
			t.Fatalf("negative: %d %d", rss, th)
		}
	})
}

func FuzzParseIO(f *testing.F) {
	f.Add([]byte("read_bytes: 4096\nwrite_bytes: 8192\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, w, err := ParseIO(b)
		if err == nil && (r < 0 || w < 0) {
			t.Fatalf("negative: %d %d", r, w)
		}
	})
}

func FuzzParseSystemStat(f *testing.F) {
	f.Add([]byte("cpu  10 1 5 100 2 0 3 7 0 0\ncpu0 5 0 2 50 1 0 1 0 0 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, cpus, err := ParseSystemStat(b)
		if err == nil && cpus < 1 {
			t.Fatalf("cpus %d", cpus)
		}
	})
}

func FuzzParseMeminfo(f *testing.F) {
	f.Add([]byte("MemTotal:        8000000 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := ParseMeminfo(b); err == nil && n < 0 {
			t.Fatalf("negative: %d", n)
		}
	})
}
