package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testguest"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"
)

// helloModule builds testguest.GoHello. The replacement drops an unused
// import that stops GoHello from compiling at the time of writing; it is a
// no-op once testguest is fixed.
func helloModule(t *testing.T) string {
	t.Helper()
	return testguest.Go(t, testguest.GoHello)
}

// emptyModule is the smallest valid WebAssembly module: magic and version.
const emptyModule = "\x00asm\x01\x00\x00\x00"

// writeTree writes files (path -> content) under dir. A content starting
// with "->" makes a symbolic link to the rest; a path ending in / a
// directory.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for _, name := range slices.Sorted(maps.Keys(files)) {
		content := files[name]
		p := filepath.Join(dir, filepath.FromSlash(name))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// contextDir makes a build context with the given Dockerfile and files.
func contextDir(t *testing.T, dockerfile string, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if dockerfile != "" {
		files = maps.Clone(files)
		if files == nil {
			files = map[string]string{}
		}
		files["Dockerfile"] = dockerfile
	}
	writeTree(t, dir, files)
	return dir
}

func mustBuild(t *testing.T, opts Options) v1.Image {
	t.Helper()
	img, err := Build(context.Background(), opts)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("validate.Image: %v", err)
	}
	return img
}

// entry is one tar entry of a layer, for comparisons.
type entry struct {
	Type     byte
	Mode     int64
	UID, GID int
	Link     string
	Content  string
}

// layerEntries returns the single layer's entries in order, and checks the
// properties every entry must have.
func layerEntries(t *testing.T, img v1.Image) ([]string, map[string]entry) {
	t.Helper()
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	if len(layers) != 1 {
		t.Fatalf("image has %d layers, want 1", len(layers))
	}
	if mt, _ := layers[0].MediaType(); mt != types.OCILayer {
		t.Errorf("layer media type = %s, want %s", mt, types.OCILayer)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	entries := map[string]entry{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: uname/gname = %q/%q, want empty", h.Name, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(cf.Created.Time) {
			t.Errorf("%s: mtime %v, want the image's created time %v", h.Name, h.ModTime, cf.Created.Time)
		}
		names = append(names, h.Name)
		entries[h.Name] = entry{h.Typeflag, h.Mode, h.Uid, h.Gid, h.Linkname, string(data)}
	}
	if !slices.IsSortedFunc(names, func(a, b string) int {
		return strings.Compare(strings.TrimSuffix(a, "/"), strings.TrimSuffix(b, "/"))
	}) {
		t.Errorf("layer entries are not sorted by path: %q", names)
	}
	return names, entries
}

func digest(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestBuildConfig(t *testing.T) {
	wasm, err := os.ReadFile(helloModule(t))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := `# syntax=docker/dockerfile:1
ARG VERSION=1.0
FROM scratch AS final
ARG VERSION
ARG PORT=8080
ENV APP_HOME=/app \
    GREETING="hello world"
LABEL org.opencontainers.image.version=$VERSION \
      "com.example.quoted"="a b"
WORKDIR $APP_HOME
COPY hello.wasm ./
EXPOSE $PORT 8080/tcp 53/udp
USER 1000:1000
VOLUME ["/data"]
STOPSIGNAL SIGINT
ENTRYPOINT ["/app/hello.wasm"]
CMD ["--greeting", "$GREETING"]
`
	dir := contextDir(t, dockerfile, map[string]string{"hello.wasm": string(wasm)})
	created := time.Date(2024, 5, 6, 7, 8, 9, 500, time.FixedZone("X", 3600))
	img := mustBuild(t, Options{
		Context:   dir,
		BuildArgs: map[string]string{"PORT": "9090", "UNUSED": "x"},
		Labels:    map[string]string{"extra": "yes", "com.example.quoted": "overridden"},
		Created:   created,
	})

	if mt, _ := img.MediaType(); mt != types.OCIManifestSchema1 {
		t.Errorf("manifest media type = %s", mt)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.Config.MediaType != types.OCIConfigJSON {
		t.Errorf("config media type = %s", m.Config.MediaType)
	}
	if len(m.Layers) != 1 || m.Layers[0].MediaType != types.OCILayer {
		t.Errorf("manifest layers = %+v, want one %s", m.Layers, types.OCILayer)
	}

	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Architecture != "wasm" || cf.OS != "wasi" {
		t.Errorf("platform = %s/%s, want wasi/wasm", cf.OS, cf.Architecture)
	}
	wantCreated := time.Date(2024, 5, 6, 6, 8, 9, 0, time.UTC)
	if !cf.Created.Time.Equal(wantCreated) {
		t.Errorf("created = %v, want %v (UTC, whole seconds)", cf.Created.Time, wantCreated)
	}
	raw, _ := img.RawConfigFile()
	if !bytes.Contains(raw, []byte(`"created":"2024-05-06T06:08:09Z"`)) {
		t.Errorf("raw config has no UTC created time: %s", raw)
	}
	c := cf.Config
	want := v1.Config{
		Entrypoint:   []string{"/app/hello.wasm"},
		Cmd:          []string{"--greeting", "$GREETING"}, // exec form: no substitution
		Env:          []string{defaultPathEnv, "APP_HOME=/app", "GREETING=hello world"},
		WorkingDir:   "/app",
		User:         "1000:1000",
		StopSignal:   "SIGINT",
		Labels:       map[string]string{"org.opencontainers.image.version": "1.0", "com.example.quoted": "overridden", "extra": "yes"},
		ExposedPorts: map[string]struct{}{"9090/tcp": {}, "8080/tcp": {}, "53/udp": {}},
		Volumes:      map[string]struct{}{"/data": {}},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("config:\n got %+v\nwant %+v", c, want)
	}

	// History: one entry per instruction after FROM; the last
	// layer-producing one (COPY) carries the layer.
	if len(cf.History) != 12 {
		t.Fatalf("history has %d entries, want 12: %+v", len(cf.History), cf.History)
	}
	var nonEmpty []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			nonEmpty = append(nonEmpty, h.CreatedBy)
		}
		if !h.Created.Time.Equal(wantCreated) {
			t.Errorf("history %q created %v", h.CreatedBy, h.Created.Time)
		}
	}
	if !reflect.DeepEqual(nonEmpty, []string{"COPY hello.wasm ./"}) {
		t.Errorf("non-empty history entries = %q", nonEmpty)
	}
	if cf.History[0].CreatedBy != "ARG VERSION" {
		t.Errorf("history[0] = %q, want the first instruction after FROM", cf.History[0].CreatedBy)
	}
	if len(cf.RootFS.DiffIDs) != 1 {
		t.Errorf("diff_ids = %v", cf.RootFS.DiffIDs)
	}

	names, entries := layerEntries(t, img)
	if want := []string{"app/", "app/hello.wasm"}; !reflect.DeepEqual(names, want) {
		t.Errorf("layer = %q, want %q", names, want)
	}
	if e := entries["app/hello.wasm"]; e.Content != string(wasm) || e.Mode != 0o644 || e.UID != 0 {
		t.Errorf("app/hello.wasm: mode %o uid %d, %d bytes", e.Mode, e.UID, len(e.Content))
	}
	if e := entries["app/"]; e.Type != tar.TypeDir || e.Mode != 0o755 {
		t.Errorf("app/: %+v", e)
	}
}

