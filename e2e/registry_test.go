package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/registrytest"
	"github.com/berth-dev/berth/internal/testguest"
)

// Media types of the Wasm artifact layouts, as the peers push them.
const (
	mediaWasmConfig    = "application/vnd.wasm.config.v0+json"
	mediaWasmLayer     = "application/wasm"
	mediaW2OConfig     = "application/vnd.wasm.config.v1+json"
	mediaW2OLayer      = "application/vnd.wasm.content.layer.v1+wasm"
	annTitle           = "org.opencontainers.image.title"
	mediaDockerList    = "application/vnd.docker.distribution.manifest.list.v2+json"
	regUser, regPasswd = "alice", "s3cret-pw"
)

// regEnv is what the registry interop tests share: berth, the peers, two registries
// (one open, one with htpasswd users) and a Docker config directory that berth login
// writes and every peer reads.
type regEnv struct {
	berth, crane, oras, skopeo string
	dir                        string
	dockerConfig               string // DOCKER_CONFIG: berth login writes config.json here
	policy                     string // skopeo's signature policy (accept anything)
	open, auth                 *registrytest.Registry
	module                     []byte // the hello guest (C, wasm32-wasi)
	modulePath                 string
	loginOnce                  sync.Once
	loginErr                   error
}

// TestRegistryInterop moves Wasm images both ways between berth and the registry peers
// crane, skopeo and oras, through Debian's docker-registry on loopback: what a peer
// pushes, berth pulls and runs; what berth pushes, each peer pulls and verifies byte for
// byte. It needs no root and no daemon besides the registries.
func TestRegistryInterop(t *testing.T) {
	if os.Getenv(envGate) != "1" {
		t.Skip("end-to-end test: run with BERTH_E2E=1 (make e2e)")
	}
	r := newRegEnv(t)

	t.Run("peer-to-berth", func(t *testing.T) {
		t.Run("crane-docker-style", func(t *testing.T) {
			ref := r.craneWasmImage(t, r.open.Addr+"/crane/hello:1")
			r.pullAndRun(t, ref, nil, r.digest(t, ref))
		})
		t.Run("skopeo-copy-to-auth-registry", func(t *testing.T) {
			r.login(t)
			src := r.craneWasmImage(t, r.open.Addr+"/crane/hello-src:1")
			dst := r.auth.Addr + "/skopeo/hello:1"
			must(t, r.skopeoCmd(t, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
				"--dest-authfile", r.authFile(), "docker://"+src, "docker://"+dst))
			r.pullAndRun(t, dst, nil, r.digest(t, dst))
		})
		t.Run("crane-index-linux-and-wasm", func(t *testing.T) {
			wasm := r.craneWasmImage(t, r.open.Addr+"/crane/multi-wasm:1")
			lin := r.craneLinuxImage(t, r.open.Addr+"/crane/multi-linux:1", "linux/amd64")
			idx := r.open.Addr + "/crane/multi:1"
			must(t, r.craneCmd(t, "index", "append", "-m", lin, "-m", wasm, "-t", idx))
			// Without --platform berth picks the Wasm image; with it, the same.
			r.pullAndRun(t, idx, nil, r.digest(t, idx), r.digest(t, wasm))
			r.pullAndRun(t, idx, []string{"--platform", "wasi/wasm"}, r.digest(t, idx), r.digest(t, wasm))
		})
		t.Run("oras-wasm-artifact", func(t *testing.T) {
			ref := r.open.Addr + "/oras/hello:1"
			cfg := r.write(t, "wasm-config.json", `{"architecture":"wasm","os":"wasip1","layerDigests":["`+sha(r.module)+`"]}`)
			r.orasPush(t, ref, "--artifact-type", mediaWasmConfig, "--config", cfg+":"+mediaWasmConfig,
				"hello.wasm:"+mediaWasmLayer)
			m := r.manifest(t, ref)
			if m.Config.MediaType != mediaWasmConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != mediaWasmLayer {
				t.Fatalf("oras pushed an unexpected manifest (want config %s, one %s layer): %+v", mediaWasmConfig, mediaWasmLayer, m)
			}
			r.pullAndRun(t, ref, nil, r.digest(t, ref))
		})
		t.Run("oras-wasm-to-oci", func(t *testing.T) {
			ref := r.open.Addr + "/wasm-to-oci/hello:1"
			cfg := r.write(t, "w2o-config.json", `{}`)
			r.orasPush(t, ref, "--config", cfg+":"+mediaW2OConfig, "hello.wasm:"+mediaW2OLayer)
			r.pullAndRun(t, ref, nil, r.digest(t, ref))
		})
		t.Run("run-pulls-missing-image", func(t *testing.T) {
			ref := r.craneWasmImage(t, r.open.Addr+"/crane/run-pulls:1")
			root := t.TempDir()
			res := r.berthIn(t, root, "run", "--rm", "-e", "EXIT=3", ref)
			if res.code != 3 || res.stdout != "hello stdout\n" || !strings.HasSuffix(res.stderr, "hello stderr\n") {
				t.Fatalf("berth run of an image not yet pulled: want exit 3, stdout %q and stderr ending %q:\n%s",
					"hello stdout\n", "hello stderr\n", res)
			}
			// Now present: --pull never runs it.
			checkHello(t, r.berthIn(t, root, "run", "--rm", "--pull", "never", ref), 0)
		})
		t.Run("linux-only-image", func(t *testing.T) {
			amd := r.craneLinuxImage(t, r.open.Addr+"/crane/linux:amd64", "linux/amd64")
			arm := r.craneLinuxImage(t, r.open.Addr+"/crane/linux:arm64", "linux/arm64")
			idx := r.open.Addr + "/crane/linux:multi"
			must(t, r.craneCmd(t, "index", "append", "-m", amd, "-m", arm, "-t", idx))
			for _, tc := range []struct {
				ref  string
				want []string
			}{{amd, []string{"linux/amd64"}}, {idx, []string{"linux/amd64", "linux/arm64"}}} {
				root := t.TempDir()
				res := r.berthIn(t, root, "pull", tc.ref)
				if res.ok() {
					t.Errorf("berth pull of a Linux-only image succeeded:\n%s", res)
					continue
				}
				t.Logf("berth pull %s: %s", tc.ref, strings.TrimSpace(res.stderr))
				for _, p := range tc.want {
					if !strings.Contains(res.stderr, p) {
						t.Errorf("berth pull's error does not list platform %s:\n%s", p, res)
					}
				}
				r.notPresent(t, root, tc.ref)
			}
		})
		t.Run("auth-registry-docker-config", func(t *testing.T) {
			// skopeo pushes with explicit credentials; berth without any gets a clear
			// error, and with a config.json as `docker login` writes it, pulls.
			src := r.craneWasmImage(t, r.open.Addr+"/crane/private-src:1")
			ref := r.auth.Addr + "/skopeo/private:1"
			must(t, r.skopeoCmd(t, "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
				"--dest-creds", regUser+":"+regPasswd, "docker://"+src, "docker://"+ref))
			res := runCmd(t, cmdOpts{timeout: time.Minute, env: []string{"BERTH_ROOT=" + t.TempDir(),
				"BERTH_STATE=" + t.TempDir(), "DOCKER_CONFIG=" + t.TempDir()}}, r.berth, "pull", ref)
			if res.ok() {
				t.Fatalf("berth pull from a registry that needs a login succeeded without credentials:\n%s", res)
			}
			t.Logf("berth pull without credentials: %s", strings.TrimSpace(res.stderr))
			if low := strings.ToLower(res.stderr); !strings.Contains(low, "login") && !strings.Contains(low, "unauthorized") &&
				!strings.Contains(low, "credential") && !strings.Contains(low, "authenticat") {
				t.Errorf("berth pull without credentials: the error does not say that a login is needed:\n%s", res)
			}
			cfg := t.TempDir()
			auth := base64.StdEncoding.EncodeToString([]byte(regUser + ":" + regPasswd))
			if err := os.WriteFile(filepath.Join(cfg, "config.json"),
				[]byte(`{"auths":{"`+r.auth.Addr+`":{"auth":"`+auth+`"}}}`), 0o600); err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			env := []string{"BERTH_ROOT=" + root, "BERTH_STATE=" + root + "-state", "DOCKER_CONFIG=" + cfg}
			must(t, runCmd(t, cmdOpts{timeout: time.Minute, env: env}, r.berth, "pull", ref))
			checkHello(t, runCmd(t, cmdOpts{timeout: time.Minute, env: env}, r.berth, "run", "--rm", "--pull", "never", ref), 0)
			// And berth pushes there with the same credentials.
			dst := r.auth.Addr + "/berth/from-docker-config:1"
			must(t, runCmd(t, cmdOpts{env: env}, r.berth, "tag", ref, dst))
			must(t, runCmd(t, cmdOpts{timeout: time.Minute, env: env}, r.berth, "push", dst))
			must(t, r.skopeoCmd(t, "inspect", "--tls-verify=false", "--creds", regUser+":"+regPasswd, "docker://"+dst))
		})
	})

	t.Run("berth-to-peer", func(t *testing.T) {
		t.Run("docker-style", func(t *testing.T) {
			ref := r.open.Addr + "/berth/hello:1"
			root := r.berthBuild(t, ref)
			res := must(t, r.berthIn(t, root, "push", ref))
			d := r.digest(t, ref)
			if !strings.Contains(lastLine(res.stdout), d) {
				t.Errorf("berth push: the last line does not name the digest %s the registry serves:\n%s", d, res)
			}
			m := r.verifyWithCrane(t, ref)
			cfg := r.configOf(t, ref)
			if cfg.OS != "wasi" || cfg.Architecture != "wasm" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/hello.wasm" {
				t.Errorf("crane config: platform %s/%s entrypoint %q, want wasi/wasm [/hello.wasm]", cfg.OS, cfg.Architecture, cfg.Config.Entrypoint)
			}
			if got := r.moduleInLayers(t, ref, m, "hello.wasm"); !bytes.Equal(got, r.module) {
				t.Errorf("the layers berth pushed hold a hello.wasm of %d bytes that differs from the module (%d bytes)", len(got), len(r.module))
			}
			// skopeo: inspect, then copy into an OCI layout and check every blob.
			var in struct{ Os, Architecture, Digest string }
			si := must(t, r.skopeoCmd(t, "inspect", "--tls-verify=false", "docker://"+ref))
			if err := json.Unmarshal([]byte(si.stdout), &in); err != nil {
				t.Fatalf("skopeo inspect: %v\n%s", err, si)
			}
			if in.Os != "wasi" || in.Architecture != "wasm" || in.Digest != d {
				t.Errorf("skopeo inspect: %s/%s %s, want wasi/wasm %s", in.Os, in.Architecture, in.Digest, d)
			}
			layout := filepath.Join(t.TempDir(), "oci")
			must(t, r.skopeoCmd(t, "copy", "--src-tls-verify=false", "docker://"+ref, "oci:"+layout+":hello"))
			if got := verifyLayout(t, layout); got != d {
				t.Errorf("skopeo copy to an OCI layout: the index names %s, want the pushed manifest %s", got, d)
			}
			// Another berth pulls it back and runs it.
			r.pullAndRun(t, ref, nil, d)
		})
		t.Run("artifact", func(t *testing.T) {
			src := r.open.Addr + "/berth/hello:art-src"
			ref := r.open.Addr + "/berth/hello-artifact:1"
			root := r.berthBuild(t, src)
			must(t, r.berthIn(t, root, "tag", src, ref))
			must(t, r.berthIn(t, root, "push", "--format", "artifact", ref))
			m := r.verifyWithCrane(t, ref)
			if m.Config.MediaType != mediaWasmConfig || len(m.Layers) != 1 || m.Layers[0].MediaType != mediaWasmLayer {
				t.Fatalf("berth push --format artifact: want config %s and one %s layer, got %+v", mediaWasmConfig, mediaWasmLayer, m)
			}
			if got := r.blob(t, ref, m.Layers[0].Digest); !bytes.Equal(got, r.module) {
				t.Errorf("the application/wasm layer differs from the module")
			}
			title := m.Layers[0].Annotations[annTitle]
			if title == "" {
				t.Errorf("the application/wasm layer has no %s annotation: oras pull skips such layers", annTitle)
			}
			out := t.TempDir()
			pr := must(t, r.orasCmd(t, "pull", "--plain-http", "--no-tty", "--registry-config", r.authFile(), "-o", out, ref))
			if title != "" {
				got, err := os.ReadFile(filepath.Join(out, title))
				if err != nil || !bytes.Equal(got, r.module) {
					t.Errorf("oras pull did not write the module as %s (err %v):\n%s", title, err, pr)
				}
			}
			r.pullAndRun(t, ref, nil, r.digest(t, ref))
		})
		t.Run("index-with-linux", func(t *testing.T) {
			lin := r.craneLinuxImage(t, r.open.Addr+"/crane/for-index:1", "linux/amd64")
			ref := r.open.Addr + "/berth/both:1"
			root := r.berthBuild(t, ref)
			must(t, r.berthIn(t, root, "push", "--index-with", lin, ref))
			var idx ociIndex
			raw := must(t, r.craneCmd(t, "manifest", ref)).stdout
			if err := json.Unmarshal([]byte(raw), &idx); err != nil {
				t.Fatalf("crane manifest %s: %v\n%s", ref, err, raw)
			}
			if idx.MediaType != mediaIndex && idx.MediaType != mediaDockerList {
				t.Fatalf("berth push --index-with pushed a %q, want an index:\n%s", idx.MediaType, raw)
			}
			plats := map[string]string{}
			for _, m := range idx.Manifests {
				if m.Platform != nil {
					plats[m.Platform.OS+"/"+m.Platform.Architecture] = m.Digest
				}
			}
			if plats["linux/amd64"] != r.digest(t, lin) {
				t.Errorf("the index's linux/amd64 entry is %q, want the Linux image %s:\n%s", plats["linux/amd64"], r.digest(t, lin), raw)
			}
			wasm := plats["wasi/wasm"]
			if wasm == "" {
				t.Fatalf("the index has no wasi/wasm entry:\n%s", raw)
			}
			if cfg := r.configOf(t, ref+"@"+wasm); cfg.OS != "wasi" || cfg.Architecture != "wasm" {
				t.Errorf("crane config of the wasi/wasm entry: %s/%s", cfg.OS, cfg.Architecture)
			}
			r.verifyWithCrane(t, r.open.Addr+"/berth/both@"+wasm)
			r.pullAndRun(t, ref, nil, r.digest(t, ref), wasm)
		})
		t.Run("auth-registry-shared-login", func(t *testing.T) {
			r.login(t)
			ref := r.auth.Addr + "/berth/private:1"
			root := r.berthBuild(t, ref)
			must(t, r.berthIn(t, root, "push", ref))
			// crane reads the config.json berth login wrote.
			r.verifyWithCrane(t, ref)
			must(t, r.skopeoCmd(t, "inspect", "--tls-verify=false", "--authfile", r.authFile(), "docker://"+ref))
			// After berth logout crane has no credentials either. (The last use of the
			// login: later subtests need none.)
			requireBerthCommands(t, r.berth, "logout")
			must(t, runCmd(t, cmdOpts{env: r.env(t.TempDir())}, r.berth, "logout", r.auth.Addr))
			if res := r.craneCmd(t, "manifest", ref); res.ok() {
				t.Errorf("crane still reads %s after berth logout %s:\n%s", ref, r.auth.Addr, res)
			}
		})
	})

	t.Run("faults", func(t *testing.T) { r.faults(t) })
}

