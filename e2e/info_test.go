package e2e

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	apitypes "github.com/containerd/containerd/api/types"
	"google.golang.org/protobuf/proto"
)

// shimInfo runs `SHIM -info </dev/null`, as containerd 2.x does to learn about a
// runtime, and decodes the protobuf RuntimeInfo the shim must print.
func shimInfo(t testing.TB, shim string) *apitypes.RuntimeInfo {
	t.Helper()
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	r := runCmd(t, cmdOpts{timeout: 10 * time.Second, stdin: null}, shim, "-info")
	if !r.ok() {
		t.Fatalf("%s -info </dev/null must exit 0 and print a protobuf RuntimeInfo:\n%s", shim, r)
	}
	var info apitypes.RuntimeInfo
	if err := proto.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("%s -info: stdout is not a protobuf RuntimeInfo: %v\n%q", shim, err, r.stdout)
	}
	if info.Name == "" {
		t.Fatalf("%s -info: RuntimeInfo has no name: %v", shim, &info)
	}
	return &info
}

// inspectRuntime asks containerd 2.x about a runtime (`ctr plugins inspect-runtime`),
// which makes containerd run the shim with -info, and returns the runtime's name.
func inspectRuntime(t testing.TB, c *containerd, runtime string) string {
	t.Helper()
	r := c.ctr(t, cmdOpts{timeout: 20 * time.Second}, "plugins", "inspect-runtime", "--runtime", runtime)
	if !r.ok() {
		t.Fatalf("ctr plugins inspect-runtime --runtime %s:\n%s", runtime, r)
	}
	var info struct{ Name string }
	if err := json.Unmarshal([]byte(r.stdout), &info); err != nil {
		t.Fatalf("ctr plugins inspect-runtime: %v\n%s", err, r)
	}
	return strings.TrimSpace(info.Name)
}
