package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
)

// Images of TestKubeWorkloads besides the shared ones (images_test.go), built by
// workloadImages at test time (imgIdle, from idleSrc, is kubebench_test.go's).
const (
	imgHTTP         = "docker.io/library/e2e-http-server:1"        // examples/http-server (Go, stealthrocket/net), :8080
	imgMemHog       = "docker.io/library/e2e-memhog:1"             // C: allocates argv[1] MiB, 1 MiB at a time
	imgClient       = "docker.io/library/e2e-http-client:1"        // Go wasip1: GET argv[1] (stealthrocket/net)
	imgClientNative = "docker.io/library/e2e-http-client-native:1" // the same source, static linux binary
)

// envKubeProxy names the directory with kube-proxy (.ci/run builds it from .ci/k8s into
// the cache as kube-proxy-VERSION).
const envKubeProxy = "BERTH_E2E_KUBE_PROXY_BIN"

const memHogSrc = `#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Every block is kept and read back at the end: clang removes a malloc whose block
   is never used, memset and all. */
static char *blocks[4096];

int main(int argc, char **argv) {
	int want = argc > 1 ? atoi(argv[1]) : 256, got = 0;
	while (got < want && got < 4096) {
		char *p = malloc(1 << 20);
		if (!p) {
			fprintf(stderr, "memhog: malloc failed after %d MiB\n", got);
			return 12;
		}
		memset(p, got + 1, 1 << 20);
		blocks[got++] = p;
		printf("memhog: %d MiB\n", got);
		fflush(stdout);
	}
	long sum = 0;
	for (int i = 0; i < got; i++)
		sum += blocks[i][i];
	printf("memhog: allocated %d MiB (check %ld)\n", got, sum);
	fflush(stdout);
	if (argc > 2) /* "hold": keep it, so the test can look at the cgroup */
		for (;;)
			sleep(3600);
	return 0;
}
`

// httpClientSrc GETs os.ExpandEnv(argv[1]) (so "$WEB_SERVICE_HOST" works) until it
// answers, for up to 30 s, prints "GET URL: STATUS BODY" and exits 0 on 200. It dials
// through dial (httpClientDial*): stealthrocket/net under wasip1, net.Dialer natively.
const httpClientSrc = `package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	url := os.ExpandEnv(os.Args[1])
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DialContext: dial}}
	var last error
	for i := 0; i < 60; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			fmt.Printf("GET %s: %d %s", url, resp.StatusCode, b)
			if resp.StatusCode != http.StatusOK {
				os.Exit(1)
			}
			return
		}
		last = err
		time.Sleep(500 * time.Millisecond)
	}
	fmt.Fprintf(os.Stderr, "GET %s: %v\n", url, last)
	os.Exit(1)
}
`

var httpClientFiles = map[string]string{
	"go.mod": "module client\n\ngo 1.24\n\nrequire github.com/stealthrocket/net v0.2.1\n\nrequire golang.org/x/net v0.10.0 // indirect\n",
	"dial_wasip1.go": `//go:build wasip1

package main

import "github.com/stealthrocket/net/wasip1"

var dial = wasip1.DialContext
`,
	"dial_other.go": `//go:build !wasip1

package main

import "net"

var dial = (&net.Dialer{}).DialContext
`,
}

var workloadOnce once
var workloadArchives map[string]string // image name → archive to import (index with linux/<arch> too)

// workloadImages builds the images of TestKubeWorkloads once per run: the Wasm ones
// with `berth build` and `berth save` as buildImages does (and the same CRI variant),
// the native client as a static linux binary.
func workloadImages(t *testing.T) map[string]string {
	t.Helper()
	testImages(t)
	workloadOnce.get(t, func() (string, string, error) {
		return "", "", buildWorkloadImages(t)
	})
	return workloadArchives
}

func buildWorkloadImages(t *testing.T) error {
	dir := filepath.Join(workDir, "images-kubework")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	httpWasm := filepath.Join(dir, "http-server.wasm")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", httpWasm, "./examples/http-server")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building examples/http-server for wasip1: %v\n%s", err, b)
	}
	workloadArchives = map[string]string{}
	for _, im := range []struct{ name, module, wasm string }{
		{imgIdle, "/idle.wasm", testguest.C(t, idleSrc)},
		{imgMemHog, "/memhog.wasm", testguest.C(t, memHogSrc)},
		{imgHTTP, "/http-server.wasm", httpWasm},
		{imgClient, "/client.wasm", testguest.Go(t, httpClientSrc, httpClientFiles)},
	} {
		a, err := wasmImageArchive(t, dir, im.name, im.module, im.wasm)
		if err != nil {
			return err
		}
		workloadArchives[im.name] = a
	}

	// The native client: the same source, CGO_ENABLED=0 (static), for linux.
	src := filepath.Join(dir, "client-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	files := map[string]string{"main.go": httpClientSrc}
	for k, v := range httpClientFiles {
		files[k] = v
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(c), 0o644); err != nil {
			return err
		}
	}
	exe := filepath.Join(dir, "client.bin")
	cmd = exec.Command(goBin, "build", "-trimpath", "-o", exe, ".")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "GOOS=linux", "CGO_ENABLED=0", "GOFLAGS=-mod=mod")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building the native http client: %v\n%s", err, b)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		return err
	}
	out := filepath.Join(dir, shortName(imgClientNative)+".tar")
	if err := writeNativeImage(out, imgClientNative, "/client", b); err != nil {
		return err
	}
	workloadArchives[imgClientNative] = out
	return nil
}

