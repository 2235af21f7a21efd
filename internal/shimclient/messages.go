package shimclient

import (
	"fmt"
	"unicode/utf8"
)

// The messages of ttrpc and of the task API v2 that berth sends and receives, with the
// field numbers of github.com/containerd/ttrpc's request.proto and of
// github.com/containerd/containerd/api's runtime/task/v2/shim.proto and types/task/task.proto.
// wire_test.go checks each against containerd's generated types.

// ttrpc's Request: service = 1, method = 2, payload = 3, timeout_nano = 4,
// metadata = 5 (KeyValue: key = 1, value = 2).
type rpcRequest struct {
	service, method string
	payload         []byte
	timeoutNano     int64
	metadata        [][2]string
}

func (r *rpcRequest) marshal() []byte {
	n := 16 + len(r.service) + len(r.method) + len(r.payload)
	for _, kv := range r.metadata {
		n += 8 + len(kv[0]) + len(kv[1])
	}
	b := make([]byte, 0, n)
	b = appendString(b, 1, r.service)
	b = appendString(b, 2, r.method)
	b = appendBytes(b, 3, r.payload)
	b = appendUint(b, 4, uint64(r.timeoutNano))
	for _, kv := range r.metadata {
		var e []byte
		e = appendString(e, 1, kv[0])
		e = appendString(e, 2, kv[1])
		b = appendVarint(appendTag(b, 5, wireBytes), uint64(len(e)))
		b = append(b, e...)
	}
	return b
}

// rpcStatus is a google.rpc.Status: code = 1, message = 2 (details = 3 are not read).
type rpcStatus struct {
	code    int32
	message string
}

// rpcResponse is ttrpc's Response: status = 1, payload = 2.
type rpcResponse struct {
	status  rpcStatus
	payload []byte
}

func (r *rpcResponse) unmarshal(b []byte) error {
	return decode(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == wireBytes:
			return decode(f.p, func(f field) error {
				switch {
				case f.num == 1 && f.typ == wireVarint:
					r.status.code = int32(f.v)
				case f.num == 2 && f.typ == wireBytes:
					r.status.message = f.str()
				}
				return nil
			})
		case f.num == 2 && f.typ == wireBytes:
			r.payload = f.p
		}
		return nil
	})
}

// checkStrings fails for a string protobuf would not send: proto3 strings are UTF-8.
func checkStrings(fields ...string) error {
	for i := 0; i < len(fields); i += 2 {
		if !utf8.ValidString(fields[i+1]) {
			return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrBadOptions, fields[i], fields[i+1])
		}
	}
	return nil
}

// idRequest is ConnectRequest, StartRequest, StateRequest, WaitRequest, DeleteRequest,
// StatsRequest and ShutdownRequest with their other fields unset: id = 1.
func idRequest(id string) []byte { return appendString(nil, 1, id) }

// createRequest is CreateTaskRequest: id = 1, bundle = 2, stdin = 5, stdout = 6,
// stderr = 7 (rootfs, terminal, checkpoints and options are not used by berth).
func createRequest(id, bundle string, io Stdio) []byte {
	var b []byte
	b = appendString(b, 1, id)
	b = appendString(b, 2, bundle)
	b = appendString(b, 5, io.Stdin)
	b = appendString(b, 6, io.Stdout)
	b = appendString(b, 7, io.Stderr)
	return b
}

// killRequest is KillRequest: id = 1, exec_id = 2, signal = 3, all = 4.
func killRequest(id string, signal uint32, all bool) []byte {
	b := appendString(nil, 1, id)
	b = appendUint(b, 3, uint64(signal))
	return appendBool(b, 4, all)
}

// shutdownRequest is ShutdownRequest: id = 1, now = 2.
func shutdownRequest(id string, now bool) []byte {
	return appendBool(appendString(nil, 1, id), 2, now)
}

// connectResponse is ConnectResponse: shim_pid = 1, task_pid = 2, version = 3.
type connectResponse struct {
	shimPid, taskPid uint32
	version          string
}

func (r *connectResponse) unmarshal(b []byte) error {
	return decode(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == wireVarint:
			r.shimPid = f.u32()
		case f.num == 2 && f.typ == wireVarint:
			r.taskPid = f.u32()
		case f.num == 3 && f.typ == wireBytes:
			r.version = f.str()
		}
		return nil
	})
}

// pidResponse is CreateTaskResponse and StartResponse: pid = 1.
type pidResponse struct{ pid uint32 }

func (r *pidResponse) unmarshal(b []byte) error {
	return decode(b, func(f field) error {
		if f.num == 1 && f.typ == wireVarint {
			r.pid = f.u32()
		}
		return nil
	})
}

// stateResponse is StateResponse: id = 1, bundle = 2, pid = 3, status = 4, stdin = 5,
// stdout = 6, stderr = 7, terminal = 8, exit_status = 9, exited_at = 10, exec_id = 11.
type stateResponse struct {
	id, bundle, execID    string
	pid, exitStatus       uint32
	status                int32 // containerd.v1.types.Status
	stdin, stdout, stderr string
	terminal              bool
	exitedAt              timestamp
}

func (r *stateResponse) unmarshal(b []byte) error {
	return decode(b, func(f field) error {
		if f.typ == wireBytes {
			switch f.num {
			case 1:
				r.id = f.str()
			case 2:
				r.bundle = f.str()
			case 5:
				r.stdin = f.str()
			case 6:
				r.stdout = f.str()
			case 7:
				r.stderr = f.str()
			case 10:
				return r.exitedAt.decode(f.p)
			case 11:
				r.execID = f.str()
			}
			return nil
		}
		switch f.num {
		case 3:
			r.pid = f.u32()
		case 4:
			r.status = int32(f.v)
		case 8:
			r.terminal = f.v != 0
		case 9:
			r.exitStatus = f.u32()
		}
		return nil
	})
}

// exitResponse is WaitResponse (exit_status = 1, exited_at = 2) or, with delete set,
// DeleteResponse (pid = 1, exit_status = 2, exited_at = 3).
type exitResponse struct {
	pid, exitStatus uint32
	exitedAt        timestamp
}

func (r *exitResponse) unmarshal(b []byte, delete bool) error {
	status, at := 1, 2
	if delete {
		status, at = 2, 3
	}
	return decode(b, func(f field) error {
		switch {
		case delete && f.num == 1 && f.typ == wireVarint:
			r.pid = f.u32()
		case f.num == status && f.typ == wireVarint:
			r.exitStatus = f.u32()
		case f.num == at && f.typ == wireBytes:
			return r.exitedAt.decode(f.p)
		}
		return nil
	})
}

// anyValue is a google.protobuf.Any: type_url = 1, value = 2.
type anyValue struct {
	typeURL string
	value   []byte
}

func (a *anyValue) unmarshal(b []byte) error {
	return decode(b, func(f field) error {
		switch {
		case f.num == 1 && f.typ == wireBytes:
			a.typeURL = f.str()
		case f.num == 2 && f.typ == wireBytes:
			a.value = f.p
		}
		return nil
	})
}

// statsResponse is StatsResponse: stats = 1 (an Any).
type statsResponse struct{ stats anyValue }

func (r *statsResponse) unmarshal(b []byte) error {
	return decode(b, func(f field) error {
		if f.num == 1 && f.typ == wireBytes {
			return r.stats.unmarshal(f.p)
		}
		return nil
	})
}
