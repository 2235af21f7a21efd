package store

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// putImage puts img's layers and config with PutBlob, as a pull does, and returns its
// manifest.
func putImage(t *testing.T, s *Store, img v1.Image) *v1.Manifest {
	t.Helper()
	m, _ := img.Manifest()
	for i, l := range m.Layers {
		layer, _ := img.LayerByDigest(l.Digest)
		if _, err := s.PutBlob(t.Context(), l, "layer", layer.Compressed); err != nil {
			t.Fatalf("layer %d: %v", i, err)
		}
	}
	rawCfg, _ := img.RawConfigFile()
	if _, err := s.PutBlob(t.Context(), m.Config, "config", bytesOpener(rawCfg)); err != nil {
		t.Fatal(err)
	}
	return m
}

// hashes reports whether a read of the layer through img hashes the content.
func hashes(t *testing.T, img v1.Image, l v1.Descriptor) bool {
	t.Helper()
	layer, err := img.LayerByDigest(l.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layer.Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	return rc.(*verifyReader).h != nil
}

// A blob PutBlob has just hashed is read and indexed without a second hash, but only
// through the image of ImageFromManifest of the same Store value, and only while its
// file is the one PutBlob hashed. Anything else is verified as before.
func TestFreshBlobs(t *testing.T) {
	img := dockerWasmImage(t, bytes.Repeat(wasmModule, 1000))
	raw, _ := img.RawManifest()
	corrupt := func(t *testing.T, s *Store, l v1.Descriptor, inPlace bool) {
		t.Helper()
		p, _ := s.blobPath(l.Digest)
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if inPlace {
			// File times are coarse (a clock tick): let one pass, as it would between
			// a pull's PutBlob and a tamperer's write.
			time.Sleep(20 * time.Millisecond)
			f, err := os.OpenFile(p, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(b[len(b)/2:len(b)/2+1], int64(len(b)/2)); err != nil {
				t.Fatal(err)
			}
			f.Close()
			return
		}
		tmp := filepath.Join(s.dir, tmpDir, "replacement")
		if err := os.WriteFile(tmp, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	readLayer := func(img v1.Image, l v1.Descriptor) error {
		layer, err := img.LayerByDigest(l.Digest)
		if err != nil {
			return err
		}
		_, err = readAll(layer.Compressed())
		return err
	}

	t.Run("unchanged: no second hash, the image is added", func(t *testing.T) {
		s := openStore(t)
		m := putImage(t, s, img)
		local, err := s.ImageFromManifest(raw, m.MediaType)
		if err != nil {
			t.Fatal(err)
		}
		if hashes(t, local, m.Layers[0]) {
			t.Fatal("a read of a blob PutBlob has just hashed hashes it again")
		}
		if err := readLayer(local, m.Layers[0]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddImage(t.Context(), local, "x:1"); err != nil {
			t.Fatal(err)
		}
		// The record was taken: a second image (and Store.Image) verifies again.
		again, err := s.ImageFromManifest(raw, m.MediaType)
		if err != nil {
			t.Fatal(err)
		}
		if !hashes(t, again, m.Layers[0]) {
			t.Fatal("a second ImageFromManifest trusts the blob too")
		}
		stored, err := s.Image(t.Context(), mustDigest(t, img))
		if err != nil {
			t.Fatal(err)
		}
		if !hashes(t, stored, m.Layers[0]) {
			t.Fatal("Store.Image trusts a blob PutBlob hashed")
		}
	})

	for _, inPlace := range []bool{false, true} {
		name := "replaced after PutBlob"
		if inPlace {
			name = "overwritten in place after PutBlob"
		}
		t.Run(name+": caught on read and by AddImage", func(t *testing.T) {
			s := openStore(t)
			m := putImage(t, s, img)
			corrupt(t, s, m.Layers[0], inPlace)
			local, err := s.ImageFromManifest(raw, m.MediaType)
			if err != nil {
				t.Fatal(err)
			}
			var ce *CorruptBlobError
			if err := readLayer(local, m.Layers[0]); !errors.As(err, &ce) {
				t.Fatalf("reading the damaged blob: err = %v, want a *CorruptBlobError", err)
			}
			if _, err := s.AddImage(t.Context(), local, "x:1"); err == nil {
				t.Fatal("AddImage indexed an image whose blob was damaged after PutBlob")
			}
			if _, err := s.Lookup(t.Context(), "x:1"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("lookup after the failed add: %v, want ErrNotFound", err)
			}
		})
		t.Run(name+": caught by another Store on the same directory", func(t *testing.T) {
			s := openStore(t)
			m := putImage(t, s, img)
			local, err := s.ImageFromManifest(raw, m.MediaType)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddImage(t.Context(), local, "x:1"); err != nil {
				t.Fatal(err)
			}
			corrupt(t, s, m.Layers[0], inPlace)
			other, err := Open(t.Context(), s.dir) // another process, say
			if err != nil {
				t.Fatal(err)
			}
			stored, err := other.Image(t.Context(), mustDigest(t, img))
			if err != nil {
				t.Fatal(err)
			}
			var ce *CorruptBlobError
			if err := readLayer(stored, m.Layers[0]); !errors.As(err, &ce) {
				t.Fatalf("err = %v, want a *CorruptBlobError", err)
			}
		})
	}

	t.Run("put by another Store value: verified", func(t *testing.T) {
		s := openStore(t)
		m := putImage(t, s, img)
		other, err := Open(t.Context(), s.dir)
		if err != nil {
			t.Fatal(err)
		}
		local, err := other.ImageFromManifest(raw, m.MediaType)
		if err != nil {
			t.Fatal(err)
		}
		if !hashes(t, local, m.Layers[0]) {
			t.Fatal("a Store trusts a blob another Store value put")
		}
	})

	t.Run("a lying source leaves no record", func(t *testing.T) {
		s := openStore(t)
		m, _ := img.Manifest()
		l := m.Layers[0]
		layer, _ := img.LayerByDigest(l.Digest)
		good, err := readAll(layer.Compressed())
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(good)
		bad[len(bad)/2] ^= 0xff
		var de *DigestError
		if _, err := s.PutBlob(t.Context(), l, "layer", bytesOpener(bad)); !errors.As(err, &de) {
			t.Fatalf("err = %v, want a *DigestError", err)
		}
		if got := s.takeFresh(m.Layers); got != nil {
			t.Fatalf("a rejected blob was recorded as fresh: %v", got)
		}
	})
}

var _ io.Reader = (*verifyReader)(nil)
