package cgroup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// createV1 makes the cgroup's directory in every v1 hierarchy (and the unified one on a
// hybrid host), then applies res.
func (c *Cgroup) createV1(ctx context.Context, res *specs.LinuxResources) error {
	for _, p := range c.dirs {
		if err := ctx.Err(); err != nil {
			return err
		}
		var visit func(string, bool) error
		if !p.v2 && slices.Contains(p.controllers, "cpuset") {
			visit = func(dir string, _ bool) error {
				if dir == p.mount {
					return nil // the root cpuset has everything
				}
				return cpusetInherit(dir)
			}
		}
		if err := c.mkdir(p, visit); err != nil {
			return err
		}
	}
	if res == nil {
		return nil
	}
	if len(res.Unified) > 0 {
		return fmt.Errorf("cgroup: %s: linux.resources.unified needs cgroup v2, this host is %s", c.path, Mode())
	}
	for _, apply := range []func(context.Context, *specs.LinuxResources) error{c.memoryV1, c.cpuV1, c.cpusetV1, c.pidsV1} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := apply(ctx, res); err != nil {
			return err
		}
	}
	logIgnored(ctx, c.path, res)
	return nil
}

// cpusetInherit gives a v1 cpuset directory its parent's cpus and mems when they are
// empty. A new v1 cpuset cgroup starts with both empty, and the kernel refuses to add a
// process to it (ENOSPC) until they are set; runc does the same copy.
func cpusetInherit(dir string) error {
	parent := filepath.Dir(dir)
	for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
		cur, err := readString(dir, f)
		if err != nil {
			return err
		}
		if cur != "" {
			continue
		}
		val, err := readString(parent, f)
		if err != nil {
			return err
		}
		if err := writeFile(dir, f, val); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) need(controller string) (string, error) {
	dir, ok := c.controllerDir(controller)
	if !ok {
		return "", fmt.Errorf("cgroup: %s: %w: %s is not mounted", c.path, ErrControllerMissing, controller)
	}
	return dir, nil
}