func newRegEnv(t *testing.T) *regEnv {
	t.Helper()
	if _, err := registrytest.Binary(); err != nil {
		missing(t, "%v", err)
	}
	r := &regEnv{
		crane:  tool(t, envCrane, binDir(envCrane, "crane", craneVersion), "crane"),
		oras:   tool(t, envOras, binDir(envOras, "oras", orasVersion), "oras"),
		skopeo: hostTool(t, "skopeo", "skopeo"),
		dir:    t.TempDir(),
	}
	r.berth = berthBin(t)
	requireBerthCommands(t, r.berth, "pull", "push")
	r.modulePath = testguest.C(t, helloSrc)
	r.module = testguest.Read(t, r.modulePath)
	// The peers push module files by name: keep one named hello.wasm in the work dir.
	if err := os.WriteFile(filepath.Join(r.dir, "hello.wasm"), r.module, 0o644); err != nil {
		t.Fatal(err)
	}
	r.dockerConfig = filepath.Join(r.dir, "docker")
	r.policy = r.write(t, "policy.json", `{"default":[{"type":"insecureAcceptAnything"}]}`)
	r.open = registrytest.Start(t, registrytest.Options{})
	r.auth = registrytest.Start(t, registrytest.Options{Users: map[string]string{regUser: regPasswd}})
	return r
}