// wasmImageArchive builds image name from module wasm (at path module in the image,
// its entrypoint) with `berth build`, saves it with `berth save` and returns the CRI
// variant of the archive (withHostPlatform), as buildImages does for the shared images.
func wasmImageArchive(t *testing.T, dir, name, module, wasm string) (string, error) {
	berth := berthBin(t)
	env := []string{"BERTH_ROOT=" + filepath.Join(workDir, "berth-root"),
		"BERTH_STATE=" + filepath.Join(workDir, "berth-state"), "SOURCE_DATE_EPOCH=0"}
	ctx := filepath.Join(dir, "ctx-"+shortName(name))
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		return "", err
	}
	if err := copyFile(wasm, filepath.Join(ctx, "module.wasm")); err != nil {
		return "", err
	}
	df := fmt.Sprintf("FROM scratch\nCOPY module.wasm %s\nENTRYPOINT [%q]\n", module, module)
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	tag := strings.TrimPrefix(name, "docker.io/library/")
	if r := runCmd(t, cmdOpts{env: env, timeout: 2 * time.Minute}, berth, "build", "-q", "-t", tag, ctx); !r.ok() {
		return "", fmt.Errorf("berth build:\n%s", r)
	}
	saved := filepath.Join(dir, shortName(name)+".tar")
	if r := runCmd(t, cmdOpts{env: env, timeout: time.Minute}, berth, "save", "-o", saved, tag); !r.ok() {
		return "", fmt.Errorf("berth save:\n%s", r)
	}
	cri := filepath.Join(dir, shortName(name)+"-cri.tar")
	if err := withHostPlatform(saved, cri); err != nil {
		return "", fmt.Errorf("making the CRI variant of %s: %w", saved, err)
	}
	return cri, nil
}

