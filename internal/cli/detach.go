package cli

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/service"
)

// The binaries a detached container needs.
const (
	shimBinaryName  = "containerd-shim-berth-v1"
	guestBinaryName = "berth-guest"
)

// detachShim finds containerd-shim-berth-v1 for `run -d`: $BERTH_SHIM_BINARY, else
// next to the berth binary, else on PATH (findShim); and checks that berth-guest is where
// the shim will look for it ($BERTH_GUEST_BINARY, next to the shim, on PATH), so that a
// missing binary is told before a container is made.
func (a *App) detachShim() (string, error) {
	howTo := "build both with `make shim` (they go to bin/ beside berth) or install them on PATH (berth shim install)"
	shim := a.Getenv("BERTH_SHIM_BINARY")
	if shim != "" {
		if !isExecutable(shim) {
			return "", fmt.Errorf("run -d: the shim %s (BERTH_SHIM_BINARY) is not an executable file: %s", shim, howTo)
		}
	} else {
		p, err := a.findShim()
		if err != nil {
			return "", fmt.Errorf("run -d needs %s and %s, which run a detached container: %w", shimBinaryName, guestBinaryName, err)
		}
		shim = p
	}
	if g := a.Getenv("BERTH_GUEST_BINARY"); g != "" {
		if !isExecutable(g) {
			return "", fmt.Errorf("run -d: %s %s (BERTH_GUEST_BINARY) is not an executable file: %s", guestBinaryName, g, howTo)
		}
	} else if !isExecutable(filepath.Join(filepath.Dir(shim), guestBinaryName)) {
		if _, ok := a.lookPath(guestBinaryName); !ok {
			return "", fmt.Errorf("run -d needs %s, which runs each container, next to the shim %s or on PATH: %s", guestBinaryName, shim, howTo)
		}
	}
	return shim, nil
}

// parseLogOpts reads --log-opt KEY=VALUE flags.
func parseLogOpts(opts []string) (logs.Options, error) {
	m := map[string]string{}
	for _, o := range opts {
		k, v, ok := strings.Cut(o, "=")
		if !ok || k == "" {
			return logs.Options{}, fmt.Errorf("%w: --log-opt %q: use KEY=VALUE, such as max-size=10m or max-file=3", ErrBadSpec, o)
		}
		if _, dup := m[k]; dup {
			return logs.Options{}, fmt.Errorf("%w: --log-opt %s given twice", ErrBadSpec, k)
		}
		m[k] = v
	}
	o, err := logs.ParseOptions(m)
	if err != nil {
		return logs.Options{}, fmt.Errorf("--log-opt: %w", err)
	}
	return o, nil
}

// runDetached is `run -d`: the container is created and started by its shim; its full
// id is printed.
func (a *App) runDetached(ctx context.Context, o service.RunOptions, pp pullPolicy, d service.DetachOptions) error {
	shim, err := a.detachShim()
	if err != nil {
		return &codeError{code: 125, err: err}
	}
	d.ShimBinary, d.Debug = shim, a.debug
	s, err := a.open(ctx)
	if err != nil {
		return &codeError{code: 125, err: err}
	}
	defer s.Close(context.WithoutCancel(ctx))
	c, err := withPull(ctx, a, s, o.Image, pp, func() (*container.Container, error) { return s.RunDetached(ctx, o, d) })
	if errors.Is(err, errNeedsFull) {
		return err
	}
	if err != nil {
		return &codeError{code: 125, err: err}
	}
	fmt.Fprintln(a.Stdout, c.ID)
	return nil
}

func (a *App) logsCmd() *cobra.Command {
	var (
		follow, timestamps bool
		tail, since, until string
	)
	c := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Fetch the logs of a detached container",
		Args:  exactArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			now := time.Now()
			o := logs.ReadOptions{Follow: follow, Stdout: true, Stderr: true, Tail: -1}
			if tail != "all" {
				n, err := strconv.Atoi(tail)
				if err != nil {
					return fmt.Errorf("%w: --tail %q: give a number of lines or all", ErrBadSpec, tail)
				}
				o.Tail = n
			}
			var err error
			if since != "" {
				if o.Since, err = ParseTimestamp(since, now); err != nil {
					return fmt.Errorf("--since: %w", err)
				}
			}
			if until != "" {
				if o.Until, err = ParseTimestamp(until, now); err != nil {
					return fmt.Errorf("--until: %w", err)
				}
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				return a.followLogs(cmd.Context(), s, args[0], o, timestamps)
			})
		},
	}
	f := c.Flags()
	f.BoolVarP(&follow, "follow", "f", false, "follow log output until the container ends")
	f.BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	f.StringVarP(&tail, "tail", "n", "all", "number of lines to show from the end of the logs, or all")
	f.StringVar(&since, "since", "", "show logs since a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
	f.StringVar(&until, "until", "", "show logs before a timestamp (2013-01-02T13:23:37Z) or relative (42m)")
	return c
}

