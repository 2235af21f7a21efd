#!/usr/bin/env python3
"""Run the C tests of WebAssembly/wasi-testsuite against `berth run`.

    conformance/wasi-testsuite/run.py --suite $WASI_TESTSUITE/tests/c/src --berth bin/berth

For each test (a *.c file, built here with clang --target=wasm32-wasi, or a prebuilt
*.wasm), the *.json beside it says how to run it and what to expect, as upstream's
doc/specification.md and test-runner define it:

  legacy keys  args, env, dirs, exit_code, stdout, stderr
  "root": DIR  DIR is the guest's root (later upstream tests open "file", not "DIR/file")
  operations   [{"type": "run", args, env, dirs}, {"type": "read", "id": "stdout",
               "payload"}, {"type": "wait", "exit_code"}]; socket and stdin operations are
               reported as not supported by this runner.

Each test runs as a user would run it, with berth's ordinary flags:

  berth run --rm [-v HOST/DIR:/DIR]... [-v HOST/ROOT:/] [-e K=V]... TEST.wasm ARGS...

The test's directories are copied to a scratch directory first, so the suite is not
changed and files a test leaves (*.cleanup) go with the copy. It prints one line per test
and, with --results, writes "name<TAB>pass|fail<TAB>reason" lines. The exit status is 0
when every test ran and passed. Only the Python standard library is used.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def load_spec(path):
    """Returns (run, reads, exit_code, unsupported) of a test's JSON, defaults if absent."""
    spec = {}
    if path.exists():
        spec = json.loads(path.read_text(encoding="utf-8"))
    if "operations" in spec:
        run, reads, code, unsupported = None, [], 0, []
        for op in spec["operations"]:
            kind = op.get("type")
            if kind == "run" and run is None:
                run = op
            elif kind == "read" and op.get("id", "stdout") in ("stdout", "stderr"):
                reads.append((op.get("id", "stdout"), op.get("payload", "")))
            elif kind == "wait":
                code = op.get("exit_code", 0)
            else:
                unsupported.append(kind)
        return run or {}, reads, code, unsupported
    reads = [(k, spec[k]) for k in ("stdout", "stderr") if spec.get(k) is not None]
    return spec, reads, spec.get("exit_code", 0), []


def berth_argv(berth, wasm, run, work):
    """The `berth run` command line of one test; directories are taken from work."""
    argv = [berth, "run", "--rm"]
    for d in run.get("dirs", []):
        argv += ["-v", f"{work / d}:/{d.strip('/')}"]
    if run.get("root"):
        argv += ["-v", f"{work / run['root']}:/"]
    for k, v in run.get("env", {}).items():
        argv += ["-e", f"{k}={v}"]
    return argv + [str(wasm)] + list(run.get("args", []))


def build(cc, src, out):
    r = subprocess.run(cc + ["--target=wasm32-wasi", "-O2", "-o", str(out), str(src)],
                       capture_output=True, text=True, check=False)
    if r.returncode != 0:
        return r.stderr.strip().splitlines()[-1] if r.stderr.strip() else "clang failed"
    return None


def run_one(args, test, scratch):
    """Runs one test; returns (passed, reason)."""
    name = test.stem
    run, reads, want_code, unsupported = load_spec(test.with_suffix(".json"))
    if unsupported:
        return False, f"runner: operations {unsupported} not supported"
    wasm = test
    if test.suffix == ".c":
        wasm = scratch / f"{name}.wasm"
        err = build(args.cc, test, wasm)
        if err:
            return False, f"build: {err}"
    work = scratch / name
    work.mkdir()
    for d in list(run.get("dirs", [])) + ([run["root"]] if run.get("root") else []):
        shutil.copytree(test.parent / d, work / d, symlinks=True, dirs_exist_ok=True)
    argv = berth_argv(args.berth, wasm, run, work)
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=args.timeout,
                           check=False, cwd=work)
    except subprocess.TimeoutExpired:
        return False, f"timed out after {args.timeout}s"
    got = {"stdout": r.stdout, "stderr": r.stderr}
    problems = []
    if r.returncode != want_code:
        problems.append(f"exit {r.returncode}, want {want_code}")
    for stream, payload in reads:
        if got[stream] != payload:
            problems.append(f"{stream} {got[stream]!r}, want {payload!r}")
    if problems:
        detail = why(r.stderr + r.stdout)
        return False, "; ".join(problems) + (f": {detail}" if detail else "")
    return True, ""


def why(output):
    """The line of a failed run's output that says why: a failed assertion, or berth's
    error (shortened for a missing WASI import), else the first line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "Assertion failed" in ln or ln.startswith("thread 'main' panicked") or "panicked at" in ln:
            return ln[:200]
    for ln in lines:
        if ln.startswith("berth:"):
            m = re.search(r"imports (\S+)\.(\S+), which berth does not provide", ln)
            return f"missing import {m.group(2)}" if m else ln[:200]
    return lines[0][:200] if lines else ""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", required=True, type=Path, help="directory of *.c/*.wasm tests and their *.json")
    p.add_argument("--berth", default="berth", help="berth binary")
    p.add_argument("--cc", default="clang", help="C compiler (clang with a wasm32-wasi sysroot)")
    p.add_argument("--timeout", type=int, default=60, help="seconds per test")
    p.add_argument("--results", type=Path, help="write name<TAB>pass|fail<TAB>reason lines here")
    p.add_argument("--prefix", default="", help="put this before each test's name (e.g. c/)")
    args = p.parse_args()
    args.cc = args.cc.split()
    args.berth = str(Path(args.berth).resolve()) if os.sep in args.berth else args.berth

    tests = sorted(t for t in args.suite.iterdir() if t.suffix in (".c", ".wasm")
                   and not (t.suffix == ".wasm" and t.with_suffix(".c").exists()))
    if not tests:
        sys.exit(f"run.py: no *.c or *.wasm tests in {args.suite}")
    lines, failed = [], 0
    with tempfile.TemporaryDirectory(prefix="berth-wasi-testsuite-") as tmp:
        for test in tests:
            scratch = Path(tmp) / test.stem
            scratch.mkdir()
            ok, reason = run_one(args, test, scratch)
            failed += not ok
            name = args.prefix + test.stem
            print(f"{'PASS' if ok else 'FAIL'}  {name}" + (f"  ({reason})" if reason else ""), flush=True)
            lines.append(f"{name}\t{'pass' if ok else 'fail'}\t{reason}")
    if args.results:
        args.results.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(tests) - failed}/{len(tests)} passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
