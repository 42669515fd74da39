#!/usr/bin/env python3
"""The README's quick start: make .venv when missing, then run the main job or the tests.

Only the standard library is used here, so `python3 tasks.py ...` works on a machine that has
nothing but Python. The venv is (re)installed when pyproject.toml changes.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".phaselab-installed"

# The poll-interval comparison: the wait-loop interval from 50 ms to 1 s against push, on the
# baseline, 20 seeded runs each (queries generated in bulk, exact at phase boundaries).
MAIN_JOB = ["phaselab", "sweep", "scenarios/baseline.toml", "--seed", "1", "--reps", "20",
            "--set", "status_poll_s=0.05,0.1,0.2,0.5,1.0", "--case", "push: scheme=push",
            "--set", "bulk_queries=true", "--out", "out/compare"]
# Live runs (real processes against the embedded server) go first and alone, so their
# wall-clock timings are not distorted by CPU-heavy simulation tests running beside them;
# the rest runs on two processes.
TEST_JOBS = [["pytest", "-q", "-m", "live"], ["pytest", "-q", "-n", "2", "-m", "not live"]]


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print("tasks.py: creating .venv", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print("tasks.py: installing phaselab and its dependencies into .venv", flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    subprocess.run(pip + ["-e", f"{ROOT}[dev]"], check=True)
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    usage = "usage: python3 tasks.py {compare|test|phaselab} [args...]"
    if not argv or argv[0] not in {"compare", "test", "phaselab"}:
        print(usage, file=sys.stderr)
        return 2
    ensure_venv()
    what, rest = argv[0], argv[1:]
    if what == "compare":
        cmd = [str(BIN / MAIN_JOB[0]), *MAIN_JOB[1:], *rest]
    elif what == "test":
        if rest:  # a selection of the user's: one pytest run over it
            return subprocess.call([str(PY), "-m", "pytest", "-q", *rest], cwd=ROOT)
        codes = [subprocess.call([str(PY), "-m", *job], cwd=ROOT) for job in TEST_JOBS]
        return next((c for c in codes if c != 0), 0)
    else:
        cmd = [str(BIN / "phaselab"), *rest]
    return subprocess.call(cmd, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
