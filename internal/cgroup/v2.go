package cgroup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// v2Controllers are the controllers berth enables on the way down to a v2 cgroup: those
// whose files it writes or reads.
var v2Controllers = []string{"cpu", "cpuset", "io", "memory", "pids"}

// createV2 makes the cgroup's directory in the unified hierarchy, enabling berth's
// controllers in each ancestor's cgroup.subtree_control (a v2 controller's files exist in
// a cgroup only when its parent delegates it), then applies res.
func (c *Cgroup) createV2(ctx context.Context, res *specs.LinuxResources) error {
	p := c.dirs[0]
	err := c.mkdir(p, func(dir string, _ bool) error {
		if dir != p.dir {
			enableControllers(ctx, dir)
		}
		return ctx.Err()
	})
	if err != nil {
		return err
	}
	if res == nil {
		return nil
	}
	for _, apply := range []func(context.Context, string, *specs.LinuxResources) error{c.memoryV2, c.cpuV2, c.pidsV2, c.unifiedV2} {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := apply(ctx, p.dir, res); err != nil {
			return err
		}
	}
	logIgnored(ctx, c.path, res)
	return nil
}

// enableControllers writes "+name" to dir's cgroup.subtree_control for each of berth's
// controllers that dir has and has not delegated yet. Failures are only logged, as runc
// does: a cgroup holding processes cannot delegate (the "no internal processes" rule), and
// a resource that then lacks its file fails with ErrControllerMissing, naming the file.
func enableControllers(ctx context.Context, dir string) {
	avail, err := readString(dir, "cgroup.controllers")
	if err != nil {
		slog.DebugContext(ctx, "cgroup: cannot list controllers", "err", err)
		return
	}
	enabled, _ := readString(dir, "cgroup.subtree_control")
	for _, ctrl := range v2Controllers {
		if !slices.Contains(strings.Fields(avail), ctrl) || slices.Contains(strings.Fields(enabled), ctrl) {
			continue
		}
		if err := writeFile(dir, "cgroup.subtree_control", "+"+ctrl); err != nil {
			slog.DebugContext(ctx, "cgroup: cannot enable controller", "controller", ctrl, "err", err)
		}
	}
}

// writeV2 writes a controller's file, or says which controller is missing when the
// cgroup has no such file.
func (c *Cgroup) writeV2(dir, controller, file, value string) error {
	if !exists(dir, file) {
		return fmt.Errorf("cgroup: set %s to %q: %w: %s is not enabled for %s (see its parent's cgroup.subtree_control)",
			filepath.Join(dir, file), value, ErrControllerMissing, controller, c.path)
	}
	return writeFile(dir, file, value)
}

// v2Max formats a v1-style limit for a v2 file: -1 is "max".
func v2Max(v int64) string {
	if v == -1 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

// swapV2 converts the OCI memory+swap total to the value of v2's memory.swap.max (swap
// alone), as runc does: "" leaves the file as is, "max" is unlimited, and a total equal to
// the memory limit is "0", no swap at all.
func swapV2(swap, limit int64) (string, error) {
	switch {
	case limit == -1 && swap == 0:
		return "max", nil // unlimited memory, swap unset: swap unlimited too
	case swap == 0:
		return "", nil
	case swap == -1:
		return "max", nil
	case limit == 0 || limit == -1:
		return "", errors.New("a memory+swap limit needs a memory limit")
	case swap < limit:
		return "", fmt.Errorf("memory+swap limit %d is below the memory limit %d", swap, limit)
	}
	return strconv.FormatInt(swap-limit, 10), nil
}

func (c *Cgroup) memoryV2(ctx context.Context, dir string, res *specs.LinuxResources) error {
	m := res.Memory
	if m == nil {
		return nil
	}
	limit := deref(m.Limit)
	swap, err := swapV2(deref(m.Swap), limit)
	if err != nil {
		return fmt.Errorf("cgroup: %s: %w", c.path, err)
	}
	if swap != "" {
		if exists(dir, "memory.swap.max") {
			if err := writeFile(dir, "memory.swap.max", swap); err != nil {
				return err
			}
		} else if swap != "max" {
			slog.WarnContext(ctx, "swap accounting is off on this host: swap limit not applied", "path", c.path, "swap", swap)
		}
	}
	if limit != 0 {
		if err := c.writeV2(dir, "memory", "memory.max", v2Max(limit)); err != nil {
			return err
		}
	}
	if r := deref(m.Reservation); r != 0 {
		if err := c.writeV2(dir, "memory", "memory.low", v2Max(r)); err != nil {
			return err
		}
	}
	if m.Swappiness != nil || m.DisableOOMKiller != nil {
		// v2 has neither knob; runc drops them too.
		slog.DebugContext(ctx, "cgroup v2: memory swappiness and disableOOMKiller not applied", "path", c.path)
	}
	return nil
}

// cpuWeight converts v1 cpu shares [2, 262144] to v2 cpu.weight [1, 10000], the linear
// mapping runc and containerd/cgroups v3 use.
func cpuWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	return 1 + (shares-2)*9999/262142
}

