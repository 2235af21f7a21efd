//go:build !berth_core

package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/store"
)

// PullOptions are the options of [Service.Pull].
type PullOptions struct {
	// Registry configures the registry client (credentials, insecure hosts).
	Registry registry.Options
	// Progress, when set, is called (from one goroutine at a time) as blobs
	// download.
	Progress func(registry.Progress)
}

// Pulled is the result of a pull.
type Pulled struct {
	Loaded
	// RepoDigest is the reference by digest of what was pulled, e.g.
	// "docker.io/library/hello@sha256:…" (an index's digest when the tag names one).
	RepoDigest string
	// UpToDate is true when the image was present and nothing was downloaded.
	UpToDate bool
}

// Pull fetches ref from its registry, picks its Wasm image (see
// registry.Client.Fetch), checks it as `load` does (a Wasm layout, a module that
// compiles), stores it under ref's name and precompiles it.
//
// An image already stored under ref costs one manifest HEAD (after the
// registry's auth handshake) and no blob; one pulled by digest costs no request.
// Blobs already present are not downloaded again, so a pull that was cut off
// resumes with the layers it had not completed. Downloads do not take the
// store's exclusive lock (see store.PutBlob).
//
// # Notes
//
//   - One pass over the bytes where possible (issue 5's pull ≤ 1.2× crane; figures
//     in docs/benchmarks.md). Each blob is hashed once while it downloads, by
//     go-containerregistry's reader (store.Verified: the store counts the bytes but
//     does not hash them again), and the store's blobs PutBlob has just hashed are
//     neither re-hashed by the unpacking nor by AddImage (store.ImageFromManifest).
//   - The config (is this a Wasm image?) downloads beside the layers: a refusal
//     cancels them, with nothing kept.
//   - A one-layer Docker-style image, the usual Wasm image, is unpacked while it
//     downloads: the layer's bytes are teed into the unpacker (layerStream), which
//     decompresses, checks the diff ID and extracts as they arrive, into a directory
//     of its own. Its stream ends cleanly only when go-containerregistry's reader
//     returned io.EOF, which it does only after the whole blob matched its digest;
//     so the module is compiled from verified bytes, while the store still fsyncs
//     the blob, and the snapshot is stored only once every blob is in the store.
//     Anything else (a transfer that restarted, a blob already present, a bad diff
//     ID) ends the stream with an error and the pull unpacks from the store
//     afterwards, exactly as for other images, so errors read the same.
func (s *Service) Pull(ctx context.Context, ref string, o PullOptions) (*Pulled, error) {
	n, err := image.ParseName(ref)
	if err != nil {
		return nil, err
	}
	c := registry.New(o.Registry)
	r, err := c.ParseReference(ref)
	if err != nil {
		return nil, err
	}
	var names []string
	if n.Digest == "" {
		names = []string{n.String()}
	}
	if res, ok := s.pulledByDigest(ctx, n); ok {
		return res, nil
	}
	if n.Digest == "" {
		if rec, err := s.store.Lookup(ctx, n.String()); err == nil {
			top, err := c.Resolve(ctx, r)
			if err != nil {
				return nil, err
			}
			rd := n.Repository() + "@" + top.Digest.String()
			if top.Digest == rec.Digest || slices.Contains(s.repoDigests(rec.Digest), rd) {
				return &Pulled{Loaded: Loaded{Digest: rec.Digest, Names: familiar(names)}, RepoDigest: rd, UpToDate: true}, nil
			}
		}
	}
	rem, err := c.Fetch(ctx, r)
	if err != nil {
		return nil, err
	}
	rd := n.Repository() + "@" + rem.Top.Digest.String()
	var d v1.Descriptor
	// A GC between the downloads and AddImage may collect the unindexed blobs; AddImage
	// then reports a missing blob and the downloads run again (once).
	for attempt := 0; ; attempt++ {
		d, err = s.pullOnce(ctx, c, rem, names, rd, o.Progress)
		if err == nil || attempt > 0 || !store.IsMissingBlob(err) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", ref, err)
	}
	return &Pulled{Loaded: Loaded{Digest: d.Digest, Names: familiar(names)}, RepoDigest: rd}, nil
}

