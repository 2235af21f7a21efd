// Package service is berth's embedded engine: what a daemon would be, as a library the
// CLI calls in-process. It ties the image store, the prepared root file systems
// ("snapshots"), the compile cache, container records and the runtime together.
//
// # Notes
//
//   - Build, load, save, pull and push are in files built only without the berth_core
//     tag (images_full.go, pull.go, push.go, …): berth's core build links neither the
//     registry client nor the archive formats nor the builder (docs/rationale.md, "Two
//     builds of one berth").
//   - Work is done when an image arrives (build, load, pull): its layers are unpacked once into
//     a read-only snapshot and its module is compiled into the engine's cache, so the
//     first `run` is as fast as the second. A run copies the snapshot into the
//     container's own writable root and runs the bundle.
//   - Snapshots are keyed by manifest digest and hold a meta.json with what a run needs
//     (layout, image config, module path and digest), so `run` reads no blob from the
//     content store on its hot path. Content is immutable, so the copy cannot go stale.
//   - A pull writes blobs under the store's shared lock only (store.PutBlob), so runs go on
//     during a download; it then prepares and indexes the image as load does. Its snapshot
//     records the references by digest it was pulled as (repodigests.json, docker's
//     RepoDigests), so that "already up to date" costs one HEAD and a pull by digest none.
//   - DIR/snapshots/lock orders runs against removals across processes: `run` holds it
//     shared from resolving the image until its container record exists, `rmi` and
//     `image prune` hold it exclusively, so an image is never removed under a starting
//     container and a removal never misses a container that uses the image.
package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/berth-dev/berth/internal/container"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/paths"
	"github.com/berth-dev/berth/internal/runtime"
	"github.com/berth-dev/berth/internal/store"
)

// Service is an open berth data root.
type Service struct {
	root       string
	state      string // this root's directory in the state directory (paths.StateFor)
	log        *slog.Logger
	store      *store.Store
	containers *container.Store
	eng        *engine.Engine
	runner     *runtime.Runner
	// syncTree makes a snapshot's unpacked root durable before its meta.json
	// (fsutil.SyncFS; tests observe it), when boot gives "".
	syncTree func(dir string) error
	// boot gives the ID of the running boot (fsutil.BootID), read once; "" when it
	// cannot be read. A snapshot is written without a sync and marked with it (see
	// snapshotMeta.Boot). Tests replace it to act out a reboot.
	boot func() string
}

// Open opens (creating if needed) the data root, with the state directory state for
// what does not outlive a reboot: the containers of `run --rm`. An empty state keeps
// them in ROOT/state. A state directory that exists must belong to this user and be
// writable by no other (see fsutil.PrivateDir); a missing one is made 0711 for root,
// 0700 for other users. engineOpts configure its engine (such as engine.WithHost, the
// WASI host the CLI read from $BERTH_WASI).
func Open(ctx context.Context, root, state string, log *slog.Logger, engineOpts ...engine.Option) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(root, 0o711); err != nil {
		return nil, fmt.Errorf("creating data root %s: %w", root, err)
	}
	// snapshots/ and tmp/ are made when first written (snapLock, prepare, Load): opening
	// a root is on the path of every `berth run`.
	if state != "" {
		perm := os.FileMode(0o700)
		if os.Geteuid() == 0 {
			perm = 0o711 // as /run/containerd: others may reach paths inside, not list them
		}
		if err := fsutil.PrivateDir(state, perm, "state directory"); err != nil {
			return nil, fmt.Errorf("%w (--state, BERTH_STATE)", err)
		}
	}
	st, err := store.Open(ctx, filepath.Join(root, "content"))
	if err != nil {
		return nil, err
	}
	mine := paths.StateFor(state, root)
	cs, err := container.Open(filepath.Join(root, "containers"), filepath.Join(mine, "containers"))
	if err != nil {
		return nil, err
	}
	eng, err := engine.New(ctx, paths.CompileCache(root), engineOpts...)
	if err != nil {
		return nil, err
	}
	return &Service{root: root, state: mine, log: log, store: st, containers: cs, eng: eng, runner: runtime.New(eng), syncTree: fsutil.SyncFS,
		boot: sync.OnceValue(func() string {
			id, err := fsutil.BootID()
			if err != nil {
				log.Debug("snapshots are synced to disk", "reason", err)
			}
			return id
		})}, nil
}

// ensureDir makes ROOT/name (private to berth) if it is missing.
func (s *Service) ensureDir(name string) error {
	if err := os.MkdirAll(filepath.Join(s.root, name), 0o700); err != nil {
		return fmt.Errorf("creating %s in the data root: %w", name, err)
	}
	return nil
}

// Close releases the engine.
func (s *Service) Close(ctx context.Context) error { return s.eng.Close(ctx) }

// Root is the data root.
func (s *Service) Root() string { return s.root }

// Engine is the Wasm engine.
func (s *Service) Engine() *engine.Engine { return s.eng }

func (s *Service) snapLock(ctx context.Context, exclusive bool) (func(), error) {
	l := flock.New(filepath.Join(s.root, "snapshots", "lock"))
	try := func() (bool, error) {
		if exclusive {
			return l.TryLockContext(ctx, 5*time.Millisecond)
		}
		return l.TryRLockContext(ctx, 5*time.Millisecond)
	}
	ok, err := try()
	if errors.Is(err, fs.ErrNotExist) {
		if err = s.ensureDir("snapshots"); err == nil {
			ok, err = try()
		}
	}
	if err != nil || !ok {
		return nil, fmt.Errorf("locking %s: %w", l.Path(), errors.Join(err, ctx.Err()))
	}
	return func() { _ = l.Unlock() }, nil
}

// Info describes the data root.
type Info struct {
	Root          string
	State         string // the root's directory in the state directory
	Engine        string
	WASIHost      string // "wazero" or "berth"
	Images        int
	Containers    int
	CacheEntries  int
	CacheSize     int64
	ContentSize   int64
	SnapshotsSize int64
}

// Info returns facts about the data root, for `berth info`.
func (s *Service) Info(ctx context.Context) (*Info, error) {
	imgs, err := s.store.Images(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := s.containers.List(ctx)
	if err != nil {
		return nil, err
	}
	cached, err := s.eng.Cached(ctx)
	if err != nil {
		return nil, err
	}
	size, err := s.eng.CacheSize(ctx)
	if err != nil {
		return nil, err
	}
	return &Info{
		Root: s.root, State: s.state, Engine: s.eng.Version(), WASIHost: s.eng.Host().String(), Images: len(imgs), Containers: len(cs),
		CacheEntries: len(cached), CacheSize: size,
		ContentSize: dirSize(filepath.Join(s.root, "content")), SnapshotsSize: dirSize(filepath.Join(s.root, "snapshots")),
	}, nil
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
