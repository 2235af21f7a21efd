package cgroup_test

import (
	"context"
	"fmt"
	"log"
	"os/exec"

	"github.com/berth-dev/berth/internal/cgroup"
	"github.com/containerd/typeurl/v2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// A shim's life cycle for one container: create the cgroup the spec names, start the
// guest's process, move it in, answer Stats, and remove the cgroup once the process has
// been waited for.
func Example() {
	ctx := context.Background()
	limit := int64(64 << 20)
	spec := &specs.Spec{Linux: &specs.Linux{
		CgroupsPath: "/berth-example/ctr1", // or "system.slice:berth:ctr1" (systemd form)
		Resources:   &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit, Swap: &limit}},
	}}

	cg, err := cgroup.New(ctx, spec.Linux.CgroupsPath, spec.Linux.Resources)
	if err != nil {
		log.Fatal(err)
	}
	// cg is nil when the spec names no cgroup; its methods are then no-ops.

	cmd := exec.Command("sleep", "1")
	if err := cmd.Start(); err != nil {
		log.Fatal(err)
	}
	if err := cg.Add(cmd.Process.Pid); err != nil {
		log.Fatal(err)
	}

	// The Stats answer: the Metrics message inside a typeurl Any.
	if m, err := cg.Metrics(); err == nil {
		stats, err := typeurl.MarshalAny(m)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(stats.GetTypeUrl()) // io.containerd.cgroups.v1.Metrics on v1
	}

	_ = cmd.Wait()
	if err := cg.Delete(); err != nil {
		log.Fatal(err)
	}
}

func ExampleMode() {
	fmt.Println("cgroup mode:", cgroup.Mode()) // "v1", "v2", "hybrid" or "none"
}
