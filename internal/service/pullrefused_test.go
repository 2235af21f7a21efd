package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/image"
)

// A pull drops the blobs it wrote only for an image refused for what it is, not for a
// failure of the host or a cancelled pull, whose blobs the next pull resumes from.
func TestRefused(t *testing.T) {
	bad := func(err error) error { return fmt.Errorf("%w: unpacking its layers: %w", ErrBadImage, err) }
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"not a Wasm image", context.Background(), fmt.Errorf("pull x: %w", image.ErrNotWasm), true},
		{"unsafe layer", context.Background(), bad(&bundle.EntryError{Name: "../x", Err: bundle.ErrUnsafePath}), true},
		{"module missing", context.Background(), fmt.Errorf("%w: its command names the module /a.wasm, which is not in the image: %w", ErrBadImage,
			&fs.PathError{Op: "open", Path: "a.wasm", Err: syscall.ENOENT}), true},
		{"full disk while unpacking", context.Background(), bad(&fs.PathError{Op: "write", Path: "a.wasm", Err: syscall.ENOSPC}), false},
		{"I/O error", context.Background(), bad(&fs.PathError{Op: "write", Path: "a.wasm", Err: syscall.EIO}), false},
		{"cancelled while unpacking", cancelled, bad(context.Canceled), false},
		{"cancelled, error not yet said so", cancelled, bad(errors.New("short read")), false},
		{"a transfer error", context.Background(), errors.New("connection reset"), false},
		{"no error", context.Background(), nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := refused(tc.ctx, tc.err); got != tc.want {
				t.Errorf("refused(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