func TestBuildLayerContent(t *testing.T) {
	dockerfile := `FROM scratch
COPY app.wasm /
COPY --chmod=0750 --chown=10:20 assets /srv/assets
COPY ["dir with space/f.txt", "/nested/deep/"]
COPY *.txt /texts/
COPY exec.sh /bin/run
COPY links /links/
ADD app.wasm /added.wasm
COPY --chown=7 one.txt /owned.txt
WORKDIR /var/empty
ENTRYPOINT ["/app.wasm"]
`
	dir := contextDir(t, dockerfile, map[string]string{
		"app.wasm":             emptyModule,
		"assets/a.css":         "css",
		"assets/img/logo.svg":  "svg",
		"assets/emptydir/":     "",
		"dir with space/f.txt": "f",
		"one.txt":              "1",
		"two.txt":              "2",
		"exec.sh":              "#!/bin/sh",
		"links/target.txt":     "t",
		"links/rel":            "->target.txt",
		"links/up":             "->../one.txt",
	})
	if err := os.Chmod(filepath.Join(dir, "exec.sh"), 0o700); err != nil {
		t.Fatal(err)
	}
	img := mustBuild(t, Options{Context: dir})
	names, entries := layerEntries(t, img)
	wantNames := []string{
		"added.wasm", "app.wasm", "bin/", "bin/run",
		"links/", "links/rel", "links/target.txt", "links/up",
		"nested/", "nested/deep/", "nested/deep/f.txt",
		"owned.txt",
		"srv/", "srv/assets/", "srv/assets/a.css", "srv/assets/emptydir/", "srv/assets/img/", "srv/assets/img/logo.svg",
		"texts/", "texts/one.txt", "texts/two.txt",
		"var/", "var/empty/",
	}
	if !reflect.DeepEqual(names, wantNames) {
		t.Fatalf("layer:\n got %q\nwant %q", names, wantNames)
	}
	checks := map[string]entry{
		"app.wasm":                {tar.TypeReg, 0o644, 0, 0, "", emptyModule},
		"added.wasm":              {tar.TypeReg, 0o644, 0, 0, "", emptyModule},
		"bin/":                    {tar.TypeDir, 0o755, 0, 0, "", ""},
		"bin/run":                 {tar.TypeReg, 0o755, 0, 0, "", "#!/bin/sh"},
		"srv/":                    {tar.TypeDir, 0o755, 0, 0, "", ""},
		"srv/assets/":             {tar.TypeDir, 0o750, 10, 20, "", ""},
		"srv/assets/a.css":        {tar.TypeReg, 0o750, 10, 20, "", "css"},
		"srv/assets/emptydir/":    {tar.TypeDir, 0o750, 10, 20, "", ""},
		"srv/assets/img/logo.svg": {tar.TypeReg, 0o750, 10, 20, "", "svg"},
		"links/rel":               {tar.TypeSymlink, 0o777, 0, 0, "target.txt", ""},
		"links/up":                {tar.TypeSymlink, 0o777, 0, 0, "../one.txt", ""},
		"owned.txt":               {tar.TypeReg, 0o644, 7, 7, "", "1"},
		"var/empty/":              {tar.TypeDir, 0o755, 0, 0, "", ""},
	}
	for name, want := range checks {
		if got := entries[name]; got != want {
			t.Errorf("%s = %+v, want %+v", name, got, want)
		}
	}
	cf, _ := img.ConfigFile()
	if cf.Config.WorkingDir != "/var/empty" {
		t.Errorf("WorkingDir = %q", cf.Config.WorkingDir)
	}
	// WORKDIR is the last layer-producing instruction: it carries the layer.
	var carrying []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			carrying = append(carrying, h.CreatedBy)
		}
	}
	if !reflect.DeepEqual(carrying, []string{"WORKDIR /var/empty"}) {
		t.Errorf("layer-carrying history = %q", carrying)
	}
}

