package engine

import (
	"math"

	"github.com/tetratelabs/wazero/experimental"
	"golang.org/x/sys/unix"
)

// linearMemory is the MemoryAllocator of every Run: a guest's linear memory is one
// anonymous private mapping of the memory's maximum size (MAP_NORESERVE), never moved
// or copied, of which the guest sees the first size bytes.
//
// # Notes
//
//   - wazero's default grows a linear memory with append: a memory.grow past the
//     slice's capacity copies the whole memory into a new Go slice, and the old one
//     stays until the collector runs. A C guest holding 16 MiB showed 62 MB of RSS in
//     its berth-guest process, and under a Kubernetes limits.memory of 64Mi the
//     cgroup's OOM killer ended it after 16 MiB (e2e TestKubeWorkloads).
//   - A mapping of the maximum costs address space only: the kernel gives a page of
//     memory when the guest first touches it, so RSS is the guest's working set plus
//     berth's own. The maximum is the module's declared one, or the container's memory
//     limit (WithMemoryLimitPages), or 4 GiB (wasm32) for an unlimited guest; the
//     address space of a 64-bit process has room for that.
//   - Where the mapping cannot be made (a host with vm.overcommit_memory=2, which
//     ignores MAP_NORESERVE and refuses to commit 4 GiB; a 32-bit host), the memory
//     grows as wazero's default does (growingMemory).
//   - The Go collector does not scan or count the mapping. It is unmapped when wazero
//     closes the module (Free), or with the process.
var linearMemory experimental.MemoryAllocator = experimental.MemoryAllocatorFunc(allocateMemory)

func allocateMemory(capBytes, maxBytes uint64) experimental.LinearMemory {
	if maxBytes > 0 && maxBytes <= math.MaxInt {
		b, err := unix.Mmap(-1, 0, int(maxBytes), unix.PROT_READ|unix.PROT_WRITE,
			unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
		if err == nil {
			return &mappedMemory{mapping: b}
		}
	}
	return &growingMemory{buf: make([]byte, 0, min(capBytes, maxBytes))}
}

// mappedMemory is a linear memory in one mapping of its maximum size.
type mappedMemory struct {
	mapping []byte
}

// Reallocate returns the first size bytes of the mapping, nil beyond it (memory.grow
// then fails, as it does past the maximum).
func (m *mappedMemory) Reallocate(size uint64) []byte {
	if m.mapping == nil || size > uint64(len(m.mapping)) {
		return nil
	}
	return m.mapping[:size:size]
}

// Free unmaps the memory.
func (m *mappedMemory) Free() {
	if m.mapping != nil {
		_ = unix.Munmap(m.mapping)
		m.mapping = nil
	}
}

// growingMemory is wazero's default growth (append), for hosts where the mapping
// cannot be made.
type growingMemory struct {
	buf []byte
}

func (m *growingMemory) Reallocate(size uint64) []byte {
	if size > math.MaxInt {
		return nil
	}
	if n := int(size) - len(m.buf); n > 0 {
		m.buf = append(m.buf, make([]byte, n)...)
	} else {
		m.buf = m.buf[:size]
	}
	return m.buf
}

func (m *growingMemory) Free() { m.buf = nil }
