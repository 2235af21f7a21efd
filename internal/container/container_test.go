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
	s, err := Open(t.TempDir(), "")
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
	if _, err := os.Stat(s.Dir(a)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("directory left behind: %v", err)
	}
	all, _ := s.List(ctx)
	if len(all) != 1 || all[0].ID != b.ID {
		t.Fatalf("List = %v", all)
	}
}

func TestAmbiguousPrefix(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir(), "")
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
			s, _ := Open(dir, "") // separate Store values, as separate processes would have
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
	s, _ := Open(dir, "")
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
	s, _ := Open(t.TempDir(), "")
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
	s, _ := Open(t.TempDir(), "")
	good, bad := &Container{Name: "good"}, &Container{Name: "bad"}
	s.Create(ctx, good, false)
	s.Create(ctx, bad, false)
	os.WriteFile(filepath.Join(s.Dir(bad), "container.json"), []byte("{not json"), 0o600)
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

// AutoRemove containers go to the state directory, the others to DIR; lookups, lists and
// removals see both, and a name is unique across both.
func TestStatePlace(t *testing.T) {
	ctx := context.Background()
	dir, state := t.TempDir(), filepath.Join(t.TempDir(), "state", "containers")
	s, err := Open(dir, state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open made the state directory: %v", err)
	}
	kept := &Container{Name: "kept", Image: "hello:1"}
	if err := s.Create(ctx, kept, true); err != nil {
		t.Fatal(err)
	}
	eph := &Container{Name: "eph", Image: "hello:1", HostConfig: HostConfig{AutoRemove: true}}
	if err := s.Create(ctx, eph, false); err != nil {
		t.Fatal(err)
	}
	for c, place := range map[*Container]string{kept: dir, eph: state} {
		if got := s.Dir(c); got != filepath.Join(place, c.ID) {
			t.Errorf("Dir(%s) = %s, want in %s", c.Name, got, place)
		}
		if _, err := os.Stat(filepath.Join(place, c.ID, "container.json")); err != nil {
			t.Errorf("record of %s: %v", c.Name, err)
		}
		if _, err := os.Stat(filepath.Join(place, "names", c.Name)); err != nil {
			t.Errorf("name of %s: %v", c.Name, err)
		}
		for _, ref := range []string{c.Name, c.ID, c.ID[:12]} {
			got, err := s.Get(ctx, ref)
			if err != nil || got.ID != c.ID || s.Dir(got) != s.Dir(c) {
				t.Errorf("Get(%q) = %+v, %v", ref, got, err)
			}
		}
	}
	if all, err := s.List(ctx); err != nil || len(all) != 2 {
		t.Fatalf("List = %v, %v", all, err)
	}
	// A name is unique across both places, whichever place asks.
	for _, c := range []*Container{
		{Name: "eph"},
		{Name: "kept", HostConfig: HostConfig{AutoRemove: true}},
	} {
		if err := s.Create(ctx, c, false); !errors.Is(err, ErrNameInUse) {
			t.Errorf("Create(%q, AutoRemove %v) = %v, want ErrNameInUse", c.Name, c.HostConfig.AutoRemove, err)
		}
	}
	for _, place := range []string{dir, state} {
		if m, _ := filepath.Glob(filepath.Join(place, "names", "*")); len(m) != 1 {
			t.Errorf("names in %s after the refusals: %v", place, m)
		}
	}
	// Update writes back to the record's own place.
	if err := s.Update(ctx, eph.ID, false, func(c *Container) error { c.State.Status = StatusExited; return nil }); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, "eph"); got == nil || got.State.Status != StatusExited {
		t.Errorf("update of the state record lost: %+v", got)
	}
	if _, err := os.Stat(filepath.Join(dir, eph.ID)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Update wrote the state record into DIR: %v", err)
	}
	if err := s.Discard(ctx, eph); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, kept.ID); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(state, eph.ID), filepath.Join(state, "names", "eph"), filepath.Join(dir, kept.ID), filepath.Join(dir, "names", "kept")} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left behind: %v", p, err)
		}
	}
}

