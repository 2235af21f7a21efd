// fs_guest does ordinary file work through Go's os package (GOOS=wasip1) and prints
// what it saw, for guest_test.go to assert. /data is a writable mount; /data/out is a
// symlink that leads outside it.
package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

func must(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func main() {
	must(os.WriteFile("/data/a.txt", []byte("alpha"), 0o644))
	must(os.MkdirAll("/data/x/y", 0o755))
	must(os.Rename("/data/a.txt", "/data/x/y/b.txt"))
	must(os.Symlink("y/b.txt", "/data/x/link"))
	b, err := os.ReadFile("/data/x/link")
	must(err)
	fmt.Println("read", string(b))
	target, err := os.Readlink("/data/x/link")
	must(err)
	fmt.Println("readlink", target)
	fi, err := os.Lstat("/data/x/link")
	must(err)
	fmt.Println("lstat symlink", fi.Mode()&fs.ModeSymlink != 0)
	entries, err := os.ReadDir("/data/x")
	must(err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	fmt.Println("readdir", strings.Join(names, ","))

	f, err := os.OpenFile("/data/x/y/b.txt", os.O_APPEND|os.O_WRONLY, 0)
	must(err)
	_, err = f.WriteString("+beta")
	must(err)
	must(f.Close())
	b, err = os.ReadFile("/data/x/y/b.txt")
	must(err)
	fmt.Println("appended", string(b))

	_, err = os.ReadFile("/data/out")
	fmt.Println("escape refused", errors.Is(err, fs.ErrPermission))

	must(os.Mkdir("/data/many", 0o755))
	for i := range 500 {
		must(os.WriteFile(fmt.Sprintf("/data/many/%03d", i), nil, 0o644))
	}
	entries, err = os.ReadDir("/data/many")
	must(err)
	fmt.Println("many", len(entries), entries[0].Name(), entries[len(entries)-1].Name())
	must(os.RemoveAll("/data/many"))
	must(os.RemoveAll("/data/x"))
	_, err = os.Stat("/data/x")
	fmt.Println("removed", errors.Is(err, fs.ErrNotExist))
}