// TestKubeWorkloads runs Kubernetes workloads of Wasm pods on the single-node cluster
// of newKube, with kube-proxy (iptables mode) added for Services: Jobs that complete
// and fail (with their retries), a Deployment scaled 2 → 20 → 0, a Service in front of
// examples/http-server reached from other pods (runc and Wasm) by its ClusterIP,
// readiness and liveness probes (HTTP and TCP), memory and CPU limits, `kubectl exec`
// refused and `kubectl logs -f` streaming. One cluster for the whole test; the
// subtests run in order and each removes what it made.
func TestKubeWorkloads(t *testing.T) {
	requireE2E(t)
	kubeBins(t)
	proxyBin := tool(t, envKubeProxy, binDir(envKubeProxy, "kube-proxy", k8sVersion), "kube-proxy")
	hostTool(t, "iptables", "iptables")
	shim := shimBin(t)
	archives := workloadImages(t)
	conntrackMax := readHostFile("/proc/sys/net/netfilter/nf_conntrack_max")
	k := newKube(t, filepath.Dir(shim), imgHello, imgSleep, imgSpin)
	start := time.Now()
	for _, name := range []string{imgIdle, imgMemHog, imgHTTP, imgClient, imgClientNative} {
		k.cri.c.importImage(t, "k8s.io", archives[name])
	}
	t.Logf("workload images imported in %v", time.Since(start).Round(time.Millisecond))
	k.startKubeProxy(t, proxyBin)
	k.apply(t, `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: berth
handler: berth
`)

	t.Run("job-completes", func(t *testing.T) {
		start := time.Now()
		k.apply(t, jobYAML("job-ok", imgHello, "0", 0))
		k.waitFor(t, "job/job-ok", "condition=Complete", time.Minute)
		t.Logf("job-ok: apply → Complete in %v", time.Since(start).Round(time.Millisecond))
		r := must(t, k.kubectl(t, cmdOpts{}, "get", "pods", "-l", "job-name=job-ok", "-o",
			`jsonpath={range .items[*]}{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}`))
		if got := strings.TrimSpace(r.stdout); got != "Succeeded 0" {
			t.Errorf("pods of job-ok: want one, Succeeded with exit code 0; got %q", got)
		}
		logs := must(t, k.kubectl(t, cmdOpts{}, "logs", "job/job-ok"))
		if !strings.Contains(logs.stdout, "hello stdout") {
			t.Errorf("kubectl logs job/job-ok lacks \"hello stdout\":\n%s", logs)
		}
		s := must(t, k.kubectl(t, cmdOpts{}, "get", "job", "job-ok", "-o", "jsonpath={.status.succeeded} {.status.failed}"))
		if got := strings.TrimSpace(s.stdout); got != "1" {
			t.Errorf("job-ok .status.succeeded/.failed = %q, want \"1\" (no failure)", got)
		}
		k.deleteJob(t, "job-ok")
	})

	// backoffLimit 1: one retry, so two pods, each exiting 3, then the Job is Failed
	// (BackoffLimitExceeded). The Job controller waits ~10 s before the retry.
	t.Run("job-fails-with-retries", func(t *testing.T) {
		start := time.Now()
		k.apply(t, jobYAML("job-fail", imgHello, "3", 1))
		k.waitFor(t, "job/job-fail", "condition=Failed", 2*time.Minute)
		t.Logf("job-fail: apply → Failed in %v", time.Since(start).Round(time.Millisecond))
		r := must(t, k.kubectl(t, cmdOpts{}, "get", "job", "job-fail", "-o",
			`jsonpath={.status.failed} {.status.conditions[?(@.type=="Failed")].reason}`))
		if got := strings.TrimSpace(r.stdout); got != "2 BackoffLimitExceeded" {
			t.Errorf("job-fail .status.failed and Failed reason = %q, want \"2 BackoffLimitExceeded\"", got)
		}
		p := must(t, k.kubectl(t, cmdOpts{}, "get", "pods", "-l", "job-name=job-fail", "-o",
			`jsonpath={range .items[*]}{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}{"\n"}{end}`))
		if got := strings.Fields(strings.ReplaceAll(strings.TrimSpace(p.stdout), "\n", " | ")); strings.Join(got, " ") != "Failed 3 | Failed 3" {
			t.Errorf("pods of job-fail: want two, each Failed with exit code 3; got %q", p.stdout)
		}
		k.deleteJob(t, "job-fail")
	})

	t.Run("deployment-scale-2-20-0", func(t *testing.T) {
		k.apply(t, deploymentYAML("idle", imgIdle, 2))
		t.Cleanup(func() {
			k.kubectl(t, cmdOpts{timeout: 2 * time.Minute}, "delete", "deployment", "idle", "--ignore-not-found")
		})
		start := time.Now()
		k.waitFor(t, "deployment/idle", "jsonpath={.status.readyReplicas}=2", time.Minute)
		t.Logf("deployment idle: apply → 2 ready in %v", time.Since(start).Round(time.Millisecond))
		k.checkRunning(t, "app=idle", 2)

		start = time.Now()
		must(t, k.kubectl(t, cmdOpts{}, "scale", "deployment/idle", "--replicas=20"))
		k.waitFor(t, "deployment/idle", "jsonpath={.status.readyReplicas}=20", 3*time.Minute)
		up := time.Since(start)
		k.checkRunning(t, "app=idle", 20)
		if n := len(shimProcs(shim)); n < 20 {
			t.Errorf("20 Wasm pods Running but only %d berth processes (shims and berth-guests)", n)
		}
		t.Logf("deployment idle: scale 2 → 20: all 20 Running and Ready in %v (%d berth shim and guest processes)",
			up.Round(time.Millisecond), len(shimProcs(shim)))

		start = time.Now()
		must(t, k.kubectl(t, cmdOpts{}, "scale", "deployment/idle", "--replicas=0"))
		var left result
		if !poll(3*time.Minute, kubePoll, func() bool {
			left = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "pods", "-l", "app=idle", "-o", "name")
			return left.ok() && strings.TrimSpace(left.stdout) == ""
		}) {
			t.Fatalf("pods of deployment idle still there 3 min after scaling to 0:\n%s", left)
		}
		down := time.Since(start)
		if !eventually(15*time.Second, func() bool { return len(shimProcs(shim)) == 0 }) {
			t.Errorf("berth processes left 15s after every pod of the deployment was gone: %v", shimProcs(shim))
		}
		t.Logf("deployment idle: scale 20 → 0: every pod gone in %v, every berth process gone %v later",
			down.Round(time.Millisecond), (time.Since(start) - down).Round(time.Millisecond))
		must(t, k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "deployment", "idle", "--wait=true"))
	})

	t.Run("service-to-wasm-http-server", func(t *testing.T) {
		k.apply(t, httpPodYAML("web", map[string]string{"app": "web"},
			"    readinessProbe: {httpGet: {path: /healthz, port: 8080}, periodSeconds: 1}\n"))
		k.apply(t, `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
`)
		t.Cleanup(func() {
			k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "service", "web", "--ignore-not-found")
			k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", "web", "--ignore-not-found")
		})
		k.waitFor(t, "pod/web", "condition=Ready", time.Minute)
		k.checkGuestPlacement(t, "web")
		podIP := strings.TrimSpace(must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "web", "-o", "jsonpath={.status.podIP}")).stdout)
		svcIP := strings.TrimSpace(must(t, k.kubectl(t, cmdOpts{}, "get", "service", "web", "-o", "jsonpath={.spec.clusterIP}")).stdout)
		if !strings.HasPrefix(svcIP, "10.96.0.") {
			t.Fatalf("service web has ClusterIP %q, want one in %s", svcIP, kubeSvcRange)
		}
		// kube-proxy has programmed the Service once its chain for it exists.
		var rules result
		if !poll(30*time.Second, kubePoll, func() bool {
			rules = k.e.run(t, cmdOpts{timeout: 10 * time.Second}, "iptables", "-t", "nat", "-S", "KUBE-SERVICES")
			return rules.ok() && strings.Contains(rules.stdout, svcIP+"/32")
		}) {
			t.Fatalf("kube-proxy wrote no rule for %s within 30s:\n%s\n%s", svcIP, rules, logTail(filepath.Join(k.dir, "kube-proxy.log")))
		}

		for _, c := range []struct{ name, rc, image, url string }{
			{"client-native-svc", "", imgClientNative, "http://" + svcIP + "/"},
			{"client-native-env", "", imgClientNative, "http://$WEB_SERVICE_HOST:$WEB_SERVICE_PORT/"},
			{"client-wasm-svc", "berth", imgClient, "http://" + svcIP + "/"},
			{"client-wasm-pod", "berth", imgClient, "http://" + podIP + ":8080/"},
		} {
			start := time.Now()
			k.apply(t, clientPodYAML(c.name, c.rc, c.image, c.url))
			t.Cleanup(func() {
				k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", c.name, "--ignore-not-found")
			})
			k.waitPhase(t, c.name, "Succeeded", time.Minute)
			logs := must(t, k.kubectl(t, cmdOpts{}, "logs", c.name))
			if !strings.Contains(logs.stdout, ": 200 hello from Wasm") {
				t.Errorf("pod %s (%s) did not get the Wasm server's page from %s:\n%s", c.name, c.image, c.url, logs)
			}
			// Where the time went, to the second: created, container started, finished (a
			// Wasm image's first container includes compiling the module).
			ts := k.kubectl(t, cmdOpts{}, "get", "pod", c.name, "-o",
				"jsonpath=created {.metadata.creationTimestamp}, started {.status.containerStatuses[0].state.terminated.startedAt}, finished {.status.containerStatuses[0].state.terminated.finishedAt}")
			t.Logf("%s: %s in %v (%s)", c.name, strings.TrimSpace(logs.stdout), time.Since(start).Round(time.Millisecond), ts.stdout)
			k.deletePod(t, c.name, 10*time.Second)
		}
	})

	t.Run("probes", func(t *testing.T) {
		// Every second. A liveness probe that should pass tolerates 5 failures: it starts
		// with the container, before the server listens (a few hundred ms), and one
		// failure would restart it, as it would a runc container. One that should fail
		// restarts at the first.
		probe := func(kind, handler string, failures int) string {
			return fmt.Sprintf("    %s: {%s, periodSeconds: 1, failureThreshold: %d, timeoutSeconds: 1}\n", kind, handler, failures)
		}
		pods := []struct{ name, probes string }{
			{"probe-ok", probe("readinessProbe", "httpGet: {path: /healthz, port: 8080}", 1) +
				probe("livenessProbe", "tcpSocket: {port: 8080}", 5)},
			{"probe-ok-tcp", probe("readinessProbe", "tcpSocket: {port: 8080}", 1) +
				probe("livenessProbe", "httpGet: {path: /healthz, port: 8080}", 5)},
			{"probe-unready-http", probe("readinessProbe", "httpGet: {path: /missing, port: 8080}", 1)},
			{"probe-unready-tcp", probe("readinessProbe", "tcpSocket: {port: 9999}", 1)},
			{"probe-dead-http", probe("livenessProbe", "httpGet: {path: /healthz, port: 9999}", 1)},
			{"probe-dead-tcp", probe("livenessProbe", "tcpSocket: {port: 9999}", 1)},
		}
		for _, p := range pods {
			k.apply(t, httpPodYAML(p.name, nil, p.probes))
			t.Cleanup(func() {
				k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", p.name, "--ignore-not-found", "--grace-period=0", "--force")
			})
		}
		for _, name := range []string{"probe-ok", "probe-ok-tcp"} {
			k.waitFor(t, "pod/"+name, "condition=Ready", time.Minute)
		}
		// The failing liveness probes restart their containers (the kubelet kills the
		// guest and starts a new one in the same sandbox).
		for _, name := range []string{"probe-dead-http", "probe-dead-tcp"} {
			k.waitFor(t, "pod/"+name, "jsonpath={.status.containerStatuses[0].restartCount}=2", 2*time.Minute)
			ev := must(t, k.kubectl(t, cmdOpts{}, "get", "events", "--field-selector", "involvedObject.name="+name,
				"-o", "jsonpath={range .items[*]}{.reason}: {.message}{\"\\n\"}{end}"))
			if !strings.Contains(ev.stdout, "Liveness probe failed") || !strings.Contains(ev.stdout, "failed liveness probe, will be restarted") {
				t.Errorf("pod %s restarted, but its events do not say the liveness probe did it:\n%s", name, ev.stdout)
			}
			t.Logf("%s: restartCount reached 2; events:\n%s", name, ev.stdout)
		}
		// By now the passing probes have run a good many times: still Ready, no restart.
		// The failing readiness probes keep their pods Running but not Ready.
		want := map[string]string{
			"probe-ok": "Running True 0", "probe-ok-tcp": "Running True 0",
			"probe-unready-http": "Running False 0", "probe-unready-tcp": "Running False 0",
		}
		for name, w := range want {
			r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", name, "-o",
				`jsonpath={.status.phase} {.status.conditions[?(@.type=="Ready")].status} {.status.containerStatuses[0].restartCount}`))
			if got := strings.TrimSpace(r.stdout); got != w {
				t.Errorf("pod %s: phase, Ready and restartCount = %q, want %q", name, got, w)
			}
		}
		for name, msg := range map[string]string{
			"probe-unready-http": "HTTP probe failed with statuscode: 404",
			"probe-unready-tcp":  "connection refused",
		} {
			ev := must(t, k.kubectl(t, cmdOpts{}, "get", "events", "--field-selector", "involvedObject.name="+name,
				"-o", "jsonpath={range .items[*]}{.message}{\"\\n\"}{end}"))
			if !strings.Contains(ev.stdout, "Readiness probe failed") || !strings.Contains(ev.stdout, msg) {
				t.Errorf("pod %s: events lack \"Readiness probe failed\" with %q:\n%s", name, msg, ev.stdout)
			}
		}
		for _, p := range pods {
			k.deletePod(t, p.name, 15*time.Second)
		}
	})

	t.Run("memory-limit", func(t *testing.T) {
		// Within the limit: 16 MiB under a 64 MiB limit, kept while the test looks at
		// the guest's memory cgroup and the limit the bundle carries.
		k.apply(t, memHogPodYAML("memhog-fits", `["16", "hold"]`, "64Mi"))
		t.Cleanup(func() {
			k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", "memhog-fits", "--ignore-not-found")
		})
		k.waitPhase(t, "memhog-fits", "Running", time.Minute)
		var logs result
		if !poll(20*time.Second, kubePoll, func() bool {
			logs = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "logs", "memhog-fits")
			return strings.Contains(logs.stdout, "allocated 16 MiB")
		}) {
			t.Fatalf("memhog-fits did not allocate 16 MiB within 20s:\n%s", logs)
		}
		pid := k.guestPid(t, "memhog-fits")
		dir, limit, usage := memoryCgroup(t, pid)
		t.Logf("memhog-fits (16 MiB held): guest %d in memory cgroup %s, limit %d, usage %d, guest's %s; bundle's linux.resources.memory: %s",
			pid, dir, limit, usage, procRSS(pid), k.bundleMemory(t, "memhog-fits"))
		if limit != 64<<20 {
			t.Errorf("guest %d's memory cgroup %s: limit %d, want %d (limits.memory 64Mi)", pid, dir, limit, 64<<20)
		}
		if usage > 40<<20 {
			t.Errorf("guest %d holding 16 MiB: its memory cgroup uses %d MiB, want ≤ 40 (the guest's memory is not copied as it grows)", pid, usage>>20)
		}
		k.deletePod(t, "memhog-fits", 10*time.Second)

		k.apply(t, memHogPodYAML("memhog", `["256"]`, "64Mi"))
		t.Cleanup(func() { k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", "memhog", "--ignore-not-found") })
		k.waitPhase(t, "memhog", "Failed", time.Minute)
		r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", "memhog", "-o",
			`jsonpath={.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}`))
		logs = k.kubectl(t, cmdOpts{}, "logs", "memhog")
		lines := strings.Split(strings.TrimSpace(logs.stdout), "\n")
		t.Logf("memhog (256 MiB under limits.memory 64Mi): terminated reason and exit code %q; last line of its log: %q",
			strings.TrimSpace(r.stdout), lines[len(lines)-1])
		// The engine caps the linear memory at the limit (memory.grow fails there, and
		// malloc returns NULL: the guest exits 12), but the cgroup, with the same limit,
		// counts berth-guest's own memory too: its OOM killer ends the process at or just
		// before that point, sometimes after the guest has seen malloc fail and while it
		// reports it. Either way the pod's status says what happened.
		reached, refused := 0, false
		for _, l := range lines {
			var n int
			if _, err := fmt.Sscanf(l, "memhog: %d MiB", &n); err == nil && n > reached {
				reached = n
			}
			if _, err := fmt.Sscanf(l, "memhog: malloc failed after %d MiB", &n); err == nil {
				reached, refused = n, true
			}
		}
		switch got := strings.TrimSpace(r.stdout); {
		case got == "OOMKilled 137":
			t.Logf("memhog: OOMKilled after %d MiB (malloc had failed first: %v)", reached, refused)
		case got == "Error 12" && refused:
			t.Logf("memhog: malloc failed at the linear-memory limit after %d MiB; the guest exited 12", reached)
		default:
			t.Errorf("memhog: terminated %q, want \"OOMKilled 137\" (the cgroup's OOM killer, reported by the shim's OOM event) or \"Error 12\" with malloc failed in its log", got)
		}
		// Before the engine mapped linear memory once (internal/engine/memory.go), each
		// grow copied it and the pod was killed after 16 MiB of its 64.
		if reached < 40 {
			t.Errorf("memhog got %d MiB of linear memory under a 64 MiB limit, want ≥ 40", reached)
		}
		k.deletePod(t, "memhog", 10*time.Second)
	})

	t.Run("cpu-limit", func(t *testing.T) {
		k.apply(t, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: spin
spec:
  runtimeClassName: berth
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    resources:
      limits: {cpu: 100m, memory: 64Mi}
`, imgSpin))
		t.Cleanup(func() { k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "pod", "spin", "--ignore-not-found") })
		k.waitPhase(t, "spin", "Running", time.Minute)
		pid := k.guestPid(t, "spin")
		dir, quota, period := cpuQuota(t, pid)
		if quota != 10000 || period != 100000 {
			t.Errorf("guest %d's cgroup %s: cpu quota %d per %d µs, want 10000 per 100000 (limits.cpu 100m)", pid, dir, quota, period)
		}
		// The spinning guest gets about a tenth of a CPU.
		u0, n0 := cpuUsage(t, pid)
		time.Sleep(3 * time.Second)
		u1, n1 := cpuUsage(t, pid)
		share := float64(u1-u0) / float64(3*time.Second)
		t.Logf("spin under limits.cpu 100m: cgroup %s, quota %d/%d µs, used %.3f CPU over 3 s, throttled %d periods",
			dir, quota, period, share, n1-n0)
		if share > 0.2 || n1 == n0 {
			t.Errorf("spinning guest used %.3f CPU over 3 s (throttled %d periods), want ≤ 0.2 and throttled", share, n1-n0)
		}
		k.deletePod(t, "spin", 10*time.Second)
	})

	t.Run("exec-refused-logs-follow", func(t *testing.T) {
		k.runPod(t, "ticker", "berth", imgSleep, "", "Running")
		r := k.kubectl(t, cmdOpts{timeout: 30 * time.Second}, "exec", "ticker", "--", "/sleep.wasm")
		t.Logf("kubectl exec into a Wasm pod:\n%s", r)
		if r.ok() || !strings.Contains(r.stderr, "berth: exec is not supported by Wasm containers") ||
			!strings.Contains(r.stderr, "Wasm containers have no exec") {
			t.Errorf("kubectl exec: want a failure naming berth and saying Wasm containers have no exec:\n%s", r)
		}
		// logs -f: lines arrive while the pod runs, and the stream ends when it is deleted.
		f := k.e.start(t, cmdOpts{}, k.kubectlArgv("logs", "-f", "ticker")...)
		count := func() int { return strings.Count(f.stdout.String(), "tick ") }
		if !eventually(20*time.Second, func() bool { return count() >= 3 }) {
			t.Fatalf("kubectl logs -f ticker: fewer than 3 lines within 20s:\n%s", f.wait(time.Second))
		}
		n0 := count()
		time.Sleep(2 * time.Second)
		if n1 := count(); n1 <= n0 || f.exited() {
			t.Errorf("kubectl logs -f ticker: %d lines, then %d lines 2 s later (exited: %v); want more while it runs", n0, n1, f.exited())
		} else {
			t.Logf("kubectl logs -f: %d lines 2 s after the first %d (one every 200 ms)", n1-n0, n0)
		}
		k.deletePod(t, "ticker", 10*time.Second)
		if r := f.wait(20 * time.Second); r.err != nil {
			t.Errorf("kubectl logs -f did not end after the pod was deleted:\n%s", r)
		}
	})

	t.Run("no-shim-left", func(t *testing.T) {
		if !eventually(15*time.Second, func() bool { return len(shimProcs(shim)) == 0 }) {
			t.Errorf("berth processes left 15s after every pod was deleted: %v", shimProcs(shim))
		}
	})

	t.Run("teardown", func(t *testing.T) {
		k.teardown(t)
		if now := readHostFile("/proc/sys/net/netfilter/nf_conntrack_max"); now != conntrackMax {
			t.Errorf("host nf_conntrack_max changed from %q to %q (kube-proxy must leave it alone)", conntrackMax, now)
		}
	})
}

// readHostFile returns the trimmed contents of a file, "" when it cannot be read.
func readHostFile(p string) string {
	b, _ := os.ReadFile(p)
	return strings.TrimSpace(string(b))
}

// kubectlArgv is the command line of kubectl as cluster-admin (as kubectl runs it),
// for commands that run in the background.
func (k *kube) kubectlArgv(args ...string) []string {
	return append([]string{filepath.Join(k.bin, "kubectl"), "--kubeconfig", k.kubeconfig,
		"--cache-dir", filepath.Join(k.dir, "kubectl-cache")}, args...)
}

// startKubeProxy starts kube-proxy in iptables mode inside the cluster's namespace and
// waits until it has written its KUBE-SERVICES chain.
//
// # Notes
//
//   - It runs as cluster-admin (the admin kubeconfig); kubeadm gives it a
//     ServiceAccount bound to system:node-proxier instead.
//   - conntrack maxPerCore 0 and the zero timeouts leave the conntrack sysctls alone:
//     nf_conntrack_max is host-wide, and the test must not change the host.
//   - No metrics or health servers: nothing reads them here.
func (k *kube) startKubeProxy(t *testing.T, bin string) {
	t.Helper()
	cfg := filepath.Join(k.dir, "kube-proxy.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: %s}
mode: iptables
hostnameOverride: %s
clusterCIDR: %s0/24
bindAddress: %s
healthzBindAddress: ""
metricsBindAddress: ""
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}
`, k.kubeconfig, kubeNodeName, podSubnet, kubeNodeIP)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	k.daemon(t, "kube-proxy", bin, "--config", cfg, "--v", "2")
	var last result
	if !poll(30*time.Second, kubePoll, func() bool {
		k.checkDaemons(t)
		last = k.e.run(t, cmdOpts{timeout: 10 * time.Second}, "iptables", "-t", "nat", "-S", "KUBE-SERVICES")
		return last.ok() && strings.Contains(last.stdout, kubeSvcIP+"/32")
	}) {
		t.Fatalf("kube-proxy programmed no rule for the kubernetes Service (%s) within 30s:\n%s\n%s",
			kubeSvcIP, last, logTail(filepath.Join(k.dir, "kube-proxy.log")))
	}
	t.Logf("kube-proxy (iptables) ready in %v", time.Since(start).Round(time.Millisecond))
}

// waitFor runs `kubectl wait --for=COND OBJ` (a watch, not a poll) and fails the test
// with a description of obj when it does not hold within timeout.
func (k *kube) waitFor(t *testing.T, obj, cond string, timeout time.Duration) {
	t.Helper()
	r := k.kubectl(t, cmdOpts{timeout: timeout + 10*time.Second}, "wait", "--for="+cond, obj,
		"--timeout="+strconv.Itoa(int(timeout.Seconds()))+"s")
	if !r.ok() {
		desc := k.kubectl(t, cmdOpts{}, "describe", obj)
		t.Fatalf("%s: %s did not hold within %v:\n%s\n%s", obj, cond, timeout, r, desc.stdout)
	}
}

// waitPhase waits until pod name's phase is phase.
func (k *kube) waitPhase(t *testing.T, name, phase string, timeout time.Duration) {
	t.Helper()
	k.waitFor(t, "pod/"+name, "jsonpath={.status.phase}="+phase, timeout)
}

// deleteJob deletes a Job and its pods and waits until they are gone.
func (k *kube) deleteJob(t *testing.T, name string) {
	t.Helper()
	must(t, k.kubectl(t, cmdOpts{timeout: time.Minute}, "delete", "job", name, "--cascade=foreground", "--wait=true"))
	var left result
	if !poll(30*time.Second, kubePoll, func() bool {
		left = k.kubectl(t, cmdOpts{timeout: 10 * time.Second}, "get", "pods", "-l", "job-name="+name, "-o", "name")
		return left.ok() && strings.TrimSpace(left.stdout) == ""
	}) {
		t.Errorf("pods of job %s still there 30s after it was deleted:\n%s", name, left)
	}
}

// checkRunning checks that exactly n pods match selector and every one is Running.
func (k *kube) checkRunning(t *testing.T, selector string, n int) {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pods", "-l", selector, "-o", `jsonpath={range .items[*]}{.status.phase}{"\n"}{end}`))
	phases := strings.Fields(r.stdout)
	running := 0
	for _, p := range phases {
		if p == "Running" {
			running++
		}
	}
	if len(phases) != n || running != n {
		t.Errorf("pods %s: %d, %d of them Running; want %d, all Running:\n%s", selector, len(phases), running, n, r.stdout)
	}
}

// guestPid is the pid of the berth-guest process of pod name's first container.
func (k *kube) guestPid(t *testing.T, name string) int {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].containerID}"))
	id := strings.TrimPrefix(strings.TrimSpace(r.stdout), "containerd://")
	s, res := k.cri.inspect(t, id)
	if !res.ok() || s.Info.Pid <= 0 {
		t.Fatalf("crictl inspect %s: no pid for the running guest:\n%s", id, res)
	}
	return s.Info.Pid
}

