package wasi

import (
	"context"
	"slices"
)

// ModuleName is the import module name of WASI preview1. The WasmEdge socket extension
// lives in it too.
const ModuleName = "wasi_snapshot_preview1"

// ValueType is a Wasm value type of a host function's parameter or result, encoded as in
// the binary format.
type ValueType byte

const (
	I32 ValueType = 0x7f
	I64 ValueType = 0x7e
)

// Func is one host function, described without reference to any Wasm engine: an engine
// adapter (berth's is in internal/engine) registers it under ModuleName.
//
// # Notes
//
//   - Calling convention: Call receives the parameters in stack[:len(Params)] (i32 in
//     the low 32 bits) and leaves its results in stack[:len(Results)]. This is wazero's
//     api.GoModuleFunc convention; it costs no allocation per call.
//   - mem is the guest's whole linear memory for the duration of the call (nil when the
//     module has none). A host function never calls back into the guest, so the guest
//     cannot grow (and move) its memory while mem is in use.
//   - Several Funcs may share a Name with different signatures (the two generations of
//     the WasmEdge socket ABI): the adapter picks the one whose signature matches the
//     module's import (see Lookup).
type Func struct {
	Name    string
	Params  []ValueType
	Results []ValueType
	Call    func(ctx context.Context, s *System, mem []byte, stack []uint64)
}

// Funcs lists every host function this package provides, in a fresh slice.
func Funcs() []Func {
	return slices.Concat(coreFuncs(), fsFuncs(), pollFuncs(), sockFuncs(), wasmedgeFuncs())
}

// Lookup finds the function an import of ModuleName names, by name and signature.
// found reports whether the name is known at all, so a caller can tell an unknown
// import from a known one imported with a signature we do not provide.
func Lookup(funcs []Func, name string, params, results []ValueType) (f Func, found, ok bool) {
	for _, c := range funcs {
		if c.Name != name {
			continue
		}
		found = true
		if slices.Equal(c.Params, params) && slices.Equal(c.Results, results) {
			return c, true, true
		}
	}
	return Func{}, found, false
}

// fn builds a Func returning one errno, the shape of nearly every WASI function.
func fn(name string, params []ValueType, call func(ctx context.Context, s *System, mem []byte, stack []uint64) Errno) Func {
	return Func{
		Name:    name,
		Params:  params,
		Results: []ValueType{I32},
		Call: func(ctx context.Context, s *System, mem []byte, stack []uint64) {
			stack[0] = uint64(call(ctx, s, mem, stack))
		},
	}
}

// i32s is n I32 parameters.
func i32s(n int) []ValueType {
	t := make([]ValueType, n)
	for i := range t {
		t[i] = I32
	}
	return t
}

// params builds a parameter list from a compact spec: 'i' for I32, 'I' for I64.
func params(spec string) []ValueType {
	t := make([]ValueType, len(spec))
	for i := range spec {
		if spec[i] == 'I' {
			t[i] = I64
		} else {
			t[i] = I32
		}
	}
	return t
}
