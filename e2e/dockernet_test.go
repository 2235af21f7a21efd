package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The userland proxy of Docker Engine 29, built from the moby module at dockerd's
// version (github.com/moby/moby/v2/cmd/docker-proxy) by .ci/run.
const envDockerProxy = "BERTH_E2E_DOCKER_PROXY_BIN"

// Images of the networking tests: Docker's Wasm demo server (examples/http-server)
// built for wasip1 with `berth build`, and the same program built natively, the runc
// baseline. Both serve "hello from Wasm" on :8080.
const (
	imgHTTPWasm   = "docker.io/library/e2e-http-server:1"
	imgHTTPNative = "docker.io/library/e2e-http-server-native:1"
)

// httpServerBody is what examples/http-server answers on /.
const httpServerBody = "hello from Wasm"

var httpImagesOnce once
var httpImages map[string]string // image name → OCI layout tar

// testHTTPImages builds the two http-server images once per run.
func testHTTPImages(t *testing.T) map[string]string {
	t.Helper()
	httpImagesOnce.get(t, func() (string, string, error) {
		m, err := buildHTTPImages(t)
		httpImages = m
		return "", "", err
	})
	return httpImages
}

func buildHTTPImages(t *testing.T) (map[string]string, error) {
	root := repoRoot(t)
	berth := berthBin(t)
	dir := filepath.Join(workDir, "images", "http-server")
	ctx := filepath.Join(dir, "ctx")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		return nil, err
	}
	gobuild := func(env []string, out string) error {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./examples/http-server")
		cmd.Dir = root
		cmd.Env = append(append(os.Environ(), "GOFLAGS=-buildvcs=false"), env...)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build ./examples/http-server (%s): %v\n%s", strings.Join(env, " "), err, b)
		}
		return nil
	}
	if err := gobuild([]string{"GOOS=wasip1", "GOARCH=wasm"}, filepath.Join(ctx, "http-server.wasm")); err != nil {
		return nil, err
	}
	// The example's own Dockerfile: FROM scratch, the module, EXPOSE 8080.
	if err := copyFile(filepath.Join(root, "examples", "http-server", "Dockerfile"), filepath.Join(ctx, "Dockerfile")); err != nil {
		return nil, err
	}
	env := []string{"BERTH_ROOT=" + filepath.Join(workDir, "berth-root"), "BERTH_STATE=" + filepath.Join(workDir, "berth-state"), "SOURCE_DATE_EPOCH=0"}
	tag := strings.TrimPrefix(imgHTTPWasm, "docker.io/library/")
	if r := runCmd(t, cmdOpts{env: env, timeout: 2 * time.Minute}, berth, "build", "-q", "-t", tag, ctx); !r.ok() {
		return nil, fmt.Errorf("berth build:\n%s", r)
	}
	wasmTar := filepath.Join(dir, "wasm.tar")
	if r := runCmd(t, cmdOpts{env: env, timeout: time.Minute}, berth, "save", "-o", wasmTar, tag); !r.ok() {
		return nil, fmt.Errorf("berth save:\n%s", r)
	}
	if err := checkSavedArchive(wasmTar, imgHTTPWasm); err != nil {
		return nil, err
	}
	native := filepath.Join(dir, "http-server-native")
	if err := gobuild([]string{"CGO_ENABLED=0"}, native); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(native)
	if err != nil {
		return nil, err
	}
	nativeTar := filepath.Join(dir, "native.tar")
	if err := writeNativeImage(nativeTar, imgHTTPNative, "/http-server", b); err != nil {
		return nil, err
	}
	return map[string]string{imgHTTPWasm: wasmTar, imgHTTPNative: nativeTar}, nil
}

