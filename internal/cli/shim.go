//go:build !berth_core

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/shiminstall"
)

const (
	defaultContainerdConfig = "/etc/containerd/config.toml"
	defaultShimBinDir       = "/usr/local/bin"
	defaultContainerdSocket = "/run/containerd/containerd.sock"
	k3sContainerdDir        = "/var/lib/rancher/k3s/agent/etc/containerd"
)

// shimFlags are the flags of `berth shim install` and `uninstall`.
type shimFlags struct {
	config        string
	binDir        string
	dryRun, force bool
	configVersion int
	// restart is --restart-containerd (none or signal), socket the containerd socket
	// it acts on, restartTimeout how long to wait for a new containerd.
	restart        string
	socket         string
	restartTimeout time.Duration
}

// addRestartFlags adds the flags that restart containerd after a changed config.
func addRestartFlags(c *cobra.Command, f *shimFlags) {
	fl := c.Flags()
	fl.StringVar(&f.restart, "restart-containerd", string(shiminstall.RestartNone),
		"when the config changed: \"none\" (restart it yourself) or \"signal\" (SIGTERM the containerd serving --containerd-socket and wait until its supervisor, e.g. systemd with Restart=always, serves the socket again)")
	fl.StringVar(&f.socket, "containerd-socket", defaultContainerdSocket, "containerd's socket, for --restart-containerd signal")
	fl.DurationVar(&f.restartTimeout, "restart-timeout", time.Minute, "how long --restart-containerd signal waits for a new containerd")
}

// shimCmd is `berth shim`: registering containerd-shim-berth-v1 with containerd.
//
// # Notes
//
//   - The editing is internal/shiminstall's; this file finds the files, prints the
//     plan (--dry-run) or the outcome, and says what to do next.
//   - The shim binary is copied first and the config written second, so a containerd
//     restarted in between never knows a runtime whose binary is missing; uninstall
//     goes the other way round.
func (a *App) shimCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "shim",
		Short: "Register berth's containerd shim (runtime io.containerd.berth.v1) with containerd",
		Long: `Register berth's containerd shim with containerd, for Kubernetes (RuntimeClass handler "berth"),
Docker and ctr (--runtime ` + shiminstall.RuntimeType + `).

install copies ` + shiminstall.ShimBinary + ` onto containerd's PATH and adds the runtime to containerd's
config.toml, with ` + shiminstall.LocalPullKey + ` = true for CRI images (without it containerd 2.1+
fetches the Wasm images the kubelet pulls but does not unpack them); uninstall removes exactly what
install added. Both keep every other line of the config. See docs/kubernetes.md.`,
		Args: cobra.NoArgs,
	}
	c.AddCommand(a.shimInstallCmd(), a.shimUninstallCmd())
	return c
}

func (a *App) shimInstallCmd() *cobra.Command {
	f := &shimFlags{}
	c := &cobra.Command{
		Use:   "install [OPTIONS]",
		Short: "Install the shim binary and register the berth runtime in containerd's config",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.shimInstall(cmd.Context(), f, cmd.Flags().Changed("config-version"))
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.config, "config", defaultContainerdConfig, "containerd config file to edit (created when missing)")
	fl.StringVar(&f.binDir, "bin-dir", defaultShimBinDir, "directory on containerd's PATH to copy the shim binary into (\"\" skips the copy)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the planned changes and a diff of the config; write nothing")
	fl.IntVar(&f.configVersion, "config-version", 0, "config version (2 or 3) to write when the config is empty (default: 3 if the containerd on PATH is 2.x, else 2)")
	fl.BoolVar(&f.force, "force", false, "replace a runtime already named berth with another runtime_type (uninstall restores it)")
	addRestartFlags(c, f)
	return c
}

func (a *App) shimUninstallCmd() *cobra.Command {
	f := &shimFlags{}
	c := &cobra.Command{
		Use:   "uninstall [OPTIONS]",
		Short: "Remove what berth shim install added to containerd's config, and the shim binary",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.shimUninstall(cmd.Context(), f)
		},
	}
	fl := c.Flags()
	fl.StringVar(&f.config, "config", defaultContainerdConfig, "containerd config file to edit")
	fl.StringVar(&f.binDir, "bin-dir", defaultShimBinDir, "directory to remove the shim binary from (\"\" keeps it)")
	fl.BoolVar(&f.dryRun, "dry-run", false, "print the planned changes and a diff of the config; write nothing")
	addRestartFlags(c, f)
	return c
}

