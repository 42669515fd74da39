#!/usr/bin/env python3
"""The mutation campaign against `fixed` (issue 10); not run in CI.

    .venv/bin/python tools/mutate.py [--only M01,M02] [--examples 200] [--out out/mutation]

Each mutant of tools/mutations.py is applied alone to a copy of the tree, then checked in
stages, stopping at the first that kills it:

1. targeted: the actor and checker unit tests, the saved regressions (seconds);
2. explore: `phaselab explore` on `fixed` with a fixed example budget (the search);
3. whole-run: the property suite (`fixed` is clean on the Hypothesis space) and the
   bug-zoo search on `fixed`.
With --every-stage, stage 2 runs even after a stage-1 kill (whether the properties catch
the slip as well as the unit test aimed at it); stage 3 runs only when 1 and 2 missed.

A control run without a mutation must pass every stage first. Prints the kill table and
writes it as JSON and Markdown in --out. A snippet that does not occur exactly once is
reported as "not applicable".
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
from mutations import MUTATIONS  # noqa: E402

PY = ROOT / ".venv" / "bin" / "python"
IGNORE = shutil.ignore_patterns(".venv", ".git", "out", "__pycache__", ".pytest_cache",
                                ".phaselab", ".hypothesis", "*.egg-info")
TARGETED = ["tests/test_actors.py", "tests/test_checks_delivery.py",
            "tests/test_checks_run_state.py", "tests/test_checks_control_events.py",
            "tests/test_checks_liveness.py", "tests/test_checks_tags_epochs.py",
            "tests/test_checks_dashboard.py", "tests/test_regressions.py", "tests/test_phases.py"]
# (tests/test_sim_run.py's 200 seeds of the baseline are left out: 13 minutes per mutant on
# a loaded 2-core machine, and the property suite below covers the same space)
WHOLE_RUN = ["tests/test_property_fixed.py",
             "tests/test_bug_zoo.py::test_fixed_passes_the_zoo_search"]


def apply(tree: Path, file: str, snippet: str, replacement: str) -> str | None:
    """Mutate one file in the copy; None if applied, else why not."""
    p = tree / file
    if not p.exists():
        return f"{file} does not exist"
    text = p.read_text(encoding="utf-8")
    n = text.count(snippet)
    if n != 1:
        return f"the snippet occurs {n} times in {file}"
    p.write_text(text.replace(snippet, replacement), encoding="utf-8")
    return None


def _env(tree: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), HYPOTHESIS_PROFILE="ci")
    env.pop("SNOWFLAKE_ACCOUNT", None)
    return env


def _run(cmd: list[str], tree: Path, timeout: float) -> subprocess.CompletedProcess | None:
    """`cmd` in the mutated tree; None when it ran out of time (a hang counts as killed)."""
    try:
        return subprocess.run(cmd, cwd=tree, env=_env(tree), capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def pytest_stage(tree: Path, selection: list[str], timeout: float) -> tuple[bool, str]:
    """(killed, the first failing test or why)."""
    cmd = [str(PY), "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", "-m", "not live",
           *(["-n", "0"] if _has_xdist() else []), *selection]
    r = _run(cmd, tree, timeout)
    if r is None:
        return True, f"timeout after {timeout:.0f} s"
    if r.returncode == 0:
        return False, ""
    failed = [ln.split(" ", 1)[1].split(" - ")[0] for ln in r.stdout.splitlines()
              if ln.startswith(("FAILED ", "ERROR "))]
    tail = (r.stdout.strip().splitlines() or [""])[-1]
    return True, (failed[0] if failed else f"pytest exit {r.returncode}: {tail[:200]}")


@functools.cache  # asked once per campaign, not once per mutant
def _has_xdist() -> bool:
    return subprocess.run([str(PY), "-c", "import xdist"], capture_output=True).returncode == 0


def explore_stage(tree: Path, examples: int, timeout: float) -> tuple[bool, str]:
    cmd = [str(PY), "-m", "phaselab.cli", "explore", "scenarios/baseline.toml", "--variant",
           "fixed", "--max-examples", str(examples), "--seed", "1", "--no-database",
           "--shrink-calls", "0", "--save", str(tree), "--json"]
    r = _run(cmd, tree, timeout)
    if r is None:
        return True, f"timeout after {timeout:.0f} s"
    if r.returncode == 0:
        return False, ""
    if r.returncode != 1:
        return True, f"explore crashed (exit {r.returncode}): {r.stderr.strip()[-200:]}"
    out = json.loads(r.stdout)
    props = sorted({f["property"] for f in out["findings"]})
    return True, ", ".join(props)


def run_one(mid: str, file: str, snippet: str, repl: str, examples: int,
            timeout: float, every: bool = False) -> dict:
    t0 = time.monotonic()
    res = {"id": mid, "file": file}
    with tempfile.TemporaryDirectory(prefix=f"mutant-{mid}-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(ROOT, tree, ignore=IGNORE)
        shared = ROOT.parent / "shared"  # the design docs some tests read, beside the tree
        if shared.exists():
            os.symlink(shared, Path(tmp) / "shared")
        if mid != "control":
            why = apply(tree, file, snippet, repl)
            if why:
                return {**res, "status": "not applicable", "by": why, "wall_s": 0.0}
        stages = [("targeted", lambda: pytest_stage(tree, TARGETED, timeout)),
                  ("explore", lambda: explore_stage(tree, examples, timeout)),
                  ("whole-run", lambda: pytest_stage(tree, WHOLE_RUN, timeout))]
        kills = []
        for name, stage in stages:
            if kills and (not every or name == "whole-run"):
                break
            killed, detail = stage()
            if killed:
                kills.append((name, detail))
        if kills:
            return {**res, "status": "killed", "stage": kills[0][0], "by": kills[0][1],
                    "also": [f"{n}: {d}" for n, d in kills[1:]],
                    "wall_s": round(time.monotonic() - t0, 1)}
    return {**res, "status": "survived", "stage": "", "by": "",
            "wall_s": round(time.monotonic() - t0, 1)}


def markdown(rows: list[dict], descr: dict) -> str:
    lines = ["| id | file | mutation | result | stage | killed by | also |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['id']} | {r['file'].split('/')[-1]} | {descr.get(r['id'], '')} | "
                     f"{r['status']} | {r.get('stage', '')} | {r.get('by', '')} | "
                     f"{'; '.join(r.get('also', []))} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--examples", type=int, default=200, help="explore's example budget")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per stage")
    ap.add_argument("--out", default=str(ROOT / "out" / "mutation"))
    ap.add_argument("--no-control", action="store_true")
    ap.add_argument("--every-stage", action="store_true",
                    help="run the explore stage even when the targeted tests killed the "
                         "mutant (shows whether the properties catch it too)")
    a = ap.parse_args(argv)
    chosen = MUTATIONS
    if a.only:
        ids = set(a.only.split(","))
        unknown = ids - {m[0] for m in MUTATIONS}
        if unknown:
            print(f"mutate: error: --only: unknown ids {sorted(unknown)}", file=sys.stderr)
            return 2
        chosen = [m for m in MUTATIONS if m[0] in ids]
    os.makedirs(a.out, exist_ok=True)
    if not a.no_control:
        c = run_one("control", "", "", "", a.examples, a.timeout)
        print(f"control (no mutation): {c['status']} {c.get('stage', '')} {c.get('by', '')}",
              file=sys.stderr, flush=True)
        if c["status"] != "survived":
            print("mutate: the unmutated tree fails a stage; fix that first", file=sys.stderr)
            return 1
    rows = []
    for mid, file, snippet, repl, what in chosen:
        r = run_one(mid, file, snippet, repl, a.examples, a.timeout, a.every_stage)
        r["mutation"] = what
        rows.append(r)
        print(f"{mid}: {r['status']:<14} {r.get('stage', ''):<10} {r.get('by', '')[:90]} "
              f"({r['wall_s']} s)", file=sys.stderr, flush=True)
        Path(a.out, "results.json").write_text(json.dumps(rows, indent=1))
    descr = {m[0]: m[4] for m in MUTATIONS}
    table = markdown(rows, descr)
    applicable = [r for r in rows if r["status"] != "not applicable"]
    killed = [r for r in applicable if r["status"] == "killed"]
    summary = (f"{len(killed)} of {len(applicable)} applicable mutants killed "
               f"({100 * len(killed) / max(1, len(applicable)):.0f}%); "
               f"{len(rows) - len(applicable)} not applicable")
    Path(a.out, "results.md").write_text(table + "\n\n" + summary + "\n")
    print(table)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
