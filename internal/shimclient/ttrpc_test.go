package shimclient

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	taskAPI "github.com/containerd/containerd/api/runtime/task/v2"
	"github.com/containerd/containerd/api/types/task"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// fakeTask is a task service on containerd's ttrpc server: what it was asked, and a Wait
// that blocks until Kill.
type fakeTask struct {
	taskAPI.TaskService // the calls berth does not make panic

	mu        sync.Mutex
	ns        []string // the namespace of each call
	deadlines []time.Duration
	requests  []proto.Message
	killed    chan struct{}
	killOnce  sync.Once
	states    atomic.Int64
}

func newFakeTask() *fakeTask { return &fakeTask{killed: make(chan struct{})} }

func (f *fakeTask) note(ctx context.Context, r proto.Message) {
	ns, _ := namespaces.Namespace(ctx)
	var d time.Duration
	if dl, ok := ctx.Deadline(); ok {
		d = time.Until(dl)
	}
	f.mu.Lock()
	f.ns = append(f.ns, ns)
	f.deadlines = append(f.deadlines, d)
	f.requests = append(f.requests, r)
	f.mu.Unlock()
}

var exitedAt = time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)

func (f *fakeTask) Connect(ctx context.Context, r *taskAPI.ConnectRequest) (*taskAPI.ConnectResponse, error) {
	f.note(ctx, r)
	return &taskAPI.ConnectResponse{ShimPid: 4242, TaskPid: 7, Version: "2"}, nil
}

func (f *fakeTask) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	f.note(ctx, r)
	if r.Stdin == "exists" {
		return nil, errdefs.ToGRPCf(errdefs.ErrAlreadyExists, "task %s", r.ID)
	}
	return &taskAPI.CreateTaskResponse{Pid: 7}, nil
}

func (f *fakeTask) Start(ctx context.Context, r *taskAPI.StartRequest) (*taskAPI.StartResponse, error) {
	f.note(ctx, r)
	return nil, errdefs.ToGRPCf(errdefs.ErrFailedPrecondition, "task %s already started", r.ID)
}

func (f *fakeTask) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	f.states.Add(1)
	if r.ID == "nosuch" {
		return nil, errdefs.ToGRPCf(errdefs.ErrNotFound, "task %s", r.ID)
	}
	return &taskAPI.StateResponse{ID: r.ID, Pid: 7, Status: task.Status_STOPPED, ExitStatus: 3, ExitedAt: timestamppb.New(exitedAt),
		Stdout: "json-file:///x?ü", Stderr: "binary:///y"}, nil
}

func (f *fakeTask) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	f.note(ctx, r)
	select {
	case <-f.killed:
		return &taskAPI.WaitResponse{ExitStatus: 137, ExitedAt: timestamppb.New(exitedAt)}, nil
	case <-ctx.Done():
		return nil, errdefs.ToGRPC(ctx.Err())
	}
}

func (f *fakeTask) Kill(ctx context.Context, r *taskAPI.KillRequest) (*emptypb.Empty, error) {
	f.note(ctx, r)
	f.killOnce.Do(func() { close(f.killed) })
	return &emptypb.Empty{}, nil
}

func (f *fakeTask) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	f.note(ctx, r)
	return &taskAPI.DeleteResponse{Pid: 7, ExitStatus: 137}, nil
}

func (f *fakeTask) Stats(ctx context.Context, r *taskAPI.StatsRequest) (*taskAPI.StatsResponse, error) {
	f.note(ctx, r)
	return nil, errdefs.ToGRPC(errdefs.ErrNotImplemented)
}

func (f *fakeTask) Shutdown(ctx context.Context, r *taskAPI.ShutdownRequest) (*emptypb.Empty, error) {
	f.note(ctx, r)
	return &emptypb.Empty{}, nil
}

// serve runs containerd's ttrpc server with task on a socket; stop closes it.
func serve(t *testing.T, task *fakeTask) (address string, stop func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	taskAPI.RegisterTaskService(srv, task)
	go srv.Serve(context.Background(), l)
	var once sync.Once
	stop = func() { once.Do(func() { srv.Close() }) }
	t.Cleanup(stop)
	return "unix://" + path, stop
}

