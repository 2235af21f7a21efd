package service_test

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"

	"github.com/berth-dev/berth/internal/image"
	"github.com/berth-dev/berth/internal/registry"
	"github.com/berth-dev/berth/internal/registrytest"
	"github.com/berth-dev/berth/internal/service"
)

// A one-layer Docker-style image is unpacked while it downloads (and while its config
// downloads). When that cannot be (the transfer restarted, the config's diff ID is wrong)
// the pull unpacks from the store as before, with the same result or the same error; a
// lying registry is caught either way, a config that is not Wasm's stops the download,
// and nothing partial stays.
func TestPullUnpacksWhileDownloading(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := newProxy(t, reg.Addr)
	good := dockerWasm(t, hello(t))
	badDiff := func() v1.Image {
		cf, _ := good.ConfigFile()
		cf = cf.DeepCopy()
		cf.RootFS.DiffIDs[0] = v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("ab", 32)}
		img, err := mutate.ConfigFile(good, cf)
		if err != nil {
			t.Fatal(err)
		}
		return img
	}()
	const (
		streamed = "pull: snapshot stored"
		fellBack = "unpacking while downloading failed"
	)
	tests := []struct {
		name    string
		img     v1.Image
		cut     bool // cut the layer's first transfer half-way
		slowCfg bool // answer for the config only after 300 ms: the layers are in by then
		corrupt bool // flip a byte of the layer
		logs    []string
		notLogs []string
		wantErr func(err error, layer v1.Hash) bool
	}{
		{name: "streamed", img: good, logs: []string{streamed}, notLogs: []string{fellBack}},
		{name: "transfer cut and restarted", img: good, cut: true, logs: []string{fellBack}},
		{name: "wrong diff ID", img: badDiff, logs: []string{fellBack}, wantErr: func(err error, _ v1.Hash) bool {
			return errors.Is(err, service.ErrBadImage) && strings.Contains(err.Error(), "the image config records")
		}},
		{name: "linux image: refused by its config, read beside the layer", img: linuxImage(t), wantErr: func(err error, _ v1.Hash) bool {
			return errors.Is(err, image.ErrNotWasm) && strings.Contains(err.Error(), "linux/amd64")
		}},
		{name: "linux image: refused by its config, read after the layer", img: linuxImage(t), slowCfg: true, wantErr: func(err error, _ v1.Hash) bool {
			return errors.Is(err, image.ErrNotWasm) && strings.Contains(err.Error(), "linux/amd64")
		}},
		{name: "lying registry", img: good, corrupt: true, wantErr: func(err error, layer v1.Hash) bool {
			var be *registry.BlobError
			return errors.Is(err, registry.ErrBadBlob) && errors.As(err, &be) && be.Digest == layer && be.Host == p.Addr &&
				strings.Contains(err.Error(), layer.String()) && strings.Contains(err.Error(), p.Addr)
		}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("%s/stream/app%d:1", p.Addr, i)
			write(t, ref, tc.img)
			m, _ := tc.img.Manifest()
			layer := m.Layers[0]
			if tc.cut {
				var cuts atomic.Int32
				f := func(w http.ResponseWriter, r *http.Request) bool {
					if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/blobs/"+layer.Digest.String()) || cuts.Add(1) > 1 {
						return false
					}
					conn, buf, _ := w.(http.Hijacker).Hijack()
					fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\n\r\n", layer.Size)
					buf.Write(make([]byte, layer.Size/2))
					buf.Flush()
					conn.Close()
					return true
				}
				p.fault.Store(&f)
				defer p.fault.Store(nil)
			}
			if tc.slowCfg {
				f := func(w http.ResponseWriter, r *http.Request) bool {
					if strings.HasSuffix(r.URL.Path, "/blobs/"+m.Config.Digest.String()) {
						time.Sleep(300 * time.Millisecond)
					}
					return false
				}
				p.fault.Store(&f)
				defer p.fault.Store(nil)
			}
			if tc.corrupt {
				bad := layer.Digest.String()
				p.corrupt.Store(&bad)
				defer p.corrupt.Store(nil)
			}
			root := t.TempDir()
			var logs bytes.Buffer
			s, err := service.Open(t.Context(), root, "", slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(t.Context())
			_, err = s.Pull(t.Context(), ref, pullOpts())
			for _, l := range tc.logs {
				if !strings.Contains(logs.String(), l) {
					t.Errorf("the debug log lacks %q:\n%s", l, logs.String())
				}
			}
			for _, l := range tc.notLogs {
				if strings.Contains(logs.String(), l) {
					t.Errorf("the debug log has %q:\n%s", l, logs.String())
				}
			}
			for _, dir := range []string{"tmp", "content/tmp"} {
				if left, _ := os.ReadDir(filepath.Join(root, dir)); len(left) != 0 {
					t.Errorf("left in %s: %v", dir, left)
				}
			}
			if tc.wantErr == nil {
				if err != nil {
					t.Fatal(err)
				}
				if out := runImage(t, s, ref); out != "hello from c\n" {
					t.Fatalf("output %q", out)
				}
				return
			}
			if !tc.wantErr(err, layer.Digest) {
				t.Fatalf("err = %v", err)
			}
			if imgs, _ := s.Images(t.Context()); len(imgs) != 0 {
				t.Fatalf("indexed %v", imgs)
			}
			if snaps, _ := os.ReadDir(filepath.Join(root, "snapshots")); len(snaps) != 0 {
				t.Fatalf("snapshots stored: %v", snaps)
			}
			// A refused image leaves no blob; one a registry lied about leaves the rest,
			// complete and verified, for the next pull to resume from.
			blobs, _ := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
			if refused := errors.Is(err, image.ErrNotWasm) || errors.Is(err, service.ErrBadImage); refused && len(blobs) != 0 {
				t.Fatalf("the refused image left blobs %v", blobs)
			}
			if tc.corrupt {
				if _, err := os.Stat(filepath.Join(root, "content", "blobs", "sha256", layer.Digest.Hex)); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("the bad blob is in the store: %v", err)
				}
			}
		})
	}
}

