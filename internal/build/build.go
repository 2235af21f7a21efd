package build

import (
	"archive/tar"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Options configures Build.
type Options struct {
	// Context is the directory of the build context, or the path of a single
	// .wasm file. A .wasm file (with Dockerfile empty) becomes an image that
	// holds just that file at /<basename>, with ENTRYPOINT ["/<basename>"].
	Context string
	// Dockerfile is the path of the Dockerfile; "" means Context/Dockerfile.
	// When <Dockerfile>.dockerignore exists it replaces Context/.dockerignore,
	// as in BuildKit.
	Dockerfile string
	// BuildArgs are --build-arg values. They set the ARGs the Dockerfile
	// declares; the others are ignored, as Docker does.
	BuildArgs map[string]string
	// Labels are --label values, added after the Dockerfile's LABELs (and so
	// overriding them).
	Labels map[string]string
	// Created is the image's creation time, also the mtime of every file in
	// the layer. The zero value means the Unix epoch, so that builds are
	// reproducible; callers pass SOURCE_DATE_EPOCH when it is set. It is
	// truncated to whole seconds and stored in UTC.
	Created time.Time
	// Progress, when set, is told of each instruction of the built stage before it is
	// carried out: its 1-based step, the number of steps and the instruction as written.
	Progress func(step, total int, instruction string)
}

// defaultPathEnv is the environment BuildKit gives a FROM scratch image on
// every platform but Windows, so an image built here has the same config as
// one from docker buildx --platform wasi/wasm.
const defaultPathEnv = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// historyComment marks the history entries this package writes.
const historyComment = "berth build"

var wasmMagic = []byte("\x00asm")

// Build builds a Wasm image (os wasi, architecture wasm) from a Dockerfile
// and its context, or from a lone .wasm file; see Options.Context.
//
// Only the last build stage is built: berth refuses COPY --from, so no
// stage can depend on another, and BuildKit skips such stages too. The
// image has one layer (none if the stage has no COPY, ADD or WORKDIR), an OCI
// manifest and config, and the same digest for the same Dockerfile, build
// arguments, labels, Created time and file contents.
func Build(ctx context.Context, opts Options) (v1.Image, error) {
	if opts.Context == "" {
		return nil, errors.New("no build context: give a directory with a Dockerfile, or a .wasm file")
	}
	created := opts.Created
	if created.IsZero() {
		created = time.Unix(0, 0)
	}
	created = created.UTC().Truncate(time.Second)

	fi, err := os.Stat(opts.Context)
	if err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	}
	if !fi.IsDir() {
		if opts.Dockerfile == "" && strings.EqualFold(filepath.Ext(opts.Context), ".wasm") {
			return buildModule(ctx, opts, created)
		}
		if opts.Dockerfile == "" {
			return nil, fmt.Errorf("build context %s is a file: give a directory with a Dockerfile, or a .wasm module", opts.Context)
		}
		return nil, fmt.Errorf("build context %s is a file: with a Dockerfile, the context must be a directory", opts.Context)
	}

	dfPath := opts.Dockerfile
	if dfPath == "" {
		dfPath = filepath.Join(opts.Context, "Dockerfile")
	}
	data, err := os.ReadFile(dfPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no Dockerfile at %s: write one (FROM scratch, COPY app.wasm /, ENTRYPOINT [\"/app.wasm\"]) or give the .wasm file itself as the context: %w", dfPath, err)
		}
		return nil, fmt.Errorf("reading Dockerfile: %w", err)
	}
	df, err := Parse(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}

	bc, err := openContext(opts.Context)
	if err != nil {
		return nil, err
	}
	defer bc.Close()
	if bc.ignore, err = readIgnore(bc, opts.Dockerfile); err != nil {
		return nil, err
	}

	b := newBuilder(opts, created)
	b.bc, b.escape = bc, df.Escape
	if err := b.run(ctx, df); err != nil {
		return nil, err
	}
	if err := b.checkEntrypoint(); err != nil {
		return nil, err
	}
	return b.image(ctx)
}

