package restart_test

import (
	"fmt"
	"time"

	"github.com/berth-dev/berth/internal/restart"
)

// What a shim does each time a container with --restart on-failure:3 exits with status 1
// after a short run: ask the policy, then wait the back-off before starting it again.
func Example() {
	p, err := restart.Parse("on-failure:3")
	if err != nil {
		fmt.Println(err)
		return
	}
	var b restart.Backoff
	for count := 0; ; count++ {
		if !p.ShouldRestart(1, false, count) {
			fmt.Println("stays exited after", count, "restarts")
			break
		}
		fmt.Println("restart in", b.Next(2*time.Second))
	}

	_, err = restart.Parse("always:2")
	fmt.Println(err)
	// Output:
	// restart in 100ms
	// restart in 200ms
	// restart in 400ms
	// stays exited after 3 restarts
	// invalid restart policy "always:2": maximum retry count can only be used with 'on-failure'
}
