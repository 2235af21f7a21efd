package shimclient

import (
	"fmt"
	"math"
	"strings"
)

// The type URLs of the cgroup metrics berth's shim puts in a Stats response
// (internal/cgroup.Metrics, marshalled with typeurl: the message's full name, no prefix).
const (
	MetricsV1Type = "io.containerd.cgroups.v1.Metrics"
	MetricsV2Type = "io.containerd.cgroups.v2.Metrics"
)

// Metrics is what Stats reads of the task's cgroup: the figures `berth stats` (and
// `docker stats`) show, in the same units on cgroup v1 and v2. TypeURL and Raw are the
// shim's message itself, for a caller that needs a figure not decoded here
// (github.com/containerd/cgroups/v3's cgroup1/stats or cgroup2/stats Metrics decode it).
type Metrics struct {
	// CgroupVersion is 1 (v1 and hybrid hosts) or 2.
	CgroupVersion int

	// CPU time used, in nanoseconds (v2 reports microseconds: multiplied by 1000).
	CPUTotal, CPUUser, CPUSystem uint64
	// CFS throttling: periods elapsed, periods throttled, time throttled in nanoseconds.
	CPUPeriods, CPUThrottledPeriods, CPUThrottledTime uint64

	// MemoryUsage is the memory the cgroup uses, page cache included, in bytes (v1
	// memory.usage_in_bytes, v2 memory.current).
	MemoryUsage uint64
	// MemoryLimit is the cgroup's memory limit in bytes. Without a limit it is huge: v2
	// reads "max" as 2^64-1, v1 has 2^63-1 rounded down to a page.
	MemoryLimit uint64
	// MemoryMaxUsage is the highest usage seen (v1 only; 0 on v2).
	MemoryMaxUsage uint64
	// MemoryInactiveFile is the inactive page cache (v1 total_inactive_file, v2
	// inactive_file): docker stats shows MemoryUsage minus this.
	MemoryInactiveFile uint64
	// SwapUsage and SwapLimit: v2 memory.swap.current and .max; v1 memory+swap
	// (memory.memsw.*), 0 when the kernel does not account swap.
	SwapUsage, SwapLimit uint64
	// OOMKills counts the processes the kernel's OOM killer killed in the cgroup.
	OOMKills uint64

	// PidsCurrent and PidsLimit: the pids controller (a limit of 0 is none).
	PidsCurrent, PidsLimit uint64

	// Block I/O summed over devices (v2 io.stat; the shim fills no v1 blkio: 0 there).
	IOReadBytes, IOWriteBytes, IOReads, IOWrites uint64

	// TypeURL and Raw are the Any the shim sent: its type and the encoded message.
	TypeURL string
	Raw     []byte
}

// usec turns v2's microseconds into nanoseconds, saturating.
func usec(v uint64) uint64 {
	if v > math.MaxUint64/1000 {
		return math.MaxUint64
	}
	return v * 1000
}

// parseMetrics decodes the Any of a Stats response.
func parseMetrics(a anyValue) (*Metrics, error) {
	m := &Metrics{TypeURL: a.typeURL, Raw: a.value}
	// An Any's type URL may carry a prefix ("type.googleapis.com/"): the name follows
	// the last '/'.
	name := a.typeURL[strings.LastIndexByte(a.typeURL, '/')+1:]
	var err error
	switch name {
	case MetricsV1Type:
		m.CgroupVersion = 1
		err = m.decodeV1(a.value)
	case MetricsV2Type:
		m.CgroupVersion = 2
		err = m.decodeV2(a.value)
	default:
		return nil, fmt.Errorf("the shim's metrics are of type %q, not cgroup v1 or v2 metrics", a.typeURL)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s: %w", a.typeURL, err)
	}
	return m, nil
}

// varints calls set for each varint field of b.
func varints(b []byte, set func(num int, v uint64)) error {
	return decode(b, func(f field) error {
		if f.typ == wireVarint {
			set(f.num, f.v)
		}
		return nil
	})
}

// messages calls fn for each length-delimited field of b.
func messages(b []byte, fn func(num int, p []byte) error) error {
	return decode(b, func(f field) error {
		if f.typ == wireBytes {
			return fn(f.num, f.p)
		}
		return nil
	})
}

