package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/tetratelabs/wazero"
)

// Names inside the cache directory that are not digests start with a dot and are
// skipped by Cached and Prune.
const (
	trashPrefix = ".trash-"
	probePrefix = ".probe-"
)

// dwarfDir is the directory, inside a module's, of the code compiled with a source map
// for a module that carries DWARF (WithBacktraceDetails). wazero keys its cache by the
// module alone, so that code and the default code cannot share one directory.
const dwarfDir = "dwarf"

// cacheEntry is the one wazero.CompilationCache of a module digest (or of its dwarfDir). It lives as long as
// the Engine, or until the digest is removed and no run uses it any more.
type cacheEntry struct {
	cache   wazero.CompilationCache
	refs    int  // runs and precompiles using it; guarded by Engine.mu
	dropped bool // removed from Engine.caches; guarded by Engine.mu

	// codeMu orders, within this process, loading the module's code (CompileModule)
	// against instantiating it (InstantiateModule) in the runtimes sharing cache.
	//
	// # Notes
	//
	//   - wazero v1.12.0 publishes a module read from its file cache in the engine's
	//     in-memory table before it has compiled the module's entry preambles
	//     (wazero/wazero#2547, open), and InstantiateModule looks the module up in that
	//     table. A run instantiating while another run of the same module loads it could
	//     get code whose preambles are not there yet: `go test -race` reports it, and
	//     upstream reports an index-out-of-range panic. Holding codeMu across both calls
	//     closes the window; it costs nothing across processes (one run each) and an
	//     instantiation's time (~0.1 ms for a small module) within one.
	codeMu sync.Mutex
}

// acquire returns the cache entry of digest hex h, creating it (and its directory) on
// first use.
func (e *Engine) acquire(key string) (*cacheEntry, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, errClosed
	}
	ent := e.caches[key]
	if ent == nil {
		dir := filepath.Join(e.dir, key)
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			return nil, fmt.Errorf("engine: compilation cache %s: %w", dir, err)
		}
		ent = &cacheEntry{cache: c}
		e.caches[key] = ent
	}
	ent.refs++
	return ent, nil
}

func (e *Engine) release(ctx context.Context, ent *cacheEntry) {
	e.mu.Lock()
	defer e.mu.Unlock()
	ent.refs--
	if ent.dropped && ent.refs == 0 {
		_ = ent.cache.Close(ctx)
	}
}

// dropLocked forgets the cache entries of h; each is closed now or by its last user.
// Closing earlier would pull compiled code from under running guests (wazero uses it for
// stack traces).
func (e *Engine) dropLocked(ctx context.Context, h string) error {
	var errs []error
	for _, key := range []string{h, filepath.Join(h, dwarfDir)} {
		ent := e.caches[key]
		if ent == nil {
			continue
		}
		delete(e.caches, key)
		ent.dropped = true
		if ent.refs == 0 {
			errs = append(errs, ent.cache.Close(ctx))
		}
	}
	return errors.Join(errs...)
}

// Remove drops the compiled code of the module with the given digest from the cache, on
// disk and in memory. Removing a module that is not cached is not an error. Runs of the
// module in progress are not affected.
func (e *Engine) Remove(ctx context.Context, digest string) error {
	h, err := digestHex(digest)
	if err != nil {
		return err
	}
	if err := e.remove(ctx, h); err != nil {
		return fmt.Errorf("engine: removing compiled code of %s: %w", digest, err)
	}
	return nil
}

func (e *Engine) remove(ctx context.Context, h string) error {
	e.dirMu.Lock()
	defer e.dirMu.Unlock()
	e.mu.Lock()
	_ = e.dropLocked(ctx, h)
	e.mu.Unlock()
	return e.removeDir(h)
}

// removeDir deletes the directory of digest hex h. It first renames it aside, so another
// process sees the entry either whole or gone; a leftover from a crash is deleted by Prune.
func (e *Engine) removeDir(h string) error {
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	trash := filepath.Join(e.dir, trashPrefix+h+"-"+hex.EncodeToString(rnd[:]))
	if err := os.Rename(filepath.Join(e.dir, h), trash); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	return os.RemoveAll(trash)
}

// Cached lists the digests of the modules that have compiled code in the cache for this
// engine version, sorted.
func (e *Engine) Cached(ctx context.Context) ([]string, error) {
	sub, err := e.versionSubdir()
	if err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		return nil, fmt.Errorf("engine: reading the compilation cache: %w", err)
	}
	var out []string
	for _, d := range ents {
		if !d.IsDir() || !isDigestHex(d.Name()) {
			continue
		}
		files, err := os.ReadDir(filepath.Join(e.dir, d.Name(), sub))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("engine: reading the compilation cache: %w", err)
		}
		for _, f := range files {
			if f.Type().IsRegular() && !strings.HasSuffix(f.Name(), ".tmp") {
				out = append(out, "sha256:"+d.Name())
				break
			}
		}
	}
	return out, nil // os.ReadDir sorts by name
}

