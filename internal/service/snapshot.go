package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berth-dev/berth/internal/bundle"
	"github.com/berth-dev/berth/internal/engine"
	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/jsonlite"
)

// snapshotMeta is DIR/snapshots/<manifest hex>/meta.json.
type snapshotMeta struct {
	Manifest     string
	Layout       string
	Created      string `json:",omitempty"`
	OS           string
	Architecture string
	Config       image.Config
	// Module is the module's path in the root and ModuleDigest its sha256, when the
	// image names its module (Entrypoint/Cmd, or an artifact layer).
	Module       string `json:",omitempty"`
	ModuleDigest string `json:",omitempty"`
	// Boot is the boot (fsutil.BootID) that wrote the root without syncing it; empty
	// when the root was synced before this file was written. The root is used only in
	// that boot: after a reboot it is unpacked again from the store (readSnapshot).
	Boot string `json:",omitempty"`
}

// errStaleSnapshot is returned (wrapped) by readSnapshot for a root that was written
// without a sync before a reboot: it may have lost writes in a crash.
var errStaleSnapshot = errors.New("its root was written in an earlier boot and not synced")

func (s *Service) snapshotDir(manifest v1.Hash) string {
	return filepath.Join(s.root, "snapshots", manifest.Hex)
}

// readSnapshot returns the meta.json of a snapshot whose root may be used: one that was
// synced, or written in this boot.
//
// # Notes
//
//   - A snapshot is derived data: the store holds its layers, durable and checked
//     against their digests. Its root is therefore not synced when the boot ID can be
//     read: a sync would double the disk writes of a pull, which the pull would wait for
//     (docs/rationale.md). Writes not yet on disk are lost only by a crash, and a crash
//     means a new boot; so a root of this boot is whole, and one of an earlier boot is
//     unpacked again when next used (errStaleSnapshot: callers prepare it again).
func (s *Service) readSnapshot(manifest v1.Hash) (*snapshotMeta, error) {
	m, err := s.readMeta(manifest)
	if err != nil {
		return nil, err
	}
	if m.Boot != "" && m.Boot != s.boot() {
		return nil, fmt.Errorf("snapshot %s: %w", manifest, errStaleSnapshot)
	}
	return m, nil
}

// readMeta returns a snapshot's meta.json, whether or not its root may be used.
func (s *Service) readMeta(manifest v1.Hash) (*snapshotMeta, error) {
	b, err := os.ReadFile(filepath.Join(s.snapshotDir(manifest), "meta.json"))
	if err != nil {
		return nil, err
	}
	m, err := decodeMeta(b)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s is corrupt: %w", manifest, err)
	}
	return m, nil
}

// decodeMeta reads meta.json as encoding/json would decode it into a snapshotMeta, but
// without its first-use cost (see internal/jsonlite), and refusing a member named twice.
func decodeMeta(b []byte) (*snapshotMeta, error) {
	v, err := jsonlite.Parse(b)
	if err != nil {
		return nil, err
	}
	var m snapshotMeta
	var errs []error
	field := func(o jsonlite.Value, name string) jsonlite.Value {
		f, err := o.Field(name)
		errs = append(errs, err)
		return f
	}
	str := func(o jsonlite.Value, name string, dst *string) {
		var err error
		*dst, err = field(o, name).AsString(name)
		errs = append(errs, err)
	}
	strs := func(o jsonlite.Value, name string, dst *[]string) {
		var err error
		*dst, err = field(o, name).AsStrings(name)
		errs = append(errs, err)
	}
	root, err := v.AsObject("meta.json")
	if err != nil {
		return nil, err
	}
	str(root, "Manifest", &m.Manifest)
	str(root, "Layout", &m.Layout)
	str(root, "Created", &m.Created)
	str(root, "OS", &m.OS)
	str(root, "Architecture", &m.Architecture)
	str(root, "Module", &m.Module)
	str(root, "ModuleDigest", &m.ModuleDigest)
	str(root, "Boot", &m.Boot)
	c, err := field(root, "Config").AsObject("Config")
	errs = append(errs, err)
	strs(c, "Entrypoint", &m.Config.Entrypoint)
	strs(c, "Cmd", &m.Config.Cmd)
	strs(c, "Env", &m.Config.Env)
	str(c, "WorkingDir", &m.Config.WorkingDir)
	str(c, "User", &m.Config.User)
	str(c, "StopSignal", &m.Config.StopSignal)
	m.Config.Labels, err = field(c, "Labels").AsStringMap("Labels")
	errs = append(errs, err)
	m.Config.ExposedPorts, err = field(c, "ExposedPorts").AsSet("ExposedPorts")
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &m, nil
}

