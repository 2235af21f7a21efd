package cgroup

import (
	"bufio"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
)

// spec is an OCI linux.cgroupsPath after parsing: the path inside each cgroup hierarchy,
// and whether it is relative to the calling process's own cgroup.
type spec struct {
	inner    string // cleaned; absolute ("/a/b") or relative ("a/b")
	relative bool
	systemd  bool // the path was given in the systemd driver's "slice:prefix:name" form
}

// parseCgroupsPath turns an OCI linux.cgroupsPath into the path berth manages.
//
// Three forms are accepted, told apart the way the runtimes' users write them:
//   - "/a/b": an absolute cgroupfs path, the same in every hierarchy (runc's cgroupfs driver).
//   - "a/b": a relative cgroupfs path, below the calling process's own cgroup (runc's
//     cgroupfs driver; on cgroup v2 below the parent of that cgroup, as runc does).
//   - "slice:prefix:name": the systemd driver's form (no leading "/", exactly two colons),
//     converted by [systemdPath].
//
// Paths are cleaned so that none can leave the hierarchy ("/../x" is "/x", "../x" is "x").
func parseCgroupsPath(p string) (spec, error) {
	if p == "" {
		return spec{}, fmt.Errorf("%w: empty", ErrInvalidPath)
	}
	if !strings.HasPrefix(p, "/") && strings.Count(p, ":") == 2 {
		inner, err := systemdPath(p)
		if err != nil {
			return spec{}, err
		}
		return spec{inner: inner, systemd: true}, nil
	}
	if filepath.IsAbs(p) {
		inner := filepath.Clean(p)
		if inner == "/" {
			// The hierarchy's root is every process's and is never a container's own.
			return spec{}, fmt.Errorf("%w: %q is the root cgroup", ErrInvalidPath, p)
		}
		return spec{inner: inner}, nil
	}
	// Like runc's utils.CleanPath: clean as if rooted, so "../" cannot climb out.
	rel := strings.TrimPrefix(filepath.Clean("/"+p), "/")
	if rel == "" {
		return spec{}, fmt.Errorf("%w: %q names no cgroup", ErrInvalidPath, p)
	}
	return spec{inner: rel, relative: true}, nil
}

// systemdPath converts the systemd cgroup driver's "slice:prefix:name" to the cgroupfs
// path runc's systemd driver ends up with:
//
//	system.slice:docker:ID                          → /system.slice/docker-ID.scope
//	kubepods-besteffort-pod1.slice:cri-containerd:ID → /kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-ID.scope
//	:runc:ID                                        → /system.slice/runc-ID.scope (an empty slice is system.slice)
//	kubepods.slice:x:kubepods-burstable.slice       → /kubepods.slice/kubepods-burstable.slice (a name ending in .slice is used as is)
//
// # Notes
//
// runc also prefixes the path with PID 1's own cgroup (minus "init.scope") on cgroup v1,
// which is "/" on a host booted by systemd. berth has no systemd to ask and uses "/".
func systemdPath(p string) (string, error) {
	parts := strings.Split(p, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("%w: %q: want slice:prefix:name", ErrInvalidPath, p)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if name == "" {
		return "", fmt.Errorf("%w: %q: empty name", ErrInvalidPath, p)
	}
	for _, s := range []string{prefix, name} {
		if strings.Contains(s, "/") || s == "." || s == ".." {
			return "", fmt.Errorf("%w: %q: %q is not a unit name part", ErrInvalidPath, p, s)
		}
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidPath, p, err)
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		// runc: ScopePrefix + "-" + Name + ".scope", also when the prefix is empty.
		unit = prefix + "-" + name + ".scope"
	}
	return filepath.Join(dir, unit), nil
}

