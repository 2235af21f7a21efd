package shim

import (
	"context"
	"sync"

	"github.com/containerd/containerd/runtime/v2/shim"
	"github.com/containerd/log"
)

// eventQueue forwards a shim's task events to containerd in the order they were
// published, from a goroutine of its own.
//
// # Notes
//
//   - The v1.7 library's publisher makes a ttrpc call to containerd's events service
//     for each event and returns when containerd answered. Published inline, every
//     Create and Start waited for that round trip (two per task, four per pod);
//     containerd's own runc shim queues its events the same way as here.
//   - Order is kept (create, start, exit, delete: containerd expects exit before
//     delete); an event published after close is dropped with a log line, as no
//     containerd is listening by then.
type eventQueue struct {
	ctx  context.Context
	pub  shim.Publisher
	ch   chan queuedEvent
	done chan struct{}

	mu     sync.Mutex // orders publish and close
	closed bool
}

type queuedEvent struct {
	topic string
	ev    interface{}
}

// eventBacklog is how many events may wait before publish blocks (runc's shim: 128).
const eventBacklog = 128

func newEventQueue(ctx context.Context, pub shim.Publisher) *eventQueue {
	q := &eventQueue{ctx: ctx, pub: pub, ch: make(chan queuedEvent, eventBacklog), done: make(chan struct{})}
	go q.forward()
	return q
}

func (q *eventQueue) forward() {
	defer close(q.done)
	for e := range q.ch {
		if err := q.pub.Publish(q.ctx, e.topic, e.ev); err != nil {
			log.G(q.ctx).WithError(err).WithField("topic", e.topic).Warn("publishing event")
		}
	}
}

// publish queues an event for containerd.
func (q *eventQueue) publish(topic string, ev interface{}) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		log.G(q.ctx).WithField("topic", topic).Warn("event after the shim's shutdown: dropped")
		return
	}
	q.ch <- queuedEvent{topic, ev}
}

// close forwards what is queued, then returns; later events are dropped.
func (q *eventQueue) close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	<-q.done
}
