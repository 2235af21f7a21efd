package shimclient

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/ttrpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// sink is a tiny containerd events service: it counts what shims forward.
type sink struct{ n atomic.Int64 }

func (s *sink) Forward(context.Context, *eventsapi.ForwardRequest) (*emptypb.Empty, error) {
	s.n.Add(1)
	return &emptypb.Empty{}, nil
}

// TestMeasure times a detached container's life through the real shim, for each way of
// handling the shim's events without containerd: from Start (the shim) until the task
// runs, and from Kill until Delete and Shutdown are done and the shim process is gone.
// BERTH_SHIMCLIENT_MEASURE=1 runs it (20 rounds each; 3 for the 5 s case).
//
//	BERTH_SHIMCLIENT_MEASURE=1 go test -run TestMeasure -v ./internal/shimclient
func TestMeasure(t *testing.T) {
	if os.Getenv("BERTH_SHIMCLIENT_MEASURE") != "1" {
		t.Skip("set BERTH_SHIMCLIENT_MEASURE=1 to measure")
	}
	e := newEnv(t)
	dir := t.TempDir()

	// A regular file: connect(2) refuses at once.
	refused := filepath.Join(dir, "refused")
	if err := os.WriteFile(refused, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sinkPath := filepath.Join(dir, "events")
	l, err := net.Listen("unix", sinkPath)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ttrpc.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	events := &sink{}
	eventsapi.RegisterEventsService(srv, events)
	go srv.Serve(context.Background(), l)
	defer func() {
		srv.Close()
		os.Remove(sinkPath)
	}()

	for _, v := range []struct {
		name, addr string
		rounds     int
	}{
		{"no TTRPC_ADDRESS (events discarded)", "", 20},
		{"events sink in berth", "unix://" + sinkPath, 20},
		{"TTRPC_ADDRESS refuses", refused, 20},
		{"TTRPC_ADDRESS does not exist", filepath.Join(dir, "none"), 3},
	} {
		var up, down, shim, create, start []time.Duration
		var logBytes int64
		for i := 0; i < v.rounds; i++ {
			bundle := e.bundle(nil, "spin")
			o := e.opts("m", bundle)
			if v.addr != "" {
				o.Env = append(o.Env, "TTRPC_ADDRESS="+v.addr)
			}
			t0 := time.Now()
			s, err := Start(e.ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			ts := time.Now()
			if _, err := s.Create(e.ctx, Stdio{}); err != nil {
				t.Fatal(err)
			}
			tc := time.Now()
			pid, err := s.Start(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			t1 := time.Now()
			if err := s.Kill(e.ctx, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
			if _, err := s.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Delete(ctx); err != nil {
				t.Fatal(err)
			}
			sctx, scancel := context.WithTimeout(e.ctx, 30*time.Second)
			if err := s.Shutdown(sctx); err != nil {
				t.Fatal(err)
			}
			scancel()
			cancel()
			t2 := time.Now()
			if fi, err := os.Stat(filepath.Join(bundle, LogFile)); err == nil {
				logBytes += fi.Size()
			}
			up, down = append(up, t1.Sub(t0)), append(down, t2.Sub(t1))
			shim, create, start = append(shim, ts.Sub(t0)), append(create, tc.Sub(ts)), append(start, t1.Sub(tc))
			e.checkGone(s, pid)
		}
		for _, d := range [][]time.Duration{up, down, shim, create, start} {
			slices.Sort(d)
		}
		t.Logf("%-38s n=%2d  start→running median %7.1f ms (min %7.1f, max %7.1f)  kill→deleted+shim gone median %7.1f ms (min %7.1f, max %7.1f)  shim log %d B/container",
			v.name, v.rounds, ms(up[len(up)/2]), ms(up[0]), ms(up[len(up)-1]), ms(down[len(down)/2]), ms(down[0]), ms(down[len(down)-1]), logBytes/int64(v.rounds))
		t.Logf("%-38s        of which: shim started and connected %.1f ms, Create %.1f ms, Start %.1f ms (medians)", "", ms(shim[len(shim)/2]), ms(create[len(create)/2]), ms(start[len(start)/2]))
	}
	t.Logf("events received by the sink: %d", events.n.Load())
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
