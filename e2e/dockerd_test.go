package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// dockerd is a private Docker Engine 29 (moby v2) on a private containerd 2.4.
type dockerd struct {
	e    *env
	c    *containerd
	dir  string
	sock string
	cli  string // the docker CLI
	cfg  string // DOCKER_CONFIG for the CLI, so it never reads or writes ~/.docker
	log  string
	p    *proc
}

// dockerdOpts change the daemon.json of startDockerdOpts.
type dockerdOpts struct {
	// settings are daemon.json keys laid over the defaults; a nil value removes the key.
	settings map[string]any
}

// startDockerd starts dockerd inside e on containerd c with the daemon.json of
// recipes.md: no iptables, no bridge, no userland proxy, the containerd image store,
// and time namespaces off (Debian's runc 1.1.5 does not know them).
func (e *env) startDockerd(t *testing.T, c *containerd) *dockerd {
	t.Helper()
	return e.startDockerdOpts(t, c, dockerdOpts{})
}

// startDockerdOpts is startDockerd with o's changes to daemon.json.
func (e *env) startDockerdOpts(t *testing.T, c *containerd, o dockerdOpts) *dockerd {
	t.Helper()
	d := &dockerd{e: e, c: c, dir: filepath.Join(e.dir, "docker")}
	bin := tool(t, envDockerd, binDir(envDockerd, "dockerd", dockerdVersion), "dockerd")
	d.cli = hostTool(t, "docker", "the docker CLI (docker-ce-cli or docker.io)")
	d.sock = filepath.Join(d.dir, "docker.sock")
	d.cfg = filepath.Join(d.dir, "cli")
	d.log = filepath.Join(d.dir, "dockerd.log")
	for _, p := range []string{d.dir, d.cfg} {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	settings := map[string]any{
		"features":                     map[string]bool{"time-namespaces": false},
		"data-root":                    filepath.Join(d.dir, "data"),
		"exec-root":                    filepath.Join(d.dir, "exec"),
		"pidfile":                      filepath.Join(d.dir, "docker.pid"),
		"hosts":                        []string{"unix://" + d.sock},
		"containerd":                   c.sock,
		"containerd-namespace":         "e2e-docker",
		"containerd-plugins-namespace": "e2e-docker-plugins",
		"iptables":                     false,
		"ip6tables":                    false,
		"bridge":                       "none",
		"userland-proxy":               false,
	}
	for k, v := range o.settings {
		if v == nil {
			delete(settings, k)
		} else {
			settings[k] = v
		}
	}
	cfg, err := json.MarshalIndent(settings, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(d.dir, "daemon.json")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	d.p = startDaemon(t, e, d.log, []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
		bin, "--config-file", cfgPath)
	t.Cleanup(func() { stopDaemon(d.p) })
	if !eventually(30*time.Second, func() bool {
		return d.p.exited() || d.docker(t, cmdOpts{timeout: 5 * time.Second}, "version").ok()
	}) || d.p.exited() {
		t.Fatalf("dockerd (%s) did not come up within 30s:\n%s", bin, logTail(d.log))
	}
	return d
}

// docker runs the docker CLI against this daemon.
func (d *dockerd) docker(t testing.TB, o cmdOpts, args ...string) result {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 60 * time.Second
	}
	o.env = append(o.env, "DOCKER_HOST=unix://"+d.sock, "DOCKER_CONFIG="+d.cfg)
	return d.e.run(t, o, append([]string{d.cli}, args...)...)
}
