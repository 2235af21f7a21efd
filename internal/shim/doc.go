// Package shim is containerd-shim-berth-v1, berth's containerd runtime v2 shim (runtime
// type io.containerd.berth.v1): the task API over ttrpc (v2, and v3 for containerd 2.x)
// through which containerd 1.6 to 2.x, Docker Engine and Kubernetes (CRI) run Wasm
// containers on berth's engine.
//
// A container is an OCI bundle, as for runc: config.json and a rootfs that containerd
// mounted from its snapshotter (the shim mounts what Create hands it). The module is
// process.args[0] inside the rootfs, read through os.Root (internal/runtime).
//
// # Notes
//
//   - One process per container: Create starts berth-guest (internal/guest) in the
//     bundle; that process joins the spec's network namespace (or makes a new one with
//     its loopback up when the spec lists one without a path, as runc does: Docker 29
//     then configures /proc/<task pid>/ns/net between Create and Start), is born in the
//     spec's cgroup (linux.cgroupsPath, with linux.resources applied; cgroup.Birth: no
//     migration afterwards), loads the compiled module from berth's cache and waits;
//     Start lets it run. wazero's compiled code cannot be
//     preempted, so a guest in the shim's own process would freeze the shim at the next
//     GC; in its own process, State, Kill and Stats answer at once and the kernel stops
//     it. Density comes from sharing compiled code on disk, not a process.
//   - Kill with any signal kills the process (SIGKILL): a Wasm module has no signal
//     handlers. The task's exit status is 128+the signal asked for (143 for docker stop).
//   - A CRI pod sandbox (annotation io.kubernetes.cri.container-type=sandbox) is held by
//     a berth-guest process that joins the pod's network namespace and waits to be
//     killed: no pause image is run or mounted. CRI makes the pod's containers join
//     /proc/<sandbox pid>/ns/net, so that process must live in the pod's namespace:
//     Create returns without waiting for it, and a container's Create waits until it
//     has joined (holdLater, awaitSandbox).
//   - Containers with the same io.kubernetes.cri.sandbox-id (or dev.berth.shim.group)
//     share one shim, as runc's shim groups a pod.
//   - Stdio json-file:///PATH?max-size=…&max-file=… (internal/logs.URI), as both stdout
//     and stderr, is berth's own: the shim reads the guest's output from pipes and writes
//     docker's json-file log with rotation, for `berth run -d`, where nobody reads FIFOs
//     once berth has exited. A scheme of its own, not a query on file://: containerd's
//     runc shim reads file:// as a raw file and ignores a query, so the same URI would
//     silently mean another format there; json-file:// fails loudly instead. FIFOs,
//     file:// and binary:// keep containerd's meaning.
//   - A restart policy is carried out only for a container whose spec carries the
//     annotation dev.berth.restart-policy (restart.Annotation), which berth writes for
//     `run -d --restart` and containerd, Docker and CRI never set: their own restart logic
//     stays in charge. Each run is a new berth-guest process in the same bundle, cgroup and
//     log, after docker's back-off (in the first run's network namespace, which the shim
//     holds when the first run made it); for the task API it is one task, running (pid 0 during
//     a back-off) until a run ends that is not restarted: only then do Wait, the exit
//     event and Delete see an exit. Any Kill ends the policy. The count and the back-off
//     go to restart.StateFile in the bundle, for berth's ps and inspect.
//   - Without containerd (no TTRPC_ADDRESS, which containerd always sets) the shim
//     discards its events rather than publish them to nobody; with BERTH_SHIM_SOCKET_DIR
//     (set by berth) its socket goes to that directory instead of /run/containerd/s.
//     See newService and docs/rationale.md.
//   - The shim uses containerd v1.7's runtime/v2/shim library, which containerd 1.6,
//     1.7 and 2.x all accept; containerd 2's pkg/shim is refused by containerd 1.6.
//     The task service is also registered as task API v3 (taskV3), and `start` answers
//     containerd 2.3+'s bootstrap protocol with version 3 (bootstrap.go): containerd 2.x
//     then gives a pod's containers the sandbox's connection instead of running `start`
//     for each. containerd 1.6 to 2.2 get the plain address (version 2), as before.
//     `-info`, which containerd 2 asks and the v1.7 library does not know, is answered
//     by Info before the library parses its flags.
package shim