// pullOnce downloads the blobs rem lacks locally, prepares the image and adds it,
// recording that it was pulled as rd.
//
// # Notes
//
//   - An image it refuses (not a Wasm image, or one that cannot run) leaves none of
//     the blobs it wrote: pulled again, it would be refused again. Blobs of a pull cut
//     short stay, for the next pull to resume from.
func (s *Service) pullOnce(ctx context.Context, c *registry.Client, rem *registry.Remote, names []string, rd string, progress func(registry.Progress)) (_ v1.Descriptor, err error) {
	var (
		mu      sync.Mutex
		written = []v1.Hash{rem.Digest} // the manifest, which addImage writes
	)
	defer func() {
		if refused(ctx, err) {
			mu.Lock()
			defer mu.Unlock()
			if _, derr := s.store.DropBlobs(context.WithoutCancel(ctx), written); derr != nil {
				s.log.Warn("removing the blobs of a refused image", "image", rem.Digest, "err", derr)
			}
		}
	}()
	m, err := rem.Image.Manifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	raw, err := rem.Image.RawManifest()
	if err != nil {
		return v1.Descriptor{}, err
	}
	mt, err := rem.Image.MediaType()
	if err != nil {
		return v1.Descriptor{}, err
	}
	report := func(registry.Progress) {}
	if progress != nil {
		report = serialised(progress)
	}
	type blob struct {
		d    v1.Descriptor
		what string
	}
	blobs := make([]blob, 0, len(m.Layers)+1)
	for i, l := range m.Layers {
		blobs = append(blobs, blob{l, fmt.Sprintf("layer %d of %d", i+1, len(m.Layers))})
	}
	for _, b := range blobs {
		report(registry.Progress{Digest: b.d.Digest, What: b.what, Status: registry.Waiting, Total: b.d.Size})
	}
	blobs = append(blobs, blob{m.Config, "config"})
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.Jobs())
	// The config tells whether this is a Wasm image; it is read (and checked) while the
	// layers download: a refusal cancels them.
	g.Go(func() error {
		_, err := image.Inspect(rem.Image)
		return err
	})
	st := s.layerStreamFor(rem, m)
	downloaded := make(chan struct{})
	var downloadErr error
	var streamed chan error
	compiled := noWait
	if st != nil {
		// Unpack the layer as it downloads and compile its module; store the snapshot
		// once every blob is in the store (see the notes of Pull).
		streamed = make(chan error, 1)
		go func() {
			var err error
			compiled, err = s.prepareStreamed(ctx, rem, st, start, func() error { <-downloaded; return downloadErr })
			streamed <- err
		}()
	}
	for _, b := range blobs {
		var tee *layerStream
		if st != nil && b.d.Digest == st.d.Digest {
			tee = st
		}
		g.Go(func() error {
			w, err := s.fetchBlob(gctx, c, rem, b.d, b.what, tee, report)
			if w {
				mu.Lock()
				written = append(written, b.d.Digest)
				mu.Unlock()
			}
			return err
		})
	}
	downloadErr = g.Wait()
	if st != nil {
		st.end(downloadErr)
	}
	close(downloaded)
	s.log.Debug("pull: blobs in the store", "image", rem.Digest, "took", time.Since(start))
	var prepared bool
	if st != nil {
		err := <-streamed
		prepared = err == nil
		if err != nil && downloadErr == nil {
			s.log.Debug("pull: unpacking while downloading failed; unpacking from the store", "image", rem.Digest, "err", err)
		}
	}
	if downloadErr != nil {
		return v1.Descriptor{}, downloadErr
	}
	local, err := s.store.ImageFromManifest(raw, mt)
	if err != nil {
		return v1.Descriptor{}, err
	}
	if prepared {
		s.log.Debug("pull: snapshot stored", "image", rem.Digest, "took", time.Since(start))
	} else {
		start = time.Now()
		_, compiled, err = s.prepareAsync(ctx, local, nil)
		if err != nil {
			return v1.Descriptor{}, err
		}
		s.log.Debug("pull: unpacked", "image", rem.Digest, "took", time.Since(start))
	}
	// The image is indexed while its module compiles; a module that does not compile
	// undoes the indexing (and its snapshot is gone with the compile's error).
	start = time.Now()
	undo := s.indexUndo(ctx, local, names)
	d, err := s.addImage(ctx, local, names)
	s.log.Debug("pull: indexed", "image", rem.Digest, "took", time.Since(start))
	if err != nil {
		if compiled() == nil {
			if _, rerr := s.store.Resolve(ctx, rem.Digest.String()); errors.Is(rerr, store.ErrNotFound) {
				_ = s.removeSnapshot(context.WithoutCancel(ctx), rem.Digest) // and the code compiled meanwhile
			}
		}
		return v1.Descriptor{}, err
	}
	// Recorded while the module compiles too: a module that does not compile takes its
	// snapshot, and this record in it, away.
	if err := s.addRepoDigest(d.Digest, rd); err != nil {
		s.log.Warn("recording the repo digest", "image", d.Digest, "err", err)
	}
	start = time.Now()
	err = compiled()
	// The compile's own share of the pull: the time nothing else was left to do
	// (bench/regbench subtracts it).
	s.log.Debug("pull: waited for the compile", "image", rem.Digest, "took", time.Since(start))
	if err != nil {
		undo()
		return v1.Descriptor{}, err
	}
	return d, nil
}