// readIgnore reads <Dockerfile>.dockerignore, else the context's
// .dockerignore; neither is fine.
func readIgnore(bc *buildContext, dockerfile string) (*ignoreMatcher, error) {
	if dockerfile != "" {
		f, err := os.Open(dockerfile + ".dockerignore")
		if err == nil {
			defer f.Close()
			return parseIgnore(f)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	f, err := bc.root.Open(".dockerignore")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading .dockerignore: %w", err)
	}
	defer f.Close()
	return parseIgnore(f)
}

// buildModule builds the image for a lone .wasm file.
func buildModule(ctx context.Context, opts Options, created time.Time) (v1.Image, error) {
	data, err := os.ReadFile(opts.Context)
	if err != nil {
		return nil, fmt.Errorf("reading module: %w", err)
	}
	if !bytes.HasPrefix(data, wasmMagic) {
		return nil, errorf(ErrNotWasm, "%s is not a WebAssembly module: it does not start with \\0asm", opts.Context)
	}
	fi, err := os.Stat(opts.Context)
	if err != nil {
		return nil, err
	}
	base := filepath.Base(opts.Context)
	b := newBuilder(opts, created)
	if err := b.tree.put(base, &node{typ: tar.TypeReg, mode: fileMode(fi.Mode()), data: data}); err != nil {
		return nil, err
	}
	b.entrypoint = []string{"/" + base}
	b.hasLayer = true
	b.history = []v1.History{
		{Created: v1.Time{Time: created}, CreatedBy: fmt.Sprintf("COPY %s /%s", base, base), Comment: historyComment},
		{Created: v1.Time{Time: created}, CreatedBy: "ENTRYPOINT " + jsonArray(b.entrypoint), Comment: historyComment, EmptyLayer: true},
	}
	b.layerEntry = 0
	return b.image(ctx)
}

// builder holds the state of the stage being built.
type builder struct {
	opts    Options
	created time.Time
	bc      *buildContext
	escape  rune

	meta map[string]string // ARGs before the first FROM, and the platform ARGs
	args map[string]string // ARGs declared in the stage, with a value
	env  []string          // KEY=value, in order

	workdir        string // absolute; "/" by default
	workdirSet     bool
	entrypoint     []string
	entrypointLine int
	cmd            []string
	cmdLine        int
	labels         map[string]string
	ports          map[string]struct{}
	volumes        map[string]struct{}
	user           string
	stopSignal     string

	tree       tree
	hasLayer   bool
	history    []v1.History
	layerEntry int // index in history of the entry that carries the layer
}

func newBuilder(opts Options, created time.Time) *builder {
	return &builder{
		opts:       opts,
		created:    created,
		escape:     '\\',
		meta:       platformArgs(),
		args:       map[string]string{},
		env:        []string{defaultPathEnv},
		workdir:    "/",
		labels:     map[string]string{},
		ports:      map[string]struct{}{},
		volumes:    map[string]struct{}{},
		tree:       tree{},
		layerEntry: -1,
	}
}

// platformArgs are the ARGs BuildKit defines by itself. Like BuildKit, they
// are in scope before the first FROM, and in a stage once declared with a
// bare ARG NAME.
func platformArgs() map[string]string {
	return map[string]string{
		"TARGETPLATFORM": "wasi/wasm",
		"TARGETOS":       "wasi",
		"TARGETARCH":     "wasm",
		"TARGETVARIANT":  "",
		"BUILDPLATFORM":  runtime.GOOS + "/" + runtime.GOARCH,
		"BUILDOS":        runtime.GOOS,
		"BUILDARCH":      runtime.GOARCH,
		"BUILDVARIANT":   "",
	}
}

func (b *builder) lookupMeta(name string) (string, bool) {
	v, ok := b.meta[name]
	return v, ok
}

// lookup resolves a variable in the stage: ENV wins over ARG, as in Docker.
func (b *builder) lookup(name string) (string, bool) {
	for i := len(b.env) - 1; i >= 0; i-- {
		if k, v, _ := strings.Cut(b.env[i], "="); k == name {
			return v, true
		}
	}
	v, ok := b.args[name]
	return v, ok
}

func (b *builder) expand(word string) (string, error) {
	return expand(word, b.escape, b.lookup)
}

func fail(in *Instruction, err error) error {
	return &InstructionError{Line: in.Line, Cmd: in.Cmd, Err: err}
}

// run evaluates the global ARGs and the last stage.
func (b *builder) run(ctx context.Context, df *Dockerfile) error {
	last := -1
	for i, in := range df.Instructions {
		if in.Cmd == "FROM" {
			last = i
		}
	}
	// Global ARGs: everything before the first FROM is ARG (Parse checks).
	for i := range df.Instructions {
		in := &df.Instructions[i]
		if in.Cmd == "FROM" {
			break
		}
		if err := b.arg(in, true); err != nil {
			return fail(in, err)
		}
	}
	from := &df.Instructions[last]
	total := len(df.Instructions) - last
	progress := b.opts.Progress
	if progress == nil {
		progress = func(int, int, string) {}
	}
	progress(1, total, from.Original)
	if err := b.from(from); err != nil {
		return fail(from, err)
	}
	for i := last + 1; i < len(df.Instructions); i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		in := &df.Instructions[i]
		progress(i-last+1, total, in.Original)
		layer, err := b.dispatch(ctx, in)
		if err != nil {
			return fail(in, err)
		}
		h := v1.History{Created: v1.Time{Time: b.created}, CreatedBy: in.Original, Comment: historyComment, EmptyLayer: !layer}
		if layer {
			if b.layerEntry >= 0 {
				b.history[b.layerEntry].EmptyLayer = true
			}
			b.layerEntry = len(b.history)
			b.hasLayer = true
		}
		b.history = append(b.history, h)
	}
	return nil
}

