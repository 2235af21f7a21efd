package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/berth-dev/berth/internal/testguest"
)

// cRawIO uses only read(2), write(2) and the process's arguments and environment, so it
// runs on the parts of berth's host that exist from the start.
const cRawIO = `#include <stdlib.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	for (int i = 0; i < argc; i++) { write(1, argv[i], strlen(argv[i])); write(1, "\n", 1); }
	const char *g = getenv("GREETING");
	if (g) { write(1, g, strlen(g)); write(1, "\n", 1); }
	char buf[64];
	ssize_t n;
	while ((n = read(0, buf, sizeof buf)) > 0) write(2, buf, n);
	const char *e = getenv("EXIT");
	_exit(e ? atoi(e) : 0);
}
`

func TestBerthHostRawIO(t *testing.T) {
	wasm := testguest.Read(t, testguest.C(t, cRawIO))
	ctx := context.Background()
	eng, err := New(ctx, t.TempDir(), WithHost(HostBerth))
	if err != nil {
		t.Fatal(err)
	}
	defer eng.Close(ctx)
	var out, errb bytes.Buffer
	code, err := eng.Run(ctx, Spec{
		Module: wasm,
		Args:   []string{"app", "one", "two words"},
		Env:    []string{"GREETING=hi there", "EXIT=7"},
		Stdin:  strings.NewReader("from stdin"),
		Stdout: &out,
		Stderr: &errb,
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != 7 {
		t.Errorf("exit code %d, want 7", code)
	}
	if want := "app\none\ntwo words\nhi there\n"; out.String() != want {
		t.Errorf("stdout %q, want %q", out.String(), want)
	}
	if errb.String() != "from stdin" {
		t.Errorf("stderr %q, want %q", errb.String(), "from stdin")
	}
}
