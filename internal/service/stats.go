package service

import (
	"context"
	"errors"

	"github.com/berth-dev/berth/internal/container"
)

// StatsTargets returns the containers `stats` reports on: those named by refs, running
// or not, in order; with no refs the running ones (every one with all). Their
// State.Pid is the process of the current run (a detached container's shim is asked,
// so after a restart by its policy it is the new run's). A ref that names no container
// is left out and its error joined into the error returned.
func (s *Service) StatsTargets(ctx context.Context, refs []string, all bool) ([]*container.Container, error) {
	if len(refs) == 0 {
		cs, err := s.Containers(ctx)
		if err != nil && !errors.Is(err, container.ErrCorrupt) {
			return nil, err
		}
		out := cs[:0]
		for _, c := range cs {
			if all || c.State.Running {
				out = append(out, c)
			}
		}
		return out, nil
	}
	var out []*container.Container
	var errs []error
	for _, ref := range refs {
		c, err := s.Container(ctx, ref)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}