func (a *App) shimInstall(ctx context.Context, f *shimFlags, versionSet bool) error {
	mode, err := shiminstall.ParseRestartMode(f.restart)
	if err != nil {
		return fmt.Errorf("%w: --restart-containerd: %w", ErrBadSpec, err)
	}
	if versionSet && f.configVersion != 2 && f.configVersion != 3 {
		return fmt.Errorf("%w: --config-version %d: berth writes version 2 (containerd 1.6/1.7) or 3 (containerd 2.x)", ErrBadSpec, f.configVersion)
	}
	data, exists, err := shiminstall.ReadConfig(f.config)
	if err != nil {
		return err
	}
	detected, containerd := a.containerdConfigVersion(ctx)
	newVersion := f.configVersion
	if !versionSet {
		newVersion = max(detected, 2)
	}
	res, err := shiminstall.Install(data, shiminstall.Options{Version: newVersion, Force: f.force})
	if err != nil {
		return fmt.Errorf("%s: %w", f.config, err)
	}
	if versionSet && res.Version != f.configVersion {
		return fmt.Errorf("%w: --config-version %d: %s is a version %d config, which berth edits as it is (the flag only chooses the version of a new config); drop the flag, or migrate the file first with `containerd config migrate`",
			ErrBadSpec, f.configVersion, f.config, res.Version)
	}
	warnings := res.Warnings
	if detected == 2 && res.Version >= 3 {
		warnings = append(warnings, fmt.Sprintf("%s cannot read a version %d config (containerd 2.x can)", containerd, res.Version))
	}

	var srcs []string // the shim, then berth-guest beside it
	if f.binDir != "" {
		src, err := a.findShim()
		if err != nil {
			return err
		}
		g := filepath.Join(filepath.Dir(src), shiminstall.GuestBinary)
		if !isExecutable(g) {
			return fmt.Errorf("%s has no %s beside it: the shim runs each container with it; build both with `make shim`", src, shiminstall.GuestBinary)
		}
		srcs = []string{src, g}
	}
	w := a.Stdout
	if err := checkRestart(f, mode, res.Changed); err != nil {
		return err
	}
	if f.dryRun {
		fmt.Fprintln(w, "dry run: nothing is written")
		for _, src := range srcs {
			dst, current, err := shiminstall.BinaryCurrent(src, f.binDir)
			if err != nil {
				return err
			}
			if current {
				fmt.Fprintf(w, "shim: %s is up to date\n", dst)
			} else {
				fmt.Fprintf(w, "shim: would copy %s to %s (mode 0755)\n", src, dst)
			}
		}
		a.printConfigPlan(w, f.config, exists, data, res)
		printWarnings(a.Stderr, warnings)
		return nil
	}

	// berth-guest first: a shim that finds no berth-guest beside it cannot run anything.
	for i := len(srcs) - 1; i >= 0; i-- {
		src := srcs[i]
		dst, changed, err := shiminstall.InstallBinary(src, f.binDir)
		if err != nil {
			return fmt.Errorf("installing %s: %w", filepath.Base(src), err)
		}
		if changed {
			fmt.Fprintf(w, "shim: installed %s (from %s)\n", dst, src)
		} else {
			fmt.Fprintf(w, "shim: %s is up to date\n", dst)
		}
	}
	if res.Changed {
		backup, err := shiminstall.WriteConfig(f.config, res.Output)
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.config, err)
		}
		if !exists {
			fmt.Fprintf(w, "config: created %s: %s\n", f.config, res.Message)
		} else {
			fmt.Fprintf(w, "config: %s: %s\n", f.config, res.Message)
		}
		if backup != "" {
			fmt.Fprintf(w, "config: the previous config is saved as %s\n", backup)
		}
	} else {
		fmt.Fprintf(w, "config: %s: %s\n", f.config, res.Message)
	}
	printWarnings(a.Stderr, warnings)
	restarted, err := a.restartContainerd(ctx, f, mode, res.Changed)
	if err != nil {
		return err
	}

	fmt.Fprintln(w, "\nNext:")
	if restarted {
		fmt.Fprintln(w, "  containerd was restarted and has loaded the config")
	} else if res.Changed {
		if isK3s(f.config) {
			fmt.Fprintf(w, "  k3s rewrites %s from a template each time it starts: put the berth table\n", f.config)
			fmt.Fprintf(w, "  into %s/config.toml.tmpl (config-v3.toml.tmpl on k3s with containerd 2)\n", k3sContainerdDir)
			fmt.Fprintln(w, "  below {{ template \"base\" . }}, then: systemctl restart k3s   (or k3s-agent)")
		} else {
			fmt.Fprintln(w, "  restart containerd to load the config:  systemctl restart containerd")
			if _, err := os.Stat(k3sContainerdDir); err == nil {
				fmt.Fprintf(w, "  (k3s here? its containerd reads %s/config.toml, generated from config.toml.tmpl)\n", k3sContainerdDir)
			}
		}
	} else {
		fmt.Fprintln(w, "  nothing to restart: containerd's config already names berth")
	}
	fmt.Fprintln(w, "  Kubernetes: a RuntimeClass with handler: berth, then runtimeClassName: berth in pods (docs/kubernetes.md)")
	fmt.Fprintf(w, "  Docker, nerdctl, ctr: --runtime %s\n", shiminstall.RuntimeType)
	return nil
}