func (b *builder) from(in *Instruction) error {
	img, err := expand(in.Args[0], b.escape, b.lookupMeta)
	if err != nil {
		return err
	}
	if !strings.EqualFold(img, "scratch") {
		return errorf(ErrUnsupported, "FROM %s: berth builds Wasm images FROM scratch only; a Wasm module needs no base image (no distribution, no shell, no libc), so start with FROM scratch and COPY the .wasm file", img)
	}
	return nil
}

// arg handles ARG before the first FROM (global) or in the stage.
func (b *builder) arg(in *Instruction, global bool) error {
	for _, w := range in.Args {
		name, def, hasDef := strings.Cut(w, "=")
		val, set := b.opts.BuildArgs[name]
		if !set && hasDef {
			lookup := b.lookup
			if global {
				lookup = b.lookupMeta
			}
			v, err := expand(def, b.escape, lookup)
			if err != nil {
				return err
			}
			val, set = v, true
		}
		if !set && !global {
			val, set = b.meta[name]
		}
		switch {
		case global && set:
			b.meta[name] = val
		case !global && set:
			b.args[name] = val
		}
	}
	return nil
}

// dispatch carries out one instruction of the stage and reports whether it
// changed the file system.
func (b *builder) dispatch(ctx context.Context, in *Instruction) (bool, error) {
	switch in.Cmd {
	case "ARG":
		return false, b.arg(in, false)
	case "ENV":
		// All values see the environment from before the instruction:
		// in ENV a=bye b=$a, b gets the old a, as in Docker.
		var kvs []string
		for i := 0; i+1 < len(in.Args); i += 2 {
			k, err := b.expand(in.Args[i])
			if err != nil {
				return false, err
			}
			v, err := b.expand(in.Args[i+1])
			if err != nil {
				return false, err
			}
			if k == "" || strings.Contains(k, "=") {
				return false, fmt.Errorf("ENV %s: not a valid variable name", in.Args[i])
			}
			kvs = append(kvs, k, v)
		}
		for i := 0; i < len(kvs); i += 2 {
			b.setEnv(kvs[i], kvs[i+1])
		}
		return false, nil
	case "LABEL":
		for i := 0; i+1 < len(in.Args); i += 2 {
			k, err := b.expand(in.Args[i])
			if err != nil {
				return false, err
			}
			v, err := b.expand(in.Args[i+1])
			if err != nil {
				return false, err
			}
			if k == "" {
				return false, fmt.Errorf("LABEL %s: the label name is empty", in.Args[i])
			}
			b.labels[k] = v
		}
		return false, nil
	case "WORKDIR":
		p, err := b.expand(in.Args[0])
		if err != nil {
			return false, err
		}
		if p == "" {
			return false, errors.New("WORKDIR is empty")
		}
		if !path.IsAbs(p) {
			p = path.Join(b.workdir, p)
		}
		b.workdir, b.workdirSet = path.Clean(p), true
		if err := b.tree.mkdirAll(imagePath(b.workdir)); err != nil {
			return false, fmt.Errorf("WORKDIR %s: %w", b.workdir, err)
		}
		return true, nil
	case "COPY", "ADD":
		return true, b.copy(ctx, in)
	case "ENTRYPOINT":
		if !in.JSON {
			return false, shellForm(in)
		}
		// Docker's ENTRYPOINT clears a CMD inherited from the base image;
		// scratch has none, and a CMD of this stage stays.
		b.entrypoint, b.entrypointLine = nonEmpty(in.Args), in.Line
		return false, nil
	case "CMD":
		if !in.JSON {
			return false, shellForm(in)
		}
		b.cmd, b.cmdLine = nonEmpty(in.Args), in.Line
		return false, nil
	case "EXPOSE":
		for _, a := range in.Args {
			v, err := b.expand(a)
			if err != nil {
				return false, err
			}
			for _, p := range strings.Fields(v) {
				ports, err := parsePorts(p)
				if err != nil {
					return false, err
				}
				for _, port := range ports {
					b.ports[port] = struct{}{}
				}
			}
		}
		return false, nil
	case "USER":
		v, err := b.expand(in.Args[0])
		if err != nil {
			return false, err
		}
		b.user = v
		return false, nil
	case "VOLUME":
		for _, a := range in.Args {
			v, err := b.expand(a)
			if err != nil {
				return false, err
			}
			if v == "" {
				return false, errors.New("VOLUME names an empty path")
			}
			b.volumes[v] = struct{}{}
		}
		return false, nil
	case "STOPSIGNAL":
		v, err := b.expand(in.Args[0])
		if err != nil {
			return false, err
		}
		if err := checkSignal(v); err != nil {
			return false, err
		}
		b.stopSignal = v
		return false, nil
	case "RUN":
		return false, errorf(ErrUnsupported, "RUN is not supported: a Wasm image has no shell and no Linux kernel to run commands in; build the module beforehand (for Go: GOOS=wasip1 GOARCH=wasm go build -o app.wasm) and assemble the image with COPY")
	case "SHELL":
		return false, errorf(ErrUnsupported, "SHELL is not supported: a Wasm image has no shell; use the exec form of ENTRYPOINT and CMD")
	case "HEALTHCHECK":
		if strings.EqualFold(strings.TrimSpace(in.Args[0]), "NONE") {
			return false, nil
		}
		return false, errorf(ErrUnsupported, "HEALTHCHECK is not supported: it runs a command inside the container, and a Wasm image has no shell or tools to run; probe the service from outside instead")
	case "ONBUILD":
		return false, errorf(ErrUnsupported, "ONBUILD is not supported: its triggers run when another image builds FROM this one, and Wasm images are built FROM scratch only")
	case "MAINTAINER":
		return false, errorf(ErrUnsupported, "MAINTAINER is deprecated and not supported; use LABEL org.opencontainers.image.authors=%q", in.Args[0])
	case "FROM":
		// Not reached: only the last stage is dispatched.
		return false, nil
	}
	return false, fmt.Errorf("unknown instruction %s", in.Cmd)
}

func nonEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return append([]string(nil), s...)
}

func (b *builder) setEnv(k, v string) {
	for i, e := range b.env {
		if ek, _, _ := strings.Cut(e, "="); ek == k {
			b.env[i] = k + "=" + v
			return
		}
	}
	b.env = append(b.env, k+"="+v)
}

// shellForm explains why the shell form of CMD or ENTRYPOINT cannot work,
// with the exec form of the same command to paste.
func shellForm(in *Instruction) error {
	words := strings.Fields(in.Args[0])
	if len(words) == 0 {
		words = []string{"/app.wasm", "arg"}
	}
	return errorf(ErrUnsupported, "%s in shell form needs /bin/sh, which Wasm images do not have; use the exec form: %s %s", in.Cmd, in.Cmd, jsonArray(words))
}

// jsonArray formats words as a Dockerfile exec-form array.
func jsonArray(words []string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, w := range words {
		if i > 0 {
			b.WriteString(", ")
		}
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		_ = enc.Encode(w) // a string always encodes
		b.Truncate(b.Len() - 1)
	}
	b.WriteByte(']')
	return b.String()
}

// parsePorts parses an EXPOSE argument: PORT, PORT/PROTO or a range
// FIRST-LAST[/PROTO], with PROTO tcp (the default), udp or sctp.
func parsePorts(s string) ([]string, error) {
	portPart, proto, hasProto := strings.Cut(s, "/")
	proto = strings.ToLower(proto)
	if !hasProto {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return nil, fmt.Errorf("EXPOSE %s: unknown protocol %q; use tcp, udp or sctp", s, proto)
	}
	lo, hi, isRange := strings.Cut(portPart, "-")
	first, err1 := strconv.ParseUint(lo, 10, 16)
	last := first
	var err2 error
	if isRange {
		last, err2 = strconv.ParseUint(hi, 10, 16)
	}
	if err1 != nil || err2 != nil || first == 0 || last < first {
		return nil, fmt.Errorf("EXPOSE %s: not a port number or range (1-65535), e.g. EXPOSE 8080 or EXPOSE 53/udp", s)
	}
	var ports []string
	for p := first; p <= last; p++ {
		ports = append(ports, fmt.Sprintf("%d/%s", p, proto))
	}
	return ports, nil
}

