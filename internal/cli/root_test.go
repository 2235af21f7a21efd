package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Main builds only the command it runs; what the user sees (output, errors, exit code)
// is what the whole tree gives.
func TestMainBuildsOneCommand(t *testing.T) {
	root := t.TempDir()
	app := func(out, errb *bytes.Buffer) *App {
		return &App{Stdin: strings.NewReader(""), Stdout: out, Stderr: errb, Getenv: func(k string) string {
			switch k {
			case "BERTH_ROOT":
				return root
			case "BERTH_STATE":
				return root + "/state"
			case "DOCKER_CONFIG":
				return root + "/docker"
			}
			return ""
		}}
	}
	var argsList [][]string
	for _, sub := range (&App{Getenv: func(string) string { return "" }}).subcommands() {
		bare := []string{sub.name}
		if sub.name == "stats" {
			bare = append(bare, "--no-stream") // bare, it streams until interrupted, as docker's
		}
		argsList = append(argsList, []string{sub.name, "--help"}, []string{sub.name, "--bogus"}, bare)
	}
	argsList = append(argsList, []string{"image", "ls", "--help"}, []string{"run", "--rm"}, []string{"rm"},
		[]string{"--help"}, []string{"nosuch"}, []string{"rnu"}, []string{"help", "run"}, []string{"--debug", "version"})
	for _, args := range argsList {
		var lazyOut, lazyErr, fullOut, fullErr bytes.Buffer
		lazy := app(&lazyOut, &lazyErr).Main(context.Background(), args)
		a := app(&fullOut, &fullErr)
		full := a.execute(context.Background(), a.Command(), args)
		if lazy != full || lazyOut.String() != fullOut.String() || lazyErr.String() != fullErr.String() {
			t.Errorf("berth %q: exit %d, %q, %q; with the whole tree: exit %d, %q, %q",
				args, lazy, lazyOut.String(), lazyErr.String(), full, fullOut.String(), fullErr.String())
		}
	}
}
