package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"
)

// findShim finds the shim binary next to the running berth executable (following a
// symlink to it, then as invoked), else on PATH.
func (a *App) findShim() (string, error) {
	var dirs []string
	if exe, err := os.Executable(); err == nil {
		if real, err := filepath.EvalSymlinks(exe); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(exe))
	}
	for _, d := range dirs {
		if p := filepath.Join(d, shimBinaryName); isExecutable(p) {
			return p, nil
		}
	}
	if p, ok := a.lookPath(shimBinaryName); ok {
		return p, nil
	}
	return "", fmt.Errorf("cannot find %s next to berth (in %s) or on PATH: build it with `make shim`, or pass --bin-dir \"\" to edit only the config",
		shimBinaryName, strings.Join(dirs, ", "))
}

func printWarnings(w io.Writer, ws []string) {
	for _, s := range ws {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
}

// lookPath finds an executable on the App's PATH; relative PATH entries are skipped.
func (a *App) lookPath(name string) (string, bool) {
	for _, dir := range filepath.SplitList(a.Getenv("PATH")) {
		if !filepath.IsAbs(dir) {
			continue
		}
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, true
		}
	}
	return "", false
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
