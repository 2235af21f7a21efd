#!/usr/bin/env bash
# conformance/run.sh runs test suites that nobody here wrote against `berth run`, on each
# WASI host, and prints a table of results: package or test → pass/FAIL per host.
#
#   conformance/run.sh [go] [wasi]          (both when none is named; `make conformance`)
#
# Suites:
#   go    Go's own standard-library tests for GOOS=wasip1, through `go test -exec
#         conformance/go_wasip1_berth_exec` (berth run --rm -v /:/ -w "$PWD" …), and
#         the host-side TestNonblock of internal/runtime/wasitest (guests polling FIFOs).
#   wasi  github.com/WebAssembly/wasi-testsuite, run by conformance/wasi-testsuite/run.py:
#         its C tests built here with clang --target=wasm32-wasi from tests/c/src, and the
#         Rust and AssemblyScript tests where the checkout has them built
#         (tests/*/testsuite/wasm32-wasip1, as on upstream's prod/testsuite-base branch).
#         Set WASI_TESTSUITE to the checkout; without it the suite is skipped with a note.
#
# Environment:
#   HOSTS           WASI hosts to run on (BERTH_WASI values), default "wazero berth"
#   GO_PKGS         packages of the Go suite (default below)
#   GO_TIMEOUT      go test -timeout per package, default 10m
#   CONFORMANCE_OUT directory for berth, its data root and the logs (default: a new
#                   temporary directory, printed at the end)
#
# One BERTH_ROOT serves every run, so each test binary is compiled once: later runs,
# on either host, load it from berth's compile cache. Packages run one at a time
# (go test -p 1): a run is a whole `berth run` per test binary, and the machine's
# cores are shared.
set -uo pipefail
cd "$(dirname "$0")/.."
here=$PWD

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(go wasi)
hosts=(${HOSTS:-wazero berth})
pkgs=${GO_PKGS:-"os io io/fs io/ioutil path/filepath syscall time testing/fstest archive/tar bufio fmt log/slog os/exec strconv net"}
out=${CONFORMANCE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/berth-conformance.XXXXXX")}
mkdir -p "$out"
out=$(cd "$out" && pwd)

echo "building berth into $out"
CGO_ENABLED=0 go build -buildvcs=false -trimpath -o "$out/berth" ./cmd/berth || exit 1
export BERTH="$out/berth" BERTH_ROOT="$out/root" BERTH_STATE="$out/state"
mkdir -p "$out/bin"
ln -sf "$here/conformance/go_wasip1_berth_exec" "$out/bin/go_wasip1_wasm_exec"

status=0
for suite in "${suites[@]}"; do
	for host in "${hosts[@]}"; do
		start=$(date +%s)
		case $suite in
		go)
			echo "== Go standard library (GOOS=wasip1) on BERTH_WASI=$host: $pkgs"
			# shellcheck disable=SC2086 # $pkgs is a list
			BERTH_WASI=$host GOOS=wasip1 GOARCH=wasm go test -json -count=1 -p 1 -timeout "${GO_TIMEOUT:-10m}" \
				-exec "$here/conformance/go_wasip1_berth_exec" $pkgs >"$out/go-$host.json" 2>"$out/go-$host.stderr" || status=1
			# A host-side test of the Go runtime's wasip1 port: guests reading FIFOs in
			# non-blocking mode (poll_oneoff). Its `go run` finds the runner by the name
			# go_wasip1_wasm_exec on PATH, as it would find Go's own.
			BERTH_WASI=$host PATH="$out/bin:$PATH" go test -json -count=1 -timeout "${GO_TIMEOUT:-10m}" \
				-run TestNonblock internal/runtime/wasitest -args -target=wasip1/wasm >>"$out/go-$host.json" 2>>"$out/go-$host.stderr" || status=1
			;;
		wasi)
			if [ -z "${WASI_TESTSUITE:-}" ] || [ ! -d "$WASI_TESTSUITE/tests" ]; then
				echo "== wasi-testsuite skipped: set WASI_TESTSUITE to a checkout of github.com/WebAssembly/wasi-testsuite"
				continue
			fi
			echo "== wasi-testsuite on BERTH_WASI=$host"
			: >"$out/wasi-$host.tsv"
			: >"$out/wasi-$host.log"
			# C tests from source (built here); the other languages' tests only where the
			# checkout has them built (upstream's prod/testsuite-base branch does).
			for d in "$WASI_TESTSUITE"/tests/c/src "$WASI_TESTSUITE"/tests/*/testsuite/wasm32-wasip1 "$WASI_TESTSUITE"/tests/*/testsuite; do
				lang=${d#"$WASI_TESTSUITE"/tests/}
				lang=${lang%%/*}
				[ -d "$d" ] || continue
				compgen -G "$d/*.c" >/dev/null || compgen -G "$d/*.wasm" >/dev/null || continue
				[ "$lang" = c ] && [ "$d" != "$WASI_TESTSUITE/tests/c/src" ] && [ -d "$WASI_TESTSUITE/tests/c/src" ] && continue # built from source instead
				grep -q "^$lang/" "$out/wasi-$host.tsv" && continue # wasm32-wasip1/ and its parent: once
				BERTH_WASI=$host python3 conformance/wasi-testsuite/run.py --suite "$d" --prefix "$lang/" \
					--berth "$BERTH" --results "$out/wasi-$host.part" >>"$out/wasi-$host.log" 2>&1 || status=1
				cat "$out/wasi-$host.part" >>"$out/wasi-$host.tsv"
			done
			;;
		*)
			echo "unknown suite $suite (want go or wasi)" >&2
			exit 2
			;;
		esac
		echo "   $(($(date +%s) - start))s"
	done
done

python3 conformance/report.py "$out" "${hosts[@]}"
echo
echo "logs: $out (go-HOST.json: go test -json; wasi-HOST.log)"
exit $status
