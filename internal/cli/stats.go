package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/procstat"
	"github.com/berth-dev/berth/internal/service"
)

// statsRow is one line of `berth stats`, with docker's field names for --format.
type statsRow struct {
	Container, ID, Name        string
	CPUPerc, MemUsage, MemPerc string
	NetIO, BlockIO, PIDs       string
}

// statsInterval is how far apart the two samples of a CPU percentage are, and how often
// a stream redraws: docker's one second.
const statsInterval = time.Second

// statsCmd is `berth stats`.
//
// # Notes
//
//   - What the columns are for a Wasm container (internal/procstat): CPU % is the
//     container process's CPU time over the host's between two samples a second apart,
//     times the CPUs (docker's formula, so 100% is one busy core). MEM USAGE is that
//     process's resident memory (VmRSS): for a detached container the berth-guest
//     process, i.e. the guest's linear memory pages it has touched plus wazero's
//     runtime and the compiled code's pages; for a foreground run the whole berth
//     process. LIMIT is --memory when given (it caps the linear memory, not the RSS),
//     else the host's memory, as docker shows without a limit. BLOCK I/O is the storage
//     I/O of the process (/proc/PID/io). PIDS is its threads, as docker's pids.current
//     counts threads. NET I/O is "--": the guest uses the host's network namespace,
//     where Linux counts traffic per interface, not per process.
//   - A container that is not running (or is in a back-off of its restart policy)
//     shows zeros, as docker shows a stopped one.
func (a *App) statsCmd() *cobra.Command {
	var noStream, all, noTrunc bool
	var format string
	c := &cobra.Command{
		Use:   "stats [OPTIONS] [CONTAINER...]",
		Short: "Display a live stream of containers' resource usage (CPU, memory, block I/O, threads)",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				return a.stats(cmd.Context(), s, args, all, noStream, noTrunc, format)
			})
		},
	}
	f := c.Flags()
	f.BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVar(&noStream, "no-stream", false, "print one sample (two readings a second apart) and exit")
	f.BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	f.StringVar(&format, "format", "", "format output: 'table', 'table TEMPLATE', 'json' or a Go template")
	return c
}

// sampled is one reading of a container's process, with the host's at the same time.
type sampled struct {
	pid  int
	proc procstat.Process
	host procstat.Host
}

func (a *App) stats(ctx context.Context, s *service.Service, refs []string, all, noStream, noTrunc bool, format string) error {
	memTotal, err := procstat.MemTotal()
	if err != nil {
		return fmt.Errorf("stats: %w", err)
	}
	// A reading of every target; a container named by the user but gone is an error the
	// first time only (later, as docker's stream, it just leaves the table).
	read := func(first bool) ([]*container.Container, map[string]sampled, error) {
		cs, err := s.StatsTargets(ctx, refs, all)
		if err != nil && (first || len(cs) == 0) {
			return nil, nil, err
		}
		h, err := procstat.ReadHost()
		if err != nil {
			return nil, nil, fmt.Errorf("stats: %w", err)
		}
		got := map[string]sampled{}
		for _, c := range cs {
			if !c.State.Running || c.State.Pid <= 0 {
				continue
			}
			if p, err := procstat.ReadProcess(c.State.Pid); err == nil {
				got[c.ID] = sampled{pid: c.State.Pid, proc: p, host: h}
			}
		}
		return cs, got, nil
	}
	_, prev, err := read(true)
	if err != nil {
		return err
	}
	redraw := !noStream && isTerminal(a.Stdout)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(statsInterval):
		}
		cs, cur, err := read(false)
		if err != nil {
			return err
		}
		rows := make([]statsRow, 0, len(cs))
		for _, c := range cs {
			rows = append(rows, a.statsRow(c, refs, prev, cur, memTotal, noTrunc))
		}
		prev = cur
		if redraw {
			fmt.Fprint(a.Stdout, "\033[2J\033[H") // docker's: clear the screen, cursor home
		}
		if err := printTable(a.Stdout, format, "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}", "CONTAINER ID", rows); err != nil {
			return err
		}
		if noStream {
			return nil
		}
	}
}

func (a *App) statsRow(c *container.Container, refs []string, prev, cur map[string]sampled, memTotal int64, noTrunc bool) statsRow {
	id := c.ID
	if !noTrunc && len(id) > 12 {
		id = id[:12]
	}
	r := statsRow{Container: id, ID: id, Name: c.Name,
		CPUPerc: "0.00%", MemUsage: "0B / 0B", MemPerc: "0.00%", NetIO: "--", BlockIO: "0B / 0B", PIDs: "0"}
	for _, ref := range refs { // docker's Container: the name or id as the user gave it
		if ref == c.Name || ref == "/"+c.Name || strings.HasPrefix(c.ID, ref) {
			r.Container = ref
			break
		}
	}
	now, ok := cur[c.ID]
	if !ok {
		return r
	}
	limit := memTotal
	if c.HostConfig.Memory > 0 {
		limit = c.HostConfig.Memory
	}
	cpu := 0.0
	if before, ok := prev[c.ID]; ok && before.pid == now.pid {
		cpu = procstat.CPUPercent(before.proc, now.proc, before.host, now.host)
	}
	r.CPUPerc = fmt.Sprintf("%.2f%%", cpu)
	r.MemUsage = binarySize(now.proc.RSS) + " / " + binarySize(limit)
	if limit > 0 {
		r.MemPerc = fmt.Sprintf("%.2f%%", float64(now.proc.RSS)/float64(limit)*100)
	}
	if now.proc.ReadBytes >= 0 {
		r.BlockIO = humanSize(now.proc.ReadBytes) + " / " + humanSize(now.proc.WriteBytes)
	} else {
		r.BlockIO = "--"
	}
	r.PIDs = fmt.Sprint(now.proc.Threads)
	return r
}

// binarySize is docker's memory format (go-units BytesSize: binary units, 4 significant
// digits).
func binarySize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(n)
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.4g%s", f, units[i])
}
