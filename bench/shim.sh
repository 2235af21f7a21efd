#!/usr/bin/env bash
# bench/shim.sh: the containerd shim benchmarks, berth against runc side by side in one
# run (e2e/bench_test.go on the e2e harness: private containerd 1.6 and 2.4.2, Docker 29),
# and prints the report with the ratios.
#
#   sudo bench/shim.sh                 # every benchmark
#   sudo bench/shim.sh 'CtrRun|Docker' # a selection: TestBench<REGEX>
#
# Knobs (environment):
#   BERTH_BENCH_N=30       samples per side for latencies
#   BERTH_BENCH_TASKS=1000 tasks per side for the throughput benchmark
#   BERTH_BENCH_GROUP=100  idle containers in one shim group for the memory benchmark
#   BERTH_BENCH_PODS=100   idle pods per side for the Kubernetes density benchmark
#                          (TestBenchKube: sudo bench/shim.sh Kube)
#   BERTH_BENCH_OUT=FILE   where the report goes (default: a temporary file, printed)
# The components the e2e tests need must be installed (.ci/run installs them; see
# e2e/doc.go). Needs root.
set -euo pipefail

cd "$(dirname "$0")/.."
sel="${1:-.*}"
export BERTH_E2E=1 BERTH_BENCH=1
export BERTH_BENCH_N="${BERTH_BENCH_N:-30}"
export BERTH_BENCH_TASKS="${BERTH_BENCH_TASKS:-1000}"
export BERTH_BENCH_GROUP="${BERTH_BENCH_GROUP:-100}"
export BERTH_BENCH_PODS="${BERTH_BENCH_PODS:-100}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export BERTH_BENCH_OUT="${BERTH_BENCH_OUT:-$tmp/report.md}"
: >"$BERTH_BENCH_OUT"

if [ "$(id -u)" -ne 0 ]; then
	echo "bench/shim.sh: needs root (it starts containerd and dockerd in private namespaces)" >&2
	exit 1
fi

{
	echo "## containerd shim benchmarks"
	echo
	echo "$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) CPUs, kernel $(uname -r);"
	echo "\`bench/shim.sh$( [ "$sel" = '.*' ] || printf " '%s'" "$sel")\` with BERTH_BENCH_N=$BERTH_BENCH_N BERTH_BENCH_TASKS=$BERTH_BENCH_TASKS BERTH_BENCH_GROUP=$BERTH_BENCH_GROUP BERTH_BENCH_PODS=$BERTH_BENCH_PODS"
} >>"$BERTH_BENCH_OUT"

log="$tmp/go-test.log"
status=0
go test ./e2e -run "^TestBench(${sel})\$" -count=1 -v -timeout 90m >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
	echo "bench/shim.sh: go test failed (exit $status); its output:" >&2
	grep -v '^        time="' "$log" | tail -n 200 >&2
fi
grep -E '^(=== RUN|--- (PASS|FAIL|SKIP)|ok|FAIL|PASS)' "$log" | grep -v '=== RUN' >&2 || true
echo
cat "$BERTH_BENCH_OUT"
exit "$status"