// checkSignal accepts a signal number or a name such as SIGTERM, TERM or
// SIGRTMIN+3.
func checkSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return fmt.Errorf("STOPSIGNAL %s: signal numbers go from 1 to 64", s)
		}
		return nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if name == "" || strings.IndexFunc(name, func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '+' || r == '-')
	}) >= 0 {
		return fmt.Errorf("STOPSIGNAL %q: not a signal name or number, e.g. STOPSIGNAL SIGTERM", s)
	}
	return nil
}

// copyOpts are the --chmod and --chown of one COPY or ADD.
type copyOpts struct {
	mode     int64 // -1: keep (normalized) source modes
	uid, gid int
}

func (b *builder) copy(ctx context.Context, in *Instruction) error {
	isAdd := in.Cmd == "ADD"
	if v, ok := in.Flag("from"); ok {
		return errorf(ErrUnsupported, "%s --from=%s is not supported: berth builds from the local build context only; build the module beforehand (for Go: GOOS=wasip1 GOARCH=wasm go build -o app.wasm) and COPY it", in.Cmd, v)
	}
	for _, f := range []string{"parents", "exclude", "checksum", "keep-git-dir", "unpack"} {
		if _, ok := in.Flag(f); ok {
			return errorf(ErrUnsupported, "%s --%s is not supported by berth; use plain %s (and .dockerignore to leave files out)", in.Cmd, f, in.Cmd)
		}
	}
	// --link only changes how BuildKit caches layers; with one squashed
	// layer it makes no difference, so it is accepted and ignored.
	opt := copyOpts{mode: -1}
	if v, ok := in.Flag("chmod"); ok {
		v, err := b.expand(v)
		if err != nil {
			return err
		}
		m, err := strconv.ParseUint(v, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("%s --chmod=%s: berth takes an octal mode such as 0755 or 644", in.Cmd, v)
		}
		opt.mode = int64(m)
	}
	if v, ok := in.Flag("chown"); ok {
		v, err := b.expand(v)
		if err != nil {
			return err
		}
		if opt.uid, opt.gid, err = parseChown(in.Cmd, v); err != nil {
			return err
		}
	}

	args := make([]string, len(in.Args))
	for i, a := range in.Args {
		v, err := b.expand(a)
		if err != nil {
			return err
		}
		args[i] = v
	}
	srcArgs, dest := args[:len(args)-1], args[len(args)-1]
	for _, s := range srcArgs {
		if strings.Contains(s, "://") || strings.HasPrefix(s, "git@") {
			return errorf(ErrUnsupported, "%s %s: berth copies local files only, not URLs; download the file into the build context and COPY it", in.Cmd, s)
		}
		if strings.HasPrefix(s, "<<") {
			return errorf(ErrUnsupported, "%s %s: here-documents are not supported; put the content in a file in the build context", in.Cmd, s)
		}
	}

	destIsDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.")
	destAbs := dest
	if !path.IsAbs(dest) {
		destAbs = path.Join(b.workdir, dest)
	}
	dp := imagePath(destAbs)
	if b.tree.isDir(dp) {
		destIsDir = true
	}
	if len(srcArgs) > 1 && !destIsDir {
		return fmt.Errorf("%s with more than one source needs a directory as destination, ending in /: write %s/", in.Cmd, dest)
	}

	var srcs []source
	for _, a := range srcArgs {
		s, _, err := b.bc.sources(ctx, in.Cmd, a)
		if err != nil {
			return err
		}
		srcs = append(srcs, s...)
	}
	if len(srcs) > 1 {
		destIsDir = true // a wildcard that matched several files
	}
	for _, s := range srcs {
		switch {
		case s.Info.IsDir():
			if err := b.copyDir(ctx, in.Cmd, s.Real, dp, opt); err != nil {
				return err
			}
		case s.Info.Mode().IsRegular():
			if isAdd {
				if err := b.refuseArchive(s); err != nil {
					return err
				}
			}
			target := dp
			if destIsDir {
				target = joinRel(dp, path.Base(s.Name))
			}
			if err := b.tree.put(target, b.fileNode(s.Real, s.Info, opt)); err != nil {
				return fmt.Errorf("%s %s: %w", in.Cmd, s.Name, err)
			}
		default:
			return fmt.Errorf("%s source %s is %s; only regular files, directories and symbolic links can be copied", in.Cmd, s.Name, describeMode(s.Info.Mode()))
		}
	}
	return nil
}