// cpuQuota returns the directory of process pid's cpu cgroup and its CFS quota and
// period in µs (cgroup v1 cpu.cfs_quota_us and cpu.cfs_period_us, or v2 cpu.max; -1
// for no quota).
func cpuQuota(t *testing.T, pid int) (dir string, quota, period int64) {
	t.Helper()
	for ctrl, p := range cgroups(t, pid) {
		if ctrl == "" && len(cgroups(t, pid)) == 1 { // v2
			dir = filepath.Join("/sys/fs/cgroup", p)
			f := strings.Fields(readHostFile(filepath.Join(dir, "cpu.max")))
			if len(f) != 2 {
				t.Fatalf("%s/cpu.max: %q", dir, f)
			}
			quota = -1
			if f[0] != "max" {
				quota, _ = strconv.ParseInt(f[0], 10, 64)
			}
			period, _ = strconv.ParseInt(f[1], 10, 64)
			return dir, quota, period
		}
		for _, c := range strings.Split(ctrl, ",") {
			if c == "cpu" {
				dir = filepath.Join("/sys/fs/cgroup", ctrl, p)
				quota, _ = strconv.ParseInt(readHostFile(filepath.Join(dir, "cpu.cfs_quota_us")), 10, 64)
				period, _ = strconv.ParseInt(readHostFile(filepath.Join(dir, "cpu.cfs_period_us")), 10, 64)
				return dir, quota, period
			}
		}
	}
	t.Fatalf("process %d: no cpu cgroup in %v", pid, cgroups(t, pid))
	return "", 0, 0
}

