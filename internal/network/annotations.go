package network

import (
	"errors"
	"fmt"
	"strings"
)

// The OCI annotations (config.json) that carry a container's network options from the
// berth command that creates it to the process that runs it (berth itself in the
// foreground, berth-guest under the shim for `run -d`). A spec without
// AnnotationMode is not berth's (containerd, Docker, Kubernetes): its guest runs with
// no policy, in the network namespace the spec names.
const (
	// AnnotationMode is the `--network` mode: default, host or none.
	AnnotationMode = "dev.berth.network.mode"
	// AnnotationPublish is the published ports, comma-separated, each in `-p` syntax
	// with its host port chosen ("127.0.0.1:18080:8080/tcp,8443:443/tcp"): the runner
	// opens exactly these host ports.
	AnnotationPublish = "dev.berth.network.publish"
	// AnnotationAllowHost and AnnotationDenyHost are the `--allow-host` and
	// `--deny-host` rules, comma-separated, in their flags' syntax.
	AnnotationAllowHost = "dev.berth.network.allow-host"
	AnnotationDenyHost  = "dev.berth.network.deny-host"
)

// ErrInvalidAnnotation is what every error of FromAnnotations wraps.
var ErrInvalidAnnotation = errors.New("invalid network annotation")

// Annotate writes o into ann (a spec's annotations): the mode always, the rest when
// set. o.Ports must have their host ports chosen (Listeners.Mappings).
func Annotate(ann map[string]string, o Options) {
	mode := o.Mode
	if mode == "" {
		mode = ModeDefault
	}
	ann[AnnotationMode] = string(mode)
	join := func(key string, n int, item func(int) string) {
		if n == 0 {
			return
		}
		parts := make([]string, n)
		for i := range parts {
			parts[i] = item(i)
		}
		ann[key] = strings.Join(parts, ",")
	}
	join(AnnotationPublish, len(o.Ports), func(i int) string { return o.Ports[i].String() })
	join(AnnotationAllowHost, len(o.Allow), func(i int) string { return o.Allow[i].String() })
	join(AnnotationDenyHost, len(o.Deny), func(i int) string { return o.Deny[i].String() })
}

// FromAnnotations reads the options Annotate wrote. ok is false when ann has no
// AnnotationMode: the spec is not berth's, and its guest gets no policy. Published
// ports must name one host port each (no range, not ephemeral).
func FromAnnotations(ann map[string]string) (o Options, ok bool, err error) {
	m, ok := ann[AnnotationMode]
	if !ok {
		return Options{}, false, nil
	}
	bad := func(key string, err error) (Options, bool, error) {
		return Options{}, true, fmt.Errorf("%w %s=%q: %w", ErrInvalidAnnotation, key, ann[key], err)
	}
	if o.Mode, err = ParseMode(m); err != nil || m == "" {
		if err == nil {
			err = errors.New("empty mode")
		}
		return bad(AnnotationMode, err)
	}
	if v := ann[AnnotationPublish]; v != "" {
		for _, p := range strings.Split(v, ",") {
			ms, err := ParsePort(p)
			if err != nil {
				return bad(AnnotationPublish, err)
			}
			for _, m := range ms {
				if !m.resolved() {
					return bad(AnnotationPublish, fmt.Errorf("%s: %w", m, ErrUnresolvedPort))
				}
			}
			o.Ports = append(o.Ports, ms...)
		}
	}
	for _, r := range []struct {
		key  string
		into *[]HostRule
	}{{AnnotationAllowHost, &o.Allow}, {AnnotationDenyHost, &o.Deny}} {
		v := ann[r.key]
		if v == "" {
			continue
		}
		for _, s := range strings.Split(v, ",") {
			rule, err := ParseHostRule(s)
			if err != nil {
				return bad(r.key, err)
			}
			*r.into = append(*r.into, rule)
		}
	}
	return o, true, nil
}
