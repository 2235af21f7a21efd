//go:build !berth_core

package cli

import (
	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/registry"
)

// fullCommands are the top-level commands that only the complete berth carries: those
// that need the registry client, the image builder, the archive formats or the shim
// installer. The core build (commands_core.go) hands them to the complete one.
func (a *App) fullCommands() []subcommand {
	return []subcommand{
		{"build", a.buildCmd}, {"load", a.loadCmd}, {"save", a.saveCmd}, {"shim", a.shimCmd},
		{"login", a.loginCmd}, {"logout", a.logoutCmd}, {"pull", a.pullCmd}, {"push", a.pushCmd},
	}
}

// fullImageCommands are the subcommands of `image` that only the complete berth carries.
func (a *App) fullImageCommands() []*cobra.Command {
	return []*cobra.Command{a.loadCmd(), a.saveCmd(), a.buildCmd()}
}

// pullOptions are the registry options run's --pull policy pulls with.
type pullOptions = registry.Options

// canPull is true in the complete berth: run pulls a missing image itself.
const canPull = true
