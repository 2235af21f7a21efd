package logs_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/berth-dev/berth/internal/logs"
)

// A container's output goes to <id>-json.log, rotated as `--log-opt max-size=1k
// --log-opt max-file=3` asks; `logs --tail 2` reads the last two lines back, and
// `logs -f` follows until the container ends.
func Example() {
	dir, err := os.MkdirTemp("", "logs-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, logs.FileName("3f2a9c"))

	opts, err := logs.ParseOptions(map[string]string{"max-size": "1k", "max-file": "3"})
	if err != nil {
		log.Fatal(err)
	}
	w, err := logs.NewWriter(path, opts)
	if err != nil {
		log.Fatal(err)
	}
	for i := range 60 {
		fmt.Fprintf(w.Stdout(), "request %d served\n", i)
	}
	fmt.Fprint(w.Stderr(), "shutting down")
	// The container's process exits: its unfinished line becomes a partial entry.
	if err := w.Close(); err != nil {
		log.Fatal(err)
	}

	ctx := context.Background()
	print := func(e logs.Entry) error {
		fmt.Printf("%s %q partial=%v\n", e.Stream, e.Log, e.Partial())
		return nil
	}
	if err := logs.Read(ctx, path, logs.ReadOptions{Tail: 2, Stdout: true, Stderr: true}, print); err != nil {
		log.Fatal(err)
	}

	// logs -f on a container that has ended: Done is closed, so Read hands over what
	// the files hold and returns.
	ended := make(chan struct{})
	close(ended)
	var last logs.Entry
	err = logs.Read(ctx, path, logs.ReadOptions{Tail: -1, Stdout: true, Follow: true, Done: ended}, func(e logs.Entry) error {
		last = e
		return nil
	})
	files, _ := filepath.Glob(path + "*")
	fmt.Printf("followed to %q; %d files kept; %v\n", last.Log, len(files), err)
	// Output:
	// stdout "request 59 served\n" partial=false
	// stderr "shutting down" partial=true
	// followed to "request 59 served\n"; 3 files kept; <nil>
}