// A module that does not compile fails the pull with ErrBadImage and leaves the store as
// it was, though the image is indexed while the module compiles: a tag that named
// another image names it again (which still runs), a new tag goes, and no snapshot of
// the bad image stays. Both ways of unpacking: streamed (one layer) and from the store
// (two layers).
func TestPullModuleThatDoesNotCompile(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	bad := []byte("\x00asm\x01\x00\x00\x00\x01\x05\xff\xff") // a type section cut short
	for _, tc := range []struct {
		name  string
		extra []int // extra layers: none streams the one layer
		had   bool  // the tag named a good image before
	}{
		{"streamed, new tag", nil, false},
		{"streamed, tag moved back", nil, true},
		{"from the store, tag moved back", []int{1000}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ref := fmt.Sprintf("%s/nocompile/%d:1", reg.Addr, len(tc.name))
			root := t.TempDir()
			s, err := service.Open(t.Context(), root, "", slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close(t.Context())
			good := dockerWasm(t, hello(t), tc.extra...)
			if tc.had {
				write(t, ref, good)
				if _, err := s.Pull(t.Context(), ref, pullOpts()); err != nil {
					t.Fatal(err)
				}
			}
			write(t, ref, dockerWasm(t, bad, tc.extra...))
			_, err = s.Pull(t.Context(), ref, pullOpts())
			if !errors.Is(err, service.ErrBadImage) {
				t.Fatalf("pull of a module that does not compile: %v, want ErrBadImage", err)
			}
			imgs, err := s.Images(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			snaps, _ := os.ReadDir(filepath.Join(root, "snapshots"))
			blobs, _ := os.ReadDir(filepath.Join(root, "content", "blobs", "sha256"))
			if !tc.had {
				if len(imgs) != 0 || len(snaps) != 0 || len(blobs) != 0 {
					t.Fatalf("left indexed %v, snapshots %v, blobs %v", imgs, snaps, blobs)
				}
				return
			}
			if len(blobs) != blobCount(t, good) {
				t.Fatalf("blobs %v, want only the good image's %d", blobs, blobCount(t, good))
			}
			if len(imgs) != 1 || imgs[0].Digest != digestOf(t, good) {
				t.Fatalf("images %+v, want only the good one, %s", imgs, digestOf(t, good))
			}
			if len(snaps) != 1 || snaps[0].Name() != digestOf(t, good).Hex {
				t.Fatalf("snapshots %v, want only the good image's", snaps)
			}
			if out := runImage(t, s, ref); out != "hello from c\n" {
				t.Fatalf("the tag's image printed %q", out)
			}
		})
	}
}

// blobCount is how many blobs img has in a store: its manifest, its config and its
// layers.
func blobCount(t *testing.T, img v1.Image) int {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	return 2 + len(m.Layers)
}
