// Command hello is the demo guest: a Go program built for GOOS=wasip1 GOARCH=wasm that
// shows what a Wasm container sees: its arguments, environment, working directory and
// its own root file system.
package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
)

func main() {
	fmt.Println("Hello from a Wasm container!")
	fmt.Println("args:", strings.Join(os.Args, " "))
	env := os.Environ()
	sort.Strings(env)
	fmt.Println("env:", strings.Join(env, " "))
	if wd, err := os.Getwd(); err == nil {
		fmt.Println("workdir:", wd)
	}
	if b, err := os.ReadFile("/etc/greeting"); err == nil {
		fmt.Print("/etc/greeting: ", string(b))
	}
	if err := os.WriteFile("/scratch", []byte("written inside the container\n"), 0o644); err != nil {
		fmt.Println("write /scratch:", err)
	} else {
		fmt.Println("wrote /scratch in the container's own root")
	}
}