func (b *builder) fileNode(real string, fi fs.FileInfo, opt copyOpts) *node {
	mode := fileMode(fi.Mode())
	if opt.mode >= 0 {
		mode = opt.mode
	}
	return &node{typ: tar.TypeReg, mode: mode, uid: opt.uid, gid: opt.gid, src: real}
}

// fileMode normalizes a file's permissions to 0644, or 0755 when the owner
// may execute it: a checkout's umask must not change the image digest.
func fileMode(m fs.FileMode) int64 {
	if m&0o100 != 0 {
		return 0o755
	}
	return 0o644
}

func describeMode(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	default:
		return "not a regular file"
	}
}

func parseChown(cmd, v string) (uid, gid int, err error) {
	u, g, hasGroup := strings.Cut(v, ":")
	bad := func() (int, int, error) {
		return 0, 0, errorf(ErrUnsupported, "%s --chown=%s: berth needs numeric ids (uid or uid:gid, e.g. --chown=1000:1000): a scratch image has no /etc/passwd or /etc/group to look names up in", cmd, v)
	}
	uid, err = strconv.Atoi(u)
	if err != nil || uid < 0 || uid > 1<<31-1 {
		return bad()
	}
	gid = uid
	if hasGroup {
		gid, err = strconv.Atoi(g)
		if err != nil || gid < 0 || gid > 1<<31-1 {
			return bad()
		}
	}
	return uid, gid, nil
}

// copyDir copies the contents of the context directory real into the image
// directory dst.
func (b *builder) copyDir(ctx context.Context, cmd, real, dst string, opt copyOpts) error {
	if !b.tree.isDir(dst) {
		mode := int64(0o755)
		if opt.mode >= 0 {
			mode = opt.mode
		}
		if err := b.tree.put(dst, &node{typ: tar.TypeDir, mode: mode, uid: opt.uid, gid: opt.gid}); err != nil {
			return fmt.Errorf("%s %s: %w", cmd, real, err)
		}
	}
	_, err := b.walk(ctx, cmd, real, dst, opt)
	return err
}