// requireBerthCommands skips the test while berth lacks a command (the registry commands
// arrive with issue 5). Like a missing shim, that is the repository's state, not the
// machine's, so it skips even with BERTH_E2E_REQUIRE=1.
func requireBerthCommands(t *testing.T, berth string, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if r := runCmd(t, cmdOpts{}, berth, c, "--help"); !r.ok() || strings.Contains(r.stdout+r.stderr, "unknown command") {
			t.Skipf("waiting for `berth %s` (issue 5): bin/berth has no such command", c)
		}
	}
}

// login runs berth login for the auth registry once; the config.json it writes (in
// DOCKER_CONFIG) is what every peer then reads. It skips while berth has no login.
func (r *regEnv) login(t *testing.T) {
	t.Helper()
	requireBerthCommands(t, r.berth, "login")
	r.loginOnce.Do(func() {
		res := runCmd(t, cmdOpts{stdin: strings.NewReader(regPasswd + "\n"), env: r.env(t.TempDir())},
			r.berth, "login", "-u", regUser, "--password-stdin", r.auth.Addr)
		b, err := os.ReadFile(r.authFile())
		switch {
		case !res.ok():
			r.loginErr = fmt.Errorf("berth login failed:\n%s", res)
		case err != nil || !strings.Contains(string(b), r.auth.Addr):
			r.loginErr = fmt.Errorf("berth login did not write %s naming %s (err %v):\n%s", r.authFile(), r.auth.Addr, err, b)
		}
	})
	if r.loginErr != nil {
		t.Fatal(r.loginErr)
	}
}