// A reboot empties a state directory on a tmpfs, or a crash leaves a record of a
// container that is gone: neither breaks ps or rm, and the names come free.
func TestStateGone(t *testing.T) {
	ctx := context.Background()
	dir, state := t.TempDir(), filepath.Join(t.TempDir(), "containers")
	s, _ := Open(dir, state)
	left := &Container{Name: "left", HostConfig: HostConfig{AutoRemove: true}}
	if err := s.Create(ctx, left, false); err != nil {
		t.Fatal(err)
	}
	// Left behind by a crash: listed, found, removable.
	s2, _ := Open(dir, state)
	if all, err := s2.List(ctx); err != nil || len(all) != 1 || all[0].ID != left.ID {
		t.Fatalf("List = %v, %v", all, err)
	}
	if err := s2.Remove(ctx, left.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Get(ctx, "left"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get after rm = %v", err)
	}
	// The name is free again, for another --rm container.
	if err := s2.Create(ctx, &Container{Name: "left", HostConfig: HostConfig{AutoRemove: true}}, false); err != nil {
		t.Fatal(err)
	}
	// The state directory vanishes (reboot).
	if err := os.RemoveAll(state); err != nil {
		t.Fatal(err)
	}
	if all, err := s2.List(ctx); err != nil || len(all) != 0 {
		t.Fatalf("List with the state directory gone = %v, %v", all, err)
	}
	if _, err := s2.Get(ctx, "left"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get with the state directory gone = %v", err)
	}
	if err := s2.Create(ctx, &Container{Name: "left"}, true); err != nil {
		t.Fatalf("name of a vanished container not free: %v", err)
	}
	if err := s2.Create(ctx, &Container{Name: "again", HostConfig: HostConfig{AutoRemove: true}}, false); err != nil {
		t.Fatalf("state directory not made again: %v", err)
	}
	// A stale name file in the state place does not block DIR.
	os.WriteFile(filepath.Join(state, "names", "ghost"), []byte(NewID()), 0o600)
	if err := s2.Create(ctx, &Container{Name: "ghost"}, true); err != nil {
		t.Fatalf("stale name in the state place blocks DIR: %v", err)
	}
	if _, err := os.Stat(filepath.Join(state, "names", "ghost")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale name file kept: %v", err)
	}
}

// Creators in both places racing for one name: exactly one wins.
func TestConcurrentNamesAcrossPlaces(t *testing.T) {
	ctx := context.Background()
	dir, state := t.TempDir(), t.TempDir()
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _ := Open(dir, state)
			err := s.Create(ctx, &Container{Name: "only", HostConfig: HostConfig{AutoRemove: i%2 == 0}}, false)
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
	s, _ := Open(dir, state)
	all, err := s.List(ctx)
	if wins != 1 || err != nil || len(all) != 1 {
		t.Fatalf("%d winners, List = %d, %v", wins, len(all), err)
	}
}

func TestRename(t *testing.T) {
	ctx := context.Background()
	s, err := Open(t.TempDir(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	a := &Container{Name: "old", Image: "hello:1"}
	b := &Container{Name: "other", Image: "hello:1", HostConfig: HostConfig{AutoRemove: true}}
	for _, c := range []*Container{a, b} {
		if err := s.Create(ctx, c, true); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Rename(ctx, "old", "new")
	if err != nil || got.Name != "new" || got.ID != a.ID {
		t.Fatalf("Rename = %+v, %v", got, err)
	}
	if c, err := s.Get(ctx, "new"); err != nil || c.ID != a.ID {
		t.Errorf("Get(new) = %v, %v", c, err)
	}
	if _, err := s.Get(ctx, "old"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get(old) after rename = %v, want not found", err)
	}
	// The old name is free; the new one is taken, across places too.
	if err := s.Create(ctx, &Container{Name: "old"}, true); err != nil {
		t.Errorf("reusing the old name: %v", err)
	}
	for _, tc := range []struct {
		ref, name string
		want      error
	}{
		{"new", "other", ErrNameInUse}, {"other", "new", ErrNameInUse}, {"new", "new", ErrNameInUse},
		{"new", "bad name", ErrInvalidName}, {"new", "", ErrInvalidName}, {"nosuch", "x", ErrNotFound},
	} {
		if _, err := s.Rename(ctx, tc.ref, tc.name); !errors.Is(err, tc.want) {
			t.Errorf("Rename(%q, %q) = %v, want %v", tc.ref, tc.name, err, tc.want)
		}
	}
	if c, _ := s.Get(ctx, "new"); c == nil || c.ID != a.ID {
		t.Errorf("a failed rename changed the container: %+v", c)
	}
}