// walk copies the entries of context directory rel into image directory
// dst, leaving out what .dockerignore excludes, and reports whether it
// copied anything.
func (b *builder) walk(ctx context.Context, cmd, rel, dst string, opt copyOpts) (bool, error) {
	ents, err := b.bc.readDir(rel)
	if err != nil {
		return false, fmt.Errorf("%s: reading %s in the build context: %w", cmd, rel, err)
	}
	ig := b.bc.ignore
	copied := false
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		r, d := joinRel(rel, e.Name()), joinRel(dst, e.Name())
		excluded := ig.excluded(r)
		if excluded && !ig.hasExceptions {
			continue
		}
		fi, err := b.bc.root.Lstat(r)
		if err != nil {
			return false, fmt.Errorf("%s: %w", cmd, err)
		}
		switch {
		case fi.IsDir():
			// An excluded directory may still hold a "!" exception: look
			// inside, and keep the directory only if something was copied.
			existed := b.tree.isDir(d)
			mode := int64(0o755)
			if opt.mode >= 0 {
				mode = opt.mode
			}
			if !existed || !excluded {
				if err := b.tree.put(d, &node{typ: tar.TypeDir, mode: mode, uid: opt.uid, gid: opt.gid}); err != nil {
					return false, fmt.Errorf("%s %s: %w", cmd, r, err)
				}
			}
			sub, err := b.walk(ctx, cmd, r, d, opt)
			if err != nil {
				return false, err
			}
			if excluded && !sub && !existed {
				delete(b.tree, d)
				continue
			}
			copied = true
		case excluded:
			continue
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := b.bc.root.Readlink(r)
			if err != nil {
				return false, fmt.Errorf("%s: %w", cmd, err)
			}
			if _, ok := linkTarget(r, target); !ok {
				return false, errorf(ErrOutsideContext, "%s: symbolic link %s points to %s, outside the build context %s; copy what it points to instead, or leave it out with .dockerignore", cmd, r, target, b.bc.dir)
			}
			if err := b.tree.put(d, &node{typ: tar.TypeSymlink, mode: 0o777, uid: opt.uid, gid: opt.gid, link: target}); err != nil {
				return false, fmt.Errorf("%s %s: %w", cmd, r, err)
			}
			copied = true
		case fi.Mode().IsRegular():
			if err := b.tree.put(d, b.fileNode(r, fi, opt)); err != nil {
				return false, fmt.Errorf("%s %s: %w", cmd, r, err)
			}
			copied = true
		default:
			return false, fmt.Errorf("%s: %s in the build context is %s; only regular files, directories and symbolic links can be copied (leave it out with .dockerignore)", cmd, r, describeMode(fi.Mode()))
		}
	}
	return copied, nil
}

