package shim

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A process the spawner started with Pdeathsig outlives every thread a locked
// goroutine ends (Go's way of discarding a thread moved into a namespace), and the
// spawner's close; start after close fails.
func TestSpawnerSurvivesEndedThreads(t *testing.T) {
	var p spawner
	cmd := exec.Command("sleep", "60")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if _, err := p.start(cmd, nil); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer cmd.Process.Kill()

	// End many threads, the way a setns helper does: lock, return without unlocking.
	for range 4 {
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread()
			}()
		}
		wg.Wait()
	}
	p.close()
	select {
	case err := <-exited:
		t.Fatalf("the process ended while its shim ran on: %v", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := p.start(exec.Command("true"), nil); !errors.Is(err, errSpawnerClosed) {
		t.Errorf("start after close: %v, want errSpawnerClosed", err)
	}
}
