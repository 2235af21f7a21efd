package image

import (
	"errors"
	"fmt"
	"path"
	"strings"
)

// ErrNoCommand is returned (wrapped) when neither the image nor the flags name what to run.
var ErrNoCommand = errors.New("no command specified")

// Overrides are the flags of `berth run` that change what the image configuration says.
type Overrides struct {
	// Entrypoint, when non-nil, replaces the image's Entrypoint (and, as with Docker,
	// drops the image's Cmd). An empty string resets it.
	Entrypoint *string
	// Args, when non-empty, replace the image's Cmd.
	Args []string
	// Env entries "KEY=VALUE" are set on top of the image's Env.
	Env []string
	// WorkingDir, when non-empty, replaces the image's WorkingDir.
	WorkingDir string
}

// Process is what a container runs: the module (Args[0], an absolute path inside the
// container's root), its arguments, environment and working directory.
type Process struct {
	Args []string
	Env  []string
	Cwd  string
}

// Process combines the image configuration with the flags of `berth run` by Docker's rules:
//
//   - --entrypoint replaces Entrypoint and discards the image's Cmd;
//   - arguments after the image name replace Cmd;
//   - the command is Entrypoint followed by Cmd;
//   - -e entries override image Env entries with the same key, in order;
//   - -w replaces WorkingDir, which defaults to "/".
//
// For Wasm the first word is a module. A relative module path is looked up in the
// working directory first, then in "/", using exists; Docker looks it up in PATH, which
// Wasm images do not have.
func (c Config) Process(o Overrides, exists func(absPath string) bool) (Process, error) {
	entry, cmd := c.Entrypoint, c.Cmd
	if o.Entrypoint != nil {
		entry, cmd = nil, nil
		if *o.Entrypoint != "" {
			entry = []string{*o.Entrypoint}
		}
	}
	if len(o.Args) > 0 {
		cmd = o.Args
	}
	args := append(append([]string{}, entry...), cmd...)
	if len(args) == 0 || args[0] == "" {
		return Process{}, fmt.Errorf("%w: the image has no Entrypoint or Cmd; name the module with --entrypoint /app.wasm or as the first argument", ErrNoCommand)
	}
	cwd := c.WorkingDir
	if o.WorkingDir != "" {
		cwd = o.WorkingDir
	}
	if cwd == "" {
		cwd = "/"
	}
	if !path.IsAbs(cwd) {
		return Process{}, fmt.Errorf("working directory %q must be an absolute path", cwd)
	}
	cwd = path.Clean(cwd)
	args[0] = resolveModule(args[0], cwd, exists)
	return Process{Args: args, Env: MergeEnv(c.Env, o.Env), Cwd: cwd}, nil
}

func resolveModule(p, cwd string, exists func(string) bool) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	inCwd := path.Join(cwd, p)
	if exists == nil || exists(inCwd) {
		return inCwd
	}
	if inRoot := path.Join("/", p); exists(inRoot) {
		return inRoot
	}
	return inCwd
}

// MergeEnv returns base with each "KEY=VALUE" of over applied: an entry replaces the base
// entry with the same key in place, or is appended. Order is otherwise kept.
func MergeEnv(base, over []string) []string {
	if len(base)+len(over) == 0 {
		return nil
	}
	out := append([]string{}, base...)
	idx := make(map[string]int, len(out))
	for i, kv := range out {
		k, _, _ := strings.Cut(kv, "=")
		idx[k] = i
	}
	for _, kv := range over {
		k, _, _ := strings.Cut(kv, "=")
		if i, ok := idx[k]; ok {
			out[i] = kv
			continue
		}
		idx[k] = len(out)
		out = append(out, kv)
	}
	return out
}
