package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// podSubnet is the CNI (ptp + host-local) subnet of pods with their own network
// namespace. ptp makes a veth pair between the pod and the test's private network
// namespace only.
const podSubnet = "10.244.0."

// cniBinDir is where Debian's containernetworking-plugins puts the plugins.
const cniBinDir = "/usr/lib/cni"

// writeCNIConfig writes the CNI configuration for the CRI plugin: Debian's ptp plugin
// with host-local IPAM whose state lives under the daemon's directory.
func writeCNIConfig(t testing.TB, c *containerd) {
	t.Helper()
	conf := fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": "berth-e2e",
  "plugins": [{
    "type": "ptp",
    "ipMasq": false,
    "ipam": {
      "type": "host-local",
      "subnet": "%s0/24",
      "dataDir": %q,
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
`, podSubnet, filepath.Join(c.dir, "ipam"))
	if err := os.WriteFile(filepath.Join(c.cniDir, "10-berth-e2e.conflist"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cri is crictl against a containerd with the CRI plugin.
type cri struct {
	c   *containerd
	bin string
	cfg string
}

// newCRI starts containerd of the given line with the CRI plugin inside e, imports the
// pause image and the given images (their CRI variants) into namespace k8s.io, and
// waits until `crictl info` answers.
func (e *env) newCRI(t *testing.T, version string, o containerdOpts, imgs ...string) *cri {
	t.Helper()
	r := e.startCRI(t, version, o)
	r.importImages(t, imgs...)
	return r
}

// startCRI starts containerd of the given line with the CRI plugin inside e and writes
// crictl's configuration; it imports no image (see importImages).
func (e *env) startCRI(t *testing.T, version string, o containerdOpts) *cri {
	t.Helper()
	bin := tool(t, envCrictl, binDir(envCrictl, "crictl", crictlVersion), "crictl")
	for _, plugin := range []string{"ptp", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, plugin)); err != nil {
			missing(t, "CNI plugin %s not found in %s; install containernetworking-plugins", plugin, cniBinDir)
		}
	}
	o.cri = true
	c := e.startContainerd(t, version, o)
	r := &cri{c: c, bin: bin, cfg: filepath.Join(c.dir, "crictl.yaml")}
	cfg := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 30\n", c.sock, c.sock)
	if err := os.WriteFile(r.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// importImages imports the pause image and the given images (their CRI variants) into
// namespace k8s.io and waits until `crictl info` answers and CRI sees every image.
func (r *cri) importImages(t *testing.T, imgs ...string) {
	t.Helper()
	set := testImages(t)
	for _, name := range append([]string{pauseImage}, imgs...) {
		r.c.importImage(t, "k8s.io", set.cri[name])
	}
	var last result
	if !eventually(20*time.Second, func() bool {
		last = r.crictl(t, cmdOpts{timeout: 10 * time.Second}, "info")
		return last.ok()
	}) {
		t.Fatalf("crictl info did not answer within 20s:\n%s", last)
	}
	// The images must be visible through CRI, or create fails with a less clear error.
	for _, name := range append([]string{pauseImage}, imgs...) {
		if !eventually(10*time.Second, func() bool {
			last = r.crictl(t, cmdOpts{timeout: 10 * time.Second}, "inspecti", name)
			return last.ok()
		}) {
			t.Fatalf("image %s imported into k8s.io is not visible through CRI:\n%s", name, last)
		}
	}
}

// crictl runs crictl inside the environment.
func (r *cri) crictl(t testing.TB, o cmdOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	return r.c.e.run(t, o, append([]string{r.bin, "--config", r.cfg}, args...)...)
}

// pod is a running pod sandbox.
type pod struct {
	id     string
	cfg    string // the pod config file, which crictl create needs again
	logDir string
}

// runPod runs a pod sandbox: on the environment's network when hostNet, else in a
// network namespace of its own set up by CNI. handler is the runtime handler ("" for
// the default, runc). The cleanup stops and removes it.
func (r *cri) runPod(t *testing.T, name string, hostNet bool, handler string) pod {
	t.Helper()
	p := pod{logDir: filepath.Join(r.c.logDir, name), cfg: filepath.Join(r.c.dir, "pod-"+name+".json")}
	if err := os.MkdirAll(p.logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	network := 0 // POD: a namespace of its own
	if hostNet {
		network = 2 // NODE
	}
	cfg := map[string]any{
		"metadata":      map[string]any{"name": name, "namespace": "berth-e2e", "uid": "uid-" + name, "attempt": 0},
		"log_directory": p.logDir,
		"linux": map[string]any{
			"security_context": map[string]any{"namespace_options": map[string]any{"network": network}},
		},
	}
	if !hostNet {
		cfg["hostname"] = name // a host-network pod has the node's (runc refuses to set it)
	}
	writeJSON(t, p.cfg, cfg)
	args := []string{"runp"}
	if handler != "" {
		args = append(args, "--runtime", handler)
	}
	res := r.crictl(t, cmdOpts{timeout: 2 * time.Minute}, append(args, p.cfg)...)
	if !res.ok() {
		t.Fatalf("crictl runp (handler %q, host network %v) failed:\n%s", handler, hostNet, res)
	}
	p.id = strings.TrimSpace(res.stdout)
	t.Cleanup(func() {
		r.crictl(t, cmdOpts{timeout: time.Minute}, "stopp", p.id)
		r.crictl(t, cmdOpts{timeout: time.Minute}, "rmp", "-f", p.id)
	})
	return p
}

// createContainer creates (not starts) a container in pod p and returns its id.
func (r *cri) createContainer(t *testing.T, p pod, name, image string, args []string, envs map[string]string) string {
	t.Helper()
	var kv []map[string]string
	for k, v := range envs {
		kv = append(kv, map[string]string{"key": k, "value": v})
	}
	cfg := map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": image},
		"args":     args,
		"envs":     kv,
		"log_path": name + ".log",
		"linux":    map[string]any{},
	}
	path := filepath.Join(r.c.dir, "ctr-"+name+".json")
	writeJSON(t, path, cfg)
	res := r.crictl(t, cmdOpts{timeout: 2 * time.Minute}, "create", p.id, path, p.cfg)
	if !res.ok() {
		t.Fatalf("crictl create %s (%s):\n%s", name, image, res)
	}
	return strings.TrimSpace(res.stdout)
}

// containerStatus is what the tests read from `crictl inspect -o json`.
type containerStatus struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		Reason   string `json:"reason"`
		Message  string `json:"message"`
	} `json:"status"`
	Info struct {
		Pid int `json:"pid"`
	} `json:"info"`
}

func (r *cri) inspect(t testing.TB, id string) (containerStatus, result) {
	t.Helper()
	var s containerStatus
	res := r.crictl(t, cmdOpts{timeout: 20 * time.Second}, "inspect", "-o", "json", id)
	if res.ok() {
		if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
			t.Fatalf("crictl inspect %s: %v\n%s", id, err, res.stdout)
		}
	}
	return s, res
}

// waitState polls crictl inspect until the container is in state (CONTAINER_RUNNING,
// CONTAINER_EXITED).
func (r *cri) waitState(t testing.TB, id, state string, timeout time.Duration) containerStatus {
	t.Helper()
	var s containerStatus
	var last result
	if !eventually(timeout, func() bool {
		s, last = r.inspect(t, id)
		return s.Status.State == state
	}) {
		t.Fatalf("container %s did not reach %s within %v (state %q):\n%s", id, state, timeout, s.Status.State, last)
	}
	return s
}

// podStatus is what the tests read from `crictl inspectp -o json`.
type podStatus struct {
	Status struct {
		State   string `json:"state"`
		Network struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		Pid         int `json:"pid"`
		RuntimeSpec struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

func (r *cri) inspectPod(t testing.TB, id string) podStatus {
	t.Helper()
	res := must(t, r.crictl(t, cmdOpts{timeout: 20 * time.Second}, "inspectp", "-o", "json", id))
	var s podStatus
	if err := json.Unmarshal([]byte(res.stdout), &s); err != nil {
		t.Fatalf("crictl inspectp %s: %v\n%s", id, err, res.stdout)
	}
	return s
}

// netnsPath is the pod's network namespace path from its runtime spec ("" for host
// network).
func (s podStatus) netnsPath() string {
	for _, ns := range s.Info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" {
			return ns.Path
		}
	}
	return ""
}

// readLog reads a container's CRI log file (lines "TIME STREAM TAG TEXT").
func (p pod) readLog(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(p.logDir, name+".log"))
	if err != nil {
		t.Fatalf("reading the container log: %v", err)
	}
	return string(b)
}

// checkCRILog asserts that the CRI log has each want line on the given stream.
func checkCRILog(t testing.TB, log string, want map[string]string) {
	t.Helper()
	for text, stream := range want {
		found := false
		for _, line := range strings.Split(log, "\n") {
			f := strings.SplitN(line, " ", 4)
			if len(f) == 4 && f[1] == stream && f[3] == text {
				found = true
			}
		}
		if !found {
			t.Errorf("container log lacks %q on %s:\n%s", text, stream, log)
		}
	}
}

func writeJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
