"""The main job's sweep (tasks.py MAIN_JOB) on 1 and 2 processes: bench.py's section for
sweep scaling until benchmarks/parallel.py (issue 15, items 2-3) exists and replaces it."""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent


def main_job_wall(jobs: int) -> float:
    sys.path.insert(0, str(ROOT))
    from tasks import MAIN_JOB
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(ROOT / ".venv" / "bin" / MAIN_JOB[0]), *MAIN_JOB[1:], "--jobs", str(jobs),
               "--out", tmp, "--json"]
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True)
        if done.returncode not in (0, 1, 99):  # 1: a run violated a property; timed anyway
            raise RuntimeError(done.stderr.decode())
        return time.perf_counter() - t


def measure(progress: Callable[[str], None]) -> list[dict]:
    progress("main-job sweep on 1 process")
    one = main_job_wall(1)
    progress("main-job sweep on 2 processes")
    two = main_job_wall(2)
    return [
        {"what": "main-job sweep, 1 process", "target": "—", "measured": f"{one:.1f} s",
         "met": None, "note": ""},
        {"what": "main-job sweep, 2 processes", "target": "< 120 s", "measured": f"{two:.1f} s",
         "met": two < 120, "note": ""},
        {"what": "main-job sweep scaling 1 -> 2 processes", "target": "—",
         "measured": f"{one / two:.2f}x", "met": None, "note": ""},
    ]
