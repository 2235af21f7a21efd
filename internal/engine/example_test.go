package engine_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/berth-dev/berth/internal/engine"
)

func ExampleEngine_Run() {
	ctx := context.Background()
	cacheDir, err := os.MkdirTemp("", "berth-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(cacheDir)

	eng, err := engine.New(ctx, cacheDir)
	if err != nil {
		log.Fatal(err)
	}
	defer eng.Close(ctx)

	wasm := helloModule("hello from berth\n")
	// Precompile when the image arrives; Run then loads the code from the cache.
	digest, err := eng.Precompile(ctx, wasm)
	if err != nil {
		log.Fatal(err)
	}
	code, err := eng.Run(ctx, engine.Spec{
		Module: wasm,
		Digest: digest,
		Args:   []string{"hello"},
		Stdout: os.Stdout,
		Stderr: os.Stderr,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("exit code", code)
	// Output:
	// hello from berth
	// exit code 0
}

// helloModule assembles a minimal WASI command that writes msg to stdout:
//
//	(module
//	  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
//	  (memory (export "memory") 1)
//	  (data (i32.const 0) "\08\00\00\00<len>\00\00\00" "<msg>")  ;; iovec{8, len(msg)}, then msg
//	  (func (export "_start") (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 1024)))))
func helloModule(msg string) []byte {
	uleb := func(v int) []byte {
		var b []byte
		for {
			c := byte(v & 0x7f)
			v >>= 7
			if v != 0 {
				b = append(b, c|0x80)
				continue
			}
			return append(b, c)
		}
	}
	str := func(s string) []byte { return append(uleb(len(s)), s...) }
	section := func(id byte, parts ...[]byte) []byte {
		var body []byte
		for _, p := range parts {
			body = append(body, p...)
		}
		return append(append([]byte{id}, uleb(len(body))...), body...)
	}
	const i32, funcType = 0x7f, 0x60
	data := append([]byte{8, 0, 0, 0, byte(len(msg)), 0, 0, 0}, msg...)
	code := []byte{
		0x00,       // no locals
		0x41, 0x01, // i32.const 1 (stdout)
		0x41, 0x00, // i32.const 0 (iovs)
		0x41, 0x01, // i32.const 1 (iovs_len)
		0x41, 0x80, 0x08, // i32.const 1024 (nwritten)
		0x10, 0x00, // call $fd_write
		0x1a, // drop
		0x0b, // end
	}
	var m []byte
	m = append(m, 0x00, 'a', 's', 'm', 0x01, 0x00, 0x00, 0x00)
	m = append(m, section(1, []byte{2, funcType, 4, i32, i32, i32, i32, 1, i32, funcType, 0, 0})...) // types
	m = append(m, section(2, []byte{1}, str("wasi_snapshot_preview1"), str("fd_write"), []byte{0x00, 0})...)
	m = append(m, section(3, []byte{1, 1})...)                                                              // one function of type 1
	m = append(m, section(5, []byte{1, 0x00, 1})...)                                                        // memory, 1 page
	m = append(m, section(7, []byte{2}, str("memory"), []byte{0x02, 0}, str("_start"), []byte{0x00, 1})...) // exports
	m = append(m, section(10, []byte{1}, uleb(len(code)), code)...)
	m = append(m, section(11, []byte{1, 0x00, 0x41, 0x00, 0x0b}, uleb(len(data)), data)...)
	return m
}
