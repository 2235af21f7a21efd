package cli

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/berth-dev/berth/internal/container"
)

// psFilter is `ps --filter KEY=VALUE…`, as docker reads it: values of one key are
// alternatives (any may match), keys must all match.
type psFilter struct {
	status, ancestor, id []string
	name                 []*regexp.Regexp
	exited               []int
}

// ParsePsFilter reads ps's --filter flags: status (created, running, restarting, exited;
// docker's removing, paused and dead are accepted and match nothing), name (a regular
// expression, as docker), id (a prefix), ancestor (the image as the container was run
// from, with or without :latest, or its digest) and exited (an exit code).
func ParsePsFilter(args []string) (*psFilter, error) {
	f := &psFilter{}
	for _, a := range args {
		k, v, ok := strings.Cut(a, "=")
		if !ok || v == "" {
			return nil, fmt.Errorf("%w: --filter %q: use KEY=VALUE, with KEY one of status, name, id, ancestor, exited", ErrBadSpec, a)
		}
		switch strings.ToLower(k) {
		case "status":
			switch v {
			case "created", "running", "exited", "restarting", "removing", "paused", "dead":
			default:
				return nil, fmt.Errorf("%w: --filter status=%s: use created, running, exited, restarting, removing, paused or dead", ErrBadSpec, v)
			}
			f.status = append(f.status, v)
		case "name":
			re, err := regexp.Compile(v)
			if err != nil {
				return nil, fmt.Errorf("%w: --filter name=%s: not a regular expression: %v", ErrBadSpec, v, err)
			}
			f.name = append(f.name, re)
		case "id":
			f.id = append(f.id, v)
		case "ancestor":
			f.ancestor = append(f.ancestor, v)
		case "exited":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%w: --filter exited=%s: give an exit code", ErrBadSpec, v)
			}
			f.exited = append(f.exited, n)
		default:
			return nil, fmt.Errorf("%w: --filter %s: unknown key; berth filters on status, name, id, ancestor and exited", ErrBadSpec, k)
		}
	}
	return f, nil
}

// wantsAll reports whether the filter asks for containers that do not run, which docker
// lists without -a.
func (f *psFilter) wantsAll() bool {
	for _, s := range f.status {
		if s != "running" {
			return true
		}
	}
	return len(f.exited) > 0
}

func (f *psFilter) match(c *container.Container) bool {
	anyOf := func(n int, fn func(int) bool) bool {
		if n == 0 {
			return true
		}
		for i := 0; i < n; i++ {
			if fn(i) {
				return true
			}
		}
		return false
	}
	return anyOf(len(f.status), func(i int) bool { return f.status[i] == c.State.Status }) &&
		anyOf(len(f.name), func(i int) bool { return f.name[i].MatchString(c.Name) }) &&
		anyOf(len(f.id), func(i int) bool { return strings.HasPrefix(c.ID, f.id[i]) }) &&
		anyOf(len(f.exited), func(i int) bool { return c.State.Status == container.StatusExited && c.State.ExitCode == f.exited[i] }) &&
		anyOf(len(f.ancestor), func(i int) bool { return sameImage(f.ancestor[i], c) })
}

// sameImage reports whether ref names the image c was run from: the same reference
// (":latest" implied), or a prefix of its digest (with or without "sha256:").
func sameImage(ref string, c *container.Container) bool {
	norm := func(r string) string {
		if i := strings.LastIndexByte(r, '/'); !strings.Contains(r[i+1:], ":") && !strings.Contains(r, "@") {
			return r + ":latest"
		}
		return r
	}
	if norm(ref) == norm(c.Image) {
		return true
	}
	if c.ImageDigest == "" {
		return false
	}
	hex := strings.TrimPrefix(c.ImageDigest, "sha256:")
	r := strings.TrimPrefix(ref, "sha256:")
	return len(r) >= 4 && strings.HasPrefix(hex, r)
}