func (r *regEnv) authFile() string { return filepath.Join(r.dockerConfig, "config.json") }

// env is the environment of a berth with its own store in root.
func (r *regEnv) env(root string) []string {
	return []string{"BERTH_ROOT=" + root, "BERTH_STATE=" + root + "-state", "DOCKER_CONFIG=" + r.dockerConfig}
}

func (r *regEnv) berthIn(t *testing.T, root string, args ...string) result {
	t.Helper()
	return runCmd(t, cmdOpts{timeout: 2 * time.Minute, env: r.env(root)}, append([]string{r.berth}, args...)...)
}

func (r *regEnv) craneCmd(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, cmdOpts{timeout: time.Minute, env: []string{"DOCKER_CONFIG=" + r.dockerConfig}, dir: r.dir},
		append([]string{r.crane}, args...)...)
}

func (r *regEnv) orasCmd(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, cmdOpts{timeout: time.Minute, env: []string{"DOCKER_CONFIG=" + r.dockerConfig}, dir: r.dir},
		append([]string{r.oras}, args...)...)
}

func (r *regEnv) skopeoCmd(t *testing.T, args ...string) result {
	t.Helper()
	return runCmd(t, cmdOpts{timeout: time.Minute}, append([]string{r.skopeo, "--policy", r.policy}, args...)...)
}