// CacheSize returns the bytes used by the cache directory, all engine versions included.
func (e *Engine) CacheSize(ctx context.Context) (int64, error) {
	var total int64
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed meanwhile by another process
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("engine: measuring the compilation cache: %w", err)
	}
	return total, nil
}

// Prune drops the cached code of every module for which keep returns false, and code
// compiled by other engine versions for the modules it keeps. It returns the number of
// modules dropped. keep is called without locks held, once per cached directory.
func (e *Engine) Prune(ctx context.Context, keep func(digest string) bool) (removed int, err error) {
	sub, err := e.versionSubdir()
	if err != nil {
		return 0, err
	}
	ents, err := os.ReadDir(e.dir)
	if err != nil {
		return 0, fmt.Errorf("engine: reading the compilation cache: %w", err)
	}
	var drop, kept, trash []string
	for _, d := range ents {
		switch name := d.Name(); {
		case strings.HasPrefix(name, trashPrefix):
			trash = append(trash, name)
		case !d.IsDir() || !isDigestHex(name):
		case keep("sha256:" + name):
			kept = append(kept, name)
		default:
			drop = append(drop, name)
		}
	}

	e.dirMu.Lock()
	defer e.dirMu.Unlock()
	var errs []error
	for _, h := range drop {
		e.mu.Lock()
		_ = e.dropLocked(ctx, h)
		e.mu.Unlock()
		if err := e.removeDir(h); err != nil {
			errs = append(errs, err)
			continue
		}
		removed++
	}
	for _, h := range kept {
		for _, dir := range []string{filepath.Join(e.dir, h), filepath.Join(e.dir, h, dwarfDir)} {
			subs, err := os.ReadDir(dir)
			if err != nil {
				if !errors.Is(err, fs.ErrNotExist) {
					errs = append(errs, err)
				}
				continue
			}
			for _, s := range subs {
				if s.Name() != sub && strings.HasPrefix(s.Name(), "wazero-") {
					if err := os.RemoveAll(filepath.Join(dir, s.Name())); err != nil {
						errs = append(errs, err)
					}
				}
			}
		}
	}
	for _, t := range trash {
		if err := os.RemoveAll(filepath.Join(e.dir, t)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("engine: pruning the compilation cache: %w", err)
	}
	return removed, nil
}

// versionSubdir returns the name wazero gives its per-version directory inside a cache
// directory (wazero-<version>-<arch>-<os>), learnt once by letting wazero create one in a
// scratch directory, so it cannot drift from wazero's own rule.
func (e *Engine) versionSubdir() (string, error) {
	e.subdirOnce.Do(func() {
		probe, err := os.MkdirTemp(e.dir, probePrefix)
		if err != nil {
			e.subdirErr = fmt.Errorf("engine: probing the compilation cache: %w", err)
			return
		}
		defer os.RemoveAll(probe)
		c, err := wazero.NewCompilationCacheWithDir(probe)
		if err != nil {
			e.subdirErr = fmt.Errorf("engine: probing the compilation cache: %w", err)
			return
		}
		_ = c.Close(context.Background())
		ents, err := os.ReadDir(probe)
		if err != nil || len(ents) != 1 {
			e.subdirErr = fmt.Errorf("engine: probing the compilation cache: wazero made %d directories (%v)", len(ents), err)
			return
		}
		e.subdir = ents[0].Name()
	})
	return e.subdir, e.subdirErr
}

// dropUnreadableCode removes the compiled code cached under key (a digest hex, or its
// dwarfDir), for a module that wazero failed to compile; it reports whether there was
// any. The caller holds the module's compile lock.
//
// # Notes
//
// A module that failed to compile has no code in the cache, unless that code is what
// failed: wazero loads cached code before it would compile, and a file it cannot read
// (cut short by a crash: wazero writes the cache without fsync) fails the whole
// CompileModule, with "compilationcache: error reading header: EOF" reported as if the
// module were invalid. So code found here after a failed compile is dropped and the
// module compiled again: a truly invalid module fails the same way the second time.
func (e *Engine) dropUnreadableCode(key string) bool {
	sub, err := e.versionSubdir()
	if err != nil {
		return false
	}
	dir := filepath.Join(e.dir, key, sub)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	dropped := false
	for _, ent := range ents {
		if ent.Type().IsRegular() && os.Remove(filepath.Join(dir, ent.Name())) == nil {
			dropped = true
		}
	}
	return dropped
}
