package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/build"
	"github.com/berth-dev/berth/internal/service"
)

func (a *App) buildCmd() *cobra.Command {
	var (
		tags, buildArgs, labels []string
		file, platform          string
		quiet                   bool
	)
	c := &cobra.Command{
		Use:   "build [OPTIONS] PATH",
		Short: "Build a Wasm image from a Dockerfile (FROM scratch) or a .wasm file",
		Args:  exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkPlatform(platform); err != nil {
				return err
			}
			opts := build.Options{Context: args[0], Dockerfile: file, BuildArgs: map[string]string{}, Labels: map[string]string{}}
			for _, kv := range buildArgs {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					if hv, set := os.LookupEnv(k); set {
						v = hv
					} else {
						continue
					}
				}
				opts.BuildArgs[k] = v
			}
			for _, kv := range labels {
				k, v, _ := strings.Cut(kv, "=")
				opts.Labels[k] = v
			}
			if e := a.Getenv("SOURCE_DATE_EPOCH"); e != "" {
				sec, err := strconv.ParseInt(e, 10, 64)
				if err != nil {
					return fmt.Errorf("%w: SOURCE_DATE_EPOCH=%q is not a number of seconds", ErrBadSpec, e)
				}
				opts.Created = time.Unix(sec, 0).UTC()
			}
			if !quiet {
				opts.Progress = func(step, total int, instruction string) {
					fmt.Fprintf(a.Stderr, "[%d/%d] %s\n", step, total, strings.Join(strings.Fields(instruction), " "))
				}
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				start := time.Now()
				if !quiet {
					fmt.Fprintf(a.Stderr, "Building %s for wasi/wasm\n", args[0])
				}
				res, err := s.Build(cmd.Context(), opts, tags)
				if err != nil {
					return err
				}
				if quiet {
					fmt.Fprintln(a.Stdout, res.Digest)
					return nil
				}
				fmt.Fprintf(a.Stderr, "Built, unpacked and precompiled in %.2fs\n", time.Since(start).Seconds())
				fmt.Fprintf(a.Stdout, "Successfully built %s\n", res.Digest)
				for _, n := range res.Names {
					fmt.Fprintf(a.Stdout, "Successfully tagged %s\n", n)
				}
				return nil
			})
		},
	}
	f := c.Flags()
	f.StringArrayVarP(&tags, "tag", "t", nil, "name and optionally a tag (name:tag)")
	f.StringVarP(&file, "file", "f", "", "name of the Dockerfile (default PATH/Dockerfile)")
	f.StringArrayVar(&buildArgs, "build-arg", nil, "set a build-time variable")
	f.StringArrayVar(&labels, "label", nil, "set metadata for an image")
	f.BoolVarP(&quiet, "quiet", "q", false, "print only the image digest")
	f.StringVar(&platform, "platform", "wasi/wasm", "target platform (only wasi/wasm)")
	return c
}

func (a *App) loadCmd() *cobra.Command {
	var (
		input string
		quiet bool
	)
	c := &cobra.Command{
		Use:   "load [OPTIONS]",
		Short: "Load images from a tar archive (OCI layout or docker save format) or STDIN",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r := a.Stdin
			if input != "" {
				f, err := os.Open(input)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			} else if f, ok := a.Stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
				return errors.New("requested load from stdin, but stdin is a terminal; use -i FILE or redirect a file")
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				loaded, err := s.Load(cmd.Context(), r)
				for _, l := range loaded {
					if quiet {
						continue
					}
					if len(l.Names) == 0 {
						fmt.Fprintf(a.Stdout, "Loaded image ID: %s\n", l.Digest)
					}
					for _, n := range l.Names {
						fmt.Fprintf(a.Stdout, "Loaded image: %s\n", n)
					}
				}
				return err
			})
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "read from tar archive file, instead of STDIN")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "suppress the load output")
	return c
}

func (a *App) saveCmd() *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "save [OPTIONS] IMAGE [IMAGE...]",
		Short: "Save images to a tar archive (OCI layout + docker save format)",
		Args:  minArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				if output == "" {
					if f, ok := a.Stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
						return errors.New("refusing to write an archive to a terminal; use -o FILE or redirect stdout")
					}
					return s.Save(cmd.Context(), a.Stdout, args)
				}
				tmp := output + ".tmp"
				f, err := os.Create(tmp)
				if err != nil {
					return err
				}
				err = s.Save(cmd.Context(), f, args)
				if err == nil {
					err = f.Sync()
				}
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err == nil {
					err = os.Rename(tmp, output)
				}
				if err != nil {
					os.Remove(tmp)
				}
				return err
			})
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write to a file, instead of STDOUT")
	return c
}

type imageRow struct {
	Repository, Tag, ID, Digest, CreatedSince, CreatedAt, Size string
}