// cpuUsage reads the CPU time (ns) process pid's cgroup has used and the count of
// periods its cpu cgroup was throttled, from cpu.stat (v2: usage_usec, nr_throttled),
// or cpuacct.usage and cpu.stat (v1, where cpuacct may be a hierarchy of its own).
func cpuUsage(t *testing.T, pid int) (usage time.Duration, throttled int64) {
	t.Helper()
	dir, _, _ := cpuQuota(t, pid)
	stat := map[string]int64{}
	for _, line := range strings.Split(readHostFile(filepath.Join(dir, "cpu.stat")), "\n") {
		if f := strings.Fields(line); len(f) == 2 {
			stat[f[0]], _ = strconv.ParseInt(f[1], 10, 64)
		}
	}
	if u, ok := stat["usage_usec"]; ok {
		return time.Duration(u) * time.Microsecond, stat["nr_throttled"]
	}
	for ctrl, p := range cgroups(t, pid) {
		for _, c := range strings.Split(ctrl, ",") {
			if c != "cpuacct" {
				continue
			}
			f := filepath.Join("/sys/fs/cgroup", ctrl, p, "cpuacct.usage")
			s := readHostFile(f)
			u, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				t.Fatalf("%s: %q: %v", f, s, err)
			}
			return time.Duration(u), stat["nr_throttled"]
		}
	}
	t.Fatalf("process %d: no cpuacct cgroup in %v", pid, cgroups(t, pid))
	return 0, 0
}