func TestBuildOverwriteAndMerge(t *testing.T) {
	dockerfile := `FROM scratch
COPY a/ /out/
COPY b/ /out/
COPY v2.wasm /app.wasm
COPY v1.wasm /app.wasm
COPY one.txt /out
ENTRYPOINT ["app.wasm"]
`
	dir := contextDir(t, dockerfile, map[string]string{
		"a/x": "a-x", "a/y": "a-y", "b/y": "b-y", "b/z": "b-z",
		"v1.wasm": emptyModule + "1", "v2.wasm": emptyModule + "2", "one.txt": "1",
	})
	_, entries := layerEntries(t, mustBuild(t, Options{Context: dir}))
	for name, want := range map[string]string{"out/x": "a-x", "out/y": "b-y", "out/z": "b-z", "out/one.txt": "1", "app.wasm": emptyModule + "1"} {
		if got := entries[name].Content; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// TestReproducible builds the same sources from two checkouts that differ in
// everything but content, and then with one byte changed.
func TestReproducible(t *testing.T) {
	dockerfile := "FROM scratch\nARG V\nLABEL v=$V\nCOPY . /app/\nENTRYPOINT [\"/app/app.wasm\"]\n"
	files := map[string]string{
		"app.wasm":       emptyModule,
		"static/a.txt":   "a",
		"static/b/c.txt": "c",
		"z.txt":          "z",
		"link":           "->z.txt",
	}
	checkout := func(t *testing.T, umask os.FileMode, mtime time.Time, reverse bool) string {
		dir := t.TempDir()
		names := slices.Sorted(maps.Keys(files))
		if reverse {
			slices.Reverse(names) // creation order changes directory order on some file systems
		}
		all := maps.Clone(files)
		all["Dockerfile"] = dockerfile
		for _, n := range append(names, "Dockerfile") {
			writeTree(t, dir, map[string]string{n: all[n]})
		}
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || fi.Mode()&os.ModeSymlink != 0 {
				return err
			}
			mode := 0o666 &^ umask
			if fi.IsDir() {
				mode = 0o777 &^ umask
			}
			if err := os.Chmod(p, mode); err != nil {
				return err
			}
			return os.Chtimes(p, mtime, mtime)
		})
		if err != nil {
			t.Fatal(err)
		}
		return dir
	}
	dirA := checkout(t, 0o022, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC), false)
	dirB := checkout(t, 0o002, time.Now(), true)
	args := map[string]string{"V": "1"}

	a := digest(t, mustBuild(t, Options{Context: dirA, BuildArgs: args}))
	b := digest(t, mustBuild(t, Options{Context: dirB, BuildArgs: args}))
	if a != b {
		t.Fatalf("same sources, different digests: %s vs %s", a, b)
	}
	if again := digest(t, mustBuild(t, Options{Context: dirA, BuildArgs: args})); again != a {
		t.Errorf("rebuild changed the digest: %s vs %s", again, a)
	}

	tests := []struct {
		name   string
		opts   Options
		mutate func(dir string)
	}{
		{"one byte changed", Options{BuildArgs: args}, func(dir string) {
			if err := os.WriteFile(filepath.Join(dir, "static/b/c.txt"), []byte("d"), 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"build arg changed", Options{BuildArgs: map[string]string{"V": "2"}}, nil},
		{"created changed", Options{BuildArgs: args, Created: time.Unix(1700000000, 0)}, nil},
		{"label added", Options{BuildArgs: args, Labels: map[string]string{"x": "y"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := checkout(t, 0o022, time.Now(), false)
			if tt.mutate != nil {
				tt.mutate(dir)
			}
			opts := tt.opts
			opts.Context = dir
			if d := digest(t, mustBuild(t, opts)); d == a {
				t.Errorf("digest unchanged: %s", d)
			}
		})
	}
}

func TestCreatedDefaultsToEpoch(t *testing.T) {
	dir := contextDir(t, "FROM scratch\nCOPY app.wasm /\nENTRYPOINT [\"/app.wasm\"]\n", map[string]string{"app.wasm": emptyModule})
	img := mustBuild(t, Options{Context: dir})
	cf, _ := img.ConfigFile()
	if !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("created = %v, want the Unix epoch", cf.Created.Time)
	}
	layerEntries(t, img) // checks every mtime equals created
	explicit := mustBuild(t, Options{Context: dir, Created: time.Unix(0, 0)})
	if digest(t, img) != digest(t, explicit) {
		t.Error("zero Created and the epoch give different digests")
	}
}

func TestLayerBlobIsDeterministic(t *testing.T) {
	dir := contextDir(t, "FROM scratch\nCOPY app.wasm /\n", map[string]string{"app.wasm": emptyModule})
	layers, err := mustBuild(t, Options{Context: dir}).Layers()
	if err != nil {
		t.Fatal(err)
	}
	rc, err := layers[0].Compressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	zr, err := gzip.NewReader(rc)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() || zr.Comment != "" {
		t.Errorf("gzip header = %+v, want empty", zr.Header)
	}
}

func TestArgEnvSubstitution(t *testing.T) {
	tests := []struct {
		name       string
		dockerfile string
		args       map[string]string
		env        []string
		labels     map[string]string
		files      []string
	}{
		{
			name: "global ARG in FROM, redeclared in stage",
			dockerfile: `ARG BASE=scratch
ARG DIR=/opt
FROM ${BASE}
ARG DIR
LABEL dir=$DIR base=${BASE:-unset}
`,
			labels: map[string]string{"dir": "/opt", "base": "unset"},
		},
		{
			name:       "build arg overrides defaults, ARG not in config env",
			dockerfile: "FROM scratch\nARG NAME=default\nARG OTHER\nLABEL name=$NAME other=${OTHER:-none}\n",
			args:       map[string]string{"NAME": "given"},
			labels:     map[string]string{"name": "given", "other": "none"},
		},
		{
			name:       "undeclared build arg is not visible",
			dockerfile: "FROM scratch\nLABEL v=${SECRET:-hidden}\n",
			args:       map[string]string{"SECRET": "s"},
			labels:     map[string]string{"v": "hidden"},
		},
		{
			name:       "ENV wins over ARG",
			dockerfile: "FROM scratch\nARG V=from-arg\nENV V=from-env\nLABEL v=$V\n",
			args:       map[string]string{"V": "cli"},
			env:        []string{defaultPathEnv, "V=from-env"},
			labels:     map[string]string{"v": "from-env"},
		},
		{
			name:       "ENV references earlier ENV and replaces in place",
			dockerfile: "FROM scratch\nENV A=1 B=2\nENV A=${A}0 C=\"$B $B\"\nENV legacy value $A\n",
			env:        []string{defaultPathEnv, "A=10", "B=2", "C=2 2", "legacy=value 10"},
		},
		{
			name:       "ENV in one instruction sees earlier instructions only",
			dockerfile: "FROM scratch\nENV X=1\nENV X=2 Y=$X\n",
			env:        []string{defaultPathEnv, "X=2", "Y=1"},
		},
		{
			name:       "escapes and modifiers",
			dockerfile: "FROM scratch\nARG E\nENV P=\\$HOME Q='$E' R=${E:+set} S=${E:-empty}\n",
			args:       map[string]string{"E": "e"},
			env:        []string{defaultPathEnv, "P=$HOME", "Q=$E", "R=set", "S=e"},
		},
		{
			name:       "platform args",
			dockerfile: "FROM scratch\nARG TARGETPLATFORM\nARG TARGETARCH\nLABEL p=$TARGETPLATFORM a=$TARGETARCH os=${TARGETOS:-undeclared}\n",
			labels:     map[string]string{"p": "wasi/wasm", "a": "wasm", "os": "undeclared"},
		},
		{
			name:       "ARG default uses earlier ARG",
			dockerfile: "FROM scratch\nARG A=x\nARG B=${A}y\nLABEL b=$B\n",
			labels:     map[string]string{"b": "xy"},
		},
		{
			name:       "substitution in COPY, WORKDIR and flags",
			dockerfile: "FROM scratch\nARG M=app\nARG MODE=0700\nWORKDIR /srv/$M\nCOPY --chmod=$MODE ${M}.wasm ./\nENTRYPOINT [\"/srv/app/app.wasm\"]\n",
			files:      []string{"srv/", "srv/app/", "srv/app/app.wasm"},
		},
		{
			name:       "backtick escape",
			dockerfile: "# escape=`\nFROM scratch\nENV P=`$X W=C:\\dir\n",
			env:        []string{defaultPathEnv, "P=$X", `W=C:\dir`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := contextDir(t, tt.dockerfile, map[string]string{"app.wasm": emptyModule})
			img := mustBuild(t, Options{Context: dir, BuildArgs: tt.args})
			cf, _ := img.ConfigFile()
			wantEnv := tt.env
			if wantEnv == nil {
				wantEnv = []string{defaultPathEnv}
			}
			if !reflect.DeepEqual(cf.Config.Env, wantEnv) {
				t.Errorf("Env = %q, want %q", cf.Config.Env, wantEnv)
			}
			if tt.labels != nil && !reflect.DeepEqual(cf.Config.Labels, tt.labels) {
				t.Errorf("Labels = %v, want %v", cf.Config.Labels, tt.labels)
			}
			if tt.files != nil {
				names, entries := layerEntries(t, img)
				if !reflect.DeepEqual(names, tt.files) {
					t.Errorf("layer = %q, want %q", names, tt.files)
				}
				if e := entries["srv/app/app.wasm"]; e.Mode != 0o700 {
					t.Errorf("--chmod=$MODE gave mode %o", e.Mode)
				}
			}
		})
	}
}

func TestDockerignoreBuild(t *testing.T) {
	files := map[string]string{
		".dockerignore":         "# build output\n*.log\n**/node_modules\nsecret\ndocs\n!docs/keep.md\n",
		"app.wasm":              emptyModule,
		"a.log":                 "log",
		"sub/b.log":             "sub log is kept: *.log is not recursive",
		"sub/node_modules/":     "",
		"sub/node_modules/x.js": "x",
		"secret":                "s",
		"docs/drop.md":          "d",
		"docs/keep.md":          "k",
		"docs/deep/other":       "o",
	}
	dir := contextDir(t, "FROM scratch\nCOPY . /ctx/\n", files)
	names, _ := layerEntries(t, mustBuild(t, Options{Context: dir}))
	want := []string{"ctx/", "ctx/.dockerignore", "ctx/Dockerfile", "ctx/app.wasm", "ctx/docs/", "ctx/docs/keep.md", "ctx/sub/", "ctx/sub/b.log"}
	if !reflect.DeepEqual(names, want) {
		t.Errorf("layer:\n got %q\nwant %q", names, want)
	}

	for _, src := range []string{"secret", "a.log", "*.log", "docs/drop.md"} {
		dir := contextDir(t, "FROM scratch\nCOPY "+src+" /x/\n", files)
		_, err := Build(context.Background(), Options{Context: dir})
		if !errors.Is(err, ErrNotFound) {
			t.Errorf("COPY %s: error = %v, want ErrNotFound", src, err)
		}
	}

	// A Dockerfile given by path brings its own .dockerignore.
	dir = contextDir(t, "", files)
	df := filepath.Join(t.TempDir(), "Wasm.Dockerfile")
	writeTree(t, filepath.Dir(df), map[string]string{
		"Wasm.Dockerfile":              "FROM scratch\nCOPY . /\n",
		"Wasm.Dockerfile.dockerignore": "*\n!app.wasm\n",
	})
	names, _ = layerEntries(t, mustBuild(t, Options{Context: dir, Dockerfile: df}))
	if !reflect.DeepEqual(names, []string{"app.wasm"}) {
		t.Errorf("with Wasm.Dockerfile.dockerignore: layer = %q", names)
	}
}

func TestWildcards(t *testing.T) {
	files := map[string]string{
		"a.wasm": emptyModule, "b.wasm": emptyModule, "c.txt": "c",
		"mods/x/m.wasm": emptyModule, "mods/y/m.wasm": emptyModule, "mods/z.wasm": emptyModule,
		"lit[1].wasm": emptyModule,
	}
	tests := []struct {
		name   string
		copy   string
		want   []string
		errIs  error
		errMsg string
	}{
		{name: "star to dir", copy: "*.wasm /m/", want: []string{"m/", "m/a.wasm", "m/b.wasm", "m/lit[1].wasm"}},
		{name: "several matches make dest a dir", copy: "[ab].wasm /m", want: []string{"m/", "m/a.wasm", "m/b.wasm"}},
		{name: "one match to a file name", copy: "a.w?sm /only.wasm", want: []string{"only.wasm"}},
		{name: "pattern per path element", copy: "mods/*/m.wasm /n/", want: []string{"n/", "n/m.wasm"}},
		{name: "matched directories copied by contents", copy: "mods/* /d/", want: []string{"d/", "d/m.wasm", "d/z.wasm"}},
		{name: "literal name with brackets", copy: "lit[1].wasm /l.wasm", want: []string{"l.wasm"}},
		{name: "no match", copy: "*.none /x/", errIs: ErrNotFound, errMsg: "*.none matches no file in the build context"},
		{name: "bad pattern", copy: "[ /x/", errMsg: "not a valid pattern"},
		{name: "two sources need a slash", copy: "a.wasm b.wasm /x", errMsg: "ending in /"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := contextDir(t, "FROM scratch\nCOPY "+tt.copy+"\n", files)
			img, err := Build(context.Background(), Options{Context: dir})
			if tt.errMsg != "" || tt.errIs != nil {
				if err == nil || (tt.errIs != nil && !errors.Is(err, tt.errIs)) || !strings.Contains(err.Error(), tt.errMsg) {
					t.Fatalf("error = %v, want %v %q", err, tt.errIs, tt.errMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			names, _ := layerEntries(t, img)
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("layer = %q, want %q", names, tt.want)
			}
		})
	}
}

func TestSourcePaths(t *testing.T) {
	outside := t.TempDir()
	writeTree(t, outside, map[string]string{"secret.wasm": emptyModule})
	files := map[string]string{
		"app.wasm":       emptyModule,
		"sub/f.txt":      "f",
		"out.wasm":       "->" + filepath.Join(outside, "secret.wasm"),
		"rel-out":        "->../../etc",
		"inlink.wasm":    "->app.wasm",
		"linkdir":        "->sub",
		"evil/ok.txt":    "ok",
		"evil/escape":    "->../../../etc/passwd",
		"abslink/ok.txt": "ok",
		"abslink/abs":    "->/etc/passwd",
		"viaoutside":     "->" + outside,
	}
	tests := []struct {
		name  string
		copy  string
		want  []string
		errIs error
		msg   []string
	}{
		{name: "absolute source is relative to the context", copy: "/app.wasm /x.wasm", want: []string{"x.wasm"}},
		{name: "dot-dot inside the context is fine", copy: "sub/../app.wasm /x.wasm", want: []string{"x.wasm"}},
		{name: "link inside the context is followed at the top", copy: "inlink.wasm /x/", want: []string{"x/", "x/inlink.wasm"}},
		{name: "link to a directory", copy: "linkdir /d/", want: []string{"d/", "d/f.txt"}},
		{name: "parent of the context", copy: "../x /", errIs: ErrOutsideContext, msg: []string{"../x", "outside the build context"}},
		{name: "sneaky parent", copy: "sub/../../x /", errIs: ErrOutsideContext, msg: []string{"sub/../../x"}},
		{name: "absolute link out", copy: "out.wasm /", errIs: ErrOutsideContext, msg: []string{"out.wasm", "secret.wasm"}},
		{name: "relative link out", copy: "rel-out /", errIs: ErrOutsideContext, msg: []string{"rel-out", "../../etc"}},
		{name: "through a link out", copy: "viaoutside/secret.wasm /", errIs: ErrOutsideContext, msg: []string{"viaoutside"}},
		{name: "nested relative link out", copy: "evil /e/", errIs: ErrOutsideContext, msg: []string{"evil/escape", "../../../etc/passwd"}},
		{name: "nested absolute link", copy: "abslink /e/", errIs: ErrOutsideContext, msg: []string{"abslink/abs", "/etc/passwd"}},
		{name: "missing source names it and the context", copy: "nope.wasm /", errIs: ErrNotFound, msg: []string{"nope.wasm", "not found in the build context"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := contextDir(t, "FROM scratch\n\nCOPY "+tt.copy+"\n", files)
			img, err := Build(context.Background(), Options{Context: dir})
			if tt.errIs != nil {
				if !errors.Is(err, tt.errIs) {
					t.Fatalf("error = %v, want %v", err, tt.errIs)
				}
				var ie *InstructionError
				if !errors.As(err, &ie) || ie.Line != 3 || ie.Cmd != "COPY" {
					t.Errorf("error %v is not an InstructionError for COPY on line 3", err)
				}
				msg := append(tt.msg, "Dockerfile:3:")
				if errors.Is(err, ErrNotFound) {
					msg = append(msg, dir)
				}
				for _, m := range msg {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("error %q does not mention %q", err, m)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			names, _ := layerEntries(t, img)
			if !reflect.DeepEqual(names, tt.want) {
				t.Errorf("layer = %q, want %q", names, tt.want)
			}
		})
	}
}

func TestUnsupported(t *testing.T) {
	tarData := makeTar(t, map[string]string{"x": "y"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarData)
	zw.Close()
	var notTarGz bytes.Buffer
	zw = gzip.NewWriter(&notTarGz)
	zw.Write([]byte("just text, not a tar"))
	zw.Close()
	files := map[string]string{"app.wasm": emptyModule, "a.tar": string(tarData), "a.tgz": gz.String()}

	tests := []struct {
		name  string
		line  string
		msg   string
		errIs error
	}{
		{"RUN", "RUN go build", "RUN is not supported: a Wasm image has no shell and no Linux kernel", ErrUnsupported},
		{"RUN exec form", `RUN ["/bin/true"]`, "assemble the image with COPY", ErrUnsupported},
		{"CMD shell form", "CMD /app.wasm arg", `Dockerfile:5: CMD in shell form needs /bin/sh, which Wasm images do not have; use the exec form: CMD ["/app.wasm", "arg"]`, ErrUnsupported},
		{"ENTRYPOINT shell form", `ENTRYPOINT /app.wasm --name "x y"`, `use the exec form: ENTRYPOINT ["/app.wasm", "--name", "\"x", "y\""]`, ErrUnsupported},
		{"COPY --from", "COPY --from=build /out/app.wasm /", "COPY --from=build is not supported", ErrUnsupported},
		{"ADD URL", "ADD https://example.com/app.wasm /", "not URLs", ErrUnsupported},
		{"COPY URL", "COPY http://example.com/app.wasm /", "not URLs", ErrUnsupported},
		{"ADD git", "ADD git@github.com:x/y.git /src", "not URLs", ErrUnsupported},
		{"ADD tar", "ADD a.tar /", "a.tar: it is a tar archive, which Docker's ADD unpacks and berth does not; use COPY", ErrUnsupported},
		{"ADD tar.gz via wildcard", "ADD *.tgz /", "a gzip-compressed tar archive", ErrUnsupported},
		{"chown by name", "COPY --chown=www:www app.wasm /", "numeric ids", ErrUnsupported},
		{"chmod symbolic", "COPY --chmod=u+x app.wasm /", "octal mode", nil},
		{"chmod too big", "COPY --chmod=17777 app.wasm /", "octal mode", nil},
		{"COPY --parents", "COPY --parents app.wasm /", "--parents is not supported", ErrUnsupported},
		{"heredoc", "COPY <<EOF /x", "here-documents", ErrUnsupported},
		{"HEALTHCHECK", "HEALTHCHECK CMD curl localhost", "HEALTHCHECK is not supported", ErrUnsupported},
		{"ONBUILD", "ONBUILD COPY . /", "ONBUILD is not supported", ErrUnsupported},
		{"SHELL", `SHELL ["/bin/bash", "-c"]`, "SHELL is not supported", ErrUnsupported},
		{"MAINTAINER", "MAINTAINER me", "org.opencontainers.image.authors", ErrUnsupported},
		{"bad EXPOSE", "EXPOSE http", "not a port number", nil},
		{"bad EXPOSE proto", "EXPOSE 80/icmp", "unknown protocol", nil},
		{"bad STOPSIGNAL", "STOPSIGNAL 99", "1 to 64", nil},
		{"bad substitution", "ENV A=${B", "missing", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			df := "FROM scratch\nCOPY app.wasm /\n\n# the line under test\n" + tt.line + "\nENTRYPOINT [\"/app.wasm\"]\n"
			dir := contextDir(t, df, files)
			_, err := Build(context.Background(), Options{Context: dir})
			if err == nil {
				t.Fatal("Build succeeded, want an error")
			}
			if tt.errIs != nil && !errors.Is(err, tt.errIs) {
				t.Errorf("error %v is not %v", err, tt.errIs)
			}
			var ie *InstructionError
			if !errors.As(err, &ie) || ie.Line != 5 {
				t.Errorf("error %v is not an InstructionError on line 5", err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %q\nwant it to contain %q", err, tt.msg)
			}
		})
	}

	t.Run("ADD of a gzip file that is not a tar is copied", func(t *testing.T) {
		dir := contextDir(t, "FROM scratch\nADD notes.gz /\n", map[string]string{"notes.gz": notTarGz.String()})
		names, _ := layerEntries(t, mustBuild(t, Options{Context: dir}))
		if !reflect.DeepEqual(names, []string{"notes.gz"}) {
			t.Errorf("layer = %q", names)
		}
	})
	t.Run("HEALTHCHECK NONE is accepted", func(t *testing.T) {
		dir := contextDir(t, "FROM scratch\nHEALTHCHECK NONE\n", nil)
		mustBuild(t, Options{Context: dir})
	})
}

func TestFrom(t *testing.T) {
	tests := []struct {
		name, dockerfile, msg string
		args                  map[string]string
	}{
		{"alpine", "FROM alpine:3.20\nCOPY a /\n", "FROM alpine:3.20: berth builds Wasm images FROM scratch only", nil},
		{"via ARG", "ARG BASE=scratch\nFROM $BASE\n", "", map[string]string{"BASE": "busybox"}},
		{"stage ARG not visible in FROM", "FROM scratch\nARG X=busybox\nFROM ${X:-scratch}\n", "", nil},
		{"only the last stage counts", "FROM golang AS build\nRUN go build\nFROM scratch\nLABEL ok=1\n", "", nil},
		{"last stage must be scratch", "FROM scratch AS a\nFROM debian\n", "FROM debian", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := contextDir(t, tt.dockerfile, map[string]string{"a": "a"})
			_, err := Build(context.Background(), Options{Context: dir, BuildArgs: tt.args})
			wantErr := tt.msg != "" || tt.args != nil
			if !wantErr {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %v, want ErrUnsupported with %q", err, tt.msg)
			}
		})
	}
}

func TestEntrypointCheck(t *testing.T) {
	files := map[string]string{"app.wasm": emptyModule, "script.sh": "#!/bin/sh\n", "d/x": "x", "dl/lnk": "->../opt"}
	tests := []struct {
		name  string
		body  string
		errIs error
		msg   string
	}{
		{"present", "COPY app.wasm /\nENTRYPOINT [\"/app.wasm\"]", nil, ""},
		{"missing", "COPY app.wasm /other.wasm\nENTRYPOINT [\"/app.wasm\"]", ErrNoModule, "Dockerfile:3: ENTRYPOINT names /app.wasm, but no COPY put it in the image"},
		{"CMD missing", "CMD [\"/app.wasm\", \"x\"]", ErrNoModule, "CMD names /app.wasm, but no COPY put it in the image"},
		{"not wasm", "COPY script.sh /app.wasm\nENTRYPOINT [\"/app.wasm\"]", ErrNotWasm, "not a WebAssembly module"},
		{"directory", "COPY d /app.wasm\nENTRYPOINT [\"/app.wasm\"]", ErrNotWasm, "is a directory"},
		{"relative to WORKDIR", "WORKDIR /srv\nCOPY app.wasm .\nCMD [\"app.wasm\"]", nil, ""},
		{"relative falls back to /", "COPY app.wasm /\nWORKDIR /srv\nENTRYPOINT [\"app.wasm\"]", nil, ""},
		{"entrypoint wins over cmd", "COPY app.wasm /\nENTRYPOINT [\"/app.wasm\"]\nCMD [\"not-a-module\"]", nil, ""},
		{"through a symlink", "COPY dl /bin/\nCOPY app.wasm /opt/\nENTRYPOINT [\"/bin/lnk/app.wasm\"]", nil, ""},
		{"empty entrypoint clears", "ENTRYPOINT []\nCMD []", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := contextDir(t, "FROM scratch\n"+tt.body+"\n", files)
			_, err := Build(context.Background(), Options{Context: dir})
			if tt.errIs == nil {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.errIs) || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %v\nwant %v containing %q", err, tt.errIs, tt.msg)
			}
		})
	}
}

func TestSingleWasmContext(t *testing.T) {
	wasm, err := os.ReadFile(helloModule(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "hello.wasm")
	if err := os.WriteFile(p, wasm, 0o755); err != nil {
		t.Fatal(err)
	}
	img := mustBuild(t, Options{Context: p, Labels: map[string]string{"a": "b"}})
	cf, _ := img.ConfigFile()
	if !reflect.DeepEqual(cf.Config.Entrypoint, []string{"/hello.wasm"}) || cf.Config.Cmd != nil {
		t.Errorf("Entrypoint = %q, Cmd = %q", cf.Config.Entrypoint, cf.Config.Cmd)
	}
	if cf.OS != "wasi" || cf.Architecture != "wasm" || cf.Config.Labels["a"] != "b" {
		t.Errorf("config = %+v", cf)
	}
	if len(cf.History) != 2 || cf.History[0].EmptyLayer || !cf.History[1].EmptyLayer {
		t.Errorf("history = %+v", cf.History)
	}
	names, entries := layerEntries(t, img)
	if !reflect.DeepEqual(names, []string{"hello.wasm"}) || entries["hello.wasm"].Content != string(wasm) || entries["hello.wasm"].Mode != 0o755 {
		t.Errorf("layer = %q", names)
	}

	// The same module through an equivalent Dockerfile gives the same
	// layer. (A small module keeps this fast under -race.)
	small := filepath.Join(dir, "small.wasm")
	if err := os.WriteFile(small, []byte(emptyModule), 0o644); err != nil {
		t.Fatal(err)
	}
	ctxDir := contextDir(t, "FROM scratch\nCOPY small.wasm /small.wasm\nENTRYPOINT [\"/small.wasm\"]\n", map[string]string{"small.wasm": emptyModule})
	l1, _ := mustBuild(t, Options{Context: small}).Layers()
	l2, _ := mustBuild(t, Options{Context: ctxDir}).Layers()
	d1, _ := l1[0].Digest()
	d2, _ := l2[0].Digest()
	if d1 != d2 {
		t.Errorf("lone module layer %s differs from the Dockerfile's %s", d1, d2)
	}

	bad := filepath.Join(dir, "bad.wasm")
	if err := os.WriteFile(bad, []byte("not wasm at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), Options{Context: bad}); !errors.Is(err, ErrNotWasm) || !strings.Contains(err.Error(), bad) {
		t.Errorf("non-wasm module: error = %v, want ErrNotWasm naming it", err)
	}
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Build(context.Background(), Options{Context: other}); err == nil || !strings.Contains(err.Error(), "is a file") {
		t.Errorf("file context: error = %v", err)
	}
}

func TestNoLayer(t *testing.T) {
	dir := contextDir(t, "FROM scratch\nLABEL a=b\nENV X=1\n", nil)
	img := mustBuild(t, Options{Context: dir})
	layers, _ := img.Layers()
	cf, _ := img.ConfigFile()
	if len(layers) != 0 || len(cf.RootFS.DiffIDs) != 0 {
		t.Errorf("%d layers, diff_ids %v; want none", len(layers), cf.RootFS.DiffIDs)
	}
	for _, h := range cf.History {
		if !h.EmptyLayer {
			t.Errorf("history %q is not empty_layer", h.CreatedBy)
		}
	}
}

func TestBuildErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Build(context.Background(), Options{Context: dir}); err == nil || !strings.Contains(err.Error(), "no Dockerfile at") {
		t.Errorf("missing Dockerfile: %v", err)
	}
	if _, err := Build(context.Background(), Options{}); err == nil {
		t.Error("empty Context: no error")
	}
	if _, err := Build(context.Background(), Options{Context: filepath.Join(dir, "nope")}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing context: %v", err)
	}
	bad := contextDir(t, "FROM scratch\nBOGUS x\n", nil)
	var pe *ParseError
	if _, err := Build(context.Background(), Options{Context: bad}); !errors.As(err, &pe) || pe.Line != 2 {
		t.Errorf("parse error: %v", err)
	}
	conflict := contextDir(t, "FROM scratch\nCOPY f /x\nCOPY f /x/y\n", map[string]string{"f": "f"})
	if _, err := Build(context.Background(), Options{Context: conflict}); err == nil || !strings.Contains(err.Error(), "Dockerfile:3") {
		t.Errorf("file used as a directory: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ok := contextDir(t, "FROM scratch\nCOPY . /\n", map[string]string{"a": "a"})
	if _, err := Build(ctx, Options{Context: ok}); !errors.Is(err, context.Canceled) {
		t.Errorf("canceled context: %v", err)
	}
}

// makeTar makes a small tar archive.
func makeTar(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(tw, content)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// Progress reports each instruction of the built stage, in order, as written; global
// ARGs before FROM are not steps.
func TestProgress(t *testing.T) {
	dir := contextDir(t, "ARG V=1\nFROM scratch\nCOPY a.txt /a.txt\nLABEL x=\"y\"\n", map[string]string{"a.txt": "a"})
	var got []string
	opts := Options{Context: dir, Progress: func(step, total int, in string) {
		got = append(got, fmt.Sprintf("%d/%d %s", step, total, in))
	}}
	mustBuild(t, opts)
	want := []string{"1/3 FROM scratch", "2/3 COPY a.txt /a.txt", "3/3 LABEL x=\"y\""}
	if !slices.Equal(got, want) {
		t.Fatalf("progress = %q, want %q", got, want)
	}
}
