//go:build berth_core

package cli

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/service"
)

// The core build of berth (-tags berth_core; `make` builds bin/berth so) carries the
// commands of containers and stored images, and links no registry client, image
// builder, archive formats or shim installer: it starts ~0.6 ms sooner than the complete
// berth, an eighth of a small module's `berth run` (docs/rationale.md). Whatever it does
// not carry it hands, by exec, to the complete berth installed beside it as berth-full
// (App.Delegate): the commands of commands_full.go, and a run that needs a pull or a
// registry option.

// fullCommands: none here; see commands_full.go.
func (a *App) fullCommands() []subcommand { return nil }

// fullImageCommands: none here; see commands_full.go.
func (a *App) fullImageCommands() []*cobra.Command { return nil }

// pullOptions stands for the registry options, which the core build has none of.
type pullOptions struct{}

// canPull is false in the core build: a run that must pull is the complete berth's.
const canPull = false

// registryOptions hands a run that names registries (--insecure-registry, or
// $BERTH_INSECURE_REGISTRIES) to the complete berth, which checks them as login,
// pull and push do, even when no pull follows.
func (a *App) registryOptions(flag []string) (pullOptions, error) {
	if len(flag) > 0 || a.Getenv(InsecureEnv) != "" {
		return pullOptions{}, errNeedsFull
	}
	return pullOptions{}, nil
}

// pull is not reached in the core build (withPull returns errNeedsFull first).
func (a *App) pull(context.Context, *service.Service, string, pullOptions, bool, io.Writer) error {
	return errNeedsFull
}