// memoryCgroup returns the directory of process pid's memory cgroup, its limit and
// its usage in bytes (v1 memory.limit_in_bytes and memory.usage_in_bytes, v2
// memory.max and memory.current; -1 for no limit).
func memoryCgroup(t *testing.T, pid int) (dir string, limit, usage int64) {
	t.Helper()
	cg := cgroups(t, pid)
	num := func(f string) int64 {
		s := readHostFile(filepath.Join(dir, f))
		if s == "max" {
			return -1
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s/%s: %q: %v", dir, f, s, err)
		}
		return v
	}
	if p, ok := cg[""]; ok && len(cg) == 1 {
		dir = filepath.Join("/sys/fs/cgroup", p)
		return dir, num("memory.max"), num("memory.current")
	}
	for ctrl, p := range cg {
		for _, c := range strings.Split(ctrl, ",") {
			if c == "memory" {
				dir = filepath.Join("/sys/fs/cgroup", ctrl, p)
				return dir, num("memory.limit_in_bytes"), num("memory.usage_in_bytes")
			}
		}
	}
	t.Fatalf("process %d: no memory cgroup in %v", pid, cg)
	return "", 0, 0
}

// bundleMemory is linux.resources.memory of the OCI bundle containerd wrote for pod
// name's first container (what the shim and berth-guest read), as JSON.
func (k *kube) bundleMemory(t *testing.T, name string) string {
	t.Helper()
	r := must(t, k.kubectl(t, cmdOpts{}, "get", "pod", name, "-o", "jsonpath={.status.containerStatuses[0].containerID}"))
	id := strings.TrimPrefix(strings.TrimSpace(r.stdout), "containerd://")
	b, err := os.ReadFile(filepath.Join(k.cri.c.state, "io.containerd.runtime.v2.task", "k8s.io", id, "config.json"))
	if err != nil {
		t.Fatalf("reading the bundle of pod %s: %v", name, err)
	}
	var spec struct {
		Linux struct {
			Resources struct {
				Memory json.RawMessage `json:"memory"`
			} `json:"resources"`
		} `json:"linux"`
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		t.Fatalf("the bundle of pod %s: %v", name, err)
	}
	return string(spec.Linux.Resources.Memory)
}