// Every call against containerd's own ttrpc server and generated service: the values,
// the namespace, the deadline and the error kinds.
func TestAgainstTTRPCServer(t *testing.T) {
	ft := newFakeTask()
	addr, _ := serve(t, ft)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	s, err := connect(ctx, addr, "c1", "/bundle/ü", "ns-ü")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Pid() != 4242 {
		t.Errorf("Pid = %d", s.Pid())
	}
	if pid, err := s.Create(ctx, Stdio{Stdout: "a", Stderr: "b"}); err != nil || pid != 7 {
		t.Errorf("Create = %d, %v", pid, err)
	}
	if _, err := s.Create(ctx, Stdio{Stdin: "exists"}); !errors.Is(err, ErrAlreadyExists) || err.Error() != "container c1: create: task c1: already exists" {
		t.Errorf("Create = %v, want ErrAlreadyExists", err)
	}
	if _, err := s.Start(ctx); !errors.Is(err, ErrFailedPrecondition) {
		t.Errorf("Start = %v, want ErrFailedPrecondition", err)
	}
	st, err := s.State(ctx)
	want := State{Status: Stopped, Pid: 7, ExitStatus: 3, ExitedAt: exitedAt, Stdio: Stdio{Stdout: "json-file:///x?ü", Stderr: "binary:///y"}}
	if err != nil || st != want {
		t.Errorf("State = %+v, %v; want %+v", st, err, want)
	}
	other := &Shim{id: "nosuch", conn: s.conn, ns: s.ns}
	if _, err := other.State(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("State of another task = %v, want ErrNotFound", err)
	}
	if err := s.Kill(ctx, syscall.SIGTERM); err != nil {
		t.Errorf("Kill = %v", err)
	}
	if x, err := s.Wait(ctx); err != nil || x != (Exit{Status: 137, At: exitedAt}) {
		t.Errorf("Wait = %+v, %v", x, err)
	}
	if x, err := s.Delete(ctx); err != nil || x != (Exit{Pid: 7, Status: 137}) {
		t.Errorf("Delete = %+v, %v", x, err)
	}
	if _, err := s.Stats(ctx); !errors.Is(err, ErrNotSupported) {
		t.Errorf("Stats = %v, want ErrNotSupported", err)
	}
	if err := s.Kill(ctx, -1); !errors.Is(err, ErrBadOptions) {
		t.Errorf("Kill(-1) = %v, want ErrBadOptions", err)
	}
	if _, err := s.Create(ctx, Stdio{Stdout: "\xff"}); !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "stdout") {
		t.Errorf("Create with invalid UTF-8 = %v, want ErrBadOptions", err)
	}
	if _, err := s.Create(ctx, Stdio{Stdout: strings.Repeat("x", frameMaxLen)}); !errors.Is(err, ErrBadOptions) || !strings.Contains(err.Error(), "maximum") {
		t.Errorf("Create over 4 MiB = %v, want ErrBadOptions", err)
	}

	ft.mu.Lock()
	defer ft.mu.Unlock()
	wantReqs := []proto.Message{&taskAPI.ConnectRequest{ID: "c1"},
		&taskAPI.CreateTaskRequest{ID: "c1", Bundle: "/bundle/ü", Stdout: "a", Stderr: "b"},
		&taskAPI.CreateTaskRequest{ID: "c1", Bundle: "/bundle/ü", Stdin: "exists"},
		&taskAPI.StartRequest{ID: "c1"},
		&taskAPI.KillRequest{ID: "c1", Signal: uint32(syscall.SIGTERM)},
		&taskAPI.WaitRequest{ID: "c1"}, &taskAPI.DeleteRequest{ID: "c1"}, &taskAPI.StatsRequest{ID: "c1"}}
	if len(ft.requests) != len(wantReqs) {
		t.Fatalf("the server got %d requests, want %d: %v", len(ft.requests), len(wantReqs), ft.requests)
	}
	for i, r := range ft.requests {
		if !proto.Equal(r, wantReqs[i]) {
			t.Errorf("request %d = %v, want %v", i, r, wantReqs[i])
		}
		if ft.ns[i] != "ns-ü" {
			t.Errorf("request %d's namespace = %q", i, ft.ns[i])
		}
		if d := ft.deadlines[i]; d < 59*time.Minute || d > time.Hour {
			t.Errorf("request %d's deadline is in %v, want about an hour", i, d)
		}
	}
}