// expandSlice expands a systemd slice name to its path, as systemd (and runc's
// ExpandSlice) do: "a-b-c.slice" lives at "/a.slice/a-b.slice/a-b-c.slice", and "-.slice"
// is the root.
func expandSlice(slice string) (string, error) {
	const suffix = ".slice"
	if len(slice) <= len(suffix) || !strings.HasSuffix(slice, suffix) || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	base := strings.TrimSuffix(slice, suffix)
	if base == "-" {
		return "/", nil
	}
	var path, prefix string
	for _, part := range strings.Split(base, "-") {
		if part == "" { // "a--b.slice", "-a.slice", "a-.slice"
			return "", fmt.Errorf("invalid slice name %q", slice)
		}
		path += "/" + prefix + part + suffix
		prefix += part + "-"
	}
	return path, nil
}

// hierarchy is one mounted cgroup hierarchy.
type hierarchy struct {
	mount       string   // where it is mounted, e.g. /sys/fs/cgroup/memory
	root        string   // the hierarchy path seen at the mount point (mountinfo's root field)
	controllers []string // v1: e.g. [cpu cpuacct] or [name=systemd]; v2: nil
	v2          bool
}

// parseMountinfo returns the cgroup and cgroup2 mounts listed in a /proc/PID/mountinfo,
// the first mount of each hierarchy only (a container may see one bind-mounted twice).
// For v1 mounts, controllers holds every super option; [matchSelf] narrows it.
func parseMountinfo(r io.Reader) ([]hierarchy, error) {
	var out []hierarchy
	seen := map[string]bool{} // by device number: one hierarchy, one superblock
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 6 || len(fields) < sep+4 {
			continue
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		dev := fields[2]
		if seen[dev] {
			continue
		}
		seen[dev] = true
		h := hierarchy{mount: unescapeMount(fields[4]), root: unescapeMount(fields[3]), v2: fstype == "cgroup2"}
		if !h.v2 {
			h.controllers = strings.Split(fields[sep+3], ",")
		}
		out = append(out, h)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space, and so on).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			var v byte
			ok := true
			for _, c := range []byte(s[i+1 : i+4]) {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + (c - '0')
			}
			if ok {
				b.WriteByte(v)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// selfCgroup is one line of /proc/PID/cgroup: "4:memory:/a/b", "2:cpu,cpuacct:/",
// "1:name=systemd:/x", or "0::/x" for the unified hierarchy.
type selfCgroup struct {
	controllers []string // nil for the unified hierarchy
	path        string
}

func parseProcCgroup(r io.Reader) ([]selfCgroup, error) {
	var out []selfCgroup
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		id, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		ctrls, path, ok := strings.Cut(rest, ":")
		if !ok {
			continue
		}
		e := selfCgroup{path: path}
		if id != "0" || ctrls != "" {
			e.controllers = strings.Split(ctrls, ",")
		}
		out = append(out, e)
	}
	return out, sc.Err()
}

// matchSelf pairs a mounted hierarchy with its /proc/self/cgroup line, and narrows a v1
// hierarchy's controllers from the mount's super options to the controllers proper.
func matchSelf(h hierarchy, self []selfCgroup) (hierarchy, selfCgroup, bool) {
	for _, s := range self {
		if h.v2 {
			if s.controllers == nil {
				return h, s, true
			}
			continue
		}
		if s.controllers == nil {
			continue
		}
		all := true
		for _, c := range s.controllers {
			if !slices.Contains(h.controllers, c) {
				all = false
				break
			}
		}
		if all {
			h.controllers = s.controllers
			return h, s, true
		}
	}
	return h, selfCgroup{}, false
}

// locate returns the directory of sp in hierarchy h, and the path /proc/PID/cgroup shows
// for a process in it. own is the calling process's path in h.
func locate(h hierarchy, own string, sp spec) (dir, shown string, err error) {
	if !sp.relative {
		return filepath.Join(h.mount, sp.inner), filepath.Join(h.root, sp.inner), nil
	}
	base := own
	if h.v2 {
		// runc (fs2): the process's own cgroup most likely holds processes, so no
		// controller can be enabled below it; use its parent.
		base = filepath.Dir(own)
	}
	rel, err := filepath.Rel(h.root, base)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", "", fmt.Errorf("cgroup: own cgroup %s is outside the mount %s (root %s)", base, h.mount, h.root)
	}
	return filepath.Join(h.mount, rel, sp.inner), filepath.Join(base, sp.inner), nil
}