// netPreflight checks, inside e's namespace, what Docker's bridge networking needs of
// the kernel and the machine: a bridge and a veth pair can be made, iptables can
// write the nat table, and forwarding can be turned on. It skips the test (fails it
// with BERTH_E2E_REQUIRE=1) with the command's own error text when one cannot.
func netPreflight(t *testing.T, e *env) {
	t.Helper()
	hostTool(t, "iptables", "iptables")
	hostTool(t, "curl", "curl")
	for _, step := range [][]string{
		{"ip", "link", "add", "berth-pre-br", "type", "bridge"},
		{"ip", "link", "del", "berth-pre-br"},
		{"ip", "link", "add", "berth-pre-a", "type", "veth", "peer", "name", "berth-pre-b"},
		{"ip", "link", "del", "berth-pre-a"},
		{"iptables", "-t", "nat", "-N", "BERTH-PREFLIGHT"},
		{"iptables", "-t", "nat", "-A", "BERTH-PREFLIGHT", "-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.1:1"},
		{"iptables", "-t", "filter", "-A", "FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
		{"iptables", "-t", "nat", "-F", "BERTH-PREFLIGHT"},
		{"iptables", "-t", "nat", "-X", "BERTH-PREFLIGHT"},
		{"iptables", "-t", "filter", "-D", "FORWARD", "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"},
		{"sysctl", "-w", "net.ipv4.ip_forward=1"},
	} {
		if r := e.run(t, cmdOpts{timeout: 10 * time.Second}, step...); !r.ok() {
			missing(t, "Docker's bridge networking cannot run here: inside the test's network namespace\n%s", r)
		}
	}
}

// hostFirewall is what the host's own network namespace shows of Docker: the iptables
// chains whose names start with DOCKER and the links named docker0 or br-*. The test
// compares it before and after: everything Docker makes must stay in the test's
// namespace.
func hostFirewall(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, table := range []string{"filter", "nat"} {
		r := runCmd(t, cmdOpts{timeout: 10 * time.Second}, "iptables", "-t", table, "-S")
		if !r.ok() {
			t.Fatalf("listing the host's iptables rules:\n%s", r)
		}
		for _, l := range strings.Split(r.stdout, "\n") {
			if strings.Contains(l, "DOCKER") {
				out = append(out, table+": "+l)
			}
		}
	}
	r := runCmd(t, cmdOpts{timeout: 10 * time.Second}, "ip", "-o", "link", "show")
	for _, l := range strings.Split(r.stdout, "\n") {
		if f := strings.Fields(l); len(f) > 1 {
			if n := strings.TrimSuffix(strings.SplitN(f[1], "@", 2)[0], ":"); n == "docker0" || strings.HasPrefix(n, "br-") {
				out = append(out, "link: "+n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestDockerNetwork runs Docker Engine 29 with its real networking (the default bridge,
// iptables and the userland proxy docker-proxy) inside the test's private network and
// mount namespace, and publishes the port of examples/http-server with `docker run -d
// -p`: the Wasm image under the berth runtime, and the same server compiled natively
// under runc as the baseline. Each is reached through the published port on the
// namespace's 127.0.0.1 and at its bridge address, shows in `docker port`, stops,
// answers again after `docker start` and is removed. Under --network none the Wasm server is alone in a namespace with only lo,
// and under --network host it answers on dockerd's loopback. No shim is left behind,
// and the host's own firewall and links show nothing of Docker's. Every docker, iptables and curl command runs through nsenter into the
// namespace's holder.
func TestDockerNetwork(t *testing.T) {
	requireE2E(t)
	shim := shimBin(t)
	imgs := testHTTPImages(t)
	proxy := tool(t, envDockerProxy, binDir(envDockerProxy, "docker-proxy", dockerdVersion), "docker-proxy")
	hostBefore := hostFirewall(t)
	e := newEnv(t)
	netPreflight(t, e)
	c := e.startContainerd(t, v24, containerdOpts{shimDir: filepath.Dir(shim)})
	d := e.startDockerdOpts(t, c, dockerdOpts{settings: map[string]any{
		"iptables":            true,
		"ip6tables":           false,
		"ip-forward":          true,
		"firewall-backend":    "iptables",
		"bridge":              nil, // the default bridge, docker0
		"userland-proxy":      true,
		"userland-proxy-path": proxy,
	}})
	t.Cleanup(func() {
		if after := hostFirewall(t); !slices.Equal(after, hostBefore) {
			t.Errorf("the host's own namespace changed while Docker ran in the test's:\nbefore %q\nafter  %q", hostBefore, after)
		}
	})
	if got, want := netns(t, d.p.cmd.Process.Pid), netns(t, e.pid); got != want {
		t.Fatalf("dockerd runs in network namespace %s, not the test's %s", got, want)
	}
	for _, name := range []string{imgHTTPWasm, imgHTTPNative} {
		must(t, d.docker(t, cmdOpts{timeout: 2 * time.Minute}, "load", "-i", imgs[name]))
	}
	// Docker made its bridge and its NAT chain inside the namespace.
	must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, "ip", "link", "show", "docker0"))
	must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, "iptables", "-t", "nat", "-S", "DOCKER"))
	before := snapshotLeftovers(t, c, shim)

	for _, tc := range []struct {
		name  string
		image string
		port  string // the published host port
		flags []string
		// code is the exit code after docker stop: SIGTERM ends a Wasm guest (143);
		// the native Go server is PID 1 of its PID namespace, where the kernel drops
		// the SIGTERM Go re-raises to die by, so Go exits 2.
		code string
	}{
		{"runc-native", imgHTTPNative, "8081", nil, "2"},
		{"berth-wasm", imgHTTPWasm, "8080", []string{"--runtime=" + runtimeType, "--platform=wasi/wasm"}, "143"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "e2e-net-" + tc.name
			t.Cleanup(func() { d.docker(t, cmdOpts{timeout: 30 * time.Second}, "rm", "-f", name) })
			argv := append(append([]string{"run", "-d", "--name", name, "-p", tc.port + ":8080"}, tc.flags...), tc.image)
			must(t, d.docker(t, cmdOpts{timeout: time.Minute}, argv...))

			ip := strings.TrimSpace(must(t, d.docker(t, cmdOpts{}, "inspect", "-f",
				"{{.NetworkSettings.Networks.bridge.IPAddress}}", name)).stdout)
			if !strings.HasPrefix(ip, "172.") {
				t.Fatalf("docker inspect: bridge address %q, want one in Docker's 172.x range", ip)
			}
			pid := strings.TrimSpace(must(t, d.docker(t, cmdOpts{}, "inspect", "-f", "{{.State.Pid}}", name)).stdout)
			var cpid int
			fmt.Sscan(pid, &cpid)
			if cpid <= 0 {
				t.Fatalf("docker inspect: pid %q", pid)
			}
			// The container's process is in the namespace Docker configured (its
			// sandbox), not dockerd's; for berth it is berth-guest.
			key := strings.TrimSpace(must(t, d.docker(t, cmdOpts{}, "inspect", "-f", "{{.NetworkSettings.SandboxKey}}", name)).stdout)
			if got, want := netns(t, cpid), e.netnsInode(t, key); got != want || got == netns(t, e.pid) {
				t.Errorf("the container's process %d is in network namespace %s, want Docker's sandbox %s (%s), not dockerd's %s",
					cpid, got, want, key, netns(t, e.pid))
			}
			if tc.image == imgHTTPWasm {
				if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", cpid)); filepath.Base(exe) != guestName {
					t.Errorf("the container's process %d runs %s, want %s", cpid, exe, guestName)
				}
			}

			published := "http://127.0.0.1:" + tc.port + "/"
			answers := func(url string) {
				t.Helper()
				var r result
				if !eventually(20*time.Second, func() bool {
					r = e.run(t, cmdOpts{timeout: 10 * time.Second}, "curl", "-sS", "--max-time", "5", url)
					return r.ok() && strings.Contains(r.stdout, httpServerBody)
				}) {
					logs := d.docker(t, cmdOpts{}, "logs", name)
					t.Fatalf("curl %s from the namespace did not answer %q within 20s:\n%s\ncontainer logs:\n%s", url, httpServerBody, r, logs)
				}
				t.Logf("curl %s: %q", url, strings.TrimSpace(r.stdout))
			}
			answers(published)
			answers("http://" + ip + ":8080/")
			p := must(t, d.docker(t, cmdOpts{}, "port", name))
			t.Logf("docker port %s: %q", name, p.stdout)
			if !strings.Contains(p.stdout, "8080/tcp -> 0.0.0.0:"+tc.port+"\n") {
				t.Errorf("docker port %s: %q, want 8080/tcp -> 0.0.0.0:%s", name, p.stdout, tc.port)
			}
			// docker-proxy holds the published port in the namespace.
			ss := must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, "ss", "-Htlnp", "sport", "= :"+tc.port))
			if !strings.Contains(ss.stdout, "docker-proxy") {
				t.Errorf("ss: nothing of docker-proxy listens on :%s in the namespace:\n%s", tc.port, ss)
			}

			stop := must(t, d.docker(t, cmdOpts{timeout: 30 * time.Second}, "stop", "-t", "10", name))
			if stop.dur > 5*time.Second {
				t.Errorf("docker stop took %v, want < 5s (SIGTERM should end the server)", stop.dur.Round(time.Millisecond))
			}
			st := must(t, d.docker(t, cmdOpts{}, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name))
			if got := strings.TrimSpace(st.stdout); got != "exited "+tc.code {
				t.Errorf("after docker stop: %q, want \"exited %s\"", got, tc.code)
			}
			if r := e.run(t, cmdOpts{timeout: 10 * time.Second}, "curl", "-sS", "--max-time", "2", published); r.ok() {
				t.Errorf("the published port still answers after docker stop:\n%s", r)
			}
			// docker start: a new task, whose new namespace Docker configures again.
			must(t, d.docker(t, cmdOpts{timeout: time.Minute}, "start", name))
			answers(published)
			must(t, d.docker(t, cmdOpts{timeout: 30 * time.Second}, "stop", "-t", "10", name))
			must(t, d.docker(t, cmdOpts{}, "rm", name))
		})
	}

	// --network none and host: the Wasm server is alone in a namespace of its own
	// (reached only from inside it), or in dockerd's (reached on its 127.0.0.1).
	wasm := []string{"--runtime=" + runtimeType, "--platform=wasi/wasm"}
	for _, tc := range []struct {
		network string
		port    string // the port the server binds
	}{
		{"none", "8080"},
		{"host", "8082"},
	} {
		t.Run("berth-wasm-network-"+tc.network, func(t *testing.T) {
			name := "e2e-net-" + tc.network
			t.Cleanup(func() { d.docker(t, cmdOpts{timeout: 30 * time.Second}, "rm", "-f", name) })
			argv := append(append([]string{"run", "-d", "--name", name, "--network", tc.network}, wasm...), imgHTTPWasm, ":"+tc.port)
			must(t, d.docker(t, cmdOpts{timeout: time.Minute}, argv...))
			var cpid int
			fmt.Sscan(must(t, d.docker(t, cmdOpts{}, "inspect", "-f", "{{.State.Pid}}", name)).stdout, &cpid)
			if cpid <= 0 {
				t.Fatalf("docker inspect: no pid for %s", name)
			}
			inNS := []string{"nsenter", fmt.Sprintf("--net=/proc/%d/ns/net", cpid)}
			url := "http://127.0.0.1:" + tc.port + "/"
			var r result
			if !eventually(20*time.Second, func() bool {
				r = e.run(t, cmdOpts{timeout: 10 * time.Second}, append(inNS, "curl", "-sS", "--max-time", "5", url)...)
				return r.ok() && strings.Contains(r.stdout, httpServerBody)
			}) {
				t.Fatalf("curl %s inside the container's network namespace did not answer %q within 20s:\n%s\ncontainer logs:\n%s",
					url, httpServerBody, r, d.docker(t, cmdOpts{}, "logs", name))
			}
			shared := netns(t, cpid) == netns(t, e.pid)
			from := e.run(t, cmdOpts{timeout: 10 * time.Second}, "curl", "-sS", "--max-time", "2", url)
			switch tc.network {
			case "none":
				if shared {
					t.Errorf("--network none: the guest %d is in dockerd's network namespace %s", cpid, netns(t, cpid))
				}
				if from.ok() {
					t.Errorf("--network none: the guest answers on dockerd's 127.0.0.1:%s:\n%s", tc.port, from)
				}
				links := must(t, e.run(t, cmdOpts{timeout: 10 * time.Second}, append(inNS, "ip", "-o", "link", "show")...))
				if n := len(strings.Split(strings.TrimSpace(links.stdout), "\n")); n != 1 || !strings.Contains(links.stdout, "lo:") {
					t.Errorf("--network none: the container's namespace has links other than lo:\n%s", links.stdout)
				}
			case "host":
				if !shared {
					t.Errorf("--network host: the guest %d is in network namespace %s, not dockerd's %s", cpid, netns(t, cpid), netns(t, e.pid))
				}
				if !from.ok() || !strings.Contains(from.stdout, httpServerBody) {
					t.Errorf("--network host: dockerd's 127.0.0.1:%s does not answer:\n%s", tc.port, from)
				}
			}
			must(t, d.docker(t, cmdOpts{timeout: 30 * time.Second}, "stop", "-t", "10", name))
			must(t, d.docker(t, cmdOpts{}, "rm", name))
		})
	}

	t.Run("no-leftovers", func(t *testing.T) {
		checkNoLeftovers(t, c, shim, before)
	})
}
