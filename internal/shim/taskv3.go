package shim

import (
	"context"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/ttrpc"
)

// taskV3Service is the ttrpc service name of containerd's task API v3, which containerd
// 2.x calls when a shim's `start` answered with version 3 (see bootstrap.go).
const taskV3Service = "containerd.task.v3.Task"

// taskV3 serves a task service as containerd.task.v3.Task, beside the library's v2.
//
// # Notes
//
//   - Task API v3 is v2 under another protobuf package: api/runtime/task/v3/shim.proto is
//     v2's with the same messages, fields and field numbers, so a v3 request decodes into
//     v2's Go type and v2's response is a valid v3 reply on the wire. One implementation
//     serves both names: containerd 1.6 and 1.7 (and berth's own client) call v2,
//     containerd 2.x calls v3 once the shim says it speaks it.
//   - Why speak v3 at all: containerd 2.x starts a shim binary only for a pod's sandbox
//     when that shim is version 3, and hands the pod's containers the sandbox's connection;
//     for a version 2 shim it runs `start` once more for every container (a process, about
//     20 ms of each pod's start on the Kubernetes benchmark's node).
type taskV3 struct{ svc taskAPI.TaskService }

// RegisterTTRPC is what the shim library calls on each TTRPC plugin.
func (t taskV3) RegisterTTRPC(srv *ttrpc.Server) error {
	s := t.svc
	srv.RegisterService(taskV3Service, &ttrpc.ServiceDesc{Methods: map[string]ttrpc.Method{
		"State":      method(s.State),
		"Create":     method(s.Create),
		"Start":      method(s.Start),
		"Delete":     method(s.Delete),
		"Pids":       method(s.Pids),
		"Pause":      method(s.Pause),
		"Resume":     method(s.Resume),
		"Checkpoint": method(s.Checkpoint),
		"Kill":       method(s.Kill),
		"Exec":       method(s.Exec),
		"ResizePty":  method(s.ResizePty),
		"CloseIO":    method(s.CloseIO),
		"Update":     method(s.Update),
		"Wait":       method(s.Wait),
		"Stats":      method(s.Stats),
		"Connect":    method(s.Connect),
		"Shutdown":   method(s.Shutdown),
	}})
	return nil
}

// method adapts one task call to a ttrpc method: the request is decoded into a new Req.
func method[Req any, PReq interface{ *Req }, Resp any](call func(context.Context, PReq) (Resp, error)) ttrpc.Method {
	return func(ctx context.Context, unmarshal func(any) error) (any, error) {
		req := PReq(new(Req))
		if err := unmarshal(req); err != nil {
			return nil, err
		}
		return call(ctx, req)
	}
}
