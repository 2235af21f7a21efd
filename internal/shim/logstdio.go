package shim

import (
	"context"
	"fmt"
	"os"
	"sync"

	"github.com/containerd/log"

	"github.com/berth-dev/berth/internal/logs"
)

// jsonLog is the shim's copy of a guest's stdout and stderr into a json-file log.
type jsonLog struct {
	w    *logs.Writer
	done sync.WaitGroup
}

// openJSONLog opens the log of uri and returns the write ends to hand the guest as its
// stdout and stderr; the shim's copies of them must be closed once the guest has
// started, so that the copiers see EOF when it exits.
func openJSONLog(ctx context.Context, id, uri string) (*jsonLog, *os.File, *os.File, error) {
	path, opts, err := logs.ParseURI(uri)
	if err != nil {
		return nil, nil, nil, err
	}
	w, err := logs.NewWriter(path, opts)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("container %s: json-file log %s: %w", id, path, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		w.Close()
		outR.Close()
		outW.Close()
		return nil, nil, nil, err
	}
	l := &jsonLog{w: w}
	ctx = context.WithoutCancel(ctx) // the copies outlive the Create call; ctx carries the logger
	l.done.Add(2)
	go l.copy(ctx, id, w.Stdout(), outR)
	go l.copy(ctx, id, w.Stderr(), errR)
	return l, outW, errW, nil
}

// copy moves a stream's bytes into the log until the guest closes it. A failed write
// (a full disk) is logged and the copy goes on reading: stopping would leave the guest
// blocked on a full pipe (internal/logs' doc). Only the first failure of a run of
// failures is logged.
func (l *jsonLog) copy(ctx context.Context, id string, dst *logs.Stream, src *os.File) {
	defer l.done.Done()
	defer src.Close()
	buf := make([]byte, 32<<10)
	failing := false
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				if !failing {
					log.G(ctx).WithError(werr).WithField("id", id).Warn("writing the container's json-file log; output is lost until writes succeed again")
				}
				failing = true
			} else {
				failing = false
			}
		}
		if err != nil {
			return
		}
	}
}

// Close waits for the guest's streams to end, then flushes unfinished lines as partial
// entries and closes the file.
func (l *jsonLog) Close() error {
	l.done.Wait()
	return l.w.Close()
}