// decodeV1 reads io.containerd.cgroups.v1.Metrics: pids = 2, cpu = 3, memory = 4,
// memory_oom_control = 9.
func (m *Metrics) decodeV1(b []byte) error {
	return messages(b, func(num int, p []byte) error {
		switch num {
		case 2: // PidsStat: current = 1, limit = 2
			return varints(p, func(n int, v uint64) {
				switch n {
				case 1:
					m.PidsCurrent = v
				case 2:
					m.PidsLimit = v
				}
			})
		case 3: // CPUStat: usage = 1 (total = 1, kernel = 2, user = 3), throttling = 2
			return messages(p, func(n int, p []byte) error {
				switch n {
				case 1:
					return varints(p, func(n int, v uint64) {
						switch n {
						case 1:
							m.CPUTotal = v
						case 2:
							m.CPUSystem = v
						case 3:
							m.CPUUser = v
						}
					})
				case 2: // Throttle: periods = 1, throttled_periods = 2, throttled_time = 3
					return varints(p, func(n int, v uint64) {
						switch n {
						case 1:
							m.CPUPeriods = v
						case 2:
							m.CPUThrottledPeriods = v
						case 3:
							m.CPUThrottledTime = v
						}
					})
				}
				return nil
			})
		case 4: // MemoryStat: total_inactive_file = 30, usage = 33, swap = 34 (MemoryEntry)
			if err := varints(p, func(n int, v uint64) {
				if n == 30 {
					m.MemoryInactiveFile = v
				}
			}); err != nil {
				return err
			}
			return messages(p, func(n int, p []byte) error {
				// MemoryEntry: limit = 1, usage = 2, max = 3
				switch n {
				case 33:
					return varints(p, func(n int, v uint64) {
						switch n {
						case 1:
							m.MemoryLimit = v
						case 2:
							m.MemoryUsage = v
						case 3:
							m.MemoryMaxUsage = v
						}
					})
				case 34:
					return varints(p, func(n int, v uint64) {
						switch n {
						case 1:
							m.SwapLimit = v
						case 2:
							m.SwapUsage = v
						}
					})
				}
				return nil
			})
		case 9: // MemoryOomControl: oom_kill = 3
			return varints(p, func(n int, v uint64) {
				if n == 3 {
					m.OOMKills = v
				}
			})
		}
		return nil
	})
}

// decodeV2 reads io.containerd.cgroups.v2.Metrics: pids = 1, cpu = 2, memory = 4,
// io = 6, memory_events = 8.
func (m *Metrics) decodeV2(b []byte) error {
	return messages(b, func(num int, p []byte) error {
		switch num {
		case 1: // PidsStat: current = 1, limit = 2
			return varints(p, func(n int, v uint64) {
				switch n {
				case 1:
					m.PidsCurrent = v
				case 2:
					m.PidsLimit = v
				}
			})
		case 2: // CPUStat: usage_usec = 1, user_usec = 2, system_usec = 3, nr_periods = 4,
			// nr_throttled = 5, throttled_usec = 6
			return varints(p, func(n int, v uint64) {
				switch n {
				case 1:
					m.CPUTotal = usec(v)
				case 2:
					m.CPUUser = usec(v)
				case 3:
					m.CPUSystem = usec(v)
				case 4:
					m.CPUPeriods = v
				case 5:
					m.CPUThrottledPeriods = v
				case 6:
					m.CPUThrottledTime = usec(v)
				}
			})
		case 4: // MemoryStat: inactive_file = 13, usage = 32, usage_limit = 33,
			// swap_usage = 34, swap_limit = 35
			return varints(p, func(n int, v uint64) {
				switch n {
				case 13:
					m.MemoryInactiveFile = v
				case 32:
					m.MemoryUsage = v
				case 33:
					m.MemoryLimit = v
				case 34:
					m.SwapUsage = v
				case 35:
					m.SwapLimit = v
				}
			})
		case 6: // IOStat: usage = 1 (IOEntry: rbytes = 3, wbytes = 4, rios = 5, wios = 6)
			return messages(p, func(n int, p []byte) error {
				if n != 1 {
					return nil
				}
				var e [7]uint64
				if err := varints(p, func(n int, v uint64) {
					if n < len(e) {
						e[n] = v
					}
				}); err != nil {
					return err
				}
				m.IOReadBytes += e[3]
				m.IOWriteBytes += e[4]
				m.IOReads += e[5]
				m.IOWrites += e[6]
				return nil
			})
		case 8: // MemoryEvents: oom_kill = 5
			return varints(p, func(n int, v uint64) {
				if n == 5 {
					m.OOMKills = v
				}
			})
		}
		return nil
	})
}
