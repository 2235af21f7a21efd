package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/fsutil"
)

// Annotations berth writes into config.json.
const (
	// AnnotationModuleDigest carries the sha256 of the module named by process.args[0],
	// so a runtime can find its compiled code without hashing the module again. A wrong
	// value only costs a cache miss: the engine checks its own key.
	AnnotationModuleDigest = "dev.berth.module.digest"
)

// Mount is a host directory made visible inside the container.
type Mount struct {
	Source      string // absolute host path
	Destination string // absolute guest path
	ReadOnly    bool
}

// SpecOptions describe a container's config.json.
type SpecOptions struct {
	Args        []string
	Env         []string
	Cwd         string
	Hostname    string
	Mounts      []Mount
	MemoryLimit int64 // bytes; 0 = none
	Annotations map[string]string
}

// NewSpec returns the OCI runtime spec of a Wasm container: process, a writable rootfs
// at "rootfs", bind mounts and a memory limit in linux.resources, where containerd and
// Docker put them too, so the same runtime reads bundles from berth and from containerd.
func NewSpec(o SpecOptions) *specs.Spec {
	s := &specs.Spec{
		Version:     specs.Version,
		Process:     &specs.Process{Args: o.Args, Env: o.Env, Cwd: o.Cwd},
		Root:        &specs.Root{Path: "rootfs"},
		Hostname:    o.Hostname,
		Annotations: o.Annotations,
	}
	for _, m := range o.Mounts {
		opts := []string{"rbind", "rw"}
		if m.ReadOnly {
			opts = []string{"rbind", "ro"}
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	if o.MemoryLimit > 0 {
		limit := o.MemoryLimit
		s.Linux = &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}}
	}
	return s
}

// WriteSpec writes spec as dir/config.json.
func WriteSpec(dir string, spec *specs.Spec, durable bool) error {
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "config.json"), b, 0o600, durable)
}

// ErrInvalidSpec is returned (wrapped) for a config.json a Wasm container cannot run.
var ErrInvalidSpec = errors.New("invalid bundle config.json")

// ReadSpec reads dir/config.json and checks what a Wasm runtime needs of it.
func ReadSpec(dir string) (*specs.Spec, error) {
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, p, err)
	}
	if s.Process == nil || len(s.Process.Args) == 0 {
		return nil, fmt.Errorf("%w: %s: process.args is empty (it must name the Wasm module)", ErrInvalidSpec, p)
	}
	if s.Root == nil || s.Root.Path == "" {
		return nil, fmt.Errorf("%w: %s: root.path is empty", ErrInvalidSpec, p)
	}
	return &s, nil
}

// RootPath returns the absolute rootfs directory of a bundle.
func RootPath(dir string, s *specs.Spec) string {
	if filepath.IsAbs(s.Root.Path) {
		return s.Root.Path
	}
	return filepath.Join(dir, s.Root.Path)
}

// MemoryLimit returns the spec's memory limit in bytes, 0 when none.
func MemoryLimit(s *specs.Spec) int64 {
	if s.Linux == nil || s.Linux.Resources == nil || s.Linux.Resources.Memory == nil || s.Linux.Resources.Memory.Limit == nil {
		return 0
	}
	if l := *s.Linux.Resources.Memory.Limit; l > 0 {
		return l
	}
	return 0
}

// BindMounts returns the bind mounts of a spec, skipping the Linux pseudo file systems
// (proc, sysfs, tmpfs, devpts, mqueue, cgroup) that containerd's default spec adds and
// that mean nothing to a Wasm guest.
func BindMounts(s *specs.Spec) []Mount {
	var out []Mount
	for _, m := range s.Mounts {
		bind := m.Type == "bind"
		ro := false
		for _, o := range m.Options {
			switch o {
			case "bind", "rbind":
				bind = true
			case "ro":
				ro = true
			}
		}
		if bind && m.Source != "" {
			out = append(out, Mount{Source: m.Source, Destination: m.Destination, ReadOnly: ro})
		}
	}
	return out
}
