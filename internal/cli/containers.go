package cli

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/service"
)

type containerRow struct {
	ID, Image, Command, CreatedAt, RunningFor, Status, Ports, Names string
	State                                                           string
}

func statusWord(c *container.Container, now time.Time) string {
	switch c.State.Status {
	case container.StatusRestarting:
		return fmt.Sprintf("Restarting (%d) %s", c.State.ExitCode, since(c.State.FinishedAt, now))
	case container.StatusRunning:
		return "Up " + humanDuration(now.Sub(c.State.StartedAt))
	case container.StatusExited:
		return fmt.Sprintf("Exited (%d) %s", c.State.ExitCode, since(c.State.FinishedAt, now))
	}
	return "Created"
}

func (a *App) psCmd() *cobra.Command {
	var (
		all, quiet, noTrunc bool
		format              string
		filters             []string
	)
	c := &cobra.Command{
		Use:   "ps [OPTIONS]",
		Short: "List containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := ParsePsFilter(filters)
			if err != nil {
				return err
			}
			all = all || filter.wantsAll()
			return a.withService(cmd.Context(), func(s *service.Service) error {
				cs, listErr := s.Containers(cmd.Context())
				if listErr != nil && !errors.Is(listErr, container.ErrCorrupt) {
					return listErr
				}
				now := time.Now()
				var rows []containerRow
				for _, c := range cs {
					if !all && !c.State.Running || !filter.match(c) {
						continue
					}
					id := c.ID
					if !noTrunc {
						id = id[:12]
					}
					if quiet {
						fmt.Fprintln(a.Stdout, id)
						continue
					}
					command := strings.Join(append([]string{c.Path}, c.Args...), " ")
					if !noTrunc && len(command) > 20 {
						command = command[:19] + "…"
					}
					rows = append(rows, containerRow{ID: id, Image: c.Image, Command: fmt.Sprintf("%q", command),
						CreatedAt: c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"), RunningFor: since(c.Created, now),
						Status: statusWord(c, now), Ports: portsColumn(c), Names: c.Name, State: c.State.Status})
				}
				if !quiet {
					if err := printTable(a.Stdout, format, "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}", "CONTAINER ID", rows); err != nil {
						return err
					}
				}
				return listErr
			})
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "show all containers (default shows just running)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display container IDs")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	c.Flags().StringVar(&format, "format", "", "format output: 'table', 'table TEMPLATE', 'json' or a Go template")
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter: status=, name=, id=, ancestor=, exited=")
	return c
}

func (a *App) rmCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Remove one or more containers",
		Args:  minArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				var errs []error
				for _, ref := range args {
					if _, err := s.RemoveContainer(cmd.Context(), ref, force); err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintln(a.Stdout, ref)
				}
				return errors.Join(errs...)
			})
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "force the removal of a running container")
	return c
}

func (a *App) inspectCmd() *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [OPTIONS] NAME|ID [NAME|ID...]",
		Short: "Return low-level information on containers or images",
		Args:  minArgs(1, "NAME|ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				var out []any
				for _, ref := range args {
					if c, err := s.Container(cmd.Context(), ref); err == nil {
						out = append(out, inspectContainer(c))
						continue
					} else if !errors.Is(err, container.ErrNotFound) {
						return err
					}
					ii, err := s.InspectImage(cmd.Context(), ref)
					if err != nil {
						return fmt.Errorf("no such object: %s", ref)
					}
					out = append(out, ii)
				}
				if format != "" {
					return writeEach(a.Stdout, format, out)
				}
				return writeJSON(a.Stdout, out)
			})
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format the output using the given Go template, such as '{{.State.Pid}}' or '{{json .Config}}'")
	return c
}

func (a *App) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Show the berth version information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(a.Stdout, "berth version %s\nengine: %s\nplatform: wasi/wasm (WASI preview 1)\n", Version, engineVersion())
			return nil
		},
	}
}

func (a *App) infoCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "info",
		Short: "Display system-wide information",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				i, err := s.Info(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(a.Stdout, "Berth Version: %s\nData Root: %s\nState Dir: %s\nEngine: %s (compiler mode)\nWASI Host: %s (%s)\nImages: %d\nContainers: %d\n"+
					"Compile Cache: %d modules, %s\nContent Store: %s\nSnapshots: %s\n",
					Version, i.Root, i.State, i.Engine, i.WASIHost, engine.HostEnv, i.Images, i.Containers, i.CacheEntries, humanSize(i.CacheSize),
					humanSize(i.ContentSize), humanSize(i.SnapshotsSize))
				return nil
			})
		},
	}
}
