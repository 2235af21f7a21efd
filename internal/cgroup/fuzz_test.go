package cgroup

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParseCgroupsPath: whatever a spec's linux.cgroupsPath holds, the path berth
// manages stays inside the hierarchy.
func FuzzParseCgroupsPath(f *testing.F) {
	for _, s := range []string{"/docker/abc", "kubepods/pod1/c1", "system.slice:docker:abc",
		"kubepods-besteffort-pod1.slice:cri-containerd:c1", ":runc:x", "/../..", "../../etc", "a:b:c:d", "-.slice:x:y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		sp, err := parseCgroupsPath(p)
		if err != nil {
			return
		}
		in := sp.inner
		if in == "" || in == "/" || in == "." {
			t.Fatalf("%q: names the hierarchy's root: %q", p, in)
		}
		if filepath.Clean(in) != in && filepath.Clean("/"+in) != "/"+in {
			t.Fatalf("%q: not clean: %q", p, in)
		}
		for _, part := range strings.Split(in, "/") {
			if part == ".." {
				t.Fatalf("%q: climbs out: %q", p, in)
			}
		}
		if sp.relative == strings.HasPrefix(in, "/") {
			t.Fatalf("%q: relative=%v but %q", p, sp.relative, in)
		}
	})
}

// FuzzParseProcCgroup: /proc/PID/cgroup and mountinfo parsers never panic.
func FuzzParseProcCgroup(f *testing.F) {
	f.Add("0::/user.slice\n4:memory:/docker/x\n", "36 35 0:31 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n")
	f.Fuzz(func(t *testing.T, cg, mi string) {
		parseProcCgroup(strings.NewReader(cg))
		parseMountinfo(strings.NewReader(mi))
	})
}
