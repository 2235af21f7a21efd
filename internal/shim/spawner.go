package shim

import (
	"errors"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/berth-dev/berth/internal/cgroup"
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
	reqs chan spawnReq
	errs chan spawnResult

	mu     sync.Mutex // serialises start and close
	closed bool
	done   chan struct{}

	// noBirth is set when a thread got stuck in a container's cgroup: from then on
	// processes start where the shim is and are moved (cgroup.Add), so that a host
	// where threads cannot go back parks one thread, not one per container.
	noBirth atomic.Bool
}

type spawnReq struct {
	cmd *exec.Cmd
	cg  *cgroup.Cgroup
}

type spawnResult struct {
	born bool // the process started in the cgroup
	err  error
}

func (p *spawner) init() {
	p.once.Do(func() {
		p.reqs, p.errs, p.done = make(chan spawnReq), make(chan spawnResult), make(chan struct{})
		go p.loop()
	})
}

// loop serves start on one locked thread. A thread that could not leave a container's
// cgroup (cgroup.ErrStuck, never seen) forks nothing more: a new loop takes over, and
// the old one keeps its thread, parked, for the shim's life, since ending it would
// signal the processes it forked (see spawner) and unlocking it would give Go a thread
// in a container's cgroup.
func (p *spawner) loop() {
	runtime.LockOSThread()
	for {
		select {
		case r := <-p.reqs:
			cg := r.cg
			if p.noBirth.Load() {
				cg = nil
			}
			res, stuck := forkInto(r.cmd, cg)
			if stuck {
				p.noBirth.Store(true)
				go p.loop()
				p.errs <- res
				select {}
			}
			p.errs <- res
		case <-p.done:
			runtime.UnlockOSThread()
			return
		}
	}
}

// forkInto starts cmd on the calling (locked) thread so that it is born in cg (see
// cgroup.Birth); when the thread cannot enter cg, cmd starts where the shim is, and the
// caller places it afterwards (cgroup.Add).
func forkInto(cmd *exec.Cmd, cg *cgroup.Cgroup) (res spawnResult, stuck bool) {
	if cg == nil {
		return spawnResult{err: cmd.Start()}, false
	}
	b, err := cg.Start()
	if err != nil {
		// Not entered, or stuck half-way: start it here; the caller moves it (Add).
		return spawnResult{err: cmd.Start()}, errors.Is(err, cgroup.ErrStuck)
	}
	if fd, ok := b.CgroupFD(); ok {
		if cmd.SysProcAttr == nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{}
		}
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, fd
	}
	err = cmd.Start()
	stuck = b.End() != nil
	return spawnResult{born: err == nil, err: err}, stuck
}

// start runs cmd.Start on the spawner's thread, the process born in cg when it is not
// nil (born reports whether it was).
func (p *spawner) start(cmd *exec.Cmd, cg *cgroup.Cgroup) (born bool, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false, errSpawnerClosed
	}
	p.init()
	p.reqs <- spawnReq{cmd, cg}
	res := <-p.errs
	return res.born, res.err
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
