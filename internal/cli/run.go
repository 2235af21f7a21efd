package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/restart"
	"github.com/berth-dev/berth/internal/service"
)

func (a *App) runCmd() *cobra.Command {
	var (
		rm, interactive, detach, tty bool
		name, workdir, memory        string
		platform, pull               string
		entrypoint                   string
		envs, envFiles, volumes      []string
		insecure, logOpts            []string
		restartFlag                  string
		netf                         netFlags
	)
	c := &cobra.Command{
		Use:   "run [OPTIONS] IMAGE|FILE.wasm [COMMAND] [ARG...]",
		Short: "Create and run a new container from a Wasm image or a local .wasm file",
		Args:  minArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			fail := func(err error) error { return &codeError{code: 125, err: err} }
			if err := checkPlatform(platform); err != nil {
				return fail(err)
			}
			switch pull {
			case "always", "missing", "never":
			default:
				return fail(fmt.Errorf("%w: --pull %q: use always, missing or never", ErrBadSpec, pull))
			}
			ro, err := a.registryOptions(insecure)
			if errors.Is(err, errNeedsFull) {
				return err
			}
			if err != nil {
				return fail(err)
			}
			_ = tty // accepted for docker habits; Wasm guests see no terminal.
			o := service.RunOptions{Image: args[0], Args: args[1:], Name: name, WorkingDir: workdir, Remove: rm,
				Stdout: a.Stdout, Stderr: a.Stderr}
			if cmd.Flags().Changed("entrypoint") {
				o.Entrypoint = &entrypoint
			}
			if interactive {
				o.Stdin = a.Stdin
			}
			var env []string
			for _, f := range envFiles {
				fh, err := os.Open(f)
				if err != nil {
					return fail(fmt.Errorf("--env-file: %w", err))
				}
				e, err := ParseEnvFile(fh, f, osLookup)
				fh.Close()
				if err != nil {
					return fail(err)
				}
				env = append(env, e...)
			}
			e, err := ParseEnv(envs, osLookup)
			if err != nil {
				return fail(err)
			}
			o.Env = append(env, e...)
			var cwd string
			if len(volumes) > 0 {
				cwd, _ = os.Getwd()
			}
			for _, v := range volumes {
				m, err := ParseVolume(v, cwd)
				if err != nil {
					return fail(err)
				}
				if err := ensureDir(m); err != nil {
					return fail(err)
				}
				o.Volumes = append(o.Volumes, m)
			}
			if memory != "" {
				if o.Memory, err = ParseMemory(memory); err != nil {
					return fail(err)
				}
			}
			if o.Network, err = netf.options(); err != nil {
				return fail(err)
			}
			if o.Restart, err = restart.Parse(restartFlag); err != nil {
				return fail(fmt.Errorf("--restart: %w", err))
			}
			if o.Restart.Mode != restart.No && !detach {
				return fail(fmt.Errorf("%w: --restart %s needs -d: the policy is carried out by the shim that runs a detached container, and a foreground run has none", ErrBadSpec, o.Restart))
			}
			pp := pullPolicy{when: pull, registry: ro}
			if detach {
				switch {
				case rm:
					return fail(fmt.Errorf("%w: run -d --rm is not available yet (no process would remove the container when it exits); drop --rm and remove it with berth rm", ErrBadSpec))
				case interactive:
					return fail(fmt.Errorf("%w: run -d -i is not available yet (a detached container's stdin is /dev/null)", ErrBadSpec))
				}
				lo, err := parseLogOpts(logOpts)
				if err != nil {
					return fail(err)
				}
				return a.runDetached(cmd.Context(), o, pp, service.DetachOptions{Log: lo})
			}
			if len(logOpts) > 0 {
				return fail(fmt.Errorf("%w: --log-opt applies to detached containers (run -d); a foreground container's output goes to the terminal", ErrBadSpec))
			}
			return a.run(cmd.Context(), o, pp)
		},
	}
	f := c.Flags()
	f.SetInterspersed(false)
	f.BoolVar(&rm, "rm", false, "automatically remove the container when it exits")
	f.BoolVarP(&interactive, "interactive", "i", false, "keep STDIN open and pass it to the module")
	f.BoolVarP(&tty, "tty", "t", false, "accepted for compatibility; Wasm modules get no terminal")
	f.BoolVarP(&detach, "detach", "d", false, "run the container in the background and print its id")
	f.StringArrayVar(&logOpts, "log-opt", nil, "json-file log option of a detached container: max-size=SIZE, max-file=N")
	f.StringVar(&restartFlag, "restart", "no", "restart policy of a detached container, carried out by its shim: no, on-failure[:N], always, unless-stopped")
	f.StringVar(&name, "name", "", "assign a name to the container")
	f.StringArrayVarP(&envs, "env", "e", nil, "set environment variables (KEY=VALUE, or KEY to pass the host's)")
	f.StringArrayVar(&envFiles, "env-file", nil, "read a file of environment variables")
	f.StringArrayVarP(&volumes, "volume", "v", nil, "bind mount a host directory: HOST_DIR:CONTAINER_DIR[:ro]")
	f.StringVarP(&workdir, "workdir", "w", "", "working directory inside the container")
	f.StringVar(&entrypoint, "entrypoint", "", "overwrite the image's ENTRYPOINT (the module to run)")
	f.StringVarP(&memory, "memory", "m", "", "limit on the module's linear memory (e.g. 64m)")
	f.StringVar(&platform, "platform", "wasi/wasm", "platform (only wasi/wasm)")
	f.StringVar(&pull, "pull", "missing", "pull the image before running: always, missing (when not stored) or never")
	insecureFlag(f, &insecure)
	netf.add(f)
	return c
}

