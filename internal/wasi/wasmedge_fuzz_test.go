package wasi

import (
	"context"
	"net/netip"
	"testing"
)

// loopbackOnly keeps a fuzzed guest on loopback: no name lookup leaves the host and
// no address outside 127.0.0.0/8 and ::1 is bound, connected or sent to.
var loopbackOnly = SocketPolicyFunc(func(_ context.Context, req SocketRequest) (netip.AddrPort, Errno) {
	switch req.Op {
	case SockResolve:
		if req.Host != "" && !req.Addr.IsValid() {
			return req.Addr, ErrnoAiAgain
		}
	case SockBind, SockConnect, SockSendTo:
		if !req.Addr.Addr().Unmap().IsLoopback() {
			return req.Addr, ErrnoNetunreach
		}
	}
	return req.Addr, ErrnoSuccess
})

// fuzzArg turns one input byte into a parameter: a small number (fds, flags,
// lengths), a pointer into the 4 KiB memory, a pointer at its very end or a huge value.
func fuzzArg(b byte) uint64 {
	switch b % 4 {
	case 0:
		return uint64(b / 4)
	case 1:
		return uint64(b/4) * 64
	case 2:
		return 4096 - uint64(b/4)
	}
	return uint64(b) << 24
}

// FuzzWasmEdge calls the WasmEdge functions in sequences the input chooses, with
// arguments it chooses, on a memory that starts as the input: no call may panic, and
// each returns an errno that exists.
func FuzzWasmEdge(f *testing.F) {
	f.Add([]byte{0, 4, 8, 65, 0, 0, 0, 0, 0, 1, 12, 65, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{14, 0, 5, 0, 9, 65, 129, 133, 137, 2, 12, 65, 0})
	f.Add([]byte{7, 12, 65, 129, 0, 8, 0, 0, 0, 10, 12, 65, 129, 133})
	funcs := wasmedgeFuncs()
	f.Fuzz(func(t *testing.T, data []byte) {
		ctx := context.Background()
		s, err := New(ctx, NewConfig().WithSocketPolicy(loopbackOnly))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		mem := make([]byte, 4096)
		copy(mem, data)
		var stack [8]uint64
		for i := 0; i < len(data) && i < 32*9; i += 9 {
			fn := funcs[int(data[i])%len(funcs)]
			for k := range fn.Params {
				if i+1+k < len(data) {
					stack[k] = fuzzArg(data[i+1+k])
				} else {
					stack[k] = 0
				}
			}
			// No call may wait: every socket is nonblocking for the guest.
			for _, e := range s.fds.e {
				if e != nil {
					e.flags |= FdflagNonblock
				}
			}
			fn.Call(ctx, s, mem, stack[:])
			if errno := Errno(stack[0]); errno > ErrnoAiSystem {
				t.Fatalf("%s returned errno %d", fn.Name, errno)
			}
		}
	})
}
