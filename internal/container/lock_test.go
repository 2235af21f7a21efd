package container

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A container's lock: a second holder waits (or is told ErrBusy), gets the record as it
// is then, and finds ErrNotFound once the first holder removed the container.
func TestLock(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := Open(dir, "")
	c := &Container{Name: "locked", State: State{Status: StatusRunning, Running: true}}
	if err := s.Create(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	other, _ := Open(dir, "") // as another process would have it
	r, unlock, err := s.Lock(ctx, c, true)
	if err != nil || r.ID != c.ID || !r.State.Running {
		t.Fatalf("Lock = %+v, %v", r, err)
	}
	if _, _, err := other.Lock(ctx, c, false); !errors.Is(err, ErrBusy) {
		t.Fatalf("Lock without waiting while held: %v, want ErrBusy", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	_, _, err = other.Lock(tctx, c, true)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Lock with a context that ends while held: %v", err)
	}
	// A waiter gets the record as the holder left it.
	got := make(chan error, 1)
	go func() {
		r, unlock, err := other.Lock(ctx, c, true)
		if err == nil {
			defer unlock()
			if r.State.Running || r.State.ExitCode != 3 {
				err = errors.New("the waiter read the record from before the holder's update")
			}
		}
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Update(ctx, c.ID, true, func(r *Container) error {
		r.State = State{Status: StatusExited, ExitCode: 3}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-got; err != nil {
		t.Fatal(err)
	}
	// Removed under the lock: a waiter finds it gone.
	_, unlock, err = s.Lock(ctx, c, true)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _, err := other.Lock(ctx, c, true)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := s.Remove(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := <-got; !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lock of a container removed while waiting: %v, want ErrNotFound", err)
	}
	if _, _, err := s.Lock(ctx, c, false); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Lock of a removed container: %v, want ErrNotFound", err)
	}
}

// A container created locked cannot be locked by another until released.
func TestCreateLocked(t *testing.T) {
	ctx := context.Background()
	s, _ := Open(t.TempDir(), "")
	c := &Container{Name: "new"}
	unlock, err := s.CreateLocked(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, "new"); err != nil || got.ID != c.ID {
		t.Fatalf("Get of a container created locked: %v, %v", got, err)
	}
	if _, _, err := s.Lock(ctx, c, false); !errors.Is(err, ErrBusy) {
		t.Fatalf("Lock of a container created locked: %v, want ErrBusy", err)
	}
	unlock()
	_, unlock, err = s.Lock(ctx, c, false)
	if err != nil {
		t.Fatalf("Lock after the creator released it: %v", err)
	}
	unlock()
	if _, err := s.CreateLocked(ctx, &Container{Name: "new"}, false); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("CreateLocked with a taken name: %v", err)
	}
}
