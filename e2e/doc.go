// Package e2e holds berth's end-to-end tests: the containerd shim
// containerd-shim-berth-v1 (runtime type io.containerd.berth.v1) driven by the real
// front doors: ctr on containerd 1.6 and 2.4, Docker Engine 29, and crictl on the CRI
// plugin.
//
// The package has no code of its own; everything is in its _test.go files. The tests
// run only with BERTH_E2E=1 (`make e2e`), as root, and are skipped otherwise, so
// `go test ./...` stays fast.
//
// # What the tests need
//
//   - root, util-linux (unshare, nsenter), iproute2, Debian's containerd 1.6 and runc,
//     containernetworking-plugins in /usr/lib/cni, clang with wasi-libc, gcc (static
//     native baselines), the docker CLI;
//   - containerd 2.4.2 (containerd, ctr, containerd-shim-runc-v2), dockerd (moby v2) and
//     crictl, in the directories named by BERTH_E2E_CONTAINERD2_BIN,
//     BERTH_E2E_DOCKERD_BIN and BERTH_E2E_CRICTL_BIN (defaults: the cache directories
//     .ci/run installs them into, $HOME/.cache/berth-ci/bin/<name>-<version>);
//   - for the Kubernetes tests: kube-apiserver, kube-controller-manager, kube-scheduler,
//     kubelet and kubectl v1.37.2 in BERTH_E2E_K8S_BIN and etcd v3.6.16 in
//     BERTH_E2E_ETCD_BIN (defaults: $HOME/.cache/berth-ci/bin/k8s-v1.37.2 and
//     …/etcd-v3.6.16, which .ci/run builds from the wrapper modules in .ci/k8s and
//     .ci/etcd: `go install` refuses k8s.io/kubernetes, whose go.mod has replace
//     directives); TestKubeWorkloads also needs kube-proxy v1.37.2 in
//     BERTH_E2E_KUBE_PROXY_BIN (default …/kube-proxy-v1.37.2, from .ci/k8s too) and
//     iptables;
//   - for the Docker networking test: docker-proxy (moby v2, dockerd's version) in
//     BERTH_E2E_DOCKER_PROXY_BIN (default …/docker-proxy-v2.0.0-beta.24), iptables and
//     curl;
//   - for the registry interop tests: Debian's docker-registry and skopeo, crane v0.22.1
//     and oras v1.3.6 in the directories named by BERTH_E2E_CRANE_BIN and
//     BERTH_E2E_ORAS_BIN (same defaults).
//
// A missing component skips the tests that need it, with a message that names it,
// unless BERTH_E2E_REQUIRE=1 (set by CI), in which case they fail (BERTH_E2E_K8S=1 does
// the same for the Kubernetes binaries alone).
//
// # Isolation
//
// Every daemon runs inside a private mount and network namespace that the test creates
// (a holder process made by `unshare --mount --net --propagation private`), with a
// tmpfs over /run and a temporary directory over /var/lib inside it. So shim sockets
// (/run/containerd/s), FIFOs, network namespaces, CNI state and the daemons' listeners
// never touch the host; every other path lives under the test's temporary directory.
// Cleanup stops the daemons by PID, then any process still left in the namespace
// (a leaked shim, reported as a failure by the tests that check for leaks), then the
// holder, which drops every mount.
//
// # Tests
//
//   - TestHarness: the machinery itself, with runc and native images only (no shim), so
//     that a failure of the other tests points at the shim.
//   - TestContainerd, TestDocker, TestCRI, TestRunLoop: the shim. They skip while
//     cmd/containerd-shim-berth-v1 does not exist; berth-guest (cmd/berth-guest) is
//     built next to the shim when it exists.
//   - TestDockerNetwork (dockernet_test.go): a second Docker Engine 29 with its real
//     networking (the default bridge docker0, iptables rules and the userland proxy
//     docker-proxy), all inside the environment's namespaces, after a preflight that
//     makes a bridge, a veth pair and a nat rule there (and skips with the command's
//     error when the kernel cannot). `docker run -d -p` of examples/http-server, as a
//     Wasm image under berth and compiled natively under runc, answers curl on the
//     namespace's 127.0.0.1 and at the container's bridge address; the container's
//     process is in Docker's sandbox namespace; docker port, stop and rm; no shim left;
//     and the host's own iptables and links show nothing of Docker's.
//   - TestKube (kube*_test.go): a real single-node Kubernetes v1.37.2 started by the
//     test (newKube: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
//     containerd 2.4 with CRI, runtime handler berth and CNI, the kubelet), in the
//     environment's namespaces, schedulable 6–10 s after the first daemon starts on
//     2 vCPU (≤ 10 s is checked); a RuntimeClass berth and Wasm pods on it (run to
//     completion, a failing exit code, a running pod's logs, its cgroup and network
//     namespace, a prompt delete, the archive as `berth save` writes it, a runc
//     baseline, no shim left), then a teardown that must leave no process, mount,
//     cgroup or namespace (TestKubeTeardown checks that it notices leftovers). Besides
//     the environment's mounts, the cluster's namespace has /var/log bound to a
//     temporary directory, a veth pair (10.99.0.1, the node, and 10.99.0.2) and a file
//     bound over each host-wide sysctl the kubelet would otherwise set on the host
//     (vm.overcommit_memory, kernel.panic, …); the kubelet's cgroup root is
//     /berth-e2e-k8s-PID (PID: the namespace holder's), removed by the teardown.
//   - TestKubeInstall (kubeinstall_test.go): the same cluster with a containerd that
//     starts without berth (containerdOpts.node: its config at /etc/containerd/config.toml
//     and /usr/local/bin on its PATH, both directories of the test bind-mounted inside
//     the namespace). berth is installed by hand (`berth shim install`, a restart, a Wasm
//     pod; runc and Wasm pods survive containerd restarts; `berth shim uninstall` gives
//     the config back byte for byte) and by the node-installer DaemonSet whose manifests
//     the test reads from docs/kubernetes.md, with an installer image it writes from the
//     static binaries; the installer's --restart-containerd=signal SIGTERMs containerd
//     and the test starts it again 5 s later, as systemd's Restart=always would.
//   - TestKubePull, TestKubePullTransferService (kubepull_test.go): the kubelet pulls
//     Wasm images (imagePullPolicy: Always) from Debian's docker-registry started inside
//     the cluster's network namespace on 127.0.0.1:5000 (plain HTTP through a hosts.toml
//     under containerd's config_path), pushed there with `berth push`: with
//     use_local_image_pull = true (what `berth shim install` writes) the plain wasi/wasm
//     image runs and the Go guest's first pod (which compiles it) is timed against the
//     next ones, and from a `berth push --index-with` index a runc pod runs the Linux image
//     while a berth pod gets it too and fails with a message that says so; without the
//     setting (containerd's transfer service), the plain image fails with "parent
//     snapshot … does not exist", as docs/kubernetes.md says.
//   - TestRegistryInterop (registry_test.go): images move both ways between berth and
//     crane, skopeo and oras through two loopback registries (one open, one with htpasswd
//     users and `berth login`), in every Wasm layout, plus a multi-platform index, a
//     Linux-only image and faults injected by registrytest.FaultProxy (retries, bad
//     blobs, two pulls at once, a killed pull resumed). It needs no root;
//     it skips while berth has no pull/push (and its login parts while it has no login).
//   - TestDetachedStress, TestDetachedLogRate (detach_test.go): detached containers
//     (`berth run -d`) through the berth binary and containerd-shim-berth-v1 with no
//     daemon, no root needed: 8 berth processes doing run -d, stop, rm, rm -f, start,
//     ps and inspect at once on one data root (names colliding on purpose), then every
//     container, record, name, shim, guest, socket and directory accounted for; and a
//     guest writing 10 000 log lines a second for 10 s through --log-opt max-size=1m,
//     every line kept (berth logs and a berth logs -f that followed it) when max-file
//     keeps them all, one unbroken run ending at the last line when max-file=3 drops
//     the oldest files.
//   - TestBenchCtrRun, TestBenchDocker, TestBenchThroughput, TestBenchMemory,
//     TestBenchResponsive (bench_test.go), TestBenchKube (kubebench_test.go: pod start
//     latency, density and memory of Wasm pods against runc pods on the cluster): the
//     shim's performance against runc, side by side; they run only with BERTH_BENCH=1 as
//     well, through bench/shim.sh, which prints their report (docs/benchmarks.md keeps the
//     latest).
//
// # Knobs
//
//   - BERTH_E2E_K8S_LOGS=DIR: the Kubernetes tests copy every daemon's log there at
//     teardown (a failing test prints their tails anyway).
//   - BERTH_E2E_LOOPS: how many `ctr run --rm` TestRunLoop runs per containerd (default
//     50; the bench wants 1000).
//   - BERTH_E2E_STRESS_DURATION: how long TestDetachedStress runs its berth processes
//     (a Go duration, default 60s as the issue asks).
//   - BERTH_E2E_REQUIRE=1: a missing component fails instead of skipping.
//   - BERTH_BENCH=1 runs the benchmarks; BERTH_BENCH_N (samples per side, default 30),
//     BERTH_BENCH_TASKS (throughput tasks per side, default 200; bench/shim.sh: 1000),
//     BERTH_BENCH_GROUP (idle containers in one shim group, default 100),
//     BERTH_BENCH_PODS (idle pods per side in TestBenchKube, default 100) and
//     BERTH_BENCH_OUT (a file the markdown report is appended to) tune them.
//
// A failing test prints the tail of every daemon log of its environment.
package e2e
