package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-dev/berth/internal/testguest"
)

// C guests used by the tests.
const (
	// cArgsEnv prints its arguments and $GREETING, then exits with $EXIT via exit(3).
	cArgsEnv = `#include <stdio.h>
#include <stdlib.h>
int main(int argc, char **argv) {
	for (int i = 0; i < argc; i++) printf("arg%d=%s\n", i, argv[i]);
	const char *g = getenv("GREETING");
	printf("GREETING=%s\n", g ? g : "(unset)");
	const char *e = getenv("EXIT");
	if (e) exit(atoi(e));
	return 0;
}
`
	// cStdin copies stdin to stdout, prefixed.
	cStdin = `#include <stdio.h>
int main(void) {
	char buf[256];
	size_t n;
	fputs("got: ", stdout);
	while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) fwrite(buf, 1, n, stdout);
	return 0;
}
`
	// cFiles performs one file operation named by its arguments and reports the result:
	//   write <path> <text> | read <path> | symlink <target> <link>
	cFiles = `#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
	if (argc < 3) { puts("usage"); return 2; }
	if (!strcmp(argv[1], "write")) {
		FILE *f = fopen(argv[2], "w");
		if (!f) { printf("error: %s\n", strerror(errno)); return 1; }
		fputs(argv[3], f);
		if (fclose(f)) { printf("error: %s\n", strerror(errno)); return 1; }
	} else if (!strcmp(argv[1], "read")) {
		char buf[256] = {0};
		FILE *f = fopen(argv[2], "r");
		if (!f) { printf("error: %s\n", strerror(errno)); return 1; }
		fread(buf, 1, sizeof buf - 1, f);
		fputs(buf, stdout);
		fclose(f);
		return 0;
	} else if (!strcmp(argv[1], "symlink")) {
		if (symlink(argv[2], argv[3])) { printf("error: %s\n", strerror(errno)); return 1; }
	}
	puts("ok");
	return 0;
}
`
	// cImportsEnvFoo imports env.foo, which berth does not provide.
	cImportsEnvFoo = `__attribute__((import_module("env"), import_name("foo"))) void foo(void);
int main(void) { foo(); return 0; }
`
	// cReactor is built with -mexec-model=reactor: it exports _initialize, not _start.
	cReactor = `__attribute__((export_name("add"))) int add(int a, int b) { return a + b; }
`
	// cTrap traps in a function with a recognisable name.
	cTrap = `#include <stdio.h>
__attribute__((noinline)) void crash_here(int x) { if (x) __builtin_trap(); }
int main(int argc, char **argv) { puts("before"); crash_here(argc); return 0; }
`
	// cBigMemory starts with 1 MiB of linear memory.
	cBigMemory = `int main(void) { return 0; }
`
	// cMalloc allocates 32 MiB and says whether it got it.
	cMalloc = `#include <stdio.h>
#include <stdlib.h>
int main(void) {
	char *volatile p = malloc(32 << 20);
	if (!p) { puts("malloc failed"); return 0; }
	p[(32 << 20) - 1] = 1;
	puts("malloc ok");
	return 0;
}
`
)

func cHello(t testing.TB) []byte { return testguest.Read(t, testguest.C(t, testguest.CHello)) }

// goHello builds testguest.GoHello.
func goHello(t testing.TB) []byte {
	return testguest.Read(t, testguest.Go(t, testguest.GoHello))
}
func cGuest(t testing.TB, src string, flags ...string) []byte {
	return testguest.Read(t, testguest.C(t, src, flags...))
}

// sharedCacheDir is a compilation cache kept across test runs, for tests that only need
// modules to run: compiling the 2.6 MB Go guest takes over 20 s under -race.
func sharedCacheDir(t testing.TB) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("berth-engine-test-%d", os.Getuid()))
}

func newEngine(t testing.TB, dir string) *Engine {
	t.Helper()
	e, err := New(context.Background(), dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(context.Background()); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return e
}
