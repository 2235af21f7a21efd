//go:build !berth_core

package service

import (
	"io"
	"sync"
)

// chunkPipe is io.Pipe with a buffer: a write copies its bytes into chunks queued for the
// reader and returns, so that the writer (a download) and the reader (the unpacking) work
// at once. With io.Pipe a write waits until the reader has taken every byte of it, and the
// two take turns. At most chunkPipeDepth chunks of chunkPipeSize bytes wait; a writer
// ahead by more waits for the reader.
type chunkPipe struct {
	ch   chan []byte   // filled chunks, in order; closed by the writer's close
	free chan []byte   // chunks the reader emptied, for reuse
	stop chan struct{} // closed by the reader's close

	wmu     sync.Mutex
	wclosed bool
	werr    error // set before ch is closed
	rerr    error // set before stop is closed
	stopped sync.Once

	cur, curBuf []byte // the reader's current chunk (reader side only)
}

const (
	chunkPipeSize  = 256 << 10
	chunkPipeDepth = 16
)

func newChunkPipe() (*pipeReader, *pipeWriter) {
	p := &chunkPipe{ch: make(chan []byte, chunkPipeDepth), free: make(chan []byte, chunkPipeDepth+2), stop: make(chan struct{})}
	return &pipeReader{p}, &pipeWriter{p}
}

// pipeWriter is the writing half of a chunkPipe; one goroutine at a time uses it.
type pipeWriter struct{ p *chunkPipe }

// Write queues b for the reader. It fails with the reader's error once the reader closed,
// and with io.ErrClosedPipe after Close.
func (w *pipeWriter) Write(b []byte) (int, error) {
	p := w.p
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.wclosed {
		return 0, io.ErrClosedPipe
	}
	n := 0
	for len(b) > 0 {
		var buf []byte
		select {
		case buf = <-p.free:
		default:
			buf = make([]byte, chunkPipeSize)
		}
		k := copy(buf[:cap(buf)], b)
		select {
		case p.ch <- buf[:k]:
		case <-p.stop:
			return n, p.rerr
		}
		n, b = n+k, b[k:]
	}
	return n, nil
}

// Close ends the stream: the reader gets io.EOF after the queued bytes.
func (w *pipeWriter) Close() error { return w.CloseWithError(nil) }

// CloseWithError ends the stream with err (io.EOF when nil) after the queued bytes. Only
// the first close counts.
func (w *pipeWriter) CloseWithError(err error) error {
	p := w.p
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if !p.wclosed {
		p.wclosed, p.werr = true, err
		close(p.ch)
	}
	return nil
}

// pipeReader is the reading half of a chunkPipe; one goroutine reads, any may close.
type pipeReader struct{ p *chunkPipe }

func (r *pipeReader) Read(b []byte) (int, error) {
	p := r.p
	select {
	case <-p.stop:
		return 0, io.ErrClosedPipe
	default:
	}
	for len(p.cur) == 0 {
		if p.curBuf != nil {
			select {
			case p.free <- p.curBuf[:cap(p.curBuf)]:
			default:
			}
			p.curBuf = nil
		}
		select {
		case <-p.stop:
			return 0, io.ErrClosedPipe
		case buf, ok := <-p.ch:
			if !ok {
				if p.werr != nil {
					return 0, p.werr
				}
				return 0, io.EOF
			}
			p.cur, p.curBuf = buf, buf
		}
	}
	n := copy(b, p.cur)
	p.cur = p.cur[n:]
	return n, nil
}

// CloseWithError stops the reader: pending and later writes fail with err
// (io.ErrClosedPipe when nil). Only the first close counts.
func (r *pipeReader) CloseWithError(err error) error {
	p := r.p
	p.stopped.Do(func() {
		if err == nil {
			err = io.ErrClosedPipe
		}
		p.rerr = err
		close(p.stop)
	})
	return nil
}
