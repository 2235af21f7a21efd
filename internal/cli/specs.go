package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"

	"github.com/berth-dev/berth/internal/bundle"
)

// ErrBadSpec is returned (wrapped) for a malformed -v, -e, --env-file or --memory value.
var ErrBadSpec = errors.New("invalid flag value")

// ParseVolume parses a -v/--volume spec HOST:GUEST[:OPTIONS] the way the docker CLI
// does for bind mounts: HOST is absolute or starts with "." (made absolute against cwd);
// GUEST is absolute; OPTIONS is a comma list of ro, rw (and the SELinux and
// consistency words docker accepts, which mean nothing here and are ignored).
// Named volumes are not supported yet.
//
// # Notes
//
//   - Unlike docker, GUEST may be "/": the host directory then replaces the container's
//     root file system as the guest's "/" (a Wasm guest sees only preopened directories,
//     so nothing of the image is lost that the guest could otherwise reach, other than
//     the module, which berth loads before the run). This is what
//     `wasmtime run --dir=/` and `wazero run -mount /:/` do, and what the runners of
//     WASI test suites (Go's go_wasip1_wasm_exec among them) expect.
func ParseVolume(spec, cwd string) (bundle.Mount, error) {
	bad := func(format string, a ...any) (bundle.Mount, error) {
		return bundle.Mount{}, fmt.Errorf("%w: -v %q: %s", ErrBadSpec, spec, fmt.Sprintf(format, a...))
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return bad("use HOST_DIR:CONTAINER_DIR[:ro]")
	}
	host, guest := parts[0], parts[1]
	m := bundle.Mount{}
	if len(parts) == 3 {
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro", "readonly":
				m.ReadOnly = true
			case "rw":
				m.ReadOnly = false
			case "z", "Z", "consistent", "cached", "delegated", "rbind", "bind", "private", "rprivate":
			default:
				return bad("unknown option %q (use ro or rw)", o)
			}
		}
	}
	switch {
	case host == "":
		return bad("the host directory is empty")
	case strings.HasPrefix(host, "."):
		host = filepath.Join(cwd, host)
	case !filepath.IsAbs(host):
		return bad("%q is not an absolute path; named volumes are not supported yet, use a host directory such as $PWD/%s", host, host)
	}
	if strings.ContainsRune(spec, 0) {
		return bad("NUL in path")
	}
	if !strings.HasPrefix(guest, "/") {
		return bad("the container path %q must be absolute", guest)
	}
	guest = filepath.Clean(guest)
	m.Source, m.Destination = filepath.Clean(host), guest
	return m, nil
}

// ParseEnv turns -e values into KEY=VALUE entries: "KEY=VALUE" as is, "KEY" takes the
// value of KEY from lookup (the caller's environment) and is dropped when unset, as
// docker does.
func ParseEnv(values []string, lookup func(string) (string, bool)) ([]string, error) {
	var out []string
	for _, v := range values {
		k, val, hasVal := strings.Cut(v, "=")
		if err := checkEnvKey(k, v); err != nil {
			return nil, err
		}
		if hasVal {
			out = append(out, k+"="+val)
		} else if hv, ok := lookup(k); ok {
			out = append(out, k+"="+hv)
		}
	}
	return out, nil
}

func checkEnvKey(k, whole string) error {
	if k == "" {
		return fmt.Errorf("%w: -e %q: the variable name is empty", ErrBadSpec, whole)
	}
	if strings.IndexFunc(k, unicode.IsSpace) >= 0 || strings.ContainsRune(k, 0) {
		return fmt.Errorf("%w: -e %q: the variable name contains whitespace", ErrBadSpec, whole)
	}
	return nil
}

// ParseEnvFile reads an --env-file: one KEY=VALUE or KEY per line, blank lines and lines
// starting with # skipped, values kept verbatim (quotes are not removed, as in docker).
func ParseEnvFile(r io.Reader, name string, lookup func(string) (string, bool)) ([]string, error) {
	var lines []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimLeftFunc(sc.Text(), unicode.IsSpace)
		if n == 1 {
			line = strings.TrimPrefix(line, "\ufeff")
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, "=")
		if err := checkEnvKey(k, line); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return ParseEnv(lines, lookup)
}

// ParseMemory parses a --memory value: a number with an optional unit b, k, m or g
// (powers of 1024, case-insensitive, an optional trailing "b" as in "512mb").
// At least one Wasm page (64 KiB) is required.
func ParseMemory(s string) (int64, error) {
	bad := fmt.Errorf("%w: --memory %q: use a size such as 64m or 1g", ErrBadSpec, s)
	t := strings.ToLower(strings.TrimSpace(s))
	if t == "" {
		return 0, bad
	}
	mult := int64(1)
	t = strings.TrimSuffix(t, "b")
	if t == "" {
		return 0, bad
	}
	switch t[len(t)-1] {
	case 'k':
		mult = 1 << 10
	case 'm':
		mult = 1 << 20
	case 'g':
		mult = 1 << 30
	}
	if mult != 1 {
		t = t[:len(t)-1]
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<40 {
		return 0, bad
	}
	n := int64(f * float64(mult))
	if n < 64<<10 {
		return 0, fmt.Errorf("%w: --memory %q: the minimum is 64k, one WebAssembly page", ErrBadSpec, s)
	}
	return n, nil
}

func osLookup(k string) (string, bool) { return os.LookupEnv(k) }
