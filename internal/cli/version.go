package cli

import "runtime/debug"

func engineVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if d.Path == "github.com/tetratelabs/wazero" {
				return "wazero " + d.Version
			}
		}
	}
	return "wazero (devel)"
}
