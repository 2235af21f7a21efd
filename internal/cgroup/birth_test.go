package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// TestBirth: a process forked between Start and End is born in the cgroup on every
// hierarchy (no Add), the forking thread is back in its own cgroups after End, and the
// cgroup can then be deleted (no thread of this process is left in it).
func TestBirth(t *testing.T) {
	requireRoot(t)
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	c, err := New(t.Context(), name+"/pod/ctr", nil)
	if err != nil {
		t.Fatal(err)
	}
	home := procCgroup(t, os.Getpid())

	type result struct {
		cmd    *exec.Cmd
		thread map[string]string // the forking thread's cgroups after End
		err    error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		b, err := c.Start()
		if err != nil {
			done <- result{err: err}
			return
		}
		cmd := exec.Command("sleep", "60")
		if fd, ok := b.CgroupFD(); ok {
			cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
		}
		err = cmd.Start()
		if endErr := b.End(); err == nil {
			err = endErr
		}
		done <- result{cmd, threadCgroup(t, syscall.Gettid()), err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { _ = r.cmd.Process.Kill(); _ = r.cmd.Wait() })
	checkMember(t, c, r.cmd.Process.Pid)
	for k, v := range home {
		if r.thread[k] != v {
			t.Errorf("after End the forking thread's %q cgroup is %q, want its own %q", k, r.thread[k], v)
		}
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	if err := c.Delete(); err != nil {
		t.Fatalf("Delete after the process exited: %v (a thread left behind?)", err)
	}
}

// BenchmarkPlace compares placing a just-started process with Add (a migration) with
// forking it into the cgroup (Birth), after the idle moment a pod start follows.
func BenchmarkPlace(b *testing.B) {
	if os.Geteuid() != 0 || Mode() == "none" {
		b.Skip("needs root and a cgroup hierarchy")
	}
	for _, born := range []bool{false, true} {
		b.Run(fmt.Sprintf("born=%v", born), func(b *testing.B) {
			name := fmt.Sprintf("/berth-bench-%d", os.Getpid())
			c, err := New(b.Context(), name+"/ctr", nil)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Delete()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for b.Loop() {
				b.StopTimer()
				time.Sleep(100 * time.Millisecond) // idle, as between pod starts
				cmd := exec.Command("true")
				b.StartTimer()
				if born {
					bt, err := c.Start()
					if err != nil {
						b.Fatal(err)
					}
					if fd, ok := bt.CgroupFD(); ok {
						cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
					}
					if err := cmd.Start(); err != nil {
						b.Fatal(err)
					}
					if err := bt.End(); err != nil {
						b.Fatal(err)
					}
				} else {
					if err := cmd.Start(); err != nil {
						b.Fatal(err)
					}
					if err := c.Add(cmd.Process.Pid); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				cmd.Wait()
				b.StartTimer()
			}
		})
	}
}

// threadCgroup is procCgroup of one thread of this process.
func threadCgroup(t *testing.T, tid int) map[string]string {
	t.Helper()
	return cgroupFile(t, fmt.Sprintf("/proc/self/task/%d/cgroup", tid))
}

// TestBirthStuck: when the thread cannot go back (here its way home is made to point
// nowhere), End says so with ErrStuck; the test then takes the thread home itself.
func TestBirthStuck(t *testing.T) {
	requireRoot(t)
	if Mode() == "v2" {
		t.Skip("on cgroup v2 alone no thread moves: nothing can get stuck")
	}
	name := "/" + testName(t)
	removeTopAtCleanup(t, name)
	c, err := New(t.Context(), name+"/ctr", nil)
	if err != nil {
		t.Fatal(err)
	}
	homes := c.homes
	c.homes = make([]string, len(homes))
	for i := range homes {
		c.homes[i] = "/nonexistent-cgroup-dir"
	}
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread may have been left anywhere
		b, err := c.Start()
		if err == nil {
			err = b.End()
		}
		for i, p := range c.dirs {
			if !p.v2 {
				enterThread(homes[i])
			}
		}
		done <- err
	}()
	if err := <-done; !errors.Is(err, ErrStuck) {
		t.Fatalf("End with no way home: %v, want ErrStuck", err)
	}
	if err := c.Delete(); err != nil {
		t.Fatalf("Delete after the thread was taken home: %v", err)
	}
}