// Calls run at once on one connection: Wait blocks while Kill and many States go through.
func TestConcurrentCalls(t *testing.T) {
	ft := newFakeTask()
	addr, _ := serve(t, ft)
	ctx := context.Background()
	s, err := connect(ctx, addr, "c1", "", "ns")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	waited := make(chan error, 1)
	go func() {
		x, err := s.Wait(ctx)
		if err == nil && x.Status != 137 {
			err = fmt.Errorf("status %d", x.Status)
		}
		waited <- err
	}()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh := s
			if i%2 == 1 {
				sh = &Shim{id: "nosuch", conn: s.conn, ns: "ns"}
			}
			st, err := sh.State(ctx)
			switch {
			case i%2 == 1 && !errors.Is(err, ErrNotFound):
				errs <- fmt.Errorf("State of nosuch = %v", err)
			case i%2 == 0 && (err != nil || st.ExitStatus != 3):
				errs <- fmt.Errorf("State = %+v, %v", st, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	select {
	case err := <-waited:
		t.Fatalf("Wait returned before Kill: %v", err)
	default:
	}
	if err := s.Kill(ctx, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("Wait = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after Kill")
	}
}

// A call whose context ends returns at once; the connection stays usable and the late
// response is dropped.
func TestCallContextEnds(t *testing.T) {
	ft := newFakeTask()
	addr, _ := serve(t, ft)
	s, err := connect(context.Background(), addr, "c1", "", "ns")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := s.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrShimGone) {
		t.Errorf("Wait = %v, want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	if _, err := s.State(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("State with a cancelled context = %v", err)
	}
	if st, err := s.State(context.Background()); err != nil || st.Status != Stopped {
		t.Errorf("State after = %+v, %v", st, err)
	}
}

// Close and a dead peer end pending calls with ErrShimGone and close Done.
func TestConnectionEnds(t *testing.T) {
	for _, how := range []string{"Close", "server closes"} {
		t.Run(how, func(t *testing.T) {
			ft := newFakeTask()
			addr, stop := serve(t, ft)
			ctx := context.Background()
			s, err := connect(ctx, addr, "c1", "", "ns")
			if err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() {
				_, err := s.Wait(ctx)
				waited <- err
			}()
			for { // until the server holds the Wait
				ft.mu.Lock()
				n := len(ft.requests)
				ft.mu.Unlock()
				if n == 2 {
					break
				}
				time.Sleep(time.Millisecond)
			}
			select {
			case <-s.Done():
				t.Fatal("Done closed early")
			default:
			}
			if how == "Close" {
				if err := s.Close(); err != nil {
					t.Errorf("Close = %v", err)
				}
			} else {
				stop()
			}
			select {
			case err := <-waited:
				if !errors.Is(err, ErrShimGone) {
					t.Errorf("pending Wait = %v, want ErrShimGone", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("pending Wait did not end")
			}
			select {
			case <-s.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("Done not closed")
			}
			if _, err := s.State(ctx); !errors.Is(err, ErrShimGone) {
				t.Errorf("State after the end = %v, want ErrShimGone", err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close = %v", err)
			}
		})
	}
}

// peer is the far end of a pipe whose near end is a conn: it reads requests and writes
// what a test wants.
type peer struct {
	t  *testing.T
	nc net.Conn
}

func newPipe(t *testing.T) (*conn, *peer) {
	a, b := net.Pipe()
	c := newConn(a)
	t.Cleanup(func() { c.Close(); b.Close() })
	return c, &peer{t, b}
}

// request reads one request frame: its stream id and ttrpc Request.
func (p *peer) request() (uint32, *ttrpc.Request) {
	h, b, err := readFrame(p.nc)
	if err != nil {
		p.t.Errorf("peer: reading a request: %v", err)
		return 0, nil
	}
	if h.typ != frameRequest || h.flags != 0 {
		p.t.Errorf("peer: frame type %d flags %d", h.typ, h.flags)
	}
	var r ttrpc.Request
	if err := proto.Unmarshal(b, &r); err != nil {
		p.t.Errorf("peer: %v", err)
	}
	return h.stream, &r
}

func frameBytes(length, stream uint32, typ, flags byte, payload []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, length)
	b = binary.BigEndian.AppendUint32(b, stream)
	return append(append(b, typ, flags), payload...)
}

// Malformed frames and messages from the peer are errors, never a hang.
func TestMalformedFrames(t *testing.T) {
	okResponse, _ := proto.Marshal(&ttrpc.Response{Payload: []byte{0x08, 0x07}})
	for _, c := range []struct {
		name  string
		reply func(id uint32) []byte
		gone  bool   // the error is ErrShimGone
		want  string // in the error
	}{
		{"nothing, then the end", func(uint32) []byte { return nil }, true, "EOF"},
		{"short header", func(uint32) []byte { return []byte{0, 0, 0} }, true, "header cut short"},
		{"short payload", func(id uint32) []byte { return frameBytes(10, id, frameResponse, 0, []byte{1, 2}) }, true, "unexpected EOF"},
		{"huge length", func(id uint32) []byte { return frameBytes(frameMaxLen+1, id, frameResponse, 0, nil) }, false, "over ttrpc's maximum"},
		{"max length", func(id uint32) []byte { return frameBytes(0xffffffff, id, frameResponse, 0, nil) }, false, "over ttrpc's maximum"},
		{"unknown stream", func(id uint32) []byte { return frameBytes(uint32(len(okResponse)), id+2, frameResponse, 0, okResponse) }, false, "never opened"},
		{"even stream", func(id uint32) []byte { return frameBytes(uint32(len(okResponse)), 2, frameResponse, 0, okResponse) }, false, "never opened"},
		{"stream 0", func(id uint32) []byte { return frameBytes(0, 0, frameResponse, 0, nil) }, false, "never opened"},
		{"data frame", func(id uint32) []byte { return frameBytes(uint32(len(okResponse)), id, frameData, 0, okResponse) }, false, "type 3"},
		{"unknown type", func(id uint32) []byte { return frameBytes(0, id, 9, 0, nil) }, false, "type 9"},
		{"bad response", func(id uint32) []byte { return frameBytes(2, id, frameResponse, 0, []byte{0x12, 0x05}) }, false, "malformed protobuf"},
		{"bad payload", func(id uint32) []byte {
			r, _ := proto.Marshal(&ttrpc.Response{Payload: []byte{0x08}})
			return frameBytes(uint32(len(r)), id, frameResponse, 0, r)
		}, false, "malformed protobuf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cn, p := newPipe(t)
			s := &Shim{id: "c1", conn: cn, ns: "ns"}
			go func() {
				id, _ := p.request()
				p.nc.Write(c.reply(id))
				p.nc.Close()
			}()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := s.Start(ctx)
			if err == nil || errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), c.want) || errors.Is(err, ErrShimGone) != c.gone {
				t.Errorf("Start = %v; want an error with %q (shim gone: %v)", err, c.want, c.gone)
			}
			// A second call fails at once: the connection ended (the peer closed it, or
			// this client did on a protocol error).
			_, err2 := s.Start(ctx)
			if err2 == nil || errors.Is(err2, context.DeadlineExceeded) {
				t.Errorf("second Start = %v", err2)
			}
			select {
			case <-s.Done():
			case <-time.After(10 * time.Second):
				t.Error("Done not closed")
			}
		})
	}
}

// A frame answering a call that gave up is dropped; the next call is answered.
func TestLateResponseDropped(t *testing.T) {
	cn, p := newPipe(t)
	s := &Shim{id: "c1", conn: cn, ns: "ns"}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := s.Start(ctx); done <- err }()
	id1, r := p.request()
	if r.Service != taskService || r.Method != "Start" || len(r.Metadata) != 1 || r.Metadata[0].Key != namespaceHeader || r.Metadata[0].Value != "ns" || r.TimeoutNano != 0 {
		t.Errorf("request %v", r)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Start = %v", err)
	}
	resp, _ := proto.Marshal(&ttrpc.Response{Payload: []byte{0x08, 0x07}})
	go func() {
		id2, _ := p.request()
		if id2 != id1+2 {
			t.Errorf("stream ids %d then %d", id1, id2)
		}
		p.nc.Write(frameBytes(uint32(len(resp)), id1, frameResponse, 0, resp))
		p.nc.Write(frameBytes(uint32(len(resp)), id2, frameResponse, 0, resp))
	}()
	if pid, err := s.Start(context.Background()); err != nil || pid != 7 {
		t.Errorf("Start = %d, %v", pid, err)
	}
}

