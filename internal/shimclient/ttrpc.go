package shimclient

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// The client half of ttrpc (github.com/containerd/ttrpc's channel.go and client.go),
// unary calls only: a frame is a 10-byte header (the payload's length and the stream id,
// big-endian uint32s, then a type byte and a flags byte) and at most 4 MiB of payload.
// A call opens a stream with an odd id, sends one request frame (type 1, no flags) and
// receives one response frame (type 2) on the same stream; calls on one connection run
// at once, and one reader goroutine hands each response to its caller.

const (
	frameHeaderLen = 10
	frameMaxLen    = 4 << 20 // ttrpc's messageLengthMax

	frameRequest  = 0x1
	frameResponse = 0x2
	frameData     = 0x3
)

var (
	// errConnClosed ends the calls of a connection that Close closed; ttrpc's ErrClosed
	// has the same text.
	errConnClosed = errors.New("ttrpc: closed")
	// errProtocol is a frame or message the peer should not have sent.
	errProtocol = errors.New("ttrpc: protocol error")
)

// frameHeader is a frame's header.
type frameHeader struct {
	length, stream uint32
	typ, flags     byte
}

func parseFrameHeader(b []byte) frameHeader {
	return frameHeader{
		length: binary.BigEndian.Uint32(b[0:4]),
		stream: binary.BigEndian.Uint32(b[4:8]),
		typ:    b[8],
		flags:  b[9],
	}
}

// readFrame reads one frame. A length over 4 MiB is a protocol error: ttrpc never sends
// one (its sender refuses), so it means the stream is out of step.
func readFrame(r io.Reader) (frameHeader, []byte, error) {
	var hb [frameHeaderLen]byte
	if _, err := io.ReadFull(r, hb[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			// The peer ended in the middle of a frame: it died while writing.
			return frameHeader{}, nil, fmt.Errorf("a frame's header cut short: %w", err)
		}
		return frameHeader{}, nil, err
	}
	h := parseFrameHeader(hb[:])
	if h.length > frameMaxLen {
		return h, nil, fmt.Errorf("%w: a frame of %d bytes, over ttrpc's maximum of %d", errProtocol, h.length, frameMaxLen)
	}
	p := make([]byte, h.length)
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, nil, fmt.Errorf("reading a frame of %d bytes: %w", h.length, err)
	}
	return h, p, nil
}

// frame is a received frame.
type frame struct {
	h frameHeader
	p []byte
}

// conn is a ttrpc client connection.
type conn struct {
	nc net.Conn

	wmu sync.Mutex // serialises frames on nc, and the issue of stream ids (call)

	mu      sync.Mutex
	next    uint32                // the next stream id: odd
	pending map[uint32]chan frame // streams waiting for their response
	err     error                 // why the connection ended, once it has

	done chan struct{} // closed when the connection has ended
}

func newConn(nc net.Conn) *conn {
	c := &conn{nc: nc, next: 1, pending: make(map[uint32]chan frame), done: make(chan struct{})}
	go c.read()
	return c
}

// read hands each response to its stream until the connection ends.
func (c *conn) read() {
	br := bufio.NewReader(c.nc)
	for {
		h, p, err := readFrame(br)
		if err != nil {
			c.fail(err)
			return
		}
		c.mu.Lock()
		ch, ok := c.pending[h.stream]
		if ok {
			delete(c.pending, h.stream)
		}
		issued := h.stream%2 == 1 && h.stream < c.next
		c.mu.Unlock()
		switch {
		case ok:
			ch <- frame{h, p} // buffered: never blocks
		case !issued:
			c.fail(fmt.Errorf("%w: a frame (type %d) on stream %d, which this client never opened", errProtocol, h.typ, h.stream))
			return
		}
		// A response to a call that gave up (its context ended) is dropped.
	}
}

// fail ends the connection for err (the first reason wins) and fails the pending calls.
func (c *conn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.pending = nil
	c.mu.Unlock()
	c.nc.Close()
	close(c.done)
}

// Close closes the connection; pending calls fail with errConnClosed.
func (c *conn) Close() error {
	c.fail(errConnClosed)
	return nil
}

// ended returns why the connection ended.
func (c *conn) ended() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// call makes a unary call of service's method and returns the response's payload. An
// error status is an *rpcError; a connection that ended, its reason.
func (c *conn) call(ctx context.Context, service, method string, payload []byte, metadata [][2]string) ([]byte, error) {
	req := rpcRequest{service: service, method: method, payload: payload, metadata: metadata}
	if dl, ok := ctx.Deadline(); ok {
		req.timeoutNano = time.Until(dl).Nanoseconds()
	}
	msg := req.marshal()
	if len(msg) > frameMaxLen {
		return nil, fmt.Errorf("%w: the %s request is %d bytes, over ttrpc's maximum of %d", ErrBadOptions, method, len(msg), frameMaxLen)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}

	b := make([]byte, frameHeaderLen, frameHeaderLen+len(msg))
	binary.BigEndian.PutUint32(b[0:4], uint32(len(msg)))
	b[8] = frameRequest
	b = append(b, msg...)

	// The stream id is taken under the write lock: ttrpc's server refuses an id lower
	// than one it has seen ("StreamID cannot be re-used and must increment"), so ids
	// must reach the wire in the order they are issued.
	ch := make(chan frame, 1)
	c.wmu.Lock()
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		c.wmu.Unlock()
		return nil, c.err
	}
	id := c.next
	c.next += 2
	if c.next < id { // after 2^31 calls: odd ids wrap to 1
		c.next = 1
	}
	c.pending[id] = ch
	c.mu.Unlock()
	binary.BigEndian.PutUint32(b[4:8], id)
	if dl, ok := ctx.Deadline(); ok {
		c.nc.SetWriteDeadline(dl)
	}
	_, err := c.nc.Write(b)
	c.nc.SetWriteDeadline(time.Time{})
	c.wmu.Unlock()
	if err != nil {
		if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
			// A write cut short by the deadline leaves a partial frame: the connection is
			// unusable.
			c.fail(fmt.Errorf("sending %s: %w", method, err))
			return nil, context.DeadlineExceeded
		}
		c.fail(err)
		return nil, c.ended()
	}

	var f frame
	select {
	case f = <-ch:
	case <-c.done:
		select {
		case f = <-ch: // answered just before the end
		default:
			return nil, c.ended()
		}
	case <-ctx.Done():
		c.mu.Lock()
		if c.pending != nil {
			delete(c.pending, id)
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
	if f.h.typ != frameResponse {
		return nil, fmt.Errorf("%w: a frame of type %d answered %s", errProtocol, f.h.typ, method)
	}
	var r rpcResponse
	if err := r.unmarshal(f.p); err != nil {
		return nil, fmt.Errorf("%w: the response to %s: %w", errProtocol, method, err)
	}
	if r.status.code != 0 {
		return nil, &rpcError{code: r.status.code, message: r.status.message}
	}
	return r.payload, nil
}
