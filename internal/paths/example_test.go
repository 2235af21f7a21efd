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

// The state directory holds what a reboot may clear, one subdirectory per data root.
func ExampleDefaultState() {
	env := map[string]string{"HOME": "/home/ana"}
	getenv := func(k string) string { return env[k] }
	fmt.Println(paths.DefaultState(getenv, 0))
	fmt.Printf("%q\n", paths.DefaultState(getenv, 1000))
	fmt.Println(paths.StateFor(paths.DefaultState(getenv, 1000), paths.DefaultRoot(getenv, 1000)))
	env["XDG_RUNTIME_DIR"] = "/run/user/1000"
	fmt.Println(paths.DefaultState(getenv, 1000))
	fmt.Println(paths.StateFor("/run/berth", "/var/lib/berth"))
	env["BERTH_STATE"] = "/dev/shm/berth"
	fmt.Println(paths.DefaultState(getenv, 1000))
	// Output:
	// /run/berth
	// ""
	// /home/ana/.local/share/berth/state
	// /run/user/1000/berth
	// /run/berth/5a2cdf17d6f65dff
	// /dev/shm/berth
}
