package bundle_test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/berth-dev/berth/internal/bundle"
)

// memLayer is a layer held in memory; in berth the layers come from go-containerregistry.
type memLayer []byte

func (l memLayer) Uncompressed() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(l)), nil }

// layer makes a tar layer from name, body pairs; a body starting with "->" makes a symlink.
func layer(pairs ...string) memLayer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(pairs); i += 2 {
		name, body := pairs[i], pairs[i+1]
		if target, ok := strings.CutPrefix(body, "->"); ok {
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target})
			continue
		}
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))})
		io.WriteString(tw, body)
	}
	tw.Close()
	return buf.Bytes()
}

func ExampleUnpack() {
	base, err := os.MkdirTemp("", "berth-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(base)

	layers := []bundle.Layer{
		layer("app.wasm", "\x00asm", "etc/motd", "hello\n"),
		layer("etc/motd", "hello again\n"),
	}
	rootfs := filepath.Join(base, "rootfs")
	if err := bundle.Unpack(context.Background(), rootfs, layers, bundle.Options{}); err != nil {
		log.Fatal(err)
	}
	motd, _ := os.ReadFile(filepath.Join(rootfs, "etc/motd"))
	fmt.Printf("%s", motd)

	// Each container gets its own writable copy.
	ctr := filepath.Join(base, "ctr1")
	if err := bundle.CopyTree(context.Background(), ctr, rootfs); err != nil {
		log.Fatal(err)
	}
	os.WriteFile(filepath.Join(ctr, "etc/motd"), []byte("changed\n"), 0o644)
	motd, _ = os.ReadFile(filepath.Join(rootfs, "etc/motd"))
	fmt.Printf("%s", motd)

	// A hostile layer is refused, and nothing is left behind.
	evil := layer("escape", "->../../../etc/shadow")
	err = bundle.Unpack(context.Background(), filepath.Join(base, "evil"), []bundle.Layer{evil}, bundle.Options{})
	fmt.Println(err)
	_, statErr := os.Stat(filepath.Join(base, "evil"))
	fmt.Println(os.IsNotExist(statErr))
	// Output:
	// hello again
	// hello again
	// layer 0: entry "escape": symlink to "../../../etc/shadow": path escapes the image root (refused)
	// true
}