// orasPush pushes files of the work dir (the module is hello.wasm) with oras.
func (r *regEnv) orasPush(t *testing.T, ref string, args ...string) {
	t.Helper()
	must(t, r.orasCmd(t, append([]string{"push", "--plain-http", "--no-tty", "--registry-config", r.authFile(), ref}, args...)...))
}

func (r *regEnv) write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// layerTar writes a tar holding one file and returns its path.
func (r *regEnv) layerTar(t *testing.T, name string, mode int64, content []byte) string {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(content)), Typeflag: tar.TypeReg,
		ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	tw.Write(content)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(r.dir, "layer-*.tar")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b.Bytes()); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// craneWasmImage pushes a Docker-style wasi/wasm image of the hello module, built with
// crane alone: append a layer to an empty base, then set the platform and entrypoint.
//
// Each extra is a layer put before the module's, holding one file /data-N.bin.
func (r *regEnv) craneWasmImage(t *testing.T, ref string, extra ...[]byte) string {
	t.Helper()
	var args []string
	for i, b := range extra {
		args = append(args, "-f", r.layerTar(t, fmt.Sprintf("data-%d.bin", i), 0o644, b))
	}
	args = append(args, "-f", r.layerTar(t, "hello.wasm", 0o755, r.module))
	must(t, r.craneCmd(t, append(append([]string{"append", "--oci-empty-base"}, args...), "-t", ref+"-base")...))
	must(t, r.craneCmd(t, "mutate", ref+"-base", "--set-platform", "wasi/wasm", "--entrypoint", "/hello.wasm", "-t", ref))
	return ref
}

// craneLinuxImage pushes a small Linux image (a shell script) for platform.
func (r *regEnv) craneLinuxImage(t *testing.T, ref, platform string) string {
	t.Helper()
	layer := r.layerTar(t, "hello.sh", 0o755, []byte("#!/bin/sh\necho linux\n"))
	must(t, r.craneCmd(t, "append", "--oci-empty-base", "-f", layer, "-t", ref+"-base"))
	must(t, r.craneCmd(t, "mutate", ref+"-base", "--set-platform", platform, "--entrypoint", "/hello.sh", "-t", ref))
	return ref
}

