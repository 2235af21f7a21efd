package shim

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// containerd's shim bootstrap protocol (2.3+, api/runtime/bootstrap/v1): `start` reads a
// protobuf BootstrapParams on stdin and answers with a protobuf BootstrapResult on
// stdout. Earlier containerd versions pass flags and environment variables, maybe
// runtime options (a protobuf Any) on stdin, and read a plain address back.
//
// # Notes
//
//   - berth answers a BootstrapParams from containerd 2.x with version 3 (it serves task
//     API v3, see taskV3) and anything else with the plain address, version 2: containerd
//     1.7 refuses a version above 2 ("unsupported shim version (3)") and 1.6 reads only an
//     address. MAX_SHIM_VERSION cannot tell them apart: 1.7 and 2.x both set it to 2.
//   - Two fields are read and three written by hand with protowire, rather than by a
//     newer containerd/api module (which would have to move with the v1.7 shim library).

// BootstrapParams and BootstrapResult field numbers (bootstrap.proto).
const (
	paramsContainerdVersion protowire.Number = 4
	resultVersion           protowire.Number = 1
	resultAddress           protowire.Number = 2
	resultProtocol          protowire.Number = 3
)

// maxBootstrapParams bounds what `start` reads from stdin; containerd's messages are a
// few hundred bytes (more with runtime options as extensions).
const maxBootstrapParams = 1 << 20

// readBootstrap returns the containerd version named by the BootstrapParams on f, or ""
// when f holds none: a terminal or /dev/null (containerd 1.6, berth's own client),
// runtime options (1.7 to 2.2), or nothing.
func readBootstrap(f *os.File) (string, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", nil // no stdin at all
	}
	if m := fi.Mode(); m&os.ModeNamedPipe == 0 && !m.IsRegular() {
		return "", nil // a terminal or a device (/dev/null): never wait on it
	}
	b, err := io.ReadAll(io.LimitReader(f, maxBootstrapParams+1))
	if err != nil {
		return "", fmt.Errorf("reading containerd's bootstrap parameters on stdin: %w", err)
	}
	if len(b) > maxBootstrapParams {
		return "", fmt.Errorf("containerd's bootstrap parameters on stdin are larger than %d bytes", maxBootstrapParams)
	}
	v, err := parseBootstrapParams(b)
	if err != nil {
		return "", nil // runtime options, or nothing: containerd 1.7 to 2.2
	}
	return v, nil
}

// errNotParams says that bytes are not a BootstrapParams message with a version.
var errNotParams = errors.New("not a BootstrapParams message naming a containerd version")

// parseBootstrapParams returns BootstrapParams.containerd_version of b. A runtime
// options Any (type_url = 1, value = 2) has no field 4 and is refused, as is anything
// that is not protobuf.
func parseBootstrapParams(b []byte) (string, error) {
	var version string
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", fmt.Errorf("%w: %w", errNotParams, protowire.ParseError(n))
		}
		b = b[n:]
		if num == paramsContainerdVersion && typ == protowire.BytesType {
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return "", fmt.Errorf("%w: %w", errNotParams, protowire.ParseError(n))
			}
			version, b = v, b[n:]
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", fmt.Errorf("%w: %w", errNotParams, protowire.ParseError(n))
		}
		b = b[n:]
	}
	if version == "" {
		return "", errNotParams
	}
	return version, nil
}

// speaksTaskV3 reports whether a containerd of version v (as BootstrapParams names it:
// "2.4.2", "v2.3.0-rc.1", …) talks task API v3 to a shim that offers it: 2.0 and later.
func speaksTaskV3(v string) bool {
	v = strings.TrimPrefix(v, "v")
	major, _, _ := strings.Cut(v, ".")
	n, err := strconv.Atoi(major)
	return err == nil && n >= 2
}

// bootstrapResult is the BootstrapResult of a shim serving task API v3 over ttrpc at
// address.
func bootstrapResult(address string) []byte {
	var b []byte
	b = protowire.AppendTag(b, resultVersion, protowire.VarintType)
	b = protowire.AppendVarint(b, 3)
	b = protowire.AppendTag(b, resultAddress, protowire.BytesType)
	b = protowire.AppendString(b, address)
	b = protowire.AppendTag(b, resultProtocol, protowire.BytesType)
	b = protowire.AppendString(b, "ttrpc")
	return b
}
