package container

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestCreateGetRemove(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Container{Name: "web", Image: "hello:1"}
	if err := s.Create(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	b := &Container{Image: "hello:1"}
	if err := s.Create(ctx, b, false); err != nil {
		t.Fatal(err)
	}
	if b.Name == "" || b.ID == a.ID || len(a.ID) != 64 {
		t.Fatalf("ids/names not assigned: %+v %+v", a, b)
	}
	for _, ref := range []string{"web", "/web", a.ID, a.ID[:12]} {
		got, err := s.Get(ctx, ref)
		if err != nil || got.ID != a.ID {
			t.Fatalf("Get(%q) = %v, %v", ref, got, err)
		}
	}
	if _, err := s.Get(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get(nope) err = %v", err)
	}
	if err := s.Create(ctx, &Container{Name: "web"}, true); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("duplicate name err = %v", err)
	}
	if err := s.Create(ctx, &Container{Name: "bad name"}, true); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid name err = %v", err)
	}
	if err := s.Update(ctx, a.ID, true, func(c *Container) error { c.State.Status = StatusExited; c.State.ExitCode = 3; return nil }); err != nil {
		t.Fatal(err)
	}
	got, _ := s.Get(ctx, "web")
	if got.State.Status != StatusExited || got.State.ExitCode != 3 {
		t.Fatalf("update lost: %+v", got.State)
	}
	if err := s.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(s.Dir(a.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory left behind: %v", err)
	}
	all, _ := s.List(ctx)
	if len(all) != 1 || all[0].ID != b.ID {
		t.Fatalf("List = %v", all)
	}
}

func TestAmbiguousPrefix(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	for _, id := range []string{"abc1", "abc2"} {
		if err := s.Create(ctx, &Container{ID: id}, false); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(ctx, "abc"); !errors.Is(err, ErrAmbiguous) {
		t.Fatalf("err = %v", err)
	}
}

// Concurrent creators racing for one name: exactly one wins, and no record is corrupt.
func TestConcurrentNames(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := Open(dir) // separate Store values, as separate processes would have
			err := s.Create(ctx, &Container{Name: "only"}, false)
			if err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			} else if !errors.Is(err, ErrNameInUse) {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d creators got the same name", wins)
	}
	s, _ := Open(dir)
	all, err := s.List(ctx)
	if err != nil || len(all) != 1 {
		t.Fatalf("List = %d, %v", len(all), err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "*", ".container.json.tmp-*"))
	if len(matches) != 0 {
		t.Fatalf("temp files left: %v", matches)
	}
}

// A removed container frees its name; a name file left by a crash (no record behind it)
// is taken over; the name of a live container is not.
func TestNameReservation(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	a := &Container{Name: "web"}
	if err := s.Create(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "web"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("removed container still found by name: %v", err)
	}
	b := &Container{Name: "web"}
	if err := s.Create(ctx, b, false); err != nil {
		t.Fatalf("name not freed by rm: %v", err)
	}
	os.MkdirAll(filepath.Join(s.dir, "names"), 0o711)
	os.WriteFile(filepath.Join(s.dir, "names", "ghost"), []byte(NewID()), 0o600)
	if err := s.Create(ctx, &Container{Name: "ghost"}, false); err != nil {
		t.Fatalf("stale name not taken over: %v", err)
	}
	if got, err := s.Get(ctx, "ghost"); err != nil || got.Name != "ghost" {
		t.Fatalf("Get(ghost) = %v, %v", got, err)
	}
	err := s.Create(ctx, &Container{Name: "web"}, false)
	if !errors.Is(err, ErrNameInUse) || !strings.Contains(err.Error(), b.ID[:12]) {
		t.Fatalf("live name: %v", err)
	}
}

// A corrupt record does not hide the others: List returns them with an error naming the
// file; Get of that id says it is corrupt; Remove deletes it.
func TestCorruptRecord(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir())
	good, bad := &Container{Name: "good"}, &Container{Name: "bad"}
	s.Create(ctx, good, false)
	s.Create(ctx, bad, false)
	os.WriteFile(filepath.Join(s.Dir(bad.ID), "container.json"), []byte("{not json"), 0o600)
	all, err := s.List(ctx)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), bad.ID) || len(all) != 1 || all[0].ID != good.ID {
		t.Fatalf("List = %v, %v", all, err)
	}
	if _, err := s.Get(ctx, bad.ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Get(corrupt) err = %v", err)
	}
	if err := s.Remove(ctx, bad.ID); err != nil {
		t.Fatal(err)
	}
	if all, err := s.List(ctx); err != nil || len(all) != 1 {
		t.Fatalf("after Remove: %v, %v", all, err)
	}
}
