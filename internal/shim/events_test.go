package shim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/namespaces"
)

// slowPublisher answers each event after a delay, as containerd does over ttrpc.
type slowPublisher struct {
	recorder
	delay time.Duration
}

func (p *slowPublisher) Publish(ctx context.Context, topic string, ev events.Event) error {
	time.Sleep(p.delay)
	return p.recorder.Publish(ctx, topic, ev)
}

// TestEventQueue: publishing does not wait for containerd's answer, order is kept
// across concurrent publishers' sequences, close forwards everything queued, and an
// event after close is dropped without blocking or panicking.
func TestEventQueue(t *testing.T) {
	ctx := namespaces.WithNamespace(context.Background(), "test")
	pub := &slowPublisher{delay: 20 * time.Millisecond}
	q := newEventQueue(ctx, pub)
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex // one sequence at a time, as a container's events come from one task
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			defer mu.Unlock()
			for _, step := range []string{"create", "start", "exit"} {
				q.publish(fmt.Sprintf("/%d/%s", i, step), nil)
			}
		}()
	}
	wg.Wait()
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("publishing 9 events took %v: it waited for the publisher (20 ms each)", took)
	}
	q.close()
	got := strings.Fields(pub.got())
	if len(got) != 9 {
		t.Fatalf("after close %d events were forwarded, want 9: %v", len(got), got)
	}
	for i := 0; i < 9; i += 3 {
		n := strings.Split(got[i], "/")[1]
		if want := []string{"/" + n + "/create", "/" + n + "/start", "/" + n + "/exit"}; strings.Join(got[i:i+3], " ") != strings.Join(want, " ") {
			t.Errorf("events %v: a task's create, start, exit are out of order", got)
		}
	}
	q.publish("/late", nil)
	q.close()
	if strings.Contains(pub.got(), "/late") {
		t.Error("an event after close was forwarded")
	}
}
