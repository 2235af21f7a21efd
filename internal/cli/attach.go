package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/logs"
	"github.com/berth-dev/berth/internal/service"
)

// ErrAttachStdin is returned (wrapped) by attach when asked to attach stdin.
var ErrAttachStdin = errors.New("attaching stdin is not supported")

// attachCmd is `berth attach`: the output of a running detached container, live, until
// it ends, with its exit code.
//
// # Notes
//
//   - Output only (docker's --no-stdin): a detached container's stdin is /dev/null from
//     the start (run -d -i is refused), since no process stays to feed a FIFO after
//     run -d returns; there is nothing attach could write to. -i and --no-stdin=false
//     are refused with that reason rather than ignored.
//   - The output is read from the container's json-file log, where the shim writes it,
//     from the end (docker's attach shows no history; `logs` does), and followed across
//     restarts of its restart policy until the container has ended for good. So several
//     attaches and `logs -f` can follow one container at once, and the container never
//     waits for a slow reader.
//   - Signals are not proxied (docker's default --sig-proxy=true is not done): Ctrl-C
//     detaches, as docker's --sig-proxy=false does, and the container goes on; berth
//     stop or kill stop it.
func (a *App) attachCmd() *cobra.Command {
	var noStdin, interactive, sigProxy bool
	c := &cobra.Command{
		Use:   "attach [OPTIONS] CONTAINER",
		Short: "Follow a running container's output until it ends, and exit with its code (Ctrl-C detaches)",
		Args:  exactArgs(1, "CONTAINER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if interactive || !noStdin {
				return fmt.Errorf("%w: a detached container has no stdin (its stdin is /dev/null from the start: no process stays to feed one after run -d returns); berth attach follows its output only (--no-stdin)", ErrAttachStdin)
			}
			if sigProxy {
				return fmt.Errorf("%w: --sig-proxy: berth attach does not pass signals to the container; Ctrl-C detaches, and berth stop or berth kill stop it", ErrBadSpec)
			}
			// Ctrl-C ends the attach, not the container.
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
			defer stop()
			return a.withService(cmd.Context(), func(s *service.Service) error {
				return a.attach(ctx, s, args[0])
			})
		},
	}
	f := c.Flags()
	f.BoolVar(&noStdin, "no-stdin", true, "do not attach stdin (the only mode: detached containers have no stdin)")
	f.BoolVar(&sigProxy, "sig-proxy", false, "not supported: signals are not passed on; Ctrl-C detaches")
	f.BoolVarP(&interactive, "interactive", "i", false, "not supported: detached containers have no stdin")
	f.MarkHidden("interactive")
	return c
}

// attach follows the output of running container ref until it ends, then returns its
// exit code as an *ExitError (nil for 0). When ctx ends first (Ctrl-C) it returns nil
// and the container goes on.
func (a *App) attach(ctx context.Context, s *service.Service, ref string) error {
	c, err := s.Container(ctx, ref)
	if err != nil {
		return err
	}
	if !c.Detached {
		return fmt.Errorf("%w: container %s runs in the foreground of another berth process, which has its output; berth attach follows detached containers (run -d)", service.ErrNotRunning, c.Name)
	}
	if !c.State.Running {
		// docker's words.
		return fmt.Errorf("%w: you cannot attach to a stopped container %s, start it first (berth start -a %s)", service.ErrNotRunning, c.Name, c.Name)
	}
	err = a.followLogs(ctx, s, c.ID, logs.ReadOptions{Follow: true, Tail: 0, Stdout: true, Stderr: true}, false)
	if ctx.Err() != nil {
		return nil // detached by Ctrl-C
	}
	if err != nil {
		return err
	}
	code, err := s.WaitContainer(ctx, c.ID)
	if ctx.Err() != nil {
		return nil
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return &ExitError{Code: code}
	}
	return nil
}
