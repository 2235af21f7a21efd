package engine

import (
	"errors"
	"fmt"
)

// This file holds scanModule, a single pass over a Wasm binary that runs before wazero
// sees it. It has two jobs:
//
//   - Guard wazero's decoder. wazero v1.12.0 sizes slices and maps from the counts and
//     lengths a module declares before reading the elements, so an 18-byte module that
//     declares 3 billion parameters makes the process die with "fatal error: runtime: out
//     of memory" (not a recoverable panic). scanModule follows the decoder's reads and
//     refuses any vector count or length larger than the bytes left in its section (every
//     element takes at least one byte), and more than maxLocals locals in a function.
//   - Explain failures in berth's terms (which import is missing, how much memory the
//     module needs) without a second decode.
//
// It validates only what it needs; everything else is left to wazero. Where it refuses,
// wazero would refuse too (after the damage), except for maxLocals.

// maxLocals caps the locals of one function, as wasmtime and V8 do (50000); wazero
// allows 2^32 and allocates them up front.
const maxLocals = 50000

// Wasm external kinds, as encoded in an import's descriptor.
const (
	externFunc   byte = 0x00
	externTable  byte = 0x01
	externMemory byte = 0x02
	externGlobal byte = 0x03
	externTag    byte = 0x04
)

// Value type prefixes of (ref null ht) and (ref ht), followed by a heap type (s33).
const (
	refNullable    byte = 0x63
	refNonNullable byte = 0x64
)

// wasmImport is one entry of a module's import section.
type wasmImport struct {
	Module, Name string
	Kind         byte
}

// moduleInfo is what scanModule learns from a module.
type moduleInfo struct {
	Imports []wasmImport // only when asked for
	// HasMemory reports whether the module imports or defines a memory; MemoryMin is the
	// initial size of the first one, in 64 KiB pages.
	HasMemory bool
	MemoryMin uint64
	// HasDWARF reports a .debug_info custom section: DWARF wazero reads when asked to.
	HasDWARF bool
}

// boundError is a refusal for size: a declared count or length larger than the bytes
// left, or too many locals. Other errors are malformations wazero refuses as well.
type boundError struct{ msg string }

func (e *boundError) Error() string { return e.msg }

func boundErrorf(format string, args ...any) error {
	return &boundError{msg: fmt.Sprintf(format, args...)}
}

var errTruncated error = &boundError{msg: "unexpected end"}

type wasmReader struct {
	b   []byte
	off int
}

func (r *wasmReader) left() int { return len(r.b) - r.off }