func (a *App) imagesCmd() *cobra.Command {
	var (
		quiet, noTrunc bool
		format         string
	)
	c := &cobra.Command{
		Use:     "images [OPTIONS] [REPOSITORY[:TAG]]",
		Aliases: []string{"list"},
		Short:   "List images",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				imgs, err := s.Images(cmd.Context())
				if err != nil {
					return err
				}
				now := time.Now()
				var rows []imageRow
				seen := map[string]bool{}
				for _, im := range imgs {
					if len(args) == 1 && im.Repository != args[0] && im.Repository+":"+im.Tag != args[0] {
						continue
					}
					id := im.Digest.String()
					if !noTrunc {
						id = im.Digest.Hex[:12]
					}
					if quiet {
						if !seen[id] {
							fmt.Fprintln(a.Stdout, id)
						}
						seen[id] = true
						continue
					}
					row := imageRow{Repository: im.Repository, Tag: im.Tag, ID: id, Digest: im.Digest.String(),
						CreatedSince: since(im.Created, now), Size: humanSize(im.Size)}
					if !im.Created.IsZero() {
						row.CreatedAt = im.Created.Local().Format("2006-01-02 15:04:05 -0700 MST")
					}
					rows = append(rows, row)
				}
				if quiet {
					return nil
				}
				return printTable(a.Stdout, format, "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}", "IMAGE ID", rows)
			})
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show image IDs")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "don't truncate output")
	c.Flags().StringVar(&format, "format", "", "format output: 'table', 'table TEMPLATE', 'json' or a Go template")
	c.Flags().BoolP("all", "a", false, "show all images (berth has no intermediate images)")
	return c
}

func (a *App) tagCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
		Short: "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE",
		Args:  exactArgs(2, "SOURCE_IMAGE TARGET_IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				return s.Tag(cmd.Context(), args[0], args[1])
			})
		},
	}
}

func (a *App) rmiCmd() *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "rmi [OPTIONS] IMAGE [IMAGE...]",
		Short: "Remove one or more images",
		Args:  minArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				var errs []error
				for _, ref := range args {
					res, err := s.RemoveImage(cmd.Context(), ref, force)
					if res != nil {
						for _, u := range res.Untagged {
							fmt.Fprintf(a.Stdout, "Untagged: %s\n", u)
						}
						for _, d := range res.Deleted {
							fmt.Fprintf(a.Stdout, "Deleted: %s\n", d)
						}
					}
					if err != nil {
						errs = append(errs, err)
					}
				}
				return errors.Join(errs...)
			})
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "force removal of the image")
	return c
}

func (a *App) imageCmd() *cobra.Command {
	c := &cobra.Command{Use: "image", Short: "Manage images"}
	ls := a.imagesCmd()
	ls.Use, ls.Aliases = "ls [OPTIONS] [REPOSITORY[:TAG]]", []string{"list"}
	rm := a.rmiCmd()
	rm.Use = "rm [OPTIONS] IMAGE [IMAGE...]"
	inspect := &cobra.Command{
		Use:   "inspect IMAGE [IMAGE...]",
		Short: "Display detailed information on one or more images",
		Args:  minArgs(1, "IMAGE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withService(cmd.Context(), func(s *service.Service) error {
				var out []any
				for _, ref := range args {
					ii, err := s.InspectImage(cmd.Context(), ref)
					if err != nil {
						return err
					}
					out = append(out, ii)
				}
				return writeJSON(a.Stdout, out)
			})
		},
	}
	var all, yes bool
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove unused images",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !yes {
				if f, ok := a.Stdin.(*os.File); !ok || !term.IsTerminal(int(f.Fd())) {
					// docker prompts; with no terminal to ask on, proceed as docker -f would not:
					return errors.New("image prune removes images; confirm with -f (--force)")
				}
				fmt.Fprint(a.Stdout, "WARNING! This will remove dangling images.\nAre you sure you want to continue? [y/N] ")
				var ans string
				fmt.Fscanln(a.Stdin, &ans)
				if ans != "y" && ans != "Y" {
					return nil
				}
			}
			return a.withService(cmd.Context(), func(s *service.Service) error {
				deleted, freed, err := s.PruneImages(cmd.Context(), all)
				if len(deleted) > 0 {
					fmt.Fprintln(a.Stdout, "Deleted Images:")
					for _, d := range deleted {
						fmt.Fprintf(a.Stdout, "deleted: %s\n", d)
					}
					fmt.Fprintln(a.Stdout)
				}
				fmt.Fprintf(a.Stdout, "Total reclaimed space: %s\n", humanSize(freed))
				return err
			})
		},
	}
	prune.Flags().BoolVarP(&all, "all", "a", false, "remove all unused images, not just dangling ones")
	prune.Flags().BoolVarP(&yes, "force", "f", false, "do not prompt for confirmation")
	tag := a.tagCmd()
	c.AddCommand(ls, rm, inspect, prune, tag, a.loadCmd(), a.saveCmd(), a.buildCmd())
	return c
}

func writeJSON(w interface{ Write([]byte) (int, error) }, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%q requires exactly %d argument(s): %s\nSee '%s --help'.", cmd.CommandPath(), n, names, cmd.CommandPath())
		}
		return nil
	}
}

func minArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) < n {
			return fmt.Errorf("%q requires at least %d argument(s): %s\nSee '%s --help'.", cmd.CommandPath(), n, names, cmd.CommandPath())
		}
		return nil
	}
}
