"""Run a target checkout, unmodified, under the recorder, and always leave nothing behind.

The steps (the map's `[run]`: set-up commands, then the driver's `prepare` and `run`) run one
after another with the checkout as working directory, the checkout's venv first on PATH, and
the recorder (recorder/sitecustomize.py) first on PYTHONPATH, so every Python process of the
target, including the workers its orchestrator spawns, writes its own statement log. Each step
is its own session (process group): on a timeout, an error or Ctrl-C the driver is asked to
stop the run (SIGTERM: it calls the target's own stop), then the whole group is killed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import queue
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

RECORDER_DIR = Path(__file__).resolve().parent / "recorder"
DRIVERS_DIR = Path(__file__).resolve().parent / "drivers"
STOP_GRACE_S = 45.0  # the driver's stop_run, workers draining, then SIGKILL


@dataclass
class StepResult:
    name: str
    argv: list[str]
    code: int | None
    wall_s: float
    messages: list[dict] = field(default_factory=list)  # the driver's JSON lines
    timed_out: bool = False


@dataclass
class Outcome:
    steps: list[StepResult]
    record_dir: Path
    interrupted: bool = False
    error: str | None = None
    leftover_pids: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (not self.interrupted and self.error is None
                and all(s.code == 0 for s in self.steps))

    def message(self, step: str) -> dict:
        for s in self.steps:
            for m in s.messages:
                if m.get("step") == step:
                    return m
        return {}


def _path_without_uv(path: str) -> str:
    # The target's orchestrator prefers `uv run python` when uv is on PATH, which would build
    # another environment from the checkout; without uv it runs `python` from PATH: its venv.
    return os.pathsep.join(d for d in path.split(os.pathsep)
                           if d and not os.access(os.path.join(d, "uv"), os.X_OK))


def target_env(checkout: Path, venv: Path, record_dir: Path, recording: dict, settings: dict,
               run_params: dict) -> dict:
    """The environment of every target process. Our own SNOWFLAKE_* and PYTHON* variables are
    not passed on: the target talks only to the embedded server. The checkout is on the path
    as `uv run` would make it (its workers import its packages from `scripts/`)."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("SNOWFLAKE_", "PYTHON", "PHASELAB_", "VIRTUAL_ENV"))}
    return {**base,
            "PATH": os.pathsep.join([str(venv / "bin"), _path_without_uv(base.get("PATH", ""))]),
            "VIRTUAL_ENV": str(venv),
            "PYTHONPATH": os.pathsep.join([str(RECORDER_DIR), str(checkout)]),
            "PYTHONUNBUFFERED": "1",
            "PHASELAB_RECORD_DIR": str(record_dir),
            "PHASELAB_RECORD_CONFIG": json.dumps(recording),
            "PHASELAB_UPSTREAM_RUN": json.dumps(run_params),
            **{k: str(v) for k, v in settings.items()}}


def _stop_group(proc: subprocess.Popen, grace_s: float) -> None:
    """Ask the step to stop (SIGTERM: the driver calls the target's own stop), then kill its
    whole process group, whatever happens meanwhile (a second Ctrl-C included)."""
    try:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=grace_s)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        pass
    finally:
        try:  # the step's own process group: its workers too
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _pump(stream, lines: "queue.Queue", copy: Path) -> None:
    with open(copy, "w") as out:
        for ln in stream:
            out.write(ln)
            out.flush()
            lines.put(ln.rstrip("\n"))
    lines.put(None)


def run_step(name: str, argv: list[str], cwd: Path, env: dict, out_dir: Path,
             timeout_s: float, on_message: Callable[[dict], None] = lambda m: None
             ) -> StepResult:
    t0 = time.monotonic()
    res = StepResult(name, argv, None, 0.0)
    with open(out_dir / f"{name}.stderr", "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                start_new_session=True)
        lines: queue.Queue = queue.Queue()
        reader = threading.Thread(target=_pump, args=(proc.stdout, lines, out_dir / f"{name}.stdout"),
                                  daemon=True)
        reader.start()
        try:
            deadline = t0 + timeout_s
            while True:
                try:
                    ln = lines.get(timeout=0.1)
                except queue.Empty:
                    ln = ""
                if ln is None:  # end of output
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    break
                if ln.startswith("{"):
                    try:
                        msg = json.loads(ln)
                    except ValueError:
                        msg = None
                    if isinstance(msg, dict):
                        res.messages.append(msg)
                        on_message(msg)
                if time.monotonic() > deadline:
                    res.timed_out = True
                    break
        except subprocess.TimeoutExpired:
            res.timed_out = True
        finally:
            _stop_group(proc, STOP_GRACE_S if proc.poll() is None else 0.0)
    res.code = proc.returncode
    res.wall_s = time.monotonic() - t0
    return res


def run_target(checkout: Path, venv: Path, record_dir: Path, run_map: dict, recording: dict,
               settings: dict, run_params: dict, timeout_s: float,
               progress: Callable[[str, dict], None] = lambda w, i: None) -> Outcome:
    """Set-up steps, then the driver's prepare and run; stops at the first failing step."""
    env = target_env(checkout, venv, record_dir, recording, settings, run_params)
    python = str(venv / "bin" / "python")
    driver = str(DRIVERS_DIR / f"{run_map['driver']}.py")
    steps = [(f"setup-{i}", [python, *argv], 300.0)
             for i, argv in enumerate(run_map.get("setup", []))]
    steps += [("prepare", [python, driver, "prepare"], 120.0),
              ("run", [python, driver, "run"], timeout_s)]
    out = Outcome([], record_dir)
    try:
        for name, argv, limit in steps:
            progress("step", {"step": name})
            res = run_step(name, argv, checkout, env, record_dir, limit,
                           on_message=lambda m: progress("message", m))
            out.steps.append(res)
            if res.code != 0 or res.timed_out:
                out.error = (f"step {name} " + ("timed out after {:.0f} s".format(limit)
                                                if res.timed_out else f"exited {res.code}")
                             + f"; its output is in {record_dir}/{name}.stderr")
                break
    except KeyboardInterrupt:
        out.interrupted = True
    return out


def keep_outputs(record_dir: Path, dest: Path | None) -> None:
    if dest is not None:
        shutil.copytree(record_dir, dest, dirs_exist_ok=True)
