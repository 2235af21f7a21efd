package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berth-dev/berth/internal/service"
)

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
	c.AddCommand(ls, rm, inspect, prune, tag)
	c.AddCommand(a.fullImageCommands()...)
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
