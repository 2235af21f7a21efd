//go:build !berth_core

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/service"
)

// registryOptions are the registry client options of this invocation: the
// registries marked insecure by --insecure-registry (flag) and by
// $BERTH_INSECURE_REGISTRIES, each checked, and the logins of docker's
// configuration directory as this invocation's environment names it.
func (a *App) registryOptions(flag []string) (registry.Options, error) {
	if err := registry.CheckInsecure(flag); err != nil {
		return registry.Options{}, fmt.Errorf("--insecure-registry: %w", err)
	}
	list := append([]string(nil), flag...)
	var env []string
	for _, h := range strings.Split(a.Getenv(InsecureEnv), ",") {
		if h = strings.TrimSpace(h); h != "" {
			env = append(env, h)
		}
	}
	if err := registry.CheckInsecure(env); err != nil {
		return registry.Options{}, fmt.Errorf("%s: %w", InsecureEnv, err)
	}
	return registry.Options{Insecure: append(list, env...), Keychain: a.logins().Keychain(), UserAgent: "berth/" + Version}, nil
}

func (a *App) pullCmd() *cobra.Command {
	var (
		platform string
		quiet    bool
		insecure []string
	)
	c := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download a Wasm image from a registry",
		Args:  exactArgs(1, "NAME[:TAG|@DIGEST]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPlatform(platform); err != nil {
				return err
			}
			ro, err := a.registryOptions(insecure)
			if err != nil {
				return err
			}
			if a.TuneForPull != nil {
				a.TuneForPull()
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				return a.pull(cmd.Context(), s, args[0], ro, quiet, a.Stdout)
			})
		},
	}
	f := c.Flags()
	f.StringVar(&platform, "platform", "wasi/wasm", "platform to pick from a multi-platform image (only wasi/wasm)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the image name")
	insecureFlag(f, &insecure)
	return c
}

// pull pulls ref, writing docker's lines (progress, Digest, Status, the name) to w.
func (a *App) pull(ctx context.Context, s *service.Service, ref string, ro registry.Options, quiet bool, w io.Writer) error {
	n, err := image.ParseName(ref)
	if err != nil {
		return err
	}
	o := service.PullOptions{Registry: ro}
	var p *progress
	if !quiet {
		what := n.Tag
		if n.Digest != "" {
			what = n.Digest
		}
		fmt.Fprintf(w, "%s: Pulling from %s\n", what, n.Path)
		p = newProgress(w, false)
		o.Progress = p.update
	}
	res, err := s.Pull(ctx, ref, o)
	if p != nil {
		p.finish()
	}
	if err != nil {
		return err
	}
	full := n.String()
	if quiet {
		fmt.Fprintln(w, full)
		return nil
	}
	digest := res.RepoDigest
	if _, d, ok := strings.Cut(digest, "@"); ok {
		digest = d
	}
	fmt.Fprintf(w, "Digest: %s\n", digest)
	if res.UpToDate {
		fmt.Fprintf(w, "Status: Image is up to date for %s\n", n.Familiar())
	} else {
		fmt.Fprintf(w, "Status: Downloaded newer image for %s\n", n.Familiar())
	}
	fmt.Fprintln(w, full)
	return nil
}

func (a *App) pushCmd() *cobra.Command {
	var (
		format, indexWith string
		quiet             bool
		insecure          []string
	)
	c := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload a Wasm image to a registry",
		Long: `Upload a Wasm image to a registry.

--format docker (the default) pushes the image as stored; --format artifact pushes
its module as the CNCF Wasm OCI artifact (config application/vnd.wasm.config.v0+json,
one application/wasm layer).

--index-with REF makes NAME:TAG serve several platforms: it pushes the Wasm image,
then an OCI index that lists it (wasi/wasm) beside the platforms of REF, an image or
index already in a registry (for example a Linux image docker built), and tags the
index NAME:TAG.`,
		Args: exactArgs(1, "NAME[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			ro, err := a.registryOptions(insecure)
			if err != nil {
				return err
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				n, err := image.ParseName(args[0])
				if err != nil {
					return err
				}
				o := service.PushOptions{Registry: ro, Format: format, IndexWith: indexWith}
				var p *progress
				if !quiet {
					fmt.Fprintf(a.Stdout, "The push refers to repository [%s]\n", n.Repository())
					p = newProgress(a.Stdout, true)
					o.Progress = p.update
				}
				res, err := s.Push(cmd.Context(), args[0], o)
				if p != nil {
					p.finish()
				}
				if err != nil {
					return err
				}
				if quiet {
					fmt.Fprintln(a.Stdout, res.Digest)
					return nil
				}
				if indexWith != "" {
					fmt.Fprintf(a.Stdout, "wasi/wasm image: digest: %s\n", res.Image)
				}
				fmt.Fprintf(a.Stdout, "%s: digest: %s size: %d\n", res.Tag, res.Digest, res.Size)
				return nil
			})
		},
	}
	f := c.Flags()
	f.StringVar(&format, "format", service.FormatDocker, "docker (the image as stored) or artifact (the CNCF Wasm OCI artifact)")
	f.StringVar(&indexWith, "index-with", "", "push an index tagged NAME:TAG holding the Wasm image and the platforms of this image or index (REF in a registry)")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the pushed digest")
	insecureFlag(f, &insecure)
	return c
}
