#!/usr/bin/env python3
"""Print conformance results as Markdown tables, one column per WASI host.

    conformance/report.py DIR HOST...

DIR holds what conformance/run.sh wrote: go-HOST.json (`go test -json` of the Go suite)
and wasi-HOST.tsv (conformance/wasi-testsuite/run.py --results). A cell is "pass" or
"FAIL" with the reason: the top-level tests that failed, or, when the test binary could
not start, berth's one-line error (such as the first WASI import the host lacks).
"""

import json
import re
import sys
from pathlib import Path


def go_results(path):
    """Returns {package: (passed, reason)} from a `go test -json` log."""
    out, failed_tests, errors = {}, {}, {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            ev = json.loads(line)
        except json.JSONDecodeError:
            continue
        pkg, test, action = ev.get("Package"), ev.get("Test"), ev.get("Action")
        if not pkg:
            continue
        if action == "output":
            # berth's own error: a guest that could not start (on a test's output too,
            # when the test runs guests itself, as internal/runtime/wasitest does).
            m = re.search(r"berth: (.*)", ev.get("Output", ""))
            if m and pkg not in errors:
                imp = re.search(r"imports (\S+)\.(\S+), which berth does not provide", m.group(1))
                if imp or test is None:
                    errors[pkg] = f"missing import {imp.group(2)}" if imp else m.group(1).strip()
        if action == "fail" and test and "/" not in test:
            failed_tests.setdefault(pkg, []).append(test)
        if test is None and action in ("pass", "fail", "skip"):
            if action == "fail":
                tests = failed_tests.get(pkg, [])
                if pkg in errors and errors[pkg].startswith("missing import"):
                    reason = errors[pkg]
                elif tests:
                    shown = ", ".join(tests[:4]) + (f" and {len(tests) - 4} more" if len(tests) > 4 else "")
                    reason = f"{len(tests)} failed: {shown}"
                else:
                    reason = errors.get(pkg, "failed before any test ran")
                out[pkg] = (False, reason)
            else:
                out[pkg] = (True, "" if action == "pass" else "no tests")
    return out


def wasi_results(path):
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t", 2)
        if len(parts) >= 2:
            out[parts[0]] = (parts[1] == "pass", parts[2] if len(parts) > 2 else "")
    return out


def cell(r):
    if r is None:
        return "not run"
    ok, reason = r
    text = "pass" if ok else "FAIL"
    if reason:
        text += " (" + reason.replace("|", "\\|")[:160] + ")"
    return text


def table(title, results, hosts):
    names = sorted(set().union(*(r.keys() for r in results.values())))
    if not names:
        return
    print(f"\n### {title}\n")
    print("| test | " + " | ".join(hosts) + " |")
    print("| --- | " + " | ".join("---" for _ in hosts) + " |")
    for n in names:
        print(f"| {n} | " + " | ".join(cell(results[h].get(n)) for h in hosts) + " |")
    totals = [f"{sum(ok for ok, _ in results[h].values())}/{len(results[h])}" for h in hosts]
    print("| **passed** | " + " | ".join(totals) + " |")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    d, hosts = Path(sys.argv[1]), sys.argv[2:]
    go = {h: go_results(d / f"go-{h}.json") if (d / f"go-{h}.json").exists() else {} for h in hosts}
    wasi = {h: wasi_results(d / f"wasi-{h}.tsv") if (d / f"wasi-{h}.tsv").exists() else {} for h in hosts}
    table("Go standard library tests (GOOS=wasip1), per package", go, hosts)
    table("WebAssembly/wasi-testsuite, C tests", wasi, hosts)


if __name__ == "__main__":
    main()