func (c *Cgroup) cpuV2(ctx context.Context, dir string, res *specs.LinuxResources) error {
	r := res.CPU
	if r == nil {
		return nil
	}
	if w := cpuWeight(deref(r.Shares)); w != 0 {
		if err := c.writeV2(dir, "cpu", "cpu.weight", strconv.FormatUint(w, 10)); err != nil {
			return err
		}
	}
	if quota, period := deref(r.Quota), deref(r.Period); quota != 0 || period != 0 {
		v := "max"
		if quota > 0 {
			v = strconv.FormatInt(quota, 10)
		}
		if period != 0 {
			v += " " + strconv.FormatUint(period, 10)
		}
		if err := c.writeV2(dir, "cpu", "cpu.max", v); err != nil {
			return err
		}
	}
	if b := r.Burst; b != nil {
		if err := c.writeV2(dir, "cpu", "cpu.max.burst", strconv.FormatUint(*b, 10)); err != nil {
			return err
		}
	}
	if i := r.Idle; i != nil {
		if err := c.writeV2(dir, "cpu", "cpu.idle", strconv.FormatInt(*i, 10)); err != nil {
			return err
		}
	}
	if r.Cpus != "" {
		if err := c.writeV2(dir, "cpuset", "cpuset.cpus", r.Cpus); err != nil {
			return err
		}
	}
	if r.Mems != "" {
		if err := c.writeV2(dir, "cpuset", "cpuset.mems", r.Mems); err != nil {
			return err
		}
	}
	if r.RealtimePeriod != nil || r.RealtimeRuntime != nil {
		slog.DebugContext(ctx, "cgroup v2: realtime CPU limits not applied", "path", c.path)
	}
	return nil
}

func (c *Cgroup) pidsV2(_ context.Context, dir string, res *specs.LinuxResources) error {
	if res.Pids == nil || res.Pids.Limit == nil {
		return nil
	}
	return c.writeV2(dir, "pids", "pids.max", pidsMax(*res.Pids.Limit))
}

// unifiedV2 writes linux.resources.unified: file name → value, in name order. Names are
// plain file names of the cgroup directory.
func (c *Cgroup) unifiedV2(_ context.Context, dir string, res *specs.LinuxResources) error {
	keys := make([]string, 0, len(res.Unified))
	for k := range res.Unified {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if k == "" || strings.ContainsRune(k, '/') || k == "." || k == ".." {
			return fmt.Errorf("cgroup: %s: linux.resources.unified key %q is not a file name", c.path, k)
		}
		if !exists(dir, k) {
			ctrl, _, _ := strings.Cut(k, ".")
			return fmt.Errorf("cgroup: set %s to %q: %w: no such file (is the %s controller enabled?)",
				filepath.Join(dir, k), res.Unified[k], ErrControllerMissing, ctrl)
		}
		if err := writeFile(dir, k, res.Unified[k]); err != nil {
			return err
		}
	}
	return nil
}

