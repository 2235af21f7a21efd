package paths_test

import (
	"fmt"

	"github.com/berth-dev/berth/internal/paths"
)

// The CLI and the shim agree on the data root: BERTH_ROOT first, then the defaults.
func ExampleDefaultRoot() {
	env := map[string]string{"HOME": "/home/ana"}
	fmt.Println(paths.DefaultRoot(func(k string) string { return env[k] }, 0))
	fmt.Println(paths.DefaultRoot(func(k string) string { return env[k] }, 1000))
	env["BERTH_ROOT"] = "/srv/berth"
	fmt.Println(paths.CompileCache(paths.DefaultRoot(func(k string) string { return env[k] }, 1000)))
	// Output:
	// /var/lib/berth
	// /home/ana/.local/share/berth
	// /srv/berth/cache/compiled
}
