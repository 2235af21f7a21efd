package shimclient

import (
	"bytes"
	"context"
	"errors"
	"math"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	v1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/protobuf"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl/v2"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The edge values of the cross-checks.
var (
	edgeStrings = []string{"", "a", "berth-1", "ünïcødé 容器 🚢", strings.Repeat("x", 200), "nul\x00inside", "/run/berth/s/" + strings.Repeat("9", 64)}
	edgeUint32  = []uint32{0, 1, 127, 128, 255, 16383, 16384, math.MaxInt32, math.MaxInt32 + 1, math.MaxUint32}
	edgeUint64  = []uint64{0, 1, 127, 128, math.MaxUint32, math.MaxUint32 + 1, 1 << 62, math.MaxInt64, math.MaxUint64 - 1, math.MaxUint64}
	edgeTimes   = []*timestamppb.Timestamp{nil, {}, {Seconds: 1, Nanos: 1}, {Seconds: 1764236849, Nanos: 999999999},
		{Seconds: -1, Nanos: 5}, {Seconds: -62135596800}, {Seconds: 253402300799, Nanos: 999999999}, {Seconds: math.MaxInt64, Nanos: math.MaxInt32}}
)

func str(i int) string { return edgeStrings[i%len(edgeStrings)] }
func u32(i int) uint32 { return edgeUint32[i%len(edgeUint32)] }

// marshal is proto.Marshal, deterministic.
func marshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameRequest checks that ours decodes, with containerd's type, to want and encodes to
// the same bytes as protobuf-go (both write fields in number order).
func sameRequest(t *testing.T, ours []byte, want proto.Message) {
	t.Helper()
	got := want.ProtoReflect().New().Interface()
	if err := proto.Unmarshal(ours, got); err != nil {
		t.Fatalf("%T: unmarshalling ours: %v", want, err)
	}
	if !proto.Equal(got, want) {
		t.Errorf("%T: ours decodes to %v, want %v", want, got, want)
	}
	if b := marshal(t, want); !bytes.Equal(ours, b) {
		t.Errorf("%T: ours %x, protobuf-go %x", want, ours, b)
	}
}

// Each request, encoded here, is what containerd's generated type decodes and encodes.
func TestRequestsMatchContainerd(t *testing.T) {
	for i := 0; i < 2*len(edgeStrings)*len(edgeUint32); i++ {
		id := str(i)
		sameRequest(t, idRequest(id), &taskAPI.ConnectRequest{ID: id})
		sameRequest(t, idRequest(id), &taskAPI.StateRequest{ID: id})
		sameRequest(t, idRequest(id), &taskAPI.StartRequest{ID: id})
		sameRequest(t, idRequest(id), &taskAPI.WaitRequest{ID: id})
		sameRequest(t, idRequest(id), &taskAPI.DeleteRequest{ID: id})
		sameRequest(t, idRequest(id), &taskAPI.StatsRequest{ID: id})
		now := i%2 == 1
		sameRequest(t, shutdownRequest(id, now), &taskAPI.ShutdownRequest{ID: id, Now: now})
		sig := u32(i / 2)
		sameRequest(t, killRequest(id, sig, now), &taskAPI.KillRequest{ID: id, Signal: sig, All: now})
		io := Stdio{Stdin: str(i + 1), Stdout: str(i + 2), Stderr: str(i + 3)}
		bundle := str(i / len(edgeStrings))
		sameRequest(t, createRequest(id, bundle, io), &taskAPI.CreateTaskRequest{
			ID: id, Bundle: bundle, Stdin: io.Stdin, Stdout: io.Stdout, Stderr: io.Stderr})
	}
}

// ttrpc's Request envelope, encoded here, is what ttrpc's type decodes and encodes.
func TestRPCRequestMatchesTTRPC(t *testing.T) {
	for i, timeout := range []int64{0, 1, int64(time.Second), math.MaxInt64, -1, math.MinInt64} {
		for j := range edgeStrings {
			payload := []byte(str(i + j))
			var md [][2]string
			want := &ttrpc.Request{Service: str(j), Method: str(i + 1), Payload: payload, TimeoutNano: timeout}
			for k := 0; k < j%4; k++ {
				md = append(md, [2]string{str(k + j), str(k + i)})
				want.Metadata = append(want.Metadata, &ttrpc.KeyValue{Key: str(k + j), Value: str(k + i)})
			}
			r := rpcRequest{service: want.Service, method: want.Method, payload: payload, timeoutNano: timeout, metadata: md}
			sameRequest(t, r.marshal(), want)
		}
	}
}

// A response of each kind, encoded by containerd's types, decodes here to the same values.
func TestResponsesMatchContainerd(t *testing.T) {
	ts := func(i int) *timestamppb.Timestamp { return edgeTimes[i%len(edgeTimes)] }
	want := func(p *timestamppb.Timestamp) timestamp {
		if p == nil {
			return timestamp{}
		}
		return timestamp{set: true, seconds: p.Seconds, nanos: p.Nanos}
	}
	for i := 0; i < 3*len(edgeStrings)*len(edgeUint32); i++ {
		a, b := u32(i), u32(i/len(edgeUint32)+3)

		var c connectResponse
		if err := c.unmarshal(marshal(t, &taskAPI.ConnectResponse{ShimPid: a, TaskPid: b, Version: str(i)})); err != nil ||
			c != (connectResponse{shimPid: a, taskPid: b, version: str(i)}) {
			t.Errorf("ConnectResponse: %+v, %v", c, err)
		}
		for _, m := range []proto.Message{&taskAPI.CreateTaskResponse{Pid: a}, &taskAPI.StartResponse{Pid: a}} {
			var p pidResponse
			if err := p.unmarshal(marshal(t, m)); err != nil || p.pid != a {
				t.Errorf("%T: %+v, %v; want pid %d", m, p, err, a)
			}
		}

		st := &taskAPI.StateResponse{ID: str(i), Bundle: str(i + 1), Pid: a, Status: task.Status(i % 7), Stdin: str(i + 2),
			Stdout: str(i + 3), Stderr: str(i + 4), Terminal: i%2 == 0, ExitStatus: b, ExitedAt: ts(i), ExecID: str(i + 5)}
		var s stateResponse
		if err := s.unmarshal(marshal(t, st)); err != nil {
			t.Fatal(err)
		}
		if s != (stateResponse{id: st.ID, bundle: st.Bundle, execID: st.ExecID, pid: a, exitStatus: b, status: int32(st.Status),
			stdin: st.Stdin, stdout: st.Stdout, stderr: st.Stderr, terminal: st.Terminal, exitedAt: want(st.ExitedAt)}) {
			t.Errorf("StateResponse %v decodes to %+v", st, s)
		}

		var w exitResponse
		if err := w.unmarshal(marshal(t, &taskAPI.WaitResponse{ExitStatus: a, ExitedAt: ts(i)}), false); err != nil ||
			w != (exitResponse{exitStatus: a, exitedAt: want(ts(i))}) {
			t.Errorf("WaitResponse: %+v, %v", w, err)
		}
		var d exitResponse
		if err := d.unmarshal(marshal(t, &taskAPI.DeleteResponse{Pid: b, ExitStatus: a, ExitedAt: ts(i + 1)}), true); err != nil ||
			d != (exitResponse{pid: b, exitStatus: a, exitedAt: want(ts(i + 1))}) {
			t.Errorf("DeleteResponse: %+v, %v", d, err)
		}

		var r rpcResponse
		code := int32(i % 17)
		if i%5 == 4 {
			code = -int32(a >> 1) // negative: a 10-byte varint
		}
		payload := []byte(str(i + 6))
		if err := r.unmarshal(marshal(t, &ttrpc.Response{Status: grpcstatus.New(codes.Code(code), str(i)).Proto(), Payload: payload})); err != nil {
			t.Fatal(err)
		}
		if r.status != (rpcStatus{code: code, message: str(i)}) || !bytes.Equal(r.payload, payload) {
			t.Errorf("Response{%d, %q, %q} decodes to %+v", code, str(i), payload, r)
		}
	}
}

// The times of State, Wait and Delete are timestamppb's AsTime.
func TestTimestamp(t *testing.T) {
	for _, p := range edgeTimes {
		var ts timestamp
		if p != nil {
			if err := ts.decode(marshal(t, p)); err != nil {
				t.Fatal(err)
			}
		}
		got := ts.time()
		switch {
		case p == nil && !got.IsZero():
			t.Errorf("no timestamp = %v, want the zero time", got)
		case p != nil && !got.Equal(p.AsTime()):
			t.Errorf("%v = %v, want %v", p, got, p.AsTime())
		case p != nil && got.Location() != time.UTC:
			t.Errorf("%v is in %v", p, got.Location())
		}
	}
}

// The status enum's values are containerd's.
func TestStatusValues(t *testing.T) {
	for v, want := range map[task.Status]Status{task.Status_UNKNOWN: StatusUnknown, task.Status_CREATED: Created,
		task.Status_RUNNING: Running, task.Status_STOPPED: Stopped, task.Status_PAUSED: Paused, task.Status_PAUSING: Pausing, 6: StatusUnknown, -1: StatusUnknown} {
		if got := status(int32(v)); got != want {
			t.Errorf("status(%v) = %q, want %q", v, got, want)
		}
		if want != StatusUnknown && !strings.EqualFold(v.String(), string(want)) {
			t.Errorf("containerd names %d %s, berth %s", v, v, want)
		}
	}
}

// The varints are protowire's, malformed ones included.
func TestVarints(t *testing.T) {
	for _, v := range edgeUint64 {
		b := appendVarint(nil, v)
		if want := protowire.AppendVarint(nil, v); !bytes.Equal(b, want) {
			t.Errorf("appendVarint(%d) = %x, want %x", v, b, want)
		}
		if got, n := consumeVarint(b); got != v || n != len(b) {
			t.Errorf("consumeVarint(%x) = %d, %d", b, got, n)
		}
	}
	for _, b := range [][]byte{nil, {0x80}, {0xff, 0xff}, bytes.Repeat([]byte{0xff}, 10), append(bytes.Repeat([]byte{0xff}, 9), 0x02),
		append(bytes.Repeat([]byte{0x80}, 10), 0), append(bytes.Repeat([]byte{0xff}, 9), 0x01), {0x80, 0x00}} {
		v, n := consumeVarint(b)
		wv, wn := protowire.ConsumeVarint(b)
		if wn < 0 {
			wv, wn = 0, 0
		}
		if v != wv || n != wn {
			t.Errorf("consumeVarint(%x) = %d, %d; protowire %d, %d", b, v, n, wv, wn)
		}
	}
}

// Malformed messages are errors, and fields of unexpected types are skipped as protobuf-go
// skips them.
func TestDecodeMalformed(t *testing.T) {
	var tag = func(num, typ int) []byte { return appendTag(nil, num, typ) }
	for name, b := range map[string][]byte{
		"tag cut short":       {0x80},
		"field 0":             {0x00, 0x01},
		"varint cut short":    append(tag(3, wireVarint), 0x80),
		"length beyond":       append(tag(1, wireBytes), 5, 'a'),
		"length overflowing":  append(tag(1, wireBytes), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01),
		"fixed64 cut short":   append(tag(1, wireFixed64), 1, 2, 3),
		"fixed32 cut short":   append(tag(1, wireFixed32), 1),
		"group":               tag(1, 3),
		"wire type 7":         tag(1, 7),
		"bad timestamp":       append(tag(10, wireBytes), 2, 0x08, 0x80),
		"field number 2^29":   appendVarint(nil, uint64(maxFieldNumber+1)<<3),
		"nested length wrong": append(tag(10, wireBytes), 3, 0x12, 5, 0),
	} {
		var s stateResponse
		if err := s.unmarshal(b); !errors.Is(err, errWire) {
			t.Errorf("%s: %v, want errWire", name, err)
		}
		if proto.Unmarshal(b, &taskAPI.StateResponse{}) == nil && name != "group" {
			t.Errorf("%s: protobuf-go accepts it", name)
		}
	}
	// Field 3 (pid) as a string, 1 (id) as a varint, fixed fields: skipped, as protobuf-go does.
	b := append(tag(3, wireBytes), 1, 'x')
	b = append(append(b, tag(1, wireVarint)...), 7)
	b = append(append(b, tag(4, wireFixed32)...), 1, 2, 3, 4)
	b = append(append(b, tag(99, wireFixed64)...), 1, 2, 3, 4, 5, 6, 7, 8)
	b = append(b, appendUint(nil, 9, 42)...)
	var s stateResponse
	if err := s.unmarshal(b); err != nil || s != (stateResponse{exitStatus: 42}) {
		t.Errorf("unexpected wire types: %+v, %v", s, err)
	}
	// Repeated: the last scalar wins, messages merge.
	b = append(appendUint(nil, 9, 1), appendUint(nil, 9, 2)...)
	b = append(append(append(b, tag(10, wireBytes)...), 2), appendUint(nil, 1, 5)...)
	b = append(append(append(b, tag(10, wireBytes)...), 2), appendUint(nil, 2, 6)...)
	var want taskAPI.StateResponse
	if err := proto.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	s = stateResponse{}
	if err := s.unmarshal(b); err != nil || s.exitStatus != want.ExitStatus || s.exitedAt.seconds != want.ExitedAt.Seconds || s.exitedAt.nanos != want.ExitedAt.Nanos {
		t.Errorf("repeated fields: %+v, %v; protobuf-go %v", s, err, &want)
	}
}

// Metrics decodes the shim's cgroup v1 and v2 messages, packed in an Any as the shim does.
func TestMetricsMatchContainerd(t *testing.T) {
	for i, v := range edgeUint64 {
		w := edgeUint64[(i+3)%len(edgeUint64)]
		m1 := &v1.Metrics{
			Pids: &v1.PidsStat{Current: v, Limit: w},
			CPU: &v1.CPUStat{Usage: &v1.CPUUsage{Total: v, Kernel: w, User: v / 3, PerCPU: []uint64{v, w, 0}},
				Throttling: &v1.Throttle{Periods: w, ThrottledPeriods: v, ThrottledTime: w / 2}},
			Memory: &v1.MemoryStat{Cache: v, TotalInactiveFile: w, Usage: &v1.MemoryEntry{Limit: w, Usage: v, Max: v / 2, Failcnt: 3},
				Swap: &v1.MemoryEntry{Limit: v, Usage: w}, Kernel: &v1.MemoryEntry{Usage: 9}},
			MemoryOomControl: &v1.MemoryOomControl{OomKill: v, UnderOom: 1},
			Hugetlb:          []*v1.HugetlbStat{{Usage: 1, Pagesize: "2MB"}},
			Network:          []*v1.NetworkStat{{Name: "eth0", RxBytes: 5}},
		}
		want1 := Metrics{CgroupVersion: 1, CPUTotal: v, CPUSystem: w, CPUUser: v / 3, CPUPeriods: w, CPUThrottledPeriods: v, CPUThrottledTime: w / 2,
			MemoryUsage: v, MemoryLimit: w, MemoryMaxUsage: v / 2, MemoryInactiveFile: w, SwapUsage: w, SwapLimit: v, OOMKills: v,
			PidsCurrent: v, PidsLimit: w}

		m2 := &v2.Metrics{
			Pids: &v2.PidsStat{Current: v, Limit: w},
			CPU:  &v2.CPUStat{UsageUsec: v / 1000, UserUsec: w / 1000, SystemUsec: 7, NrPeriods: v, NrThrottled: w, ThrottledUsec: 11},
			Memory: &v2.MemoryStat{Anon: 1, InactiveFile: v, Usage: w, UsageLimit: v, SwapUsage: 5, SwapLimit: w,
				ThpCollapseAlloc: 9},
			Io:           &v2.IOStat{Usage: []*v2.IOEntry{{Major: 8, Rbytes: v / 4, Wbytes: 1, Rios: 2, Wios: 3}, {Major: 9, Rbytes: w / 4, Wbytes: 10, Rios: 20, Wios: 30}}},
			MemoryEvents: &v2.MemoryEvents{Oom: 4, OomKill: w},
			Hugetlb:      []*v2.HugeTlbStat{{Current: 1, Pagesize: "1GB"}},
		}
		want2 := Metrics{CgroupVersion: 2, CPUTotal: v / 1000 * 1000, CPUUser: w / 1000 * 1000, CPUSystem: 7000, CPUPeriods: v, CPUThrottledPeriods: w,
			CPUThrottledTime: 11000, MemoryUsage: w, MemoryLimit: v, MemoryInactiveFile: v, SwapUsage: 5, SwapLimit: w, OOMKills: w,
			PidsCurrent: v, PidsLimit: w, IOReadBytes: v/4 + w/4, IOWriteBytes: 11, IOReads: 22, IOWrites: 33}

		for _, c := range []struct {
			m    proto.Message
			want Metrics
		}{{m1, want1}, {m2, want2}, {&v1.Metrics{}, Metrics{CgroupVersion: 1}}, {&v2.Metrics{}, Metrics{CgroupVersion: 2}}} {
			a, err := protobuf.MarshalAnyToProto(c.m) // what the shim's Stats does
			if err != nil {
				t.Fatal(err)
			}
			var r statsResponse
			if err := r.unmarshal(marshal(t, &taskAPI.StatsResponse{Stats: a})); err != nil {
				t.Fatal(err)
			}
			got, err := parseMetrics(r.stats)
			if err != nil {
				t.Fatal(err)
			}
			c.want.TypeURL = a.TypeUrl
			if !bytes.Equal(got.Raw, a.Value) {
				t.Errorf("%T: Raw %x, want %x", c.m, got.Raw, a.Value)
			}
			c.want.Raw = got.Raw
			if !reflect.DeepEqual(*got, c.want) {
				t.Errorf("%T:\n got %+v\nwant %+v", c.m, *got, c.want)
			}
			back, err := typeurl.UnmarshalAny(&anypb.Any{TypeUrl: got.TypeURL, Value: got.Raw})
			if err != nil || !proto.Equal(back.(proto.Message), c.m) {
				t.Errorf("%T: Raw does not decode to the shim's message: %v", c.m, err)
			}
		}
	}
	for _, u := range []string{"type.googleapis.com/" + MetricsV2Type} {
		if m, err := parseMetrics(anyValue{typeURL: u}); err != nil || m.CgroupVersion != 2 {
			t.Errorf("%s: %+v, %v", u, m, err)
		}
	}
	for _, u := range []string{"", "io.containerd.cgroups.v3.Metrics", "google.protobuf.Empty", MetricsV1Type + "x"} {
		if _, err := parseMetrics(anyValue{typeURL: u}); err == nil || !strings.Contains(err.Error(), "not cgroup") {
			t.Errorf("type %q: %v", u, err)
		}
	}
	if _, err := parseMetrics(anyValue{typeURL: MetricsV2Type, value: []byte{0x0a, 0x05}}); !errors.Is(err, errWire) {
		t.Errorf("cut short: %v", err)
	}
}

// An error status gives the sentinel kind, and the text errdefs.FromGRPC gave.
func TestStatusErrors(t *testing.T) {
	for _, c := range []struct {
		code codes.Code
		op   string
		kind error
	}{
		{codes.NotFound, "state", ErrNotFound},
		{codes.NotFound, "kill", ErrNotRunning},
		{codes.AlreadyExists, "create", ErrAlreadyExists},
		{codes.FailedPrecondition, "delete", ErrFailedPrecondition},
		{codes.Unimplemented, "start", ErrNotSupported},
		{codes.Canceled, "wait", context.Canceled},
		{codes.DeadlineExceeded, "wait", context.DeadlineExceeded},
		{codes.InvalidArgument, "create", nil},
		{codes.Unavailable, "create", nil},
		{codes.Internal, "create", nil},
		{codes.Unknown, "create", nil},
		{codes.ResourceExhausted, "create", nil},
		{codes.Code(99), "create", nil},
	} {
		for _, msg := range []string{"", "process already finished", "container x: not found", "not found", "ünï: already exists: already exists", "x: failed precondition"} {
			err := wrap(c.op, "c1", &rpcError{code: int32(c.code), message: msg})
			for _, k := range []error{ErrNotFound, ErrNotRunning, ErrAlreadyExists, ErrFailedPrecondition, ErrNotSupported, ErrShimGone, ErrBadOptions, context.Canceled, context.DeadlineExceeded} {
				if errors.Is(err, k) != (k == c.kind) {
					t.Errorf("%v %q (%s): errors.Is(%v, %v) = %v", c.code, msg, c.op, err, k, !(k == c.kind))
				}
			}
			if c.code == codes.Canceled || c.code == codes.DeadlineExceeded {
				continue
			}
			want := "container c1: " + c.op + ": " + errdefs.FromGRPC(grpcstatus.Error(c.code, msg)).Error()
			if err.Error() != want {
				t.Errorf("%v %q: %q, want %q", c.code, msg, err, want)
			}
		}
	}
	for _, err := range []error{errConnClosed, syscall.ECONNRESET, syscall.EPIPE, syscall.ECONNREFUSED, syscall.ENOENT} {
		if w := wrap("state", "c1", err); !errors.Is(w, ErrShimGone) {
			t.Errorf("wrap(%v) = %v, want ErrShimGone", err, w)
		}
	}
}