// jobYAML is a Job of one Wasm container running image with EXIT=exit, restartPolicy
// Never (so each retry is a new pod) and backoffLimit.
func jobYAML(name, image, exit string, backoffLimit int) string {
	return fmt.Sprintf(`apiVersion: batch/v1
kind: Job
metadata:
  name: %s
spec:
  backoffLimit: %d
  template:
    spec:
      runtimeClassName: berth
      restartPolicy: Never
      automountServiceAccountToken: false
      enableServiceLinks: false
      containers:
      - name: main
        image: %s
        imagePullPolicy: Never
        env: [{name: EXIT, value: %q}]
`, name, backoffLimit, image, exit)
}

// deploymentYAML is a Deployment of replicas Wasm pods (label app=name) running image.
func deploymentYAML(name, image string, replicas int) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: %d
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
    spec:
      runtimeClassName: berth
      automountServiceAccountToken: false
      enableServiceLinks: false
      terminationGracePeriodSeconds: 5
      containers:
      - name: main
        image: %s
        imagePullPolicy: Never
`, name, replicas, name, name, image)
}

// httpPodYAML is a Wasm pod running examples/http-server (:8080) with the given labels
// and probe lines (indented for the container).
func httpPodYAML(name string, labels map[string]string, probes string) string {
	var l string
	for k, v := range labels {
		l += fmt.Sprintf("\n  labels: {%s: %s}", k, v)
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s%s
spec:
  runtimeClassName: berth
  automountServiceAccountToken: false
  enableServiceLinks: false
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    ports: [{containerPort: 8080}]
%s`, name, l, imgHTTP, probes)
}

// clientPodYAML is a pod (runtimeClass "" for runc) that runs the http client once
// against url; service links on, so $WEB_SERVICE_HOST is set.
func clientPodYAML(name, runtimeClass, image, url string) string {
	rc := ""
	if runtimeClass != "" {
		rc = "\n  runtimeClassName: " + runtimeClass
	}
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:%s
  restartPolicy: Never
  automountServiceAccountToken: false
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    args: [%q]
`, name, rc, image, url)
}

// memHogPodYAML is a Wasm pod running memhog with args (a YAML list) under
// limits.memory limit.
func memHogPodYAML(name, args, limit string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  runtimeClassName: berth
  restartPolicy: Never
  automountServiceAccountToken: false
  enableServiceLinks: false
  containers:
  - name: main
    image: %s
    imagePullPolicy: Never
    args: %s
    resources:
      limits: {memory: %s}
`, name, imgMemHog, args, limit)
}

// procRSS is the VmRSS line of /proc/PID/status, for logs.
func procRSS(pid int) string {
	for _, line := range strings.Split(readHostFile(fmt.Sprintf("/proc/%d/status", pid)), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			return strings.Join(strings.Fields(line), " ")
		}
	}
	return "VmRSS: ?"
}
