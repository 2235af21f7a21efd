package wasi

import (
	"context"
	"encoding/binary"

	"testing"
)

// harness calls host functions directly, as an engine would, on a fake guest memory:
// errnos and memory contents can then be asserted exactly, with no guest in between.
type harness struct {
	t     testing.TB
	s     *System
	mem   []byte
	next  uint32 // bump allocator in mem
	funcs map[string]Func
}

const harnessScratch = 1024 // mem[0:1024] is left for results

func newHarness(t testing.TB, cfg Config) *harness {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := &harness{t: t, s: s, mem: make([]byte, 1<<20), next: harnessScratch, funcs: map[string]Func{}}
	for _, f := range Funcs() {
		h.funcs[f.Name] = f
	}
	return h
}

// call runs the named function with args and returns its errno.
func (h *harness) call(name string, args ...uint64) Errno {
	h.t.Helper()
	f, ok := h.funcs[name]
	if !ok {
		h.t.Fatalf("no host function %s", name)
	}
	if len(args) != len(f.Params) {
		h.t.Fatalf("%s: %d arguments, want %d", name, len(args), len(f.Params))
	}
	stack := make([]uint64, max(len(args), 1))
	copy(stack, args)
	f.Call(context.Background(), h.s, h.mem, stack)
	return Errno(stack[0])
}

// put copies b into guest memory and returns its address.
func (h *harness) put(b []byte) uint64 {
	p := h.next
	if int(p)+len(b) > len(h.mem) {
		h.next = harnessScratch
		p = h.next
	}
	copy(h.mem[p:], b)
	h.next += uint32(len(b)+7) &^ 7
	return uint64(p)
}

// str puts s in memory and returns pointer and length, as path arguments want them.
func (h *harness) str(s string) (uint64, uint64) { return h.put([]byte(s)), uint64(len(s)) }

func (h *harness) u32(p uint64) uint32 { return binary.LittleEndian.Uint32(h.mem[p:]) }
func (h *harness) u64(p uint64) uint64 { return binary.LittleEndian.Uint64(h.mem[p:]) }

// open is path_open with the rights wasi-libc asks for: read (and write when write
// is set) and everything not contradicting them. It returns the fd and the errno.
func (h *harness) open(dirfd uint32, lookup uint32, path string, oflags uint32, write bool, fdflags uint16) (uint32, Errno) {
	h.t.Helper()
	base := ^(readingRights | writingRights) | readingRights
	if write {
		base |= writingRights
	}
	p, n := h.str(path)
	const out = 8
	errno := h.call("path_open", uint64(dirfd), uint64(lookup), p, n, uint64(oflags), base, ^uint64(0), uint64(fdflags), out)
	return h.u32(out), errno
}

func (h *harness) mustOpen(dirfd uint32, path string, oflags uint32, write bool) uint32 {
	h.t.Helper()
	fd, errno := h.open(dirfd, lookupSymlinkFollow, path, oflags, write, 0)
	if errno != ErrnoSuccess {
		h.t.Fatalf("path_open(%q) = %v", path, errno)
	}
	return fd
}

// iov puts an iovec array pointing at bufs and returns its address and count.
func (h *harness) iov(bufs ...[]byte) (uint64, uint64) {
	arr := make([]byte, 8*len(bufs))
	for i, b := range bufs {
		p := h.put(b)
		binary.LittleEndian.PutUint32(arr[i*8:], uint32(p))
		binary.LittleEndian.PutUint32(arr[i*8+4:], uint32(len(b)))
	}
	return h.put(arr), uint64(len(bufs))
}

// pread reads n bytes at off from fd.
func (h *harness) pread(fd uint32, off uint64, n int) (string, Errno) {
	h.t.Helper()
	buf := make([]byte, n)
	iovs, cnt := h.iov(buf)
	bp := uint64(h.u32(iovs))
	const out = 16
	errno := h.call("fd_pread", uint64(fd), iovs, cnt, off, out)
	if errno != ErrnoSuccess {
		return "", errno
	}
	return string(h.mem[bp : bp+uint64(h.u32(out))]), errno
}

func (h *harness) close(fd uint32) {
	h.t.Helper()
	if errno := h.call("fd_close", uint64(fd)); errno != ErrnoSuccess {
		h.t.Fatalf("fd_close(%d) = %v", fd, errno)
	}
}