// checkPlatform accepts the spellings of the one platform berth runs.
func checkPlatform(p string) error {
	os, arch, _ := strings.Cut(p, "/")
	if !image.IsWasmPlatform(os, arch) {
		return fmt.Errorf("%w: --platform %q: berth builds and runs wasi/wasm (also wasip1/wasm, wasi/wasm32) only", ErrBadSpec, p)
	}
	return nil
}

func ensureDir(m bundle.Mount) error {
	fi, err := os.Stat(m.Source)
	if errors.Is(err, os.ErrNotExist) {
		// As docker does for -v, create a missing host directory.
		return os.MkdirAll(m.Source, 0o755)
	}
	if err != nil {
		return fmt.Errorf("-v %s: %w", m.Source, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%w: -v %s: berth mounts directories; %s is a file (mount its directory instead)", ErrBadSpec, m.Source, m.Source)
	}
	return nil
}

// pullError is a failed pull of withPull: its message is the pull's.
type pullError struct{ err error }

func (e *pullError) Error() string { return e.err.Error() }
func (e *pullError) Unwrap() error { return e.err }

// withPull runs create, which looks up image, under run's --pull policy pp: it pulls
// image first with "always", and with "missing" when create reports it missing, then
// runs create again. A failed pull is returned as a *pullError (and create's result is
// then the zero value).
//
// # Notes
//
//   - The registry is asked only when the image is missing (or with --pull always): a
//     run of a stored image takes the path it took before berth could pull.
func withPull[T comparable](ctx context.Context, a *App, s *service.Service, image string, pp pullPolicy, create func() (T, error)) (T, error) {
	var zero T
	pull := func() error {
		if !canPull {
			return errNeedsFull // before anything is printed: the complete berth does it all again
		}
		if err := a.pull(ctx, s, image, pp.registry, false, a.Stderr); err != nil {
			return &pullError{err}
		}
		return nil
	}
	if pp.when == "always" && !service.IsLocalModule(image) {
		if err := pull(); err != nil {
			return zero, err
		}
	}
	c, err := create()
	if c == zero && pp.when == "missing" && errors.Is(err, service.ErrImageNotFound) && !service.IsLocalModule(image) {
		if !canPull {
			return zero, errNeedsFull
		}
		fmt.Fprintf(a.Stderr, "Unable to find image '%s' locally\n", image)
		if err := pull(); err != nil {
			return zero, err
		}
		c, err = create()
	}
	return c, err
}

// pullPolicy is run's --pull and the registry options of its flags.
type pullPolicy struct {
	when     string // always, missing, never
	registry pullOptions
}

// run runs a container in the foreground. A SIGINT/SIGTERM ends it at once (a running
// guest cannot be interrupted in-process): its record is updated, or removed with --rm,
// and berth exits 128+signal as docker does.
func (a *App) run(ctx context.Context, o service.RunOptions, pp pullPolicy) error {
	// signal.Notify waits for a thread of the Go runtime three times (~0.25 ms): it runs
	// beside opening the root and finding the image, and the container's record waits for it.
	sigs := make(chan os.Signal, 1)
	notified := make(chan struct{})
	go func() {
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		close(notified)
	}()
	defer func() { <-notified; signal.Stop(sigs) }()
	s, err := a.open(ctx)
	if err != nil {
		return &codeError{code: 125, err: err}
	}
	defer s.Close(context.WithoutCancel(ctx))
	started := make(chan *container.Container, 1)
	o.Started = func(c *container.Container) { <-notified; started <- c }
	done := make(chan struct{})
	defer close(done)
	go func() {
		var c *container.Container
		for {
			select {
			case c = <-started:
			case sig := <-sigs:
				if c == nil { // both may be ready: select picks at random
					select {
					case c = <-started:
					default:
					}
				}
				code := 128 + int(sig.(syscall.Signal))
				if c != nil {
					if o.Remove {
						_ = s.RemoveContainerRecord(context.Background(), c.ID)
					} else {
						_ = s.MarkExited(context.Background(), c.ID, code)
					}
				}
				os.Exit(code)
			case <-done:
				return
			}
		}
	}()
	var code int
	c, err := withPull(ctx, a, s, o.Image, pp, func() (*container.Container, error) {
		c, cd, err := s.Run(ctx, o)
		code = cd
		return c, err
	})
	if errors.Is(err, errNeedsFull) {
		return err
	}
	if pe := (*pullError)(nil); errors.As(err, &pe) {
		return &codeError{code: 125, err: pe.err}
	}
	if err != nil {
		var trap *engine.TrapError
		if errors.As(err, &trap) {
			module := o.Image
			if c != nil {
				module = c.Path
			}
			fmt.Fprintf(a.Stderr, "berth: the module %s trapped: %s\n", module, trap.Reason)
			if len(trap.Stack) > 0 {
				fmt.Fprintf(a.Stderr, "wasm stack trace:\n\t%s\n", strings.Join(trap.Stack, "\n\t"))
			}
			if trap.Note != "" {
				fmt.Fprintf(a.Stderr, "note: %s\n", trap.Note)
			}
			return &ExitError{Code: engine.TrapExitCode}
		}
		return &codeError{code: service.ExitCode(err), err: err}
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