// berthBuild builds the hello module into an image named ref in a new store and
// returns the store's root.
func (r *regEnv) berthBuild(t *testing.T, ref string) string {
	t.Helper()
	ctx := t.TempDir()
	if err := os.WriteFile(filepath.Join(ctx, "hello.wasm"), r.module, 0o644); err != nil {
		t.Fatal(err)
	}
	df := "FROM scratch\nCOPY hello.wasm /hello.wasm\nENTRYPOINT [\"/hello.wasm\"]\n"
	if err := os.WriteFile(filepath.Join(ctx, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	must(t, r.berthIn(t, root, "build", "-q", "-t", ref, ctx))
	return root
}

// pullAndRun pulls ref (with pullArgs) into a new store, checks that the output names
// one of the digests on a "Digest: " line (as docker pull does), runs the image with
// --pull never and checks the hello guest's output.
func (r *regEnv) pullAndRun(t *testing.T, ref string, pullArgs []string, digests ...string) {
	t.Helper()
	root := t.TempDir()
	res := must(t, r.berthIn(t, root, append(append([]string{"pull"}, pullArgs...), ref)...))
	named := false
	for _, d := range digests {
		named = named || strings.Contains(res.stdout, "Digest: "+d+"\n")
	}
	if !named {
		t.Errorf("berth pull %s: no line \"Digest: D\" names one of %v:\n%s", ref, digests, res)
	}
	checkHello(t, r.berthIn(t, root, "run", "--rm", "--pull", "never", "-e", "EXIT=3", ref), 3)
}

// notPresent checks that berth's store in root does not list ref.
func (r *regEnv) notPresent(t *testing.T, root, ref string) {
	t.Helper()
	res := r.berthIn(t, root, "run", "--rm", "--pull", "never", ref)
	if res.ok() {
		t.Errorf("%s is in the store after a failed pull:\n%s", ref, res)
	}
}

// digest is the manifest digest the registry serves for ref (crane digest).
func (r *regEnv) digest(t *testing.T, ref string) string {
	t.Helper()
	return strings.TrimSpace(must(t, r.craneCmd(t, "digest", ref)).stdout)
}

type regManifest struct {
	MediaType string          `json:"mediaType"`
	Config    regDescriptor   `json:"config"`
	Layers    []regDescriptor `json:"layers"`
}

type regDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
}

type regConfig struct {
	OS           string `json:"os"`
	Architecture string `json:"architecture"`
	Config       struct {
		Entrypoint []string `json:"Entrypoint"`
	} `json:"config"`
}

func (r *regEnv) manifest(t *testing.T, ref string) regManifest {
	t.Helper()
	raw := must(t, r.craneCmd(t, "manifest", ref)).stdout
	var m regManifest
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("crane manifest %s: %v\n%s", ref, err, raw)
	}
	return m
}

func (r *regEnv) configOf(t *testing.T, ref string) regConfig {
	t.Helper()
	raw := must(t, r.craneCmd(t, "config", ref)).stdout
	var c regConfig
	if err := json.Unmarshal([]byte(raw), &c); err != nil {
		t.Fatalf("crane config %s: %v\n%s", ref, err, raw)
	}
	return c
}

// blob fetches a blob with crane and checks it against its digest.
func (r *regEnv) blob(t *testing.T, ref, digest string) []byte {
	t.Helper()
	repo, _, digested := strings.Cut(ref, "@")
	if i := strings.LastIndex(repo, ":"); !digested && i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	b := []byte(must(t, r.craneCmd(t, "blob", repo+"@"+digest)).stdout)
	if sha(b) != digest {
		t.Fatalf("crane blob %s@%s: content has digest %s", repo, digest, sha(b))
	}
	return b
}

