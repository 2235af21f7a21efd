// Package procstat reads what Linux's /proc says of one process and of the host, for
// `berth stats`: the CPU time, resident memory, threads and storage I/O of a container's
// process, and the host's CPU time, CPU count and memory. It starts nothing and keeps
// nothing: each call is one read of a few small files.
//
// # Notes
//
//   - Why /proc and not the shim's Stats (cgroup metrics): a detached container berth
//     runs has no cgroup of its own (its spec names no linux.cgroupsPath: berth runs
//     without root and without a cgroup delegated to it), so the shim's Stats has
//     nothing to read; and decoding containerd's cgroup metrics types would link their
//     protobuf code into every berth process. The container is one process
//     (berth-guest, or the berth process of a foreground run), so /proc/PID says it all
//     except network traffic, which Linux counts per interface, not per process.
//   - CPU times are in clock ticks, 100 a second: USER_HZ, which the kernel fixes at 100
//     for every architecture's user-visible interface (docker's stats assume it too).
//   - The CPU percentage is docker's: the process's CPU time over the host's CPU time
//     between two samples, times the number of CPUs, so one busy thread on any host
//     shows 100%.
package procstat

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"
)

// ticksPerSecond is USER_HZ, the unit of CPU times in /proc.
const ticksPerSecond = 100

// ErrFormat is returned (wrapped) for a /proc file that does not read as expected.
var ErrFormat = errors.New("unexpected /proc format")

// Process is one sample of a process.
type Process struct {
	CPU     time.Duration // user and system time (utime + stime)
	RSS     int64         // resident memory, in bytes (VmRSS)
	Threads int
	// ReadBytes and WriteBytes are the bytes the process made the kernel read from and
	// write to storage (/proc/PID/io read_bytes, write_bytes); -1 when that file cannot be
	// read (another user's process).
	ReadBytes, WriteBytes int64
}

// Host is one sample of the host's CPUs.
type Host struct {
	CPU  time.Duration // the time of all CPUs together since boot, busy or idle (docker's system_cpu_usage)
	CPUs int           // CPUs online
}

// ReadProcess samples process pid. A process that does not exist is an error wrapping
// os.ErrNotExist.
func ReadProcess(pid int) (Process, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	b, err := os.ReadFile(dir + "stat")
	if err != nil {
		return Process{}, err
	}
	ut, st, err := ParseStat(b)
	if err != nil {
		return Process{}, fmt.Errorf("%sstat: %w", dir, err)
	}
	p := Process{CPU: ticks(ut + st), ReadBytes: -1, WriteBytes: -1}
	if b, err = os.ReadFile(dir + "status"); err != nil {
		return Process{}, err
	}
	if p.RSS, p.Threads, err = ParseStatus(b); err != nil {
		return Process{}, fmt.Errorf("%sstatus: %w", dir, err)
	}
	if b, err = os.ReadFile(dir + "io"); err == nil {
		if r, w, err := ParseIO(b); err == nil {
			p.ReadBytes, p.WriteBytes = r, w
		}
	}
	return p, nil
}

// ReadHost samples the host's CPUs (/proc/stat).
func ReadHost() (Host, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return Host{}, err
	}
	total, cpus, err := ParseSystemStat(b)
	if err != nil {
		return Host{}, fmt.Errorf("/proc/stat: %w", err)
	}
	return Host{CPU: ticks(total), CPUs: cpus}, nil
}

// MemTotal returns the host's memory in bytes (/proc/meminfo MemTotal).
func MemTotal() (int64, error) {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	n, err := ParseMeminfo(b)
	if err != nil {
		return 0, fmt.Errorf("/proc/meminfo: %w", err)
	}
	return n, nil
}

// CPUPercent is docker's CPU percentage of a process between two samples: its CPU time
// over the host's, times the number of CPUs (0 when either did not grow).
func CPUPercent(p0, p1 Process, h0, h1 Host) float64 {
	cpu := float64(p1.CPU - p0.CPU)
	sys := float64(h1.CPU - h0.CPU)
	if cpu <= 0 || sys <= 0 {
		return 0
	}
	return cpu / sys * float64(h1.CPUs) * 100
}

func ticks(n uint64) time.Duration {
	return time.Duration(n) * (time.Second / ticksPerSecond)
}

