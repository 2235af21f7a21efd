//go:build !berth_core

package cli

import (
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
