package service

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

func TestChunkPipe(t *testing.T) {
	data := make([]byte, 3*chunkPipeSize*chunkPipeDepth+12345) // more than the pipe holds
	for i := range data {
		data[i] = byte(rand.IntN(256))
	}
	errBroken := errors.New("the source broke")
	tests := []struct {
		name     string
		closeErr error // the writer's close
		wantErr  error // what the reader gets after the data
	}{
		{"clean end", nil, io.EOF},
		{"end with an error", errBroken, errBroken},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pr, pw := newChunkPipe()
			go func() {
				b := data
				for len(b) > 0 { // writes of every size, bigger and smaller than a chunk
					k := min(len(b), 1+rand.IntN(2*chunkPipeSize))
					if _, err := pw.Write(b[:k]); err != nil {
						panic(err)
					}
					b = b[k:]
				}
				pw.CloseWithError(tc.closeErr)
				pw.CloseWithError(errors.New("a second close changes nothing"))
			}()
			var got bytes.Buffer
			buf := make([]byte, 7000)
			var err error
			for {
				var n int
				n, err = pr.Read(buf[:1+rand.IntN(len(buf))])
				got.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if err != tc.wantErr {
				t.Fatalf("read ended with %v, want %v", err, tc.wantErr)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatalf("read %d bytes, not the %d written", got.Len(), len(data))
			}
			if _, err := pw.Write([]byte("late")); err != io.ErrClosedPipe {
				t.Fatalf("write after close: %v, want io.ErrClosedPipe", err)
			}
		})
	}

	t.Run("the reader leaves: a waiting writer is released", func(t *testing.T) {
		pr, pw := newChunkPipe()
		done := make(chan error, 1)
		go func() { _, err := pw.Write(data); done <- err }() // more than fits
		select {
		case err := <-done:
			t.Fatalf("a write larger than the pipe returned (%v) with no reader", err)
		case <-time.After(20 * time.Millisecond):
		}
		pr.CloseWithError(errStreamStopped)
		if err := <-done; err != errStreamStopped {
			t.Fatalf("write: %v, want %v", err, errStreamStopped)
		}
		if _, err := pr.Read(make([]byte, 1)); err != io.ErrClosedPipe {
			t.Fatalf("read after close: %v", err)
		}
	})
}