// ErrBadImage is returned (wrapped) for an image berth cannot run: no module, a missing
// entrypoint module, a malformed module.
var ErrBadImage = errors.New("image cannot run")

// prepare unpacks img into its snapshot and precompiles its module. It is idempotent and
// atomic: the snapshot appears complete or not at all.
func (s *Service) prepare(ctx context.Context, img v1.Image) (*snapshotMeta, error) {
	return s.prepareFrom(ctx, img, nil)
}

// snapshotSource replaces, for a pull, where prepare reads a Docker-style image's layers.
type snapshotSource struct {
	// unpack fills rootfs (which it creates) with the image's layers.
	unpack func(ctx context.Context, rootfs string) error
	// ready is called once the root is unpacked and the module compiled, before the
	// snapshot is stored; an error ends prepare with it (and drops the compiled code
	// unless a stored snapshot uses it).
	ready func() error
}

// prepareFrom is prepare with the layers of a Docker-style image from src (nil: from img).
func (s *Service) prepareFrom(ctx context.Context, img v1.Image, src *snapshotSource) (*snapshotMeta, error) {
	m, compiled, err := s.prepareAsync(ctx, img, src)
	if err != nil {
		return nil, err
	}
	if err := compiled(); err != nil {
		return nil, err
	}
	return m, nil
}

