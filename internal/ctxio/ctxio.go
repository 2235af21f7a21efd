// Package ctxio makes long copies stop when their context is done.
package ctxio

import (
	"context"
	"io"
)

// Reader returns a reader that fails with ctx.Err() once ctx is done, so an io.Copy
// through it (a layer being extracted, a blob being stored) stops on cancellation.
func Reader(ctx context.Context, r io.Reader) io.Reader { return &reader{ctx: ctx, r: r} }

type reader struct {
	ctx context.Context
	r   io.Reader
}

func (c *reader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