// ParseTimestamp reads the time of `logs --since/--until` as docker does: a Go duration
// before now ("10m", "1h30m"), Unix seconds with optional fraction ("1700000000.5"), or
// an RFC 3339 date and time, with or without seconds, fraction and zone (local time
// without a zone), or a date alone.
//
// The result is never the zero time, which logs.ReadOptions takes for "no bound": the
// first instant of year 1 (0001-01-01 in UTC) is read one nanosecond later, the same
// bound for any log line, so that `--until 0001-01-01` shows nothing, not everything.
func ParseTimestamp(s string, now time.Time) (time.Time, error) {
	t, err := parseTimestamp(s, now)
	if err == nil && t.IsZero() {
		t = t.Add(time.Nanosecond)
	}
	return t, err
}

func parseTimestamp(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(s, "."); isDigits(sec) && (!ok || isDigits(frac) && frac != "") {
		n, err := strconv.ParseInt(sec, 10, 64)
		if err == nil && n < math.MaxInt64/int64(time.Second) {
			var ns int64
			if ok {
				f := (frac + "000000000")[:9]
				ns, _ = strconv.ParseInt(f, 10, 64)
			}
			return time.Unix(n, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time %q: use a duration before now (42m), Unix seconds (1700000000) or RFC 3339 (2026-11-27T08:00:00Z)", ErrBadSpec, s)
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func (a *App) stopCmd() *cobra.Command {
	var seconds int
	c := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Stop one or more running containers (SIGTERM, then SIGKILL after a grace period)",
		Args:  minArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if seconds < 0 {
				return fmt.Errorf("%w: --time %d: give a number of seconds ≥ 0", ErrBadSpec, seconds)
			}
			return a.eachContainer(cmd.Context(), args, func(s *service.Service, ref string) error {
				_, err := s.StopContainer(cmd.Context(), ref, time.Duration(seconds)*time.Second)
				return err
			})
		},
	}
	c.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before killing the container")
	return c
}

func (a *App) killCmd() *cobra.Command {
	var sig string
	c := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Kill one or more running containers",
		Args:  minArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			n, err := ParseSignal(sig)
			if err != nil {
				return err
			}
			return a.eachContainer(cmd.Context(), args, func(s *service.Service, ref string) error {
				_, err := s.KillContainer(cmd.Context(), ref, n)
				return err
			})
		},
	}
	c.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send to the container")
	return c
}

func (a *App) waitCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Block until one or more containers stop, then print their exit codes",
		Args:  minArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				var errs []error
				for _, ref := range args {
					code, err := s.WaitContainer(cmd.Context(), ref)
					if err != nil {
						errs = append(errs, err)
						continue
					}
					fmt.Fprintln(a.Stdout, code)
				}
				return errors.Join(errs...)
			})
		},
	}
}

// eachContainer runs fn for each ref and prints the refs it succeeded for, as docker's
// stop, kill and rm do.
func (a *App) eachContainer(ctx context.Context, refs []string, fn func(*service.Service, string) error) error {
	return a.withService(ctx, func(s *service.Service) error {
		var errs []error
		for _, ref := range refs {
			if err := fn(s, ref); err != nil {
				errs = append(errs, err)
				continue
			}
			fmt.Fprintln(a.Stdout, ref)
		}
		return errors.Join(errs...)
	})
}

// ParseSignal reads a signal as docker's --signal: a name with or without SIG
// (case-insensitive) or a number from 0 to 64.
func ParseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 || n > 64 {
			return 0, fmt.Errorf("%w: signal %d: give a number from 0 to 64 or a name such as TERM", ErrBadSpec, n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if n, ok := signals[name]; ok {
		return n, nil
	}
	return 0, fmt.Errorf("%w: invalid signal %q: give a name such as TERM, KILL, INT, HUP or a number", ErrBadSpec, s)
}

var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "BUS": syscall.SIGBUS, "CHLD": syscall.SIGCHLD,
	"CONT": syscall.SIGCONT, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP, "ILL": syscall.SIGILL,
	"INT": syscall.SIGINT, "IO": syscall.SIGIO, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"PROF": syscall.SIGPROF, "PWR": syscall.SIGPWR, "QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV,
	"STOP": syscall.SIGSTOP, "SYS": syscall.SIGSYS, "TERM": syscall.SIGTERM, "TRAP": syscall.SIGTRAP,
	"TSTP": syscall.SIGTSTP, "TTIN": syscall.SIGTTIN, "TTOU": syscall.SIGTTOU, "URG": syscall.SIGURG,
	"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "VTALRM": syscall.SIGVTALRM, "WINCH": syscall.SIGWINCH,
	"XCPU": syscall.SIGXCPU, "XFSZ": syscall.SIGXFSZ,
}