// verifyWithCrane checks what crane sees of ref: the manifest's digest is what crane
// digest says, the config and every layer match their descriptors' digests and sizes.
func (r *regEnv) verifyWithCrane(t *testing.T, ref string) regManifest {
	t.Helper()
	raw := must(t, r.craneCmd(t, "manifest", ref)).stdout
	if d := r.digest(t, ref); sha([]byte(raw)) != d {
		t.Errorf("crane manifest %s hashes to %s, crane digest says %s", ref, sha([]byte(raw)), d)
	}
	m := r.manifest(t, ref)
	cfg := []byte(must(t, r.craneCmd(t, "config", ref)).stdout)
	if sha(cfg) != m.Config.Digest || int64(len(cfg)) != m.Config.Size {
		t.Errorf("crane config %s: %d bytes %s, the manifest says %d bytes %s", ref, len(cfg), sha(cfg), m.Config.Size, m.Config.Digest)
	}
	for _, l := range m.Layers {
		if b := r.blob(t, ref, l.Digest); int64(len(b)) != l.Size {
			t.Errorf("layer %s: %d bytes, the manifest says %d", l.Digest, len(b), l.Size)
		}
	}
	return m
}

// moduleInLayers returns file name's content from the image's tar layers (gzip or not).
func (r *regEnv) moduleInLayers(t *testing.T, ref string, m regManifest, name string) []byte {
	t.Helper()
	var found []byte
	for _, l := range m.Layers {
		var rd io.Reader = bytes.NewReader(r.blob(t, ref, l.Digest))
		if strings.HasSuffix(l.MediaType, "gzip") {
			z, err := gzip.NewReader(rd)
			if err != nil {
				t.Fatalf("layer %s (%s): %v", l.Digest, l.MediaType, err)
			}
			rd = z
		}
		tr := tar.NewReader(rd)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("layer %s: %v", l.Digest, err)
			}
			if strings.TrimPrefix(h.Name, "/") == name || strings.TrimPrefix(h.Name, "./") == name {
				found, _ = io.ReadAll(tr)
			}
		}
	}
	return found
}

