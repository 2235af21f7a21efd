package shim

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
)

// errSpawnerClosed is returned by spawner.start after close.
var errSpawnerClosed = errors.New("the shim is shutting down: no new container process is started")

// spawner starts processes from one OS thread that lives until close: the shim's
// berth-guest processes are started with Pdeathsig, and that signal belongs to the
// thread that forked them.
//
// # Notes
//
//   - prctl(2): with PR_SET_PDEATHSIG the "parent" is the thread that created the
//     child; the signal comes when that thread ends, not when the process does. Go
//     ends an OS thread when a goroutine locked to it returns without unlocking (code
//     that moves a thread into a namespace does so on purpose, so that the thread
//     cannot be reused). A berth-guest forked from such a thread was SIGKILLed while
//     its shim ran on: TestNewNetns found it, its setns helper ending the very thread
//     Create had forked from. Forking from a thread locked for the spawner's life ties
//     the signal to the shim, as meant.
//   - close unlocks the thread before its goroutine returns, so the thread goes back to
//     Go's pool rather than ending: processes it forked (the shim closes it only when
//     it has no container left) are not signalled by the close itself.
type spawner struct {
	once sync.Once
	reqs chan *exec.Cmd
	errs chan error

	mu     sync.Mutex // serialises start and close
	closed bool
	done   chan struct{}
}

func (p *spawner) init() {
	p.once.Do(func() {
		p.reqs, p.errs, p.done = make(chan *exec.Cmd), make(chan error), make(chan struct{})
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for {
				select {
				case cmd := <-p.reqs:
					p.errs <- cmd.Start()
				case <-p.done:
					return
				}
			}
		}()
	})
}

// start runs cmd.Start on the spawner's thread.
func (p *spawner) start(cmd *exec.Cmd) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return errSpawnerClosed
	}
	p.init()
	p.reqs <- cmd
	return <-p.errs
}

// close ends the spawner's goroutine; later starts fail with errSpawnerClosed.
func (p *spawner) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	if p.done != nil {
		close(p.done)
	}
}