// ParseStat reads utime and stime (fields 14 and 15, in ticks) of /proc/PID/stat. The
// command name, field 2, is in parentheses and may hold spaces and parentheses itself,
// so fields are counted from the last ')'.
func ParseStat(b []byte) (utime, stime uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("%w: no command name", ErrFormat)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): utime and stime are f[11] and f[12].
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("%w: %d fields after the command name, want at least 13", ErrFormat, len(f))
	}
	if utime, err = strconv.ParseUint(string(f[11]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: utime %q", ErrFormat, f[11])
	}
	if stime, err = strconv.ParseUint(string(f[12]), 10, 64); err != nil {
		return 0, 0, fmt.Errorf("%w: stime %q", ErrFormat, f[12])
	}
	return utime, stime, nil
}

// ParseStatus reads VmRSS (in bytes) and Threads of /proc/PID/status. A process without
// memory (a zombie, a kernel thread) has no VmRSS line: 0.
func ParseStatus(b []byte) (rss int64, threads int, err error) {
	seenThreads := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		switch string(k) {
		case "VmRSS":
			n, err := kb(v)
			if err != nil {
				return 0, 0, fmt.Errorf("%w: VmRSS %q", ErrFormat, bytes.TrimSpace(v))
			}
			rss = n
		case "Threads":
			n, err := strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil || n < 0 {
				return 0, 0, fmt.Errorf("%w: Threads %q", ErrFormat, bytes.TrimSpace(v))
			}
			threads, seenThreads = n, true
		}
	}
	if !seenThreads {
		return 0, 0, fmt.Errorf("%w: no Threads line", ErrFormat)
	}
	return rss, threads, nil
}

// kb reads "  1234 kB" as bytes.
func kb(v []byte) (int64, error) {
	f := bytes.Fields(v)
	if len(f) != 2 || string(f[1]) != "kB" {
		return 0, ErrFormat
	}
	n, err := strconv.ParseInt(string(f[0]), 10, 64)
	if err != nil || n < 0 || n > 1<<53 {
		return 0, ErrFormat
	}
	return n << 10, nil
}

// ParseIO reads read_bytes and write_bytes of /proc/PID/io.
func ParseIO(b []byte) (read, write int64, err error) {
	var seen int
	for _, line := range bytes.Split(b, []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(k) {
		case "read_bytes":
			dst = &read
		case "write_bytes":
			dst = &write
		default:
			continue
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		if err != nil || n < 0 {
			return 0, 0, fmt.Errorf("%w: %s %q", ErrFormat, k, bytes.TrimSpace(v))
		}
		*dst = n
		seen++
	}
	if seen != 2 {
		return 0, 0, fmt.Errorf("%w: want read_bytes and write_bytes", ErrFormat)
	}
	return read, write, nil
}

// ParseSystemStat reads /proc/stat: the sum of the first line's user, nice, system,
// idle, iowait, irq and softirq ticks (what docker sums for system_cpu_usage) and the
// number of cpuN lines.
func ParseSystemStat(b []byte) (total uint64, cpus int, err error) {
	found := false
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := bytes.Fields(line)
		if len(f) == 0 || !bytes.HasPrefix(f[0], []byte("cpu")) {
			continue
		}
		if len(f[0]) > 3 {
			if _, err := strconv.Atoi(string(f[0][3:])); err == nil {
				cpus++
			}
			continue
		}
		if len(f) < 8 {
			return 0, 0, fmt.Errorf("%w: the cpu line has %d fields, want at least 8", ErrFormat, len(f))
		}
		for _, v := range f[1:8] {
			n, err := strconv.ParseUint(string(v), 10, 64)
			if err != nil || n > 1<<53 {
				return 0, 0, fmt.Errorf("%w: cpu time %q", ErrFormat, v)
			}
			total += n
		}
		found = true
	}
	if !found {
		return 0, 0, fmt.Errorf("%w: no cpu line", ErrFormat)
	}
	if cpus == 0 {
		cpus = 1
	}
	return total, cpus, nil
}

// ParseMeminfo reads MemTotal (in bytes) of /proc/meminfo.
func ParseMeminfo(b []byte) (int64, error) {
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("MemTotal:")); ok {
			n, err := kb(v)
			if err != nil {
				return 0, fmt.Errorf("%w: MemTotal %q", ErrFormat, bytes.TrimSpace(v))
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("%w: no MemTotal line", ErrFormat)
}