// verifyLayout checks an OCI image layout: every blob hashes to its name, and returns
// the digest of the one manifest its index.json names.
func verifyLayout(t *testing.T, dir string) string {
	t.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	ents, err := os.ReadDir(blobs)
	if err != nil {
		t.Fatalf("OCI layout %s: %v", dir, err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(blobs, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if sha(b) != "sha256:"+e.Name() {
			t.Errorf("OCI layout %s: blob %s hashes to %s", dir, e.Name(), sha(b))
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx ociIndex
	if err := json.Unmarshal(b, &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("OCI layout %s: index.json (err %v) should name one manifest:\n%s", dir, err, b)
	}
	return idx.Manifests[0].Digest
}

// faults pulls through registrytest.FaultProxy: transient failures are retried, a wrong
// byte is refused with the blob named and nothing kept, and a second pull downloads no
// blob.
func (r *regEnv) faults(t *testing.T) {
	ref := r.craneWasmImage(t, r.open.Addr+"/crane/faults:1")
	layer := r.manifest(t, ref).Layers[0].Digest
	layerPath := "/blobs/" + regexp.QuoteMeta(layer) + "$"
	p := registrytest.NewFaultProxy(t, r.open.Addr)
	via := p.Addr + "/crane/faults:1"

	t.Run("transient-failures-are-retried", func(t *testing.T) {
		p.Clear()
		rules := []*registrytest.Rule{
			p.Add(t, registrytest.Fault{Method: "GET", Path: registrytest.ManifestPath, Action: registrytest.Fail, Status: 503, Times: 1}),
			p.Add(t, registrytest.Fault{Method: "GET", Path: layerPath, Action: registrytest.Reset, N: 1000, Times: 1}),
			p.Add(t, registrytest.Fault{Method: "GET", Path: layerPath, Action: registrytest.Fail, Status: 429, RetryAfter: "1", Times: 1}),
		}
		r.pullAndRun(t, via, nil, r.digest(t, ref))
		for i, rule := range rules {
			if p.Hits(rule) != 1 {
				t.Errorf("fault %d hit %d times, want 1 (requests: %+v)", i, p.Hits(rule), p.Requests())
			}
		}
	})
	for _, tc := range []struct {
		name  string
		fault registrytest.Fault
	}{
		{"wrong-byte", registrytest.Fault{Method: "GET", Path: layerPath, Action: registrytest.Flip, N: 100}},
		{"truncated", registrytest.Fault{Method: "GET", Path: layerPath, Action: registrytest.Truncate, N: 100}},
	} {
		t.Run(tc.name+"-is-refused", func(t *testing.T) {
			p.Clear()
			p.Add(t, tc.fault)
			root := t.TempDir()
			res := r.berthIn(t, root, "pull", via)
			if res.ok() {
				t.Fatalf("berth pull accepted a blob with a %s:\n%s", tc.name, res)
			}
			t.Logf("berth pull, %s: %s", tc.name, strings.TrimSpace(res.stderr))
			if !strings.Contains(res.stderr, layer) {
				t.Errorf("berth pull's error does not name the blob %s:\n%s", layer, res)
			}
			r.notPresent(t, root, via)
		})
	}
	// Two pulls into one store at once, the layer's download held in flight: one
	// download, both succeed.
	t.Run("two-pulls-at-once-download-once", func(t *testing.T) {
		p.Clear()
		p.ResetCounts()
		p.Add(t, registrytest.Fault{Method: "GET", Path: layerPath, Action: registrytest.Delay, Delay: time.Second, Times: 1})
		root := t.TempDir()
		a := startProc(t, cmdOpts{env: r.env(root)}, r.berth, "pull", via)
		b := startProc(t, cmdOpts{env: r.env(root)}, r.berth, "pull", via)
		for _, pr := range []*proc{a, b} {
			must(t, pr.wait(time.Minute))
		}
		if n := getsOf(p, layer); n != 1 {
			t.Errorf("two pulls at once downloaded the layer %d times, want 1: %+v", n, p.Requests())
		}
		checkHello(t, r.berthIn(t, root, "run", "--rm", "--pull", "never", via), 0)
	})
	// A pull killed while its second layer downloads leaves the first in the store;
	// the next pull fetches only the second.
	t.Run("interrupted-pull-resumes", func(t *testing.T) {
		data := make([]byte, 256<<10)
		for i := range data {
			data[i] = byte(i * 7)
		}
		ref2 := r.craneWasmImage(t, r.open.Addr+"/crane/resume:1", data)
		m := r.manifest(t, ref2)
		if len(m.Layers) != 2 {
			t.Fatalf("want a two-layer image, crane made %+v", m)
		}
		first, second := m.Layers[0].Digest, m.Layers[1].Digest
		via2 := p.Addr + "/crane/resume:1"
		p.Clear()
		p.ResetCounts()
		p.Add(t, registrytest.Fault{Method: "GET", Path: "/blobs/" + regexp.QuoteMeta(second) + "$",
			Action: registrytest.Delay, Delay: time.Minute, Times: 1})
		root := t.TempDir()
		pr := startProc(t, cmdOpts{env: r.env(root)}, r.berth, "pull", via2)
		firstBlob := filepath.Join(root, "content", "blobs", "sha256", strings.TrimPrefix(first, "sha256:"))
		if !eventually(30*time.Second, func() bool {
			_, err := os.Stat(firstBlob)
			return err == nil && getsOf(p, second) == 1
		}) {
			t.Fatalf("the first layer never reached the store (%s) while the second was held: %+v", firstBlob, p.Requests())
		}
		pr.kill()
		p.Clear()
		p.ResetCounts()
		must(t, r.berthIn(t, root, "pull", via2))
		if n1, n2 := getsOf(p, first), getsOf(p, second); n1 != 0 || n2 != 1 {
			t.Errorf("the pull after the interrupted one downloaded the first layer %d times (want 0) and the second %d times (want 1): %+v",
				n1, n2, p.Requests())
		}
		checkHello(t, r.berthIn(t, root, "run", "--rm", "--pull", "never", "-e", "EXIT=3", via2), 3)
	})
	t.Run("present-image-downloads-no-blob", func(t *testing.T) {
		p.Clear()
		root := t.TempDir()
		must(t, r.berthIn(t, root, "pull", via))
		p.ResetCounts()
		must(t, r.berthIn(t, root, "pull", via))
		if n := p.Count("GET", registrytest.KindBlob); n != 0 {
			t.Errorf("a second pull of a present image downloaded %d blobs: %+v", n, p.Requests())
		}
	})
}

// getsOf counts the GETs of one blob the proxy has seen.
func getsOf(p *registrytest.FaultProxy, digest string) int {
	n := 0
	for _, q := range p.Requests() {
		if q.Method == "GET" && strings.HasSuffix(q.Path, "/blobs/"+digest) {
			n++
		}
	}
	return n
}

func lastLine(s string) string {
	s = strings.TrimRight(s, "\n")
	return s[strings.LastIndex(s, "\n")+1:]
}

func sha(b []byte) string {
	d := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(d[:])
}
