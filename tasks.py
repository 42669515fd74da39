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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".phaselab-installed"

# The poll-interval comparison: the wait-loop interval from 50 ms to 1 s against push, at 4,
# 100 and 1,000 workers (queries generated in bulk, exact at phase boundaries). 20 seeded
# runs each at 4 workers; the bigger runs are shorter (2 s warmup, 3-5 s measurement) and
# fewer, which keeps the whole job near a minute on two cores: the barrier load they measure
# does not depend on how long the benchmark then runs, and the report states the settings.
MAIN_JOB = ["phaselab", "sweep", "scenarios/baseline.toml", "--seed", "1", "--reps", "20",
            "--set", "status_poll_s=0.05,0.1,0.2,0.5,1.0", "--case", "push: scheme=push",
            "--set", "bulk_queries=true", "--per", "workers=4,100,1000",
            "--at", "workers=100: reps=3; warmup_s=2; duration_s=5",
            "--at", "workers=1000: reps=2; warmup_s=2; duration_s=3; connections_per_worker=1",
            "--out", "out/compare"]
# Live runs (real processes against the embedded server) go first and alone, so their
# wall-clock timings are not distorted by CPU-heavy simulation tests running beside them;
# the rest runs on two processes.
TEST_JOBS = [["pytest", "-q", "-m", "live"], ["pytest", "-q", "-n", "2", "-m", "not live"]]


def _pip_install(args: list[str], log: Path) -> None:
    """pip with its output in `log`, and one progress line at a time on stderr instead (pip
    prints dozens of lines a user need not read); on failure, the log's tail."""
    t0 = time.monotonic()
    seen = {"Collecting": 0, "Downloading": 0, "Installing": 0}
    tty = sys.stderr.isatty()
    last = 0.0
    with open(log, "w", encoding="utf-8") as out:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            out.write(line)
            word = line.strip().split(" ", 1)[0]
            if word in seen:
                seen[word] += 1
            now = time.monotonic()
            if now - last >= (0.5 if tty else 10.0):
                last = now
                step = ("installing" if seen["Installing"] else
                        f"fetching ({seen['Collecting']} packages found, "
                        f"{seen['Downloading']} downloaded)")
                msg = f"tasks.py: {step}, {now - t0:.0f} s"
                print(("\r" + msg.ljust(70)) if tty else msg, end="" if tty else "\n",
                      file=sys.stderr, flush=True)
        code = proc.wait()
    if tty:
        print(file=sys.stderr)
    if code != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        print("\n".join(tail), file=sys.stderr)
        print(f"tasks.py: pip failed (exit {code}); its full output is in {log}",
              file=sys.stderr)
        raise SystemExit(code)
    print(f"tasks.py: installed in {time.monotonic() - t0:.0f} s (pip's output: {log})",
          file=sys.stderr, flush=True)


def ensure_venv() -> None:
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if PY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    if not PY.exists():
        print("tasks.py: creating .venv", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    print("tasks.py: installing phaselab and its dependencies into .venv (the first time "
          "takes a few minutes)", file=sys.stderr, flush=True)
    pip = [str(PY), "-m", "pip", "install", "--disable-pip-version-check",
           "--no-warn-script-location", "--progress-bar", "off"]
    _pip_install(pip + ["-e", f"{ROOT}[dev]"], VENV / "pip-install.log")
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