func (a *App) shimUninstall(ctx context.Context, f *shimFlags) error {
	mode, err := shiminstall.ParseRestartMode(f.restart)
	if err != nil {
		return fmt.Errorf("%w: --restart-containerd: %w", ErrBadSpec, err)
	}
	data, exists, err := shiminstall.ReadConfig(f.config)
	if err != nil {
		return err
	}
	res := &shiminstall.Result{Output: data, Message: "the file does not exist; nothing to remove"}
	if exists {
		if res, err = shiminstall.Uninstall(data); err != nil {
			return fmt.Errorf("%s: %w", f.config, err)
		}
	}
	w := a.Stdout
	if err := checkRestart(f, mode, res.Changed); err != nil {
		return err
	}
	if f.dryRun {
		fmt.Fprintln(w, "dry run: nothing is written")
		a.printConfigPlan(w, f.config, exists, data, res)
		if f.binDir != "" {
			for _, name := range shiminstall.Binaries {
				if p := filepath.Join(f.binDir, name); fileExists(p) {
					fmt.Fprintf(w, "shim: would remove %s\n", p)
				} else {
					fmt.Fprintf(w, "shim: %s is not there\n", p)
				}
			}
		}
		return nil
	}
	if res.Changed {
		backup, err := shiminstall.WriteConfig(f.config, res.Output)
		if err != nil {
			return fmt.Errorf("writing %s: %w", f.config, err)
		}
		if backup != "" {
			fmt.Fprintf(w, "config: the previous config is saved as %s\n", backup)
		}
	}
	fmt.Fprintf(w, "config: %s: %s\n", f.config, res.Message)
	if f.binDir != "" {
		for _, name := range shiminstall.Binaries {
			p, removed, err := shiminstall.RemoveBinary(f.binDir, name)
			if err != nil {
				return fmt.Errorf("removing %s: %w", name, err)
			}
			if removed {
				fmt.Fprintf(w, "shim: removed %s\n", p)
			} else {
				fmt.Fprintf(w, "shim: %s is not there\n", p)
			}
		}
	}
	restarted, err := a.restartContainerd(ctx, f, mode, res.Changed)
	if err != nil {
		return err
	}
	if res.Changed {
		fmt.Fprintln(w, "\nNext:")
		if restarted {
			fmt.Fprintln(w, "  containerd was restarted and has forgotten the runtime")
		} else {
			fmt.Fprintln(w, "  restart containerd to forget the runtime:  systemctl restart containerd")
		}
		fmt.Fprintln(w, "  pods with runtimeClassName: berth will no longer start on this node")
	}
	return nil
}

// checkRestart finds, before anything is written, the containerd that
// --restart-containerd signal would restart when the config is to change, so that a
// wrong socket leaves the node as it was instead of with a config containerd has not
// loaded.
func checkRestart(f *shimFlags, mode shiminstall.RestartMode, changes bool) error {
	if mode != shiminstall.RestartSignal || !changes {
		return nil
	}
	_, err := shiminstall.ContainerdPID(f.socket, "/proc")
	return err
}

// restartContainerd restarts containerd as mode says when the config changed, and
// tells whether it did.
func (a *App) restartContainerd(ctx context.Context, f *shimFlags, mode shiminstall.RestartMode, changed bool) (bool, error) {
	w := a.Stdout
	if mode == shiminstall.RestartNone {
		return false, nil
	}
	if !changed {
		fmt.Fprintln(w, "containerd: config unchanged, not restarted")
		return false, nil
	}
	fmt.Fprintf(w, "containerd: sending SIGTERM to the containerd serving %s and waiting up to %v for its supervisor to start a new one\n", f.socket, f.restartTimeout)
	r, err := shiminstall.RestartBySignal(ctx, f.socket, "/proc", f.restartTimeout)
	if err != nil {
		return false, err
	}
	fmt.Fprintf(w, "containerd: restarted: pid %d → %d, socket unanswered for %v\n", r.OldPID, r.NewPID, r.Down.Round(time.Millisecond))
	return true, nil
}

// printConfigPlan prints what would happen to the config, with a diff.
func (a *App) printConfigPlan(w io.Writer, path string, exists bool, old []byte, res *shiminstall.Result) {
	if !res.Changed {
		fmt.Fprintf(w, "config: %s: %s\n", path, res.Message)
		return
	}
	verb := "would edit"
	if !exists {
		verb = "would create"
	} else if !fileExists(path + shiminstall.BackupSuffix) {
		fmt.Fprintf(w, "config: would save the current config as %s%s\n", path, shiminstall.BackupSuffix)
	}
	fmt.Fprintf(w, "config: %s %s: %s\n", verb, path, res.Message)
	from := path
	if !exists {
		from = "/dev/null"
	}
	fmt.Fprint(w, shiminstall.Diff(from, path, old, res.Output))
}

// containerdConfigVersion asks the containerd on PATH for its version and returns
// the config version it reads natively (0 when there is none) and how it named itself.
func (a *App) containerdConfigVersion(ctx context.Context) (int, string) {
	p, ok := a.lookPath("containerd")
	if !ok {
		return 0, ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, p, "--version").Output()
	if err != nil {
		return 0, ""
	}
	v, err := shiminstall.ConfigVersionFor(string(out))
	if err != nil {
		return 0, ""
	}
	return v, strings.TrimSpace(string(out))
}

func isK3s(path string) bool { return strings.Contains(filepath.ToSlash(path), "/rancher/k3s/") }
func fileExists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}