func (c *Cgroup) memoryV1(ctx context.Context, res *specs.LinuxResources) error {
	m := res.Memory
	if m == nil || (m.Limit == nil && m.Swap == nil && m.Reservation == nil && m.Swappiness == nil && m.DisableOOMKiller == nil) {
		return nil
	}
	dir, err := c.need("memory")
	if err != nil {
		return err
	}
	const memswFile = "memory.memsw.limit_in_bytes"
	limit, swap := deref(m.Limit), deref(m.Swap)
	hasSwap := exists(dir, memswFile)
	if limit == -1 && swap == 0 && hasSwap {
		// runc: unlimited memory with swap unset means memory+swap unlimited too.
		swap = -1
	}
	if swap != 0 && !hasSwap {
		if swap != -1 {
			// Docker's answer to the same: warn and limit memory alone.
			slog.WarnContext(ctx, "swap accounting is off on this host: memory+swap limit not applied",
				"path", c.path, "swap", swap)
		}
		swap = 0
	}
	fmtInt := func(v int64) string { return strconv.FormatInt(v, 10) }
	switch {
	case limit != 0 && swap != 0:
		// memory.limit_in_bytes may never exceed memory.memsw.limit_in_bytes: raise memsw
		// first when it grows past the current limit, else lower/set the limit first.
		cur, err := readUint(dir, "memory.limit_in_bytes", 0)
		if err != nil {
			return err
		}
		order := []struct{ file, val string }{{"memory.limit_in_bytes", fmtInt(limit)}, {memswFile, fmtInt(swap)}}
		if swap == -1 || cur < uint64(swap) {
			order[0], order[1] = order[1], order[0]
		}
		for _, w := range order {
			if err := writeFile(dir, w.file, w.val); err != nil {
				return err
			}
		}
	case limit != 0:
		if err := writeFile(dir, "memory.limit_in_bytes", fmtInt(limit)); err != nil {
			return err
		}
	case swap != 0:
		if err := writeFile(dir, memswFile, fmtInt(swap)); err != nil {
			return err
		}
	}
	if r := deref(m.Reservation); r != 0 {
		if err := writeFile(dir, "memory.soft_limit_in_bytes", fmtInt(r)); err != nil {
			return err
		}
	}
	if s := m.Swappiness; s != nil {
		if *s > 100 {
			return fmt.Errorf("cgroup: %s: memory swappiness %d is above 100", c.path, *s)
		}
		if err := writeFile(dir, "memory.swappiness", strconv.FormatUint(*s, 10)); err != nil {
			return err
		}
	}
	if d := m.DisableOOMKiller; d != nil && *d {
		if err := writeFile(dir, "memory.oom_control", "1"); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) cpuV1(_ context.Context, res *specs.LinuxResources) error {
	r := res.CPU
	if r == nil || (r.Shares == nil && r.Quota == nil && r.Period == nil && r.Burst == nil &&
		r.RealtimePeriod == nil && r.RealtimeRuntime == nil && r.Idle == nil) {
		return nil
	}
	dir, err := c.need("cpu")
	if err != nil {
		return err
	}
	if s := deref(r.Shares); s != 0 {
		val := strconv.FormatUint(s, 10)
		if err := writeFile(dir, "cpu.shares", val); err != nil {
			return err
		}
		// The kernel clamps shares to [2, 262144] silently; say so, as runc does.
		got, err := readString(dir, "cpu.shares")
		if err != nil {
			return err
		}
		if got != val {
			return fmt.Errorf("cgroup: %s: cpu shares %s were set to %s by the kernel (allowed: 2 to 262144)", c.path, val, got)
		}
	}
	quota, period := deref(r.Quota), deref(r.Period)
	retryPeriod := false
	if period != 0 {
		if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(period, 10)); err != nil {
			// A period shorter than the current one can be refused (EINVAL) while the old
			// quota/new period exceeds the parent's; runc sets the quota first and retries.
			if !errors.Is(err, unix.EINVAL) || quota == 0 {
				return err
			}
			retryPeriod = true
		}
	}
	if quota != 0 {
		if err := writeFile(dir, "cpu.cfs_quota_us", strconv.FormatInt(quota, 10)); err != nil {
			return err
		}
		if retryPeriod {
			if err := writeFile(dir, "cpu.cfs_period_us", strconv.FormatUint(period, 10)); err != nil {
				return err
			}
		}
	}
	if b := r.Burst; b != nil {
		if err := writeFile(dir, "cpu.cfs_burst_us", strconv.FormatUint(*b, 10)); err != nil {
			return err
		}
	}
	if p := deref(r.RealtimePeriod); p != 0 {
		if err := writeFile(dir, "cpu.rt_period_us", strconv.FormatUint(p, 10)); err != nil {
			return err
		}
	}
	if rt := deref(r.RealtimeRuntime); rt != 0 {
		if err := writeFile(dir, "cpu.rt_runtime_us", strconv.FormatInt(rt, 10)); err != nil {
			return err
		}
	}
	if i := r.Idle; i != nil {
		if err := writeFile(dir, "cpu.idle", strconv.FormatInt(*i, 10)); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) cpusetV1(_ context.Context, res *specs.LinuxResources) error {
	r := res.CPU
	if r == nil || (r.Cpus == "" && r.Mems == "") {
		return nil
	}
	dir, err := c.need("cpuset")
	if err != nil {
		return err
	}
	// cpus before mems, as runc: both must be subsets of the parent's.
	if r.Cpus != "" {
		if err := writeFile(dir, "cpuset.cpus", r.Cpus); err != nil {
			return err
		}
	}
	if r.Mems != "" {
		if err := writeFile(dir, "cpuset.mems", r.Mems); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cgroup) pidsV1(_ context.Context, res *specs.LinuxResources) error {
	if res.Pids == nil || res.Pids.Limit == nil {
		return nil
	}
	dir, err := c.need("pids")
	if err != nil {
		return err
	}
	return writeFile(dir, "pids.max", pidsMax(*res.Pids.Limit))
}

// pidsMax is the pids.max value for an OCI pids limit: 0 or less is "no limit".
func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(limit, 10)
}

// userHZ is the kernel's USER_HZ, the unit of cpuacct.stat: 100 on every Linux ABI.
const userHZ = 100

// metricsV1 reads the v1 controllers' files into containerd's v1 Metrics, the way
// containerd's cgroup1 package fills it: memory, CPU (cpuacct usage and cpu throttling)
// and pids. Files a kernel does not have (memsw without swap accounting, kmem on newer
// kernels) leave their fields zero.
func (c *Cgroup) metricsV1() (*v1.Metrics, error) {
	m := &v1.Metrics{CPU: &v1.CPUStat{Usage: &v1.CPUUsage{}, Throttling: &v1.Throttle{}}}
	if dir, ok := c.controllerDir("memory"); ok {
		if err := memoryMetricsV1(dir, m); err != nil {
			return nil, err
		}
	}
	if dir, ok := c.controllerDir("cpuacct"); ok {
		u := m.CPU.Usage
		var err error
		if u.Total, err = readUint(dir, "cpuacct.usage", 0); err != nil {
			return nil, err
		}
		per, err := readString(dir, "cpuacct.usage_percpu")
		if err != nil {
			return nil, err
		}
		for _, f := range strings.Fields(per) {
			v, err := parseUint(dir+"/cpuacct.usage_percpu", f, 0)
			if err != nil {
				return nil, err
			}
			u.PerCPU = append(u.PerCPU, v)
		}
		st, err := readKV(dir, "cpuacct.stat")
		if err != nil {
			return nil, err
		}
		u.User = st["user"] * (1e9 / userHZ)
		u.Kernel = st["system"] * (1e9 / userHZ)
	}
	if dir, ok := c.controllerDir("cpu"); ok {
		st, err := readKV(dir, "cpu.stat")
		if err != nil {
			return nil, err
		}
		m.CPU.Throttling = &v1.Throttle{
			Periods:          st["nr_periods"],
			ThrottledPeriods: st["nr_throttled"],
			ThrottledTime:    st["throttled_time"],
		}
	}
	if dir, ok := c.controllerDir("pids"); ok {
		p := &v1.PidsStat{}
		var err error
		if p.Current, err = readUint(dir, "pids.current", 0); err != nil {
			return nil, err
		}
		if p.Limit, err = readUint(dir, "pids.max", 0); err != nil {
			return nil, err
		}
		m.Pids = p
	}
	return m, nil
}

func memoryMetricsV1(dir string, m *v1.Metrics) error {
	raw, err := readKV(dir, "memory.stat")
	if err != nil {
		return err
	}
	mem := &v1.MemoryStat{
		Cache:                   raw["cache"],
		RSS:                     raw["rss"],
		RSSHuge:                 raw["rss_huge"],
		MappedFile:              raw["mapped_file"],
		Dirty:                   raw["dirty"],
		Writeback:               raw["writeback"],
		PgPgIn:                  raw["pgpgin"],
		PgPgOut:                 raw["pgpgout"],
		PgFault:                 raw["pgfault"],
		PgMajFault:              raw["pgmajfault"],
		InactiveAnon:            raw["inactive_anon"],
		ActiveAnon:              raw["active_anon"],
		InactiveFile:            raw["inactive_file"],
		ActiveFile:              raw["active_file"],
		Unevictable:             raw["unevictable"],
		HierarchicalMemoryLimit: raw["hierarchical_memory_limit"],
		HierarchicalSwapLimit:   raw["hierarchical_memsw_limit"],
		TotalCache:              raw["total_cache"],
		TotalRSS:                raw["total_rss"],
		TotalRSSHuge:            raw["total_rss_huge"],
		TotalMappedFile:         raw["total_mapped_file"],
		TotalDirty:              raw["total_dirty"],
		TotalWriteback:          raw["total_writeback"],
		TotalPgPgIn:             raw["total_pgpgin"],
		TotalPgPgOut:            raw["total_pgpgout"],
		TotalPgFault:            raw["total_pgfault"],
		TotalPgMajFault:         raw["total_pgmajfault"],
		TotalInactiveAnon:       raw["total_inactive_anon"],
		TotalActiveAnon:         raw["total_active_anon"],
		TotalInactiveFile:       raw["total_inactive_file"],
		TotalActiveFile:         raw["total_active_file"],
		TotalUnevictable:        raw["total_unevictable"],
		Usage:                   &v1.MemoryEntry{},
		Swap:                    &v1.MemoryEntry{},
		Kernel:                  &v1.MemoryEntry{},
		KernelTCP:               &v1.MemoryEntry{},
	}
	for _, e := range []struct {
		prefix string
		entry  *v1.MemoryEntry
	}{
		{"memory.", mem.Usage},
		{"memory.memsw.", mem.Swap},
		{"memory.kmem.", mem.Kernel},
		{"memory.kmem.tcp.", mem.KernelTCP},
	} {
		if !exists(dir, e.prefix+"usage_in_bytes") {
			continue
		}
		for _, f := range []struct {
			name string
			v    *uint64
		}{
			{"usage_in_bytes", &e.entry.Usage},
			{"max_usage_in_bytes", &e.entry.Max},
			{"failcnt", &e.entry.Failcnt},
			{"limit_in_bytes", &e.entry.Limit},
		} {
			if *f.v, err = readUint(dir, e.prefix+f.name, 0); err != nil {
				return err
			}
		}
	}
	m.Memory = mem
	oom, err := readKV(dir, "memory.oom_control")
	if err != nil {
		return err
	}
	m.MemoryOomControl = &v1.MemoryOomControl{
		OomKillDisable: oom["oom_kill_disable"],
		UnderOom:       oom["under_oom"],
		OomKill:        oom["oom_kill"],
	}
	return nil
}

// logIgnored notes, at debug level, the resources the spec sets that berth does not apply
// (see the package Notes).
func logIgnored(ctx context.Context, path string, res *specs.LinuxResources) {
	var ignored []string
	if len(res.Devices) > 0 {
		ignored = append(ignored, "devices")
	}
	if res.BlockIO != nil {
		ignored = append(ignored, "blockIO")
	}
	if len(res.HugepageLimits) > 0 {
		ignored = append(ignored, "hugepageLimits")
	}
	if res.Network != nil {
		ignored = append(ignored, "network")
	}
	if len(res.Rdma) > 0 {
		ignored = append(ignored, "rdma")
	}
	if m := res.Memory; m != nil && (m.Kernel != nil || m.KernelTCP != nil) {
		ignored = append(ignored, "memory.kernel")
	}
	if len(ignored) > 0 {
		slog.DebugContext(ctx, "cgroup resources not applied", "path", path, "resources", ignored)
	}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