// metricsV2 reads the unified cgroup's files into containerd's v2 Metrics, the way
// containerd's cgroup2 package fills it. A controller that is not enabled leaves its fields
// zero (cpu.stat's usage lines exist in every cgroup, enabled or not).
func (c *Cgroup) metricsV2() (*v2.Metrics, error) {
	dir := c.dirs[0].dir
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("cgroup: %s: %w", dir, unwrapPath(err))
	}
	kv := func(file string) (map[string]uint64, error) {
		out, err := readKV(dir, file)
		if errors.Is(err, fs.ErrNotExist) {
			return map[string]uint64{}, nil
		}
		return out, err
	}
	one := func(file string) (uint64, error) {
		v, err := readUint(dir, file, math.MaxUint64)
		if errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		return v, err
	}
	var (
		m    v2.Metrics
		errs []error
	)
	get := func(file string) uint64 {
		v, err := one(file)
		errs = append(errs, err)
		return v
	}
	cpu, err := kv("cpu.stat")
	if err != nil {
		return nil, err
	}
	mem, err := kv("memory.stat")
	if err != nil {
		return nil, err
	}
	events, err := kv("memory.events")
	if err != nil {
		return nil, err
	}
	m.Pids = &v2.PidsStat{Current: get("pids.current"), Limit: get("pids.max")}
	m.CPU = &v2.CPUStat{
		UsageUsec:     cpu["usage_usec"],
		UserUsec:      cpu["user_usec"],
		SystemUsec:    cpu["system_usec"],
		NrPeriods:     cpu["nr_periods"],
		NrThrottled:   cpu["nr_throttled"],
		ThrottledUsec: cpu["throttled_usec"],
	}
	m.Memory = &v2.MemoryStat{
		Anon:                  mem["anon"],
		File:                  mem["file"],
		KernelStack:           mem["kernel_stack"],
		Slab:                  mem["slab"],
		Sock:                  mem["sock"],
		Shmem:                 mem["shmem"],
		FileMapped:            mem["file_mapped"],
		FileDirty:             mem["file_dirty"],
		FileWriteback:         mem["file_writeback"],
		AnonThp:               mem["anon_thp"],
		InactiveAnon:          mem["inactive_anon"],
		ActiveAnon:            mem["active_anon"],
		InactiveFile:          mem["inactive_file"],
		ActiveFile:            mem["active_file"],
		Unevictable:           mem["unevictable"],
		SlabReclaimable:       mem["slab_reclaimable"],
		SlabUnreclaimable:     mem["slab_unreclaimable"],
		Pgfault:               mem["pgfault"],
		Pgmajfault:            mem["pgmajfault"],
		WorkingsetRefault:     mem["workingset_refault"],
		WorkingsetActivate:    mem["workingset_activate"],
		WorkingsetNodereclaim: mem["workingset_nodereclaim"],
		Pgrefill:              mem["pgrefill"],
		Pgscan:                mem["pgscan"],
		Pgsteal:               mem["pgsteal"],
		Pgactivate:            mem["pgactivate"],
		Pgdeactivate:          mem["pgdeactivate"],
		Pglazyfree:            mem["pglazyfree"],
		Pglazyfreed:           mem["pglazyfreed"],
		ThpFaultAlloc:         mem["thp_fault_alloc"],
		ThpCollapseAlloc:      mem["thp_collapse_alloc"],
		Usage:                 get("memory.current"),
		UsageLimit:            get("memory.max"),
		SwapUsage:             get("memory.swap.current"),
		SwapLimit:             get("memory.swap.max"),
	}
	if len(events) > 0 {
		m.MemoryEvents = &v2.MemoryEvents{
			Low:     events["low"],
			High:    events["high"],
			Max:     events["max"],
			Oom:     events["oom"],
			OomKill: events["oom_kill"],
		}
	}
	io, err := ioStatV2(dir)
	if err != nil {
		return nil, err
	}
	m.Io = &v2.IOStat{Usage: io}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &m, nil
}

// ioStatV2 parses io.stat: "MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N" a line.
func ioStatV2(dir string) ([]*v2.IOEntry, error) {
	s, err := readString(dir, "io.stat")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []*v2.IOEntry
	for _, line := range strings.Split(s, "\n") {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		majS, minS, ok := strings.Cut(fields[0], ":")
		if !ok {
			continue
		}
		e := &v2.IOEntry{}
		var err1, err2 error
		e.Major, err1 = strconv.ParseUint(majS, 10, 64)
		e.Minor, err2 = strconv.ParseUint(minS, 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		for _, f := range fields[1:] {
			k, v, ok := strings.Cut(f, "=")
			if !ok {
				continue
			}
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				continue
			}
			switch k {
			case "rbytes":
				e.Rbytes = n
			case "wbytes":
				e.Wbytes = n
			case "rios":
				e.Rios = n
			case "wios":
				e.Wios = n
			}
		}
		out = append(out, e)
	}
	return out, nil
}
