package bundle

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/berth-dev/berth/internal/fsutil"
	"github.com/berth-dev/berth/internal/jsonlite"
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
//
// Only the fields NewSpec sets are written (see specFile); a spec with others set is
// written in full, through the runtime-spec types.
func WriteSpec(dir string, spec *specs.Spec, durable bool) error {
	var b []byte
	if f, ok := compact(spec); ok {
		b = f.marshal()
	} else {
		var err error
		if b, err = json.MarshalIndent(spec, "", "  "); err != nil {
			return err
		}
	}
	return fsutil.WriteFileAtomic(filepath.Join(dir, "config.json"), b, 0o600, durable)
}

// ErrInvalidSpec is returned (wrapped) for a config.json a Wasm container cannot run.
var ErrInvalidSpec = errors.New("invalid bundle config.json")

// ReadSpec reads dir/config.json and checks what a Wasm runtime needs of it. Only the
// fields a Wasm runtime uses are read (those of specFile: process args, env and cwd,
// root, hostname, mounts, the memory limit, annotations); the rest, such as the Linux
// namespaces of a bundle containerd wrote, is ignored.
func ReadSpec(dir string) (*specs.Spec, error) {
	p := filepath.Join(dir, "config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading bundle: %w", err)
	}
	var f specFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidSpec, p, err)
	}
	s := specs.Spec{Version: f.Version, Hostname: f.Hostname, Mounts: f.Mounts, Annotations: f.Annotations,
		Process: &specs.Process{Args: f.Process.Args, Env: f.Process.Env, Cwd: f.Process.Cwd},
		Root:    &specs.Root{Path: f.Root.Path, Readonly: f.Root.Readonly}}
	if l := f.Linux; l != nil && l.Resources != nil && l.Resources.Memory != nil && l.Resources.Memory.Limit != nil {
		limit := *l.Resources.Memory.Limit
		s.Linux = &specs.Linux{Resources: &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}}
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

// specFile is the part of the OCI runtime spec that NewSpec fills, with the same JSON
// names.
//
// # Notes
//
// encoding/json builds the encoder of a type's whole tree on first use; for specs.Spec
// (Linux, Windows, Solaris, VM, zOS sections…) that costs over a millisecond, a tenth of
// a C module's whole `berth run`. Writing through this small type avoids it; reading
// still uses specs.Spec, whose decoder is built lazily and is cheap.
type specFile struct {
	Version string `json:"ociVersion"`
	Process struct {
		Args []string `json:"args"`
		Env  []string `json:"env,omitempty"`
		Cwd  string   `json:"cwd"`
	} `json:"process"`
	Root struct {
		Path     string `json:"path"`
		Readonly bool   `json:"readonly,omitempty"`
	} `json:"root"`
	Hostname    string            `json:"hostname,omitempty"`
	Mounts      []specs.Mount     `json:"mounts,omitempty"`
	Linux       *specFileLinux    `json:"linux,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type specFileLinux struct {
	Resources *struct {
		Memory *struct {
			Limit *int64 `json:"limit,omitempty"`
		} `json:"memory,omitempty"`
	} `json:"resources,omitempty"`
}

// marshal encodes f as json.MarshalIndent(f, "", "  ") does (the tests compare the two),
// without building encoding/json's encoder by reflection (see specFile).
func (f *specFile) marshal() []byte {
	var w jsonlite.Writer
	w.Object(func() {
		w.Key("ociVersion")
		w.String(f.Version)
		w.Key("process")
		w.Object(func() {
			w.Key("args")
			w.Strings(f.Process.Args)
			if len(f.Process.Env) > 0 {
				w.Key("env")
				w.Strings(f.Process.Env)
			}
			w.Key("cwd")
			w.String(f.Process.Cwd)
		})
		w.Key("root")
		w.Object(func() {
			w.Key("path")
			w.String(f.Root.Path)
			if f.Root.Readonly {
				w.Key("readonly")
				w.Bool(true)
			}
		})
		if f.Hostname != "" {
			w.Key("hostname")
			w.String(f.Hostname)
		}
		if len(f.Mounts) > 0 {
			w.Key("mounts")
			w.Array(func() {
				for _, m := range f.Mounts {
					w.Object(func() {
						w.Key("destination")
						w.String(m.Destination)
						if m.Type != "" {
							w.Key("type")
							w.String(m.Type)
						}
						if m.Source != "" {
							w.Key("source")
							w.String(m.Source)
						}
						if len(m.Options) > 0 {
							w.Key("options")
							w.Strings(m.Options)
						}
					})
				}
			})
		}
		if f.Linux != nil {
			w.Key("linux")
			w.Object(func() {
				if r := f.Linux.Resources; r != nil {
					w.Key("resources")
					w.Object(func() {
						if r.Memory != nil {
							w.Key("memory")
							w.Object(func() {
								if r.Memory.Limit != nil {
									w.Key("limit")
									w.Int(*r.Memory.Limit)
								}
							})
						}
					})
				}
			})
		}
		if len(f.Annotations) > 0 {
			w.Key("annotations")
			w.StringMap(f.Annotations)
		}
	})
	return w.Bytes()
}

// compact returns s as a specFile when s has no field specFile lacks.
func compact(s *specs.Spec) (*specFile, bool) {
	if s.Process == nil || s.Root == nil {
		return nil, false
	}
	rest := *s
	rest.Version, rest.Hostname, rest.Mounts, rest.Annotations = "", "", nil, nil
	rest.Process, rest.Root, rest.Linux = nil, nil, nil
	p := *s.Process
	p.Args, p.Env, p.Cwd = nil, nil, ""
	limit := MemoryLimit(s)
	linuxOK := s.Linux == nil || (limit > 0 && reflect.DeepEqual(s.Linux, NewSpec(SpecOptions{MemoryLimit: limit}).Linux))
	if !reflect.DeepEqual(rest, specs.Spec{}) || !reflect.DeepEqual(p, specs.Process{}) || !linuxOK {
		return nil, false
	}
	for _, m := range s.Mounts {
		if len(m.UIDMappings) > 0 || len(m.GIDMappings) > 0 {
			return nil, false // not in specFile.marshal
		}
	}
	f := &specFile{Version: s.Version, Hostname: s.Hostname, Mounts: s.Mounts, Annotations: s.Annotations}
	f.Process.Args, f.Process.Env, f.Process.Cwd = s.Process.Args, s.Process.Env, s.Process.Cwd
	f.Root.Path, f.Root.Readonly = s.Root.Path, s.Root.Readonly
	if limit > 0 {
		f.Linux = &specFileLinux{}
		f.Linux.Resources = &struct {
			Memory *struct {
				Limit *int64 `json:"limit,omitempty"`
			} `json:"memory,omitempty"`
		}{Memory: &struct {
			Limit *int64 `json:"limit,omitempty"`
		}{Limit: &limit}}
	}
	return f, true
}
