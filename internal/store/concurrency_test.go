package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// exercise runs one round of every operation. Each worker adds, reads and
// removes only its own images (so its reads must always succeed), while all
// workers fight over the names shared:latest and shared:<id> and run GC.
func exercise(ctx context.Context, s *Store, id string, imgs []v1.Image, round int) error {
	img := imgs[round%len(imgs)]
	own := fmt.Sprintf("example.com/%s/img:%d", id, round%len(imgs))
	d, err := s.AddImage(ctx, img, own, "example.com/shared:latest")
	if err != nil {
		return fmt.Errorf("AddImage: %w", err)
	}
	if err := s.Tag(ctx, "example.com/shared:"+id, d.Digest); err != nil {
		return fmt.Errorf("Tag: %w", err)
	}
	got, err := s.Image(ctx, d.Digest)
	if err != nil {
		return fmt.Errorf("Image: %w", err)
	}
	if err := validate.Image(got); err != nil {
		return fmt.Errorf("validate.Image(%s): %w", d.Digest, err)
	}
	rec, err := s.Resolve(ctx, own)
	if err != nil || rec.Digest != d.Digest {
		return fmt.Errorf("Resolve(%s) = %v, %v; want %s", own, rec.Digest, err, d.Digest)
	}
	if _, err := s.Images(ctx); err != nil {
		return fmt.Errorf("Images: %w", err)
	}
	if err := s.Untag(ctx, "example.com/shared:latest"); err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("Untag: %w", err)
	}
	if round%2 == 1 {
		if err := s.Remove(ctx, d.Digest); err != nil {
			return fmt.Errorf("Remove: %w", err)
		}
	}
	if round%3 == 2 {
		if _, _, err := s.GC(ctx); err != nil {
			return fmt.Errorf("GC: %w", err)
		}
	}
	return nil
}

// checkStore asserts the invariants after concurrent use: index.json parses,
// every indexed image reads and validates completely, no temp files remain.
func checkStore(t *testing.T, dir string) {
	t.Helper()
	ctx := context.Background()
	indexOnDisk(t, dir)
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := s.Images(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) == 0 {
		t.Error("no images left; the workers should leave some")
	}
	for _, r := range recs {
		img, err := s.Image(ctx, r.Digest)
		if err != nil {
			t.Errorf("image %s %v: %v", r.Digest, r.Names, err)
			continue
		}
		if err := validate.Image(img); err != nil {
			t.Errorf("image %s %v: %v", r.Digest, r.Names, err)
		}
	}
	if names := tempFiles(t, s); len(names) != 0 {
		t.Errorf("temp files left: %v", names)
	}
}

func TestConcurrent(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	stores := make([]*Store, 3)
	for i := range stores {
		s, err := Open(ctx, dir)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	const workers, rounds = 4, 6 // workers 0 and 3 share a Store
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		imgs := []v1.Image{randomImage(t, 256, 2), randomImage(t, 256, 1)}
		wg.Go(func() {
			s := stores[w%len(stores)]
			for r := range rounds {
				if err := exercise(ctx, s, fmt.Sprint("g", w), imgs, r); err != nil {
					errs <- fmt.Errorf("worker %d round %d: %w", w, r, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	checkStore(t, dir)
}

const helperEnv = "BERTH_STORE_TEST_HELPER"

// TestHelperProcess is not a test: TestMultiProcess runs the test binary with
// it as a child process that works on a shared store for about two seconds.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process for TestMultiProcess")
	}
	ctx := context.Background()
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	imgs := []v1.Image{randomImage(t, 256, 2), randomImage(t, 256, 1)}
	id := fmt.Sprint("p", os.Getpid())
	deadline := time.Now().Add(2 * time.Second)
	round := 0
	for ; time.Now().Before(deadline); round++ {
		if err := exercise(ctx, s, id, imgs, round); err != nil {
			t.Fatalf("process %s round %d: %v", id, round, err)
		}
	}
	// Leave one image behind for the parent to check.
	if _, err := s.AddImage(ctx, imgs[0], "example.com/"+id+"/final:1"); err != nil {
		t.Fatal(err)
	}
	t.Logf("process %s: %d rounds", id, round)
}

func TestMultiProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in a helper process")
	}
	dir := t.TempDir()
	if _, err := Open(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	const procs = 4
	cmds := make([]*exec.Cmd, procs)
	outs := make([]*lockedBuffer, procs)
	for i := range cmds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		outs[i] = &lockedBuffer{}
		cmd.Stdout, cmd.Stderr = outs[i], outs[i]
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("helper %d: %v\n%s", i, err, outs[i].String())
			continue
		}
		out := outs[i].String()
		if j := strings.Index(out, "process p"); j >= 0 {
			t.Log(strings.SplitN(out[j:], "\n", 2)[0])
		}
	}
	checkStore(t, dir)
	s, _ := Open(context.Background(), dir)
	recs, _ := s.Images(context.Background())
	finals := 0
	for _, r := range recs {
		for _, n := range r.Names {
			if strings.HasSuffix(n, "/final:1") {
				finals++
			}
		}
	}
	if finals != procs {
		t.Errorf("%d final images, want %d: %+v", finals, procs, recs)
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