// refuseArchive rejects ADD of a local tar archive, which Docker would
// unpack: berth does not, and copying it packed would silently differ.
func (b *builder) refuseArchive(s source) error {
	head, err := b.bc.readHead(s.Real, 64<<10)
	if err != nil {
		return fmt.Errorf("ADD %s: %w", s.Name, err)
	}
	kind := ""
	switch {
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		if zr, err := gzip.NewReader(bytes.NewReader(head)); err == nil && isTar(zr) {
			kind = "a gzip-compressed tar archive"
		}
	case bytes.HasPrefix(head, []byte("BZh")):
		if isTar(bzip2.NewReader(bytes.NewReader(head))) {
			kind = "a bzip2-compressed tar archive"
		}
	case bytes.HasPrefix(head, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		kind = "an xz-compressed file (Docker would unpack it if it holds a tar archive)"
	case bytes.HasPrefix(head, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		kind = "a zstd-compressed file (Docker would unpack it if it holds a tar archive)"
	default:
		if isTar(bytes.NewReader(head)) {
			kind = "a tar archive"
		}
	}
	if kind == "" {
		return nil
	}
	return errorf(ErrUnsupported, "ADD %s: it is %s, which Docker's ADD unpacks and berth does not; use COPY to copy the archive as it is, or extract it into the build context first and COPY the files", s.Name, kind)
}

func isTar(r io.Reader) bool {
	buf := make([]byte, 1024)
	n, _ := io.ReadFull(r, buf)
	if n < 512 {
		return false
	}
	_, err := tar.NewReader(bytes.NewReader(buf[:n])).Next()
	return err == nil
}

// checkEntrypoint checks that the module the image runs is in the layer and
// is Wasm. The command's first word is looked up as an absolute path, or
// relative to WORKDIR and then to /.
func (b *builder) checkEntrypoint() error {
	argv, which, line := b.entrypoint, "ENTRYPOINT", b.entrypointLine
	if len(argv) == 0 {
		argv, which, line = b.cmd, "CMD", b.cmdLine
	}
	if len(argv) == 0 {
		return nil
	}
	in := &Instruction{Cmd: which, Line: line}
	name := argv[0]
	if name == "" {
		return fail(in, errorf(ErrNoModule, "%s names no module: its first element is empty", which))
	}
	candidates := []string{name}
	if !path.IsAbs(name) {
		candidates = []string{path.Join(b.workdir, name), path.Join("/", name)}
	}
	for _, c := range candidates {
		_, n, ok := b.tree.lookup(c)
		if !ok {
			continue
		}
		switch n.typ {
		case tar.TypeDir:
			return fail(in, errorf(ErrNotWasm, "%s names %s, which is a directory in the image, not a WebAssembly module", which, c))
		case tar.TypeReg:
			head := n.data
			if head == nil {
				var err error
				if head, err = b.bc.readHead(n.src, len(wasmMagic)); err != nil {
					return fail(in, fmt.Errorf("%s names %s: %w", which, c, err))
				}
			}
			if !bytes.HasPrefix(head, wasmMagic) {
				return fail(in, errorf(ErrNotWasm, "%s names %s, but it is not a WebAssembly module: it does not start with \\0asm (build it with GOOS=wasip1 GOARCH=wasm, or clang --target=wasm32-wasi)", which, c))
			}
			return nil
		}
	}
	return fail(in, errorf(ErrNoModule, "%s names %s, but no COPY put it in the image", which, name))
}

// image assembles the OCI image: the config, and the layer if any.
func (b *builder) image(ctx context.Context) (v1.Image, error) {
	labels := maps.Clone(b.labels)
	if labels == nil {
		labels = map[string]string{}
	}
	maps.Copy(labels, b.opts.Labels)
	cfg := &v1.ConfigFile{
		Architecture: "wasm",
		OS:           "wasi",
		Created:      v1.Time{Time: b.created},
		History:      b.history,
		RootFS:       v1.RootFS{Type: "layers"},
		Config: v1.Config{
			Entrypoint: nonEmpty(b.entrypoint),
			Cmd:        nonEmpty(b.cmd),
			Env:        nonEmpty(b.env),
			User:       b.user,
			StopSignal: b.stopSignal,
		},
	}
	if b.workdirSet {
		cfg.Config.WorkingDir = b.workdir
	}
	if len(labels) > 0 {
		cfg.Config.Labels = labels
	}
	if len(b.ports) > 0 {
		cfg.Config.ExposedPorts = b.ports
	}
	if len(b.volumes) > 0 {
		cfg.Config.Volumes = b.volumes
	}

	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	if b.hasLayer {
		layer, err := b.tree.writeLayer(ctx, b.bc, b.created)
		if err != nil {
			return nil, err
		}
		diffID, err := layer.DiffID()
		if err != nil {
			return nil, err
		}
		cfg.RootFS.DiffIDs = []v1.Hash{diffID}
		if img, err = mutate.Append(img, mutate.Addendum{Layer: layer, MediaType: types.OCILayer}); err != nil {
			return nil, err
		}
	}
	return mutate.ConfigFile(img, cfg)
}