func (r *wasmReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errTruncated
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

// leb reads an LEB128 number of at most maxBytes bytes and returns its low 64 bits
// (unsigned). Like wazero it stops at the first byte without the continuation bit; it
// leaves overflow checks to wazero.
func (r *wasmReader) leb(maxBytes int) (uint64, error) {
	var v uint64
	for i := 0; i < maxBytes; i++ {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		if i < 10 {
			v |= uint64(c&0x7f) << (7 * i)
		}
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("LEB128 number longer than %d bytes", maxBytes)
}

func (r *wasmReader) u32() (uint64, error) { return r.leb(5) }

// count reads a vector length or byte length (what names it, such as "import count")
// and checks that many elements can fit in what is left.
func (r *wasmReader) count(what string) (uint64, error) {
	n, err := r.u32()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	if n > uint64(r.left()) {
		return 0, boundErrorf("%s %d is larger than the %d bytes left", what, n, r.left())
	}
	return n, nil
}

func (r *wasmReader) skip(n uint64) error {
	if n > uint64(r.left()) {
		return errTruncated
	}
	r.off += int(n)
	return nil
}

func (r *wasmReader) bytes(n uint64) ([]byte, error) {
	start := r.off
	if err := r.skip(n); err != nil {
		return nil, err
	}
	return r.b[start:r.off], nil
}

// name reads a length-prefixed name; what names the length, such as "export name length".
func (r *wasmReader) name(what string) ([]byte, error) {
	n, err := r.count(what)
	if err != nil {
		return nil, err
	}
	return r.bytes(n)
}

// valType reads a value type: one byte, or a ref prefix and a heap type.
func (r *wasmReader) valType() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	if c == refNullable || c == refNonNullable {
		_, err = r.leb(5) // s33
	}
	return err
}

// limits reads a limits type and returns its minimum.
func (r *wasmReader) limits() (uint64, error) {
	flags, err := r.byte()
	if err != nil {
		return 0, err
	}
	if flags > 0x07 {
		return 0, fmt.Errorf("invalid limits flags 0x%02x", flags)
	}
	n := 5
	if flags&0x04 != 0 { // memory64 (wazero refuses it; read it anyway)
		n = 10
	}
	min, err := r.leb(n)
	if err != nil {
		return 0, err
	}
	if flags&0x01 != 0 {
		_, err = r.leb(n)
	}
	return min, err
}

// table reads a table type, with the optional 0x40 0x00 prefix and initialiser.
func (r *wasmReader) table() error {
	c, err := r.byte()
	if err != nil {
		return err
	}
	hasInit := c == 0x40
	if hasInit {
		if err := r.skip(1); err != nil { // reserved 0x00
			return err
		}
		if c, err = r.byte(); err != nil {
			return err
		}
	}
	if c == refNullable || c == refNonNullable {
		if _, err := r.leb(5); err != nil {
			return err
		}
	}
	if _, err := r.limits(); err != nil {
		return err
	}
	if hasInit {
		return r.constExpr()
	}
	return nil
}

// constExpr reads a constant expression up to its end opcode.
func (r *wasmReader) constExpr() error {
	for {
		op, err := r.byte()
		if err != nil {
			return err
		}
		switch op {
		case 0x0b: // end
			return nil
		case 0x41: // i32.const
			_, err = r.leb(5)
		case 0x42: // i64.const
			_, err = r.leb(10)
		case 0x43: // f32.const
			err = r.skip(4)
		case 0x44: // f64.const
			err = r.skip(8)
		case 0x23, 0xd2: // global.get, ref.func
			_, err = r.u32()
		case 0xd0: // ref.null heaptype
			_, err = r.leb(5)
		case 0xfd: // v128.const
			err = r.skip(17)
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended-const arithmetic
		default:
			return fmt.Errorf("opcode 0x%02x in a constant expression", op)
		}
		if err != nil {
			return err
		}
	}
}

var sectionNames = [...]string{"custom", "type", "import", "function", "table", "memory", "global",
	"export", "start", "element", "code", "data", "data count", "tag"}

// scanModule guards wazero's decoder against oversized declarations and reads the first
// memory's initial size and, when withImports is set, the imports.
func scanModule(b []byte, withImports bool) (moduleInfo, error) {
	var info moduleInfo
	if len(b) >= 4 && string(b[:4]) == "\x7fELF" {
		// What a Linux image's entrypoint is: say so, since the usual cause is an image
		// (or the entry of a multi-platform index) for linux rather than wasi/wasm.
		return info, errors.New("invalid magic number: this is a native ELF executable, not WebAssembly (an image for linux instead of wasi/wasm?)")
	}
	if len(b) < 4 || string(b[:4]) != "\x00asm" {
		return info, errors.New("invalid magic number")
	}
	if len(b) < 8 || string(b[4:8]) != "\x01\x00\x00\x00" {
		return info, errors.New("invalid version header")
	}
	r := &wasmReader{b: b, off: 8}
	for r.left() > 0 {
		id, _ := r.byte()
		size, err := r.u32()
		if err != nil {
			return info, fmt.Errorf("section size: %w", err)
		}
		if int(id) >= len(sectionNames) {
			return info, fmt.Errorf("invalid section id %d", id)
		}
		body, err := r.bytes(size)
		if err != nil {
			return info, boundErrorf("section %s: size %d is larger than the %d bytes left", sectionNames[id], size, r.left())
		}
		s := wasmReader{b: body}
		if err := scanSection(id, &s, r.left() == 0, withImports, &info); err != nil {
			return info, fmt.Errorf("section %s: %w", sectionNames[id], err)
		}
	}
	return info, nil
}

// scanSection checks one section. last says whether it ends the module.
func scanSection(id byte, s *wasmReader, last, withImports bool, info *moduleInfo) error {
	switch id {
	case 0:
		name, err := s.name("custom section name length")
		if err != nil {
			return err
		}
		if string(name) == "name" {
			return scanNames(s, last)
		}
		if string(name) == ".debug_info" {
			info.HasDWARF = true
		}
		return nil // wazero copies the rest, whose size is known to fit
	case 1:
		return scanTypes(s)
	case 2:
		return scanImports(s, withImports, info)
	case 5:
		n, err := s.count("memory count")
		if err != nil {
			return err
		}
		if n > 0 && !info.HasMemory {
			min, err := s.limits()
			if err != nil {
				return err
			}
			info.HasMemory, info.MemoryMin = true, min
		}
		return nil
	case 3, 4, 6, 13: // function, table, global, tag: only the vector itself is sized up front
		_, err := s.count("entry count")
		return err
	case 7:
		return scanExports(s)
	case 9:
		return scanElements(s)
	case 10:
		return scanCode(s)
	case 11:
		return scanData(s)
	}
	return nil // start, data count: fixed-size contents
}

func scanTypes(s *wasmReader) error {
	n, err := s.count("type count")
	if err != nil {
		return err
	}
	for range n {
		if s.left() > 0 && s.b[s.off] == 0x4e { // recursive type group
			s.off++
			m, err := s.count("recursive group size")
			if err != nil {
				return err
			}
			for range m {
				if err := s.funcType(); err != nil {
					return err
				}
			}
			continue
		}
		if err := s.funcType(); err != nil {
			return err
		}
	}
	return nil
}

// funcType reads 0x60, the parameter types and the result types.
func (r *wasmReader) funcType() error {
	if c, err := r.byte(); err != nil || c != 0x60 {
		return fmt.Errorf("function type: want 0x60, got 0x%02x (%v)", c, err)
	}
	if err := r.valTypes("parameter count"); err != nil {
		return err
	}
	return r.valTypes("result count")
}

func (r *wasmReader) valTypes(what string) error {
	n, err := r.count(what)
	if err != nil {
		return err
	}
	for range n {
		if err := r.valType(); err != nil {
			return err
		}
	}
	return nil
}

func scanImports(s *wasmReader, withImports bool, info *moduleInfo) error {
	n, err := s.count("import count")
	if err != nil {
		return err
	}
	for range n {
		mod, err := s.name("import module name length")
		if err != nil {
			return err
		}
		name, err := s.name("import name length")
		if err != nil {
			return err
		}
		kind, err := s.byte()
		if err != nil {
			return err
		}
		switch kind {
		case externFunc:
			_, err = s.u32()
		case externTable:
			err = s.table()
		case externMemory:
			var min uint64
			if min, err = s.limits(); err == nil && !info.HasMemory {
				info.HasMemory, info.MemoryMin = true, min
			}
		case externGlobal:
			if err = s.valType(); err == nil {
				err = s.skip(1) // mutability
			}
		case externTag:
			if err = s.skip(1); err == nil { // attribute
				_, err = s.u32()
			}
		default:
			return fmt.Errorf("import %s.%s has unknown kind 0x%02x", mod, name, kind)
		}
		if err != nil {
			return fmt.Errorf("import %s.%s: %w", mod, name, err)
		}
		if withImports {
			info.Imports = append(info.Imports, wasmImport{Module: string(mod), Name: string(name), Kind: kind})
		}
	}
	return nil
}

func scanExports(s *wasmReader) error {
	n, err := s.count("export count")
	if err != nil {
		return err
	}
	for range n {
		if _, err := s.name("export name length"); err != nil {
			return err
		}
		if err := s.skip(1); err != nil { // kind
			return err
		}
		if _, err := s.u32(); err != nil {
			return err
		}
	}
	return nil
}

func scanElements(s *wasmReader) error {
	n, err := s.count("element segment count")
	if err != nil {
		return err
	}
	for range n {
		flags, err := s.u32()
		if err != nil {
			return err
		}
		if flags > 7 {
			return fmt.Errorf("invalid element segment flags %d", flags)
		}
		if flags == 2 || flags == 6 { // explicit table index
			if _, err := s.u32(); err != nil {
				return err
			}
		}
		if flags&1 == 0 { // active: offset expression
			if err := s.constExpr(); err != nil {
				return err
			}
		}
		switch flags {
		case 1, 2, 3:
			err = s.skip(1) // element kind
		case 5, 6, 7:
			err = s.valType() // reference type
		}
		if err != nil {
			return err
		}
		m, err := s.count("element count")
		if err != nil {
			return err
		}
		for range m {
			if flags < 4 {
				_, err = s.u32() // function index
			} else {
				err = s.constExpr()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

func scanCode(s *wasmReader) error {
	n, err := s.count("function body count")
	if err != nil {
		return err
	}
	for i := range n {
		size, err := s.u32()
		if err != nil {
			return err
		}
		body, err := s.bytes(size)
		if err != nil {
			return boundErrorf("function body %d: size %d is larger than the %d bytes left", i, size, s.left())
		}
		f := wasmReader{b: body}
		m, err := f.count("local declaration count")
		if err != nil {
			return fmt.Errorf("function body %d: %w", i, err)
		}
		var locals uint64
		for range m {
			k, err := f.u32()
			if err != nil {
				return fmt.Errorf("function body %d: %w", i, err)
			}
			if locals += k; locals > maxLocals {
				return boundErrorf("function body %d declares more than %d locals", i, maxLocals)
			}
			if err := f.valType(); err != nil {
				return fmt.Errorf("function body %d: %w", i, err)
			}
		}
	}
	return nil
}

func scanData(s *wasmReader) error {
	n, err := s.count("data segment count")
	if err != nil {
		return err
	}
	for range n {
		flags, err := s.u32()
		if err != nil {
			return err
		}
		switch flags {
		case 0:
			err = s.constExpr()
		case 1:
		case 2:
			if _, err = s.u32(); err == nil { // memory index
				err = s.constExpr()
			}
		default:
			return fmt.Errorf("invalid data segment flags %d", flags)
		}
		if err != nil {
			return err
		}
		size, err := s.count("data segment length")
		if err != nil {
			return err
		}
		if err := s.skip(size); err != nil {
			return err
		}
	}
	return nil
}

// scanNames follows wazero's reading of the "name" section, which reads the module,
// function and local name subsections from where it stands, whatever their declared
// sizes, and stops when those sizes add up to the section's, or at the end of the module.
func scanNames(s *wasmReader, last bool) error {
	limit := uint64(s.left())
	for limit > 0 {
		if s.left() == 0 {
			if last {
				return nil // wazero stops at the end of the module
			}
			return errTruncated
		}
		id, _ := s.byte()
		limit--
		start := s.off
		size, err := s.u32()
		if err != nil {
			return err
		}
		limit -= uint64(s.off - start)
		switch id {
		case 0:
			_, err = s.name("module name length")
		case 1:
			err = scanNameMap(s)
		case 2:
			var m uint64
			if m, err = s.count("function count"); err != nil {
				return err
			}
			for range m {
				if _, err := s.u32(); err != nil {
					return err
				}
				if err := scanNameMap(s); err != nil {
					return err
				}
			}
		default:
			err = s.skip(uint64(size))
		}
		if err != nil {
			return err
		}
		limit -= size
	}
	return nil
}

// scanNameMap reads a vector of (index, name).
func scanNameMap(s *wasmReader) error {
	n, err := s.count("name count")
	if err != nil {
		return err
	}
	for range n {
		if _, err := s.u32(); err != nil {
			return err
		}
		if _, err := s.name("name length"); err != nil {
			return err
		}
	}
	return nil
}
