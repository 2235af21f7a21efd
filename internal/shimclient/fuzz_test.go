package shimclient

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	v2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/protobuf"
	"github.com/containerd/ttrpc"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// FuzzFrames feeds what a shim might write back to a call, frames or garbage: the call
// ends, with a result or an error, and nothing panics or hangs.
func FuzzFrames(f *testing.F) {
	resp := func(r *ttrpc.Response) []byte {
		b, _ := proto.Marshal(r)
		return frameBytes(uint32(len(b)), 1, frameResponse, 0, b)
	}
	state, _ := proto.Marshal(&taskAPI.StateResponse{ID: "c1", Pid: 7, Status: 3, ExitedAt: timestamppb.Now()})
	for _, seed := range [][]byte{
		nil,
		resp(&ttrpc.Response{Payload: state}),
		resp(&ttrpc.Response{Status: &rpcstatus.Status{Code: 5, Message: "not found"}}),
		append(resp(&ttrpc.Response{}), resp(&ttrpc.Response{})...),
		frameBytes(0, 3, frameResponse, 0, nil),
		frameBytes(frameMaxLen+1, 1, frameResponse, 0, nil),
		frameBytes(2, 1, frameData, 1, []byte{0x08, 0x01}),
		{0, 0, 0, 1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		a, b := net.Pipe()
		c := newConn(a)
		defer c.Close()
		defer b.Close()
		go func() {
			if _, _, err := readFrame(b); err != nil {
				return
			}
			b.Write(reply)
			b.Close()
		}()
		s := &Shim{id: "c1", conn: c, ns: "ns"}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := s.State(ctx)
		// Hung is this context's deadline passing: a reply may itself carry the status
		// DEADLINE_EXCEEDED, which State returns as context.DeadlineExceeded.
		if ctx.Err() != nil {
			t.Fatalf("State hung on %x (%v)", reply, err)
		}
		if err == nil && st.Status == "" {
			t.Errorf("State = %+v with no status", st)
		}
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Fatalf("the connection did not end after the peer closed (%x)", reply)
		}
	})
}

// FuzzDecode decodes a message as ttrpc's Response, a StateResponse and a StatsResponse
// with its metrics, here and with protobuf-go: where both succeed they agree, and where
// only one does it is for a reason known to differ.
func FuzzDecode(f *testing.F) {
	for _, m := range []proto.Message{
		&ttrpc.Response{Status: &rpcstatus.Status{Code: 9, Message: "ü"}, Payload: []byte{1}},
		&taskAPI.StateResponse{ID: "x", Pid: 1 << 31, Status: 2, ExitedAt: &timestamppb.Timestamp{Seconds: -5, Nanos: 7}, ExecID: "e"},
		&v2.Metrics{CPU: &v2.CPUStat{UsageUsec: 5}, Io: &v2.IOStat{Usage: []*v2.IOEntry{{Rbytes: 1}}}},
	} {
		b, _ := proto.Marshal(m)
		f.Add(b)
	}
	a, _ := protobuf.MarshalAnyToProto(&v2.Metrics{Memory: &v2.MemoryStat{Usage: 9}})
	b, _ := proto.Marshal(&taskAPI.StatsResponse{Stats: a})
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		// Where protobuf-go fails and this decoder does not: it checks that strings are
		// UTF-8. Where this fails and protobuf-go does not: groups (proto2), skipped there.
		agree := func(what string, ours, theirs error) bool {
			switch {
			case ours == nil && theirs == nil:
				return true
			case ours != nil && theirs != nil:
			case ours == nil && strings.Contains(theirs.Error(), "UTF-8"):
			case theirs == nil && (strings.Contains(ours.Error(), "wire type 3") || strings.Contains(ours.Error(), "wire type 4")):
			default:
				t.Errorf("%s %x: ours %v, protobuf-go %v", what, b, ours, theirs)
			}
			return false
		}

		var r rpcResponse
		var want ttrpc.Response
		if agree("Response", r.unmarshal(b), proto.Unmarshal(withoutStatusDetails(b), &want)) {
			if r.status.code != want.GetStatus().GetCode() || r.status.message != want.GetStatus().GetMessage() || string(r.payload) != string(want.Payload) {
				t.Errorf("Response %x: ours %+v, protobuf-go %v", b, r, &want)
			}
		}

		var s stateResponse
		var ws taskAPI.StateResponse
		if agree("StateResponse", s.unmarshal(b), proto.Unmarshal(b, &ws)) {
			w := stateResponse{id: ws.ID, bundle: ws.Bundle, execID: ws.ExecID, pid: ws.Pid, exitStatus: ws.ExitStatus, status: int32(ws.Status),
				stdin: ws.Stdin, stdout: ws.Stdout, stderr: ws.Stderr, terminal: ws.Terminal}
			if ws.ExitedAt != nil {
				w.exitedAt = timestamp{set: true, seconds: ws.ExitedAt.Seconds, nanos: ws.ExitedAt.Nanos}
			}
			if s != w {
				t.Errorf("StateResponse %x: ours %+v, protobuf-go %v", b, s, &ws)
			}
		}

		var st statsResponse
		if st.unmarshal(b) == nil {
			if m, err := parseMetrics(st.stats); err == nil && m.CgroupVersion == 0 {
				t.Errorf("metrics %x without a version", b)
			}
		}
	})
}

// withoutStatusDetails is b, a ttrpc Response, without its status's details (field 3
// of google.rpc.Status, field 1 of Response), which this package does not read and so
// does not parse; protobuf-go parses them (repeated Any) and refuses malformed ones. b
// is returned as it is where it does not parse at this depth.
func withoutStatusDetails(b []byte) []byte {
	var out []byte
	ok := eachField(b, func(num protowire.Number, typ protowire.Type, field []byte, value int) bool {
		if num != 1 || typ != protowire.BytesType {
			out = append(out, field...)
			return true
		}
		status, _ := protowire.ConsumeBytes(field[value:])
		var kept []byte
		if !eachField(status, func(num protowire.Number, _ protowire.Type, field []byte, _ int) bool {
			if num != 3 {
				kept = append(kept, field...)
			}
			return true
		}) {
			return false
		}
		out = protowire.AppendBytes(protowire.AppendTag(out, 1, protowire.BytesType), kept)
		return true
	})
	if !ok {
		return b
	}
	return out
}

// eachField calls f with each field of the protobuf message b: its number, type, whole
// encoding and the offset of its value in it. It reports false where b does not parse
// or f returned false.
func eachField(b []byte, f func(num protowire.Number, typ protowire.Type, field []byte, value int) bool) bool {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return false
		}
		m := protowire.ConsumeFieldValue(num, typ, b[n:])
		if m < 0 || !f(num, typ, b[:n+m], n) {
			return false
		}
		b = b[n+m:]
	}
	return true
}
