package wasi

import "encoding/binary"

// Guest memory access. Every pointer and length a guest passes is checked against the
// memory's size with 64-bit arithmetic, so no value a guest sends can make the host read
// or write outside its memory: out of bounds is ErrnoFault, never a host panic.

// slice returns mem[p:p+n], or false if that leaves mem.
func slice(mem []byte, p, n uint32) ([]byte, bool) {
	end := uint64(p) + uint64(n)
	if end > uint64(len(mem)) {
		return nil, false
	}
	return mem[p:end:end], true
}

func readU16(mem []byte, p uint32) (uint16, bool) {
	b, ok := slice(mem, p, 2)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint16(b), true
}

func readU32(mem []byte, p uint32) (uint32, bool) {
	b, ok := slice(mem, p, 4)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b), true
}

func readU64(mem []byte, p uint32) (uint64, bool) {
	b, ok := slice(mem, p, 8)
	if !ok {
		return 0, false
	}
	return binary.LittleEndian.Uint64(b), true
}

func writeU8(mem []byte, p uint32, v uint8) bool {
	if uint64(p) >= uint64(len(mem)) {
		return false
	}
	mem[p] = v
	return true
}

func writeU16(mem []byte, p uint32, v uint16) bool {
	b, ok := slice(mem, p, 2)
	if ok {
		binary.LittleEndian.PutUint16(b, v)
	}
	return ok
}

func writeU32(mem []byte, p uint32, v uint32) bool {
	b, ok := slice(mem, p, 4)
	if ok {
		binary.LittleEndian.PutUint32(b, v)
	}
	return ok
}

func writeU64(mem []byte, p uint32, v uint64) bool {
	b, ok := slice(mem, p, 8)
	if ok {
		binary.LittleEndian.PutUint64(b, v)
	}
	return ok
}

// maxIovs bounds the iovec count a guest may pass, as Linux's IOV_MAX does; more is
// ErrnoInval (wasmtime does the same) rather than a huge host allocation.
const maxIovs = 1024

// iovecs resolves a guest iovec array (pairs of u32 pointer and length) into slices of
// guest memory, appended to dst. The slices alias guest memory: reads and writes go
// straight into it with no copy.
func iovecs(dst [][]byte, mem []byte, iovs, n uint32) ([][]byte, Errno) {
	if n > maxIovs {
		return dst, ErrnoInval
	}
	arr, ok := slice(mem, iovs, n*8)
	if !ok {
		return dst, ErrnoFault
	}
	for i := uint32(0); i < n; i++ {
		p := binary.LittleEndian.Uint32(arr[i*8:])
		l := binary.LittleEndian.Uint32(arr[i*8+4:])
		b, ok := slice(mem, p, l)
		if !ok {
			return dst, ErrnoFault
		}
		dst = append(dst, b)
	}
	return dst, ErrnoSuccess
}