// indexUndo returns a func that undoes an addImage of img under names: each name
// points again at the image it named before (or goes), and the image leaves the index
// unless it was there before. A pull calls it when the module it compiled beside the
// indexing fails to compile.
func (s *Service) indexUndo(ctx context.Context, img v1.Image, names []string) func() {
	digest, err := img.Digest()
	if err != nil {
		return func() {}
	}
	_, err = s.store.Lookup(ctx, digest.String())
	wasIndexed := err == nil
	prev := make(map[string]v1.Hash, len(names))
	for _, n := range names {
		if r, err := s.store.Lookup(ctx, n); err == nil {
			prev[n] = r.Digest
		}
	}
	return func() {
		ctx := context.WithoutCancel(ctx)
		for _, n := range names {
			if d, ok := prev[n]; !ok {
				_ = s.store.Untag(ctx, n)
			} else if d != digest {
				_ = s.store.Tag(ctx, n, d)
			}
		}
		if !wasIndexed {
			_ = s.store.Remove(ctx, digest)
		}
	}
}

// layerStreamFor returns a stream for unpacking rem's layer while it downloads, or nil
// where the pull unpacks from the store afterwards: an image with more than one layer
// (they apply in order), an artifact (its module is the layer itself), or a snapshot
// already there. It reads the manifest only: the config may still be on its way.
func (s *Service) layerStreamFor(rem *registry.Remote, m *v1.Manifest) *layerStream {
	if len(m.Layers) != 1 || image.ManifestLayout(m) != image.DockerStyle {
		return nil
	}
	if _, err := s.readSnapshot(rem.Digest); err == nil {
		return nil
	}
	return newLayerStream(m.Layers[0], func() (v1.Hash, error) {
		cf, err := rem.Image.ConfigFile()
		if err != nil {
			return v1.Hash{}, err
		}
		if len(cf.RootFS.DiffIDs) != 1 || cf.RootFS.DiffIDs[0].Algorithm != "sha256" {
			return v1.Hash{}, fmt.Errorf("the config records %d diff IDs for 1 layer", len(cf.RootFS.DiffIDs))
		}
		return cf.RootFS.DiffIDs[0], nil
	})
}

// prepareStreamed unpacks st's layer as it arrives into a directory of its own (the
// config, which prepare needs first, may still be downloading), then prepares the
// snapshot from it; ready says when every blob is in the store. It returns while the
// module compiles (see prepareAsync).
func (s *Service) prepareStreamed(ctx context.Context, rem *registry.Remote, st *layerStream, start time.Time, ready func() error) (compiled func() error, err error) {
	defer st.pr.CloseWithError(errStreamStopped) // a download never waits on a reader that left
	if err := s.ensureDir("tmp"); err != nil {
		return noWait, err
	}
	dir, err := os.MkdirTemp(filepath.Join(s.root, "tmp"), "stream-")
	if err != nil {
		return noWait, err
	}
	defer os.RemoveAll(dir)
	unpacked := make(chan error, 1)
	go func() {
		err := st.unpack(ctx, filepath.Join(dir, "rootfs"), s.unpackOptions())
		s.log.Debug("pull: unpacked while downloading", "image", rem.Digest, "took", time.Since(start), "err", err)
		unpacked <- err
	}()
	defer func() {
		st.pr.CloseWithError(errStreamStopped)
		<-unpacked // before dir is removed
	}()
	_, compiled, err = s.prepareAsync(ctx, rem.Image, &snapshotSource{
		unpack: func(ctx context.Context, rootfs string) error {
			err := <-unpacked
			unpacked <- err // for the deferred wait
			if err != nil {
				return err
			}
			return os.Rename(filepath.Join(dir, "rootfs"), rootfs)
		},
		ready: ready,
	})
	if err != nil {
		return noWait, err
	}
	return compiled, nil
}

