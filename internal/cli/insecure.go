package cli

import "github.com/spf13/pflag"

// InsecureEnv names the variable listing registries (comma-separated, each as
// --insecure-registry takes it) that may be reached over plain HTTP or unverified
// TLS, besides those of --insecure-registry.
const InsecureEnv = "BERTH_INSECURE_REGISTRIES"

// insecureFlag adds --insecure-registry to f: login, pull, push and run take it
// alike.
func insecureFlag(f *pflag.FlagSet, p *[]string) {
	f.StringArrayVar(p, "insecure-registry", nil, "allow plain HTTP and unverified TLS for this registry: HOST[:PORT], or an IP range (CIDR); repeatable; also $"+InsecureEnv+" (comma-separated)")
}
