package guest_test

import (
	"fmt"
	"strings"

	"github.com/berth-dev/berth/internal/guest"
)

// The shim reads one status line from a starting container process: "ok", or what went
// wrong, which becomes the error of containerd's Create.
func ExampleReadStatus() {
	fmt.Println(guest.ReadStatus(strings.NewReader("ok\n")))
	fmt.Println(guest.ReadStatus(strings.NewReader("error: /app.wasm is not in the container's file system\n")))
	fmt.Println(guest.ReadStatus(strings.NewReader("")))
	// Output:
	// <nil>
	// /app.wasm is not in the container's file system
	// the container process ended before it was created: EOF
}
