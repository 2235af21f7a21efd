// Package cli is berth's command line: cobra commands that parse flags, call the
// embedded engine (internal/service) and print results in docker's formats.
//
// # Notes
//
//   - Commands and flags follow the docker CLI's names and output, so habits and scripts
//     carry over: `images --format`, `rmi -f`, `run --rm -e -v -w --entrypoint`.
//   - The service is opened per command, never at start-up: `berth version` touches no disk.
//   - $BERTH_WASI (engine.HostEnv) chooses the WASI host, read when the service opens.
//   - $BERTH_BACKTRACE_DETAILS (engine.BacktraceEnv) asks for source positions in trap
//     stack traces, read when the service opens.
//   - Commands that need the registry client, the builder, the archive formats or the
//     shim installer are in files built only without the berth_core tag
//     (commands_full.go lists them). The core build (commands_core.go) carries the rest
//     and hands those, and a run that must pull, to the complete berth (App.Delegate).
//   - Exit codes of `run` are docker's: the module's own code, 125 when berth failed before
//     the module started, 126 when the module cannot run, 127 when it is missing, and
//     134 (128+SIGABRT, as wasmtime) when it traps.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/paths"
	"github.com/berth-dev/berth/internal/service"
)

// Version is berth's version, set at link time.
var Version = "dev"

// ExitError carries the exit code a command wants, without a message of its own.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// App is one invocation of the CLI.
type App struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	Getenv         func(string) string
	// TuneForPull, when set, is called as `berth pull` starts: the process's main uses
	// it to tune the garbage collector for a short process that handles a whole image
	// (see cmd/berth). Tests leave it nil, so the test process is never tuned.
	TuneForPull func()
	// Delegate, when set, hands the whole command line to the complete berth, by exec: it
	// returns only when that fails. The core build's main sets it (see commands_core.go);
	// the complete berth, which carries every command, leaves it nil.
	Delegate func(args []string) error
	root     string
	state    string
	debug    bool
}

// DefaultRoot is the data root: see paths.DefaultRoot.
func DefaultRoot(getenv func(string) string, uid int) string {
	return paths.DefaultRoot(getenv, uid)
}

func (a *App) open(ctx context.Context) (*service.Service, error) {
	level := slog.LevelWarn
	if a.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
	host, err := engine.ParseHost(a.Getenv(engine.HostEnv))
	if err != nil {
		return nil, err
	}
	details, err := engine.ParseBacktraceDetails(a.Getenv(engine.BacktraceEnv))
	if err != nil {
		return nil, err
	}
	return service.Open(ctx, a.root, a.state, log, engine.WithHost(host), engine.WithBacktraceDetails(details))
}

// withService opens the data root for the duration of fn.
func (a *App) withService(ctx context.Context, fn func(*service.Service) error) error {
	s, err := a.open(ctx)
	if err != nil {
		return err
	}
	defer s.Close(context.WithoutCancel(ctx))
	return fn(s)
}

// Command returns the root command.
func (a *App) Command() *cobra.Command { return a.command("") }

// command returns the root command with its subcommands, or with only the one named
// only when that names one.
//
// # Notes
//
//   - Building a command means building its flags: the whole tree cost `berth run`
//     0.1–0.2 ms of the ~0.4 ms it spent before opening the data root. Main builds
//     only the command its first argument names, which is all cobra looks at to run it
//     (help, flag errors and usage of a command do not list its siblings); any other
//     first argument (a flag, help, a typo cobra suggests a command for) gets the
//     whole tree.
func (a *App) command(only string) *cobra.Command {
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Run WebAssembly images like containers, with no daemon",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       Version,
	}
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	root.PersistentFlags().StringVar(&a.root, "root", DefaultRoot(a.Getenv, os.Getuid()), "data root directory (env BERTH_ROOT)")
	root.PersistentFlags().StringVar(&a.state, "state", paths.DefaultState(a.Getenv, os.Getuid()),
		"state directory, for the containers of run --rm; empty means ROOT/state (env BERTH_STATE)")
	root.PersistentFlags().BoolVarP(&a.debug, "debug", "D", false, "log debug messages")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help'.", err, c.CommandPath())
	})
	for _, sub := range a.subcommands() {
		if only == "" || sub.name == only {
			root.AddCommand(sub.make())
		}
	}
	return root
}

// subcommand is a top-level command, by name, built when needed.
type subcommand struct {
	name string
	make func() *cobra.Command
}

func (a *App) subcommands() []subcommand {
	return append([]subcommand{
		{"run", a.runCmd}, {"images", a.imagesCmd}, {"tag", a.tagCmd}, {"rmi", a.rmiCmd},
		{"image", a.imageCmd}, {"ps", a.psCmd}, {"rm", a.rmCmd}, {"inspect", a.inspectCmd},
		{"version", a.versionCmd}, {"info", a.infoCmd}, {"logs", a.logsCmd}, {"stop", a.stopCmd},
		{"kill", a.killCmd}, {"wait", a.waitCmd}, {"start", a.startCmd}, {"restart", a.restartCmd},
		{"rename", a.renameCmd}, {"attach", a.attachCmd}, {"stats", a.statsCmd}, {"container", a.containerCmd},
		{"port", a.portCmd},
	}, a.fullCommands()...)
}

// Main runs the CLI with args and returns the process exit code.
func (a *App) Main(ctx context.Context, args []string) int {
	only := ""
	if len(args) > 0 {
		for _, sub := range a.subcommands() {
			if sub.name == args[0] {
				only = sub.name
			}
		}
	}
	cmd := a.command(only)
	if a.Delegate != nil && !carries(cmd, args) {
		return a.delegate(args, 1)
	}
	return a.execute(ctx, cmd, args)
}

// errNeedsFull is returned by a command of the core build when it finds it needs what
// only the complete berth carries (a pull, a registry option), before it has done
// anything: Main then hands the command line to the complete berth (App.Delegate).
var errNeedsFull = errors.New("this needs the complete berth (berth-full)")

// carries reports whether root, as Main built it, runs args itself: they name a
// runnable command of it. Anything else (another command, a group's unknown
// subcommand, help, completion, no command at all) is the complete berth's, whose
// help lists every command.
func carries(root *cobra.Command, args []string) bool {
	c, _, err := root.Find(args)
	return err == nil && c != root && c.Runnable()
}

// delegate runs args in the complete berth (App.Delegate), and returns code when it
// cannot.
func (a *App) delegate(args []string, code int) int {
	err := a.Delegate(args)
	fmt.Fprintf(a.Stderr, "berth: %v\n", err)
	return code
}

// execute runs cmd with args and returns the process exit code.
func (a *App) execute(ctx context.Context, cmd *cobra.Command, args []string) int {
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, errNeedsFull) && a.Delegate != nil {
		return a.delegate(args, 125)
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	fmt.Fprintf(a.Stderr, "berth: %v\n", err)
	var ce *codeError
	if errors.As(err, &ce) {
		return ce.code
	}
	return 1
}

// codeError is an error printed by Main that exits with code.
type codeError struct {
	code int
	err  error
}

func (e *codeError) Error() string { return e.err.Error() }
func (e *codeError) Unwrap() error { return e.err }
