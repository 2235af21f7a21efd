package cgroup

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestSystemdPath(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"system.slice:docker:abc", "/system.slice/docker-abc.scope"},
		{"kubepods-besteffort-pod123.slice:cri-containerd:abc",
			"/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod123.slice/cri-containerd-abc.scope"},
		{"kubepods-burstable-pod1_2.slice:crio:abc",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1_2.slice/crio-abc.scope"},
		{"kubepods.slice:cri-containerd:abc", "/kubepods.slice/cri-containerd-abc.scope"},
		{":runc:abc", "/system.slice/runc-abc.scope"},                                             // empty slice: system.slice
		{"-.slice:x:abc", "/x-abc.scope"},                                                         // the root slice
		{"user.slice:x:abc", "/user.slice/x-abc.scope"},                                           // a plain slice
		{"kubepods.slice:x:kubepods-burstable.slice", "/kubepods.slice/kubepods-burstable.slice"}, // a slice name is used as is
		{"system.slice::abc", "/system.slice/-abc.scope"},                                         // runc joins an empty prefix with "-" too
	}
	for _, tt := range tests {
		got, err := systemdPath(tt.in)
		if err != nil {
			t.Errorf("systemdPath(%q): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("systemdPath(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestSystemdPathInvalid(t *testing.T) {
	for _, in := range []string{
		"system:docker:abc",         // not a slice
		".slice:docker:abc",         // nothing before .slice
		"a--b.slice:docker:abc",     // empty component
		"-a.slice:docker:abc",       // leading dash
		"a-.slice:docker:abc",       // trailing dash
		"system.slice:docker:",      // no name
		"system.slice:docker:a/b",   // a name cannot hold a path
		"system.slice:do/cker:abc",  // nor can a prefix
		"system.slice:docker:..",    // nor climb
		"a/b.slice:docker:abc",      // nor a slice
		"system.slice:docker:a:b:c", // four colons
	} {
		_, err := systemdPath(in)
		if !errors.Is(err, ErrInvalidPath) {
			t.Errorf("systemdPath(%q) = %v, want ErrInvalidPath", in, err)
		}
	}
}

func TestParseCgroupsPath(t *testing.T) {
	tests := []struct {
		in      string
		want    spec
		wantErr bool
	}{
		{in: "/kubepods/besteffort/pod1/abc", want: spec{inner: "/kubepods/besteffort/pod1/abc"}},
		{in: "/docker/abc", want: spec{inner: "/docker/abc"}},
		{in: "/default/abc/", want: spec{inner: "/default/abc"}},
		{in: "/../../etc", want: spec{inner: "/etc"}},
		{in: "docker/abc", want: spec{inner: "docker/abc", relative: true}},
		{in: "../../x", want: spec{inner: "x", relative: true}},
		{in: "a:b", want: spec{inner: "a:b", relative: true}}, // one colon: a relative cgroupfs name
		{in: "system.slice:docker:abc", want: spec{inner: "/system.slice/docker-abc.scope", systemd: true}},
		{in: "/system.slice:docker:abc", want: spec{inner: "/system.slice:docker:abc"}}, // leading "/": cgroupfs
		{in: "..", wantErr: true},
		{in: "/", wantErr: true},
		{in: "/..", wantErr: true},
		{in: "", wantErr: true},
		{in: "nota:slice:abc", wantErr: true},
	}
	for _, tt := range tests {
		got, err := parseCgroupsPath(tt.in)
		if tt.wantErr {
			if !errors.Is(err, ErrInvalidPath) {
				t.Errorf("parseCgroupsPath(%q) = %+v, %v; want ErrInvalidPath", tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseCgroupsPath(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

const mountinfoHybrid = `23 1 0:21 / / rw,relatime - overlay overlay rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 /docker/abc /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
42 23 0:32 / /mnt/again\040here rw,relatime - cgroup cgroup rw,memory
`

const procCgroupHybrid = `9:name=systemd:/user.slice
8:pids:/docker/abc/sub
4:memory:/process_api/x
2:cpu,cpuacct:/
0::/user.slice/session-1.scope
`

func TestParseMountinfo(t *testing.T) {
	hs, err := parseMountinfo(strings.NewReader(mountinfoHybrid))
	if err != nil {
		t.Fatal(err)
	}
	var mounts []string
	for _, h := range hs {
		mounts = append(mounts, h.mount)
	}
	want := []string{"/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup/unified"}
	if !slices.Equal(mounts, want) {
		t.Fatalf("mounts = %q, want %q (the second memory mount is the same hierarchy)", mounts, want)
	}
	if hs[2].root != "/docker/abc" || !hs[4].v2 || hs[0].v2 {
		t.Errorf("parsed %+v", hs)
	}

	self, err := parseProcCgroup(strings.NewReader(procCgroupHybrid))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		h           hierarchy
		controllers []string
		own         string
	}{
		{hs[0], []string{"cpu", "cpuacct"}, "/"},
		{hs[1], []string{"memory"}, "/process_api/x"},
		{hs[2], []string{"pids"}, "/docker/abc/sub"},
		{hs[3], []string{"name=systemd"}, "/user.slice"}, // "xattr" is a mount option, not a controller
		{hs[4], nil, "/user.slice/session-1.scope"},
	}
	for _, tt := range tests {
		h, s, ok := matchSelf(tt.h, self)
		if !ok || !slices.Equal(h.controllers, tt.controllers) || s.path != tt.own {
			t.Errorf("matchSelf(%s) = %q, %q, %v; want %q, %q", tt.h.mount, h.controllers, s.path, ok, tt.controllers, tt.own)
		}
	}
	if _, _, ok := matchSelf(hierarchy{mount: "/x", controllers: []string{"rw", "blkio"}}, self); ok {
		t.Error("matched a hierarchy the process is not listed in")
	}
}

func TestUnescapeMount(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b",
		`/a\011`:  "/a\t",
		`/plain`:  "/plain",
		`/x\04`:   `/x\04`, // too short to be an escape
		`/x\9zz`:  `/x\9zz`,
	} {
		if got := unescapeMount(in); got != want {
			t.Errorf("unescapeMount(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocate(t *testing.T) {
	v1 := hierarchy{mount: "/sys/fs/cgroup/memory", root: "/", controllers: []string{"memory"}}
	nested := hierarchy{mount: "/sys/fs/cgroup/pids", root: "/docker/abc", controllers: []string{"pids"}}
	v2 := hierarchy{mount: "/sys/fs/cgroup", root: "/", v2: true}
	tests := []struct {
		h               hierarchy
		own             string
		sp              spec
		wantDir, wantAs string
	}{
		{v1, "/user", spec{inner: "/kubepods/pod1/c1"}, "/sys/fs/cgroup/memory/kubepods/pod1/c1", "/kubepods/pod1/c1"},
		{v1, "/user", spec{inner: "c1", relative: true}, "/sys/fs/cgroup/memory/user/c1", "/user/c1"},
		{nested, "/docker/abc/shim", spec{inner: "c1", relative: true}, "/sys/fs/cgroup/pids/shim/c1", "/docker/abc/shim/c1"},
		{nested, "/docker/abc", spec{inner: "/c1"}, "/sys/fs/cgroup/pids/c1", "/docker/abc/c1"},
		// v2: relative to the parent of the own cgroup, as runc.
		{v2, "/system.slice/containerd.service", spec{inner: "c1", relative: true}, "/sys/fs/cgroup/system.slice/c1", "/system.slice/c1"},
		{v2, "/", spec{inner: "/system.slice/docker-c1.scope", systemd: true}, "/sys/fs/cgroup/system.slice/docker-c1.scope", "/system.slice/docker-c1.scope"},
	}
	for _, tt := range tests {
		dir, as, err := locate(tt.h, tt.own, tt.sp)
		if err != nil || dir != tt.wantDir || as != tt.wantAs {
			t.Errorf("locate(%s, %s, %+v) = %q, %q, %v; want %q, %q", tt.h.mount, tt.own, tt.sp, dir, as, err, tt.wantDir, tt.wantAs)
		}
	}
	if _, _, err := locate(nested, "/elsewhere", spec{inner: "c1", relative: true}); err == nil {
		t.Error("locate accepted an own cgroup outside the mount's root")
	}
}

func TestSwapV2(t *testing.T) {
	tests := []struct {
		swap, limit int64
		want        string
		wantErr     bool
	}{
		{swap: 0, limit: 0, want: ""},
		{swap: 0, limit: 100, want: ""},
		{swap: 0, limit: -1, want: "max"},
		{swap: -1, limit: 100, want: "max"},
		{swap: 100, limit: 100, want: "0"}, // memory+swap = memory: no swap
		{swap: 300, limit: 100, want: "200"},
		{swap: 50, limit: 100, wantErr: true},
		{swap: 100, limit: 0, wantErr: true},
		{swap: 100, limit: -1, wantErr: true},
	}
	for _, tt := range tests {
		got, err := swapV2(tt.swap, tt.limit)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("swapV2(%d, %d) = %q, %v; want %q (error %v)", tt.swap, tt.limit, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestCPUWeightAndPidsMax(t *testing.T) {
	for shares, want := range map[uint64]uint64{0: 0, 1: 1, 2: 1, 1024: 39, 262144: 10000} {
		if got := cpuWeight(shares); got != want {
			t.Errorf("cpuWeight(%d) = %d, want %d", shares, got, want)
		}
	}
	for limit, want := range map[int64]string{-1: "max", 0: "max", 1: "1", 4096: "4096"} {
		if got := pidsMax(limit); got != want {
			t.Errorf("pidsMax(%d) = %q, want %q", limit, got, want)
		}
	}
}