// readFrame on raw bytes: the frame, or an error.
func TestReadFrame(t *testing.T) {
	for _, c := range []struct {
		in   []byte
		want string
	}{
		{nil, "EOF"},
		{[]byte{0}, "header cut short: unexpected EOF"},
		{frameBytes(0, 1, 2, 0, nil), ""},
		{frameBytes(3, 1, 2, 0, []byte{1, 2, 3}), ""},
		{frameBytes(3, 1, 2, 0, []byte{1}), "unexpected EOF"},
		{frameBytes(frameMaxLen, 1, 2, 0, make([]byte, frameMaxLen)), ""},
		{frameBytes(frameMaxLen+1, 1, 2, 0, nil), "maximum"},
	} {
		h, p, err := readFrame(bytes.NewReader(c.in))
		switch {
		case c.want == "" && (err != nil || int(h.length) != len(p) || !bytes.Equal(p, c.in[frameHeaderLen:])):
			t.Errorf("readFrame(%.20x) = %+v, %d bytes, %v", c.in, h, len(p), err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("readFrame(%.20x) = %v, want %q", c.in, err, c.want)
		}
		if c.want == "EOF" && !errors.Is(err, io.EOF) {
			t.Errorf("readFrame(nothing) = %v, want io.EOF", err)
		}
	}
}