// prepareAsync is prepareFrom returning before its module's compile ends: the func
// waits for it and returns its error, having removed the stored snapshot (ErrBadImage:
// the module does not compile). The compile runs beside the storing of the snapshot,
// which needs only the module's digest; a pull also indexes the image meanwhile.
func (s *Service) prepareAsync(ctx context.Context, img v1.Image, src *snapshotSource) (*snapshotMeta, func() error, error) {
	digest, err := img.Digest()
	if err != nil {
		return nil, nil, err
	}
	if m, err := s.readSnapshot(digest); err == nil {
		return m, noWait, nil
	}
	w, err := image.Inspect(img)
	if err != nil {
		return nil, nil, err
	}
	for _, d := range []string{"tmp", "snapshots"} {
		if err := s.ensureDir(d); err != nil {
			return nil, nil, err
		}
	}
	tmp, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "snapshot-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(tmp)
	rootfs := filepath.Join(tmp, "rootfs")
	meta := &snapshotMeta{Manifest: digest.String(), Layout: w.Layout.String(), OS: w.OS, Architecture: w.Architecture, Config: w.Config}
	if !w.Created.IsZero() {
		meta.Created = w.Created.UTC().Format("2006-01-02T15:04:05Z07:00")
	}
	var module []byte
	unmapModule := func() {}
	defer func() { unmapModule() }() // on an early return; the compile takes it over
	switch w.Layout {
	case image.DockerStyle:
		if err := s.unpackLayers(ctx, img, rootfs, src); err != nil {
			return nil, nil, err
		}
		p, err := w.Config.Process(image.Overrides{}, existsIn(rootfs))
		if errors.Is(err, image.ErrNoCommand) {
			break // The module is named at run time.
		} else if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrBadImage, err)
		}
		meta.Module = p.Args[0]
		var unmap func()
		module, unmap, err = bundle.MapRootFile(rootfs, meta.Module) // read once, by Precompile
		if err != nil {
			return nil, nil, fmt.Errorf("%w: its command names the module %s, which is not in the image: %w", ErrBadImage, meta.Module, err)
		}
		unmapModule = unmap // by the compile, once it has ended
	default:
		l, err := img.LayerByDigest(w.ModuleLayer)
		if err != nil {
			return nil, nil, fmt.Errorf("reading module layer %s: %w", w.ModuleLayer, err)
		}
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, nil, fmt.Errorf("reading module layer %s: %w", w.ModuleLayer, err)
		}
		module, err = io.ReadAll(io.LimitReader(rc, 4<<30))
		rc.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("reading module layer %s: %w", w.ModuleLayer, err)
		}
		if err := os.Mkdir(rootfs, 0o755); err != nil {
			return nil, nil, err
		}
		meta.Module = "/" + w.ModuleName
		if err := os.WriteFile(filepath.Join(rootfs, w.ModuleName), module, 0o755); err != nil {
			return nil, nil, err
		}
		meta.Config.Entrypoint = []string{meta.Module}
	}
	// A root is marked with this boot (see readSnapshot); without a boot ID it reaches
	// the disk before meta.json says the snapshot is complete (see fsutil.SyncFS), the
	// sync running beside the compile.
	synced := make(chan error, 1)
	if meta.Boot = s.boot(); meta.Boot != "" {
		synced <- nil
	} else {
		go func() { synced <- s.syncTree(rootfs) }()
	}
	compiled := noWait
	if module != nil {
		// The compile runs while the snapshot is stored: it needs only the digest.
		t := time.Now()
		meta.ModuleDigest = engine.Digest(module)
		done := make(chan error, 1)
		unmap := unmapModule
		unmapModule = func() {}
		go func() {
			defer unmap()
			err := s.eng.PrecompileAs(ctx, module, meta.ModuleDigest)
			// The digest and the compile, as Precompile times them: for `berth --debug
			// pull` and bench/regbench.
			s.phase("precompile", time.Since(t))
			if err != nil {
				err = fmt.Errorf("%w: module %s: %w", ErrBadImage, meta.Module, err)
			}
			done <- err
		}()
		compiled = sync.OnceValue(func() error { return <-done })
	}
	// fail ends the prepare for err once the compile has ended: its code is dropped
	// unless a stored snapshot uses it.
	fail := func(err error) (*snapshotMeta, func() error, error) {
		if cerr := compiled(); cerr == nil && meta.ModuleDigest != "" && !s.moduleInUse(meta.ModuleDigest) {
			_ = s.eng.Remove(context.WithoutCancel(ctx), meta.ModuleDigest)
		}
		return nil, nil, err
	}
	if src != nil {
		if err := src.ready(); err != nil {
			return fail(err)
		}
	}
	if err := <-synced; err != nil {
		return fail(fmt.Errorf("storing snapshot: %w", err))
	}
	b, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return fail(err)
	}
	if err := fsutil.WriteFileAtomic(filepath.Join(tmp, "meta.json"), b, 0o644, true); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, s.snapshotDir(digest)); err != nil {
		m, err2 := s.readSnapshot(digest)
		replaced := false
		if errors.Is(err2, errStaleSnapshot) {
			m, replaced, err2 = s.replaceStale(ctx, digest, tmp)
		}
		switch {
		case replaced:
		case err2 == nil:
			compiled() // another process prepared it meanwhile; ours compiled the same module
			return m, noWait, nil
		default:
			return fail(fmt.Errorf("storing snapshot: %w", errors.Join(err, err2)))
		}
	}
	if err := fsutil.SyncDir(filepath.Dir(s.snapshotDir(digest))); err != nil {
		return fail(err)
	}
	return meta, func() error {
		err := compiled()
		if err != nil {
			_ = s.removeSnapshot(context.WithoutCancel(ctx), digest)
		}
		return err
	}, nil
}