func (a *App) startCmd() *cobra.Command {
	var attach bool
	c := &cobra.Command{
		Use:   "start [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Start one or more stopped containers (detached, through their shims)",
		Args:  minArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if attach && len(args) > 1 {
				return fmt.Errorf("%w: start -a takes one container", ErrBadSpec)
			}
			shim, err := a.detachShim()
			if err != nil {
				return err
			}
			d := service.DetachOptions{ShimBinary: shim, Debug: a.debug}
			if !attach {
				return a.eachContainer(cmd.Context(), args, func(s *service.Service, ref string) error {
					_, err := s.StartContainer(cmd.Context(), ref, d)
					return err
				})
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				ctx := cmd.Context()
				since := time.Now()
				c, err := s.StartContainer(ctx, args[0], d)
				if err != nil {
					return err
				}
				if err := a.followLogs(ctx, s, c.ID, logs.ReadOptions{Follow: true, Tail: -1, Since: since, Stdout: true, Stderr: true}, false); err != nil {
					return err
				}
				code, err := s.WaitContainer(ctx, c.ID)
				if err != nil {
					return err
				}
				if code != 0 {
					return &ExitError{Code: code}
				}
				return nil
			})
		},
	}
	c.Flags().BoolVarP(&attach, "attach", "a", false, "attach to the container's output and wait for it to end, with its exit code")
	return c
}

func (a *App) restartCmd() *cobra.Command {
	var seconds int
	c := &cobra.Command{
		Use:   "restart [OPTIONS] CONTAINER [CONTAINER...]",
		Short: "Restart one or more containers (stop, then start detached)",
		Args:  minArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if seconds < 0 {
				return fmt.Errorf("%w: --time %d: give a number of seconds ≥ 0", ErrBadSpec, seconds)
			}
			shim, err := a.detachShim()
			if err != nil {
				return err
			}
			d := service.DetachOptions{ShimBinary: shim, Debug: a.debug}
			return a.eachContainer(cmd.Context(), args, func(s *service.Service, ref string) error {
				c, err := s.StopContainer(cmd.Context(), ref, time.Duration(seconds)*time.Second)
				if err != nil {
					return err
				}
				_, err = s.StartContainer(cmd.Context(), c.ID, d)
				return err
			})
		},
	}
	c.Flags().IntVarP(&seconds, "time", "t", 10, "seconds to wait before killing the container")
	return c
}

// followLogs writes a container's log entries to stdout and stderr (by stream), with
// docker's timestamps when asked.
func (a *App) followLogs(ctx context.Context, s *service.Service, ref string, o logs.ReadOptions, timestamps bool) error {
	var buf []byte
	return s.ContainerLogs(ctx, ref, o, func(e logs.Entry) error {
		w := a.Stdout
		if e.Stream == "stderr" {
			w = a.Stderr
		}
		buf = buf[:0]
		if timestamps {
			buf = e.Time.UTC().AppendFormat(buf, "2006-01-02T15:04:05.000000000Z07:00")
			buf = append(buf, ' ')
		}
		buf = append(buf, e.Log...)
		_, err := w.Write(buf)
		return err
	})
}

func (a *App) renameCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2, "CONTAINER NEW_NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				_, err := s.RenameContainer(cmd.Context(), args[0], args[1])
				return err
			})
		},
	}
}

// containerCmd is `berth container …`: docker's names for the container commands.
func (a *App) containerCmd() *cobra.Command {
	c := &cobra.Command{Use: "container", Short: "Manage containers"}
	ls := a.psCmd()
	ls.Use, ls.Aliases = "ls [OPTIONS]", []string{"list", "ps"}
	var yes bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all stopped containers",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				if f, ok := a.Stdin.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
					return errors.New("container prune removes every stopped container; confirm with -f (--force)")
				}
				fmt.Fprint(a.Stdout, "WARNING! This will remove all stopped containers.\nAre you sure you want to continue? [y/N] ")
				var ans string
				fmt.Fscanln(a.Stdin, &ans)
				if ans != "y" && ans != "Y" {
					return nil
				}
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				removed, freed, err := s.PruneContainers(cmd.Context())
				if len(removed) > 0 {
					fmt.Fprintln(a.Stdout, "Deleted Containers:")
					for _, id := range removed {
						fmt.Fprintln(a.Stdout, id)
					}
					fmt.Fprintln(a.Stdout)
				}
				fmt.Fprintf(a.Stdout, "Total reclaimed space: %s\n", humanSize(freed))
				return err
			})
		},
	}
	prune.Flags().BoolVarP(&yes, "force", "f", false, "do not prompt for confirmation")
	c.AddCommand(ls, prune, a.rmCmd(), a.inspectCmd(), a.logsCmd(), a.stopCmd(), a.killCmd(), a.waitCmd(),
		a.startCmd(), a.restartCmd(), a.renameCmd(), a.attachCmd(), a.statsCmd())
	return c
}