// refused reports whether err refuses the image itself: not a Wasm image, or one
// that cannot run (ErrBadImage). An error of the host or of the caller wrapped in
// ErrBadImage (a full disk while unpacking, a cancelled pull) is not a refusal: the
// same image may well be pulled once it is gone.
func refused(ctx context.Context, err error) bool {
	if !errors.Is(err, image.ErrNotWasm) && !errors.Is(err, ErrBadImage) {
		return false
	}
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	for _, e := range []syscall.Errno{syscall.ENOSPC, syscall.EDQUOT, syscall.EIO, syscall.EROFS,
		syscall.ENOMEM, syscall.EMFILE, syscall.ENFILE, syscall.EINTR} {
		if errors.Is(err, e) {
			return false
		}
	}
	return true
}

// fetchBlob puts one blob into the store, from the registry unless present, and
// reports whether it wrote it. A transfer cut short (connection reset) starts again,
// within the client's retry policy. With tee, the first transfer is also handed to the
// layer's unpacking.
func (s *Service) fetchBlob(ctx context.Context, c *registry.Client, rem *registry.Remote, d v1.Descriptor, what string, tee *layerStream, report func(registry.Progress)) (written bool, err error) {
	if tee != nil {
		defer func() { tee.end(err) }()
	}
	policy := c.Policy()
	isLayer := what != "config"
	for attempt := 1; ; attempt++ {
		open := func() (io.ReadCloser, error) {
			if !isLayer { // read (and verified) already, by image.Inspect
				raw, err := rem.Image.RawConfigFile()
				return io.NopCloser(bytes.NewReader(raw)), err
			}
			rc, err := rem.OpenBlob(d)
			if err != nil {
				return nil, err
			}
			if tee != nil {
				rc = tee.tee(rc)
			}
			// OpenBlob's reader checks the digest as it streams: the store need not hash
			// the blob a second time.
			return store.Verified(&registry.CountingReader{R: rc, Report: func(n int64, eof bool) {
				report(registry.Progress{Digest: d.Digest, What: what, Status: registry.Moving, Current: n, Total: d.Size})
			}}, d.Digest), nil
		}
		written, err := s.store.PutBlob(ctx, d, what, open)
		if err == nil {
			if isLayer {
				st := registry.Done
				if !written {
					st = registry.Present
				}
				report(registry.Progress{Digest: d.Digest, What: what, Status: st, Current: d.Size, Total: d.Size})
			}
			return written, nil
		}
		var de *store.DigestError
		if errors.As(err, &de) {
			// ggcr verifies (and the store relies on it, see store.Verified); this is
			// the store's size check agreeing.
			return false, &registry.BlobError{Host: rem.Host, Digest: d.Digest, Err: err}
		}
		if attempt >= policy.Attempts || !registry.IsTransient(err) {
			return false, err
		}
		if err := policy.Wait(ctx, attempt); err != nil {
			return false, err
		}
	}
}

func serialised(f func(registry.Progress)) func(registry.Progress) {
	ch := make(chan struct{}, 1)
	return func(p registry.Progress) {
		ch <- struct{}{}
		defer func() { <-ch }()
		f(p)
	}
}

// addRepoDigest records rd for the image. Two pulls recording at once may lose
// one entry: the cost is one more download check, never a wrong image.
func (s *Service) addRepoDigest(img v1.Hash, rd string) error {
	have := s.repoDigests(img)
	if slices.Contains(have, rd) {
		return nil
	}
	b, err := json.Marshal(append(have, rd))
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(s.snapshotDir(img), repoDigestsFile), b, 0o644, false)
}

// pulledByDigest reports a pull by digest of an image already stored: the
// digest is the image's, or one it was pulled as. Content named by digest
// cannot change, so no request is needed.
func (s *Service) pulledByDigest(ctx context.Context, n image.Name) (*Pulled, bool) {
	if n.Digest == "" {
		return nil, false
	}
	rd := n.Repository() + "@" + n.Digest
	if rec, err := s.store.Lookup(ctx, n.Digest); err == nil {
		if _, err := s.readSnapshot(rec.Digest); err == nil {
			return &Pulled{Loaded: Loaded{Digest: rec.Digest}, RepoDigest: rd, UpToDate: true}, true
		}
	}
	if h, ok := s.findRepoDigest(n); ok {
		if _, err := s.store.Lookup(ctx, h.String()); err == nil {
			return &Pulled{Loaded: Loaded{Digest: h}, RepoDigest: rd, UpToDate: true}, true
		}
	}
	return nil, false
}