// replaceStale puts the snapshot prepared in tmp in the place of a stale one of the
// same image (errStaleSnapshot), and reports true. When another process has stored a
// usable one meanwhile, it returns that one's meta and false.
//
// # Notes
//
//   - It holds the snapshots' lock exclusively: a run holds it shared while it copies a
//     root, so no root is moved away under a copy. Its callers hold no lock.
func (s *Service) replaceStale(ctx context.Context, manifest v1.Hash, tmp string) (*snapshotMeta, bool, error) {
	unlock, err := s.snapLock(ctx, true)
	if err != nil {
		return nil, false, err
	}
	defer unlock()
	m, err := s.readSnapshot(manifest)
	if err == nil {
		return m, false, nil
	}
	dir := s.snapshotDir(manifest)
	if errors.Is(err, errStaleSnapshot) {
		old, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "stale-")
		if err != nil {
			return nil, false, err
		}
		defer os.RemoveAll(old)
		if err := os.Rename(dir, filepath.Join(old, "snapshot")); err != nil {
			return nil, false, fmt.Errorf("moving the stale snapshot %s aside: %w", manifest, err)
		}
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, false, err
	}
	s.log.Debug("snapshot unpacked again after a reboot", "image", manifest)
	return nil, true, nil
}

// unpackOptions are those of a snapshot's unpacking: with write-behind when the root is
// synced afterwards (no boot ID), else the kernel writes it back in its own time.
func (s *Service) unpackOptions() bundle.Options {
	return bundle.Options{WriteBehind: s.boot() == ""}
}

// noWait is the compiled func of a prepare with nothing to compile.
func noWait() error { return nil }

func (s *Service) unpackLayers(ctx context.Context, img v1.Image, rootfs string, src *snapshotSource) error {
	if src != nil {
		if err := src.unpack(ctx, rootfs); err != nil {
			return fmt.Errorf("%w: unpacking its layers: %w", ErrBadImage, err)
		}
		return nil
	}
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("reading layers: %w", err)
	}
	bl := make([]bundle.Layer, len(layers))
	for i, l := range layers {
		bl[i] = l
	}
	if err := bundle.Unpack(ctx, rootfs, bl, s.unpackOptions()); err != nil {
		return fmt.Errorf("%w: unpacking its layers: %w", ErrBadImage, err)
	}
	return nil
}

func existsIn(rootfs string) func(string) bool {
	return func(p string) bool { return bundle.RootFileExists(rootfs, p) }
}

// removeSnapshot deletes a snapshot and, when no other snapshot uses its module, the
// module's compiled code.
func (s *Service) removeSnapshot(ctx context.Context, manifest v1.Hash) error {
	m, err := s.readMeta(manifest)
	if err := os.RemoveAll(s.snapshotDir(manifest)); err != nil {
		return err
	}
	if err != nil || m.ModuleDigest == "" {
		return nil
	}
	ents, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if s.moduleUsedBy(ents, m.ModuleDigest) {
		return nil
	}
	return s.eng.Remove(ctx, m.ModuleDigest)
}

// moduleInUse reports whether a stored snapshot uses the module's compiled code (or
// whether the snapshots cannot be listed).
func (s *Service) moduleInUse(digest string) bool {
	ents, err := os.ReadDir(filepath.Join(s.root, "snapshots"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return true
	}
	return s.moduleUsedBy(ents, digest)
}

func (s *Service) moduleUsedBy(ents []os.DirEntry, digest string) bool {
	for _, e := range ents {
		h, err := v1.NewHash("sha256:" + e.Name())
		if err != nil {
			continue
		}
		if o, err := s.readMeta(h); err == nil && o.ModuleDigest == digest {
			return true
		}
	}
	return false
}
