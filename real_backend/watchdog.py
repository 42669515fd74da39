"""A watchdog process that cleans up after a live run whose owner died without doing it
(SIGKILL, OOM kill): `python -m real_backend.watchdog --parent PID --config FILE`.

Why a process of its own: a process killed with SIGKILL runs no handler, atexit or finally,
so only another process can remove what it left. The server and the worker processes each
notice the death of their parent themselves (a getppid() loop) and exit; what nobody else
removes is the run directory (worker configs, trace parts, logs) and, on Snowflake, the run's
schema. The watchdog reads its config once (it may sit inside the directory it removes),
then polls its parent. On the owner's death it waits for the workers to go, drops the schema
when told how (Snowflake; an embedded server dies with its owner and takes its data along),
removes the directories and exits. On a normal end the owner cleans up itself and stops the
watchdog with SIGTERM, which just exits.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import time

POLL_S = 0.2
SETTLE_S = 1.0  # workers poll their parent every 0.5 s, then exit
DROP_BUDGET_S = 30.0


def start(run_dir: str, dirs: list[str], drop: dict | None = None,
          resume: tuple[int, ...] = ()) -> subprocess.Popen:
    """Start a watchdog for the calling process; `drop` = {"conn": ConnSpec json, "database",
    "schema"} to drop the schema on Snowflake; `resume`: pids to SIGCONT first (an embedded
    server a stall fault may have left stopped: stopped, it could not notice its owner's
    death and exit). Its config is written into run_dir."""
    cfg_path = os.path.join(run_dir, "watchdog.json")
    with open(cfg_path, "w", encoding="utf-8") as f:
        json.dump({"dirs": dirs, "drop": drop, "resume": list(resume)}, f)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    return subprocess.Popen(
        [sys.executable, "-m", "real_backend.watchdog", "--parent", str(os.getpid()),
         "--config", cfg_path], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, env=env, start_new_session=True)


def stop(proc: subprocess.Popen | None) -> None:
    """The owner cleaned up itself: end the watchdog (by its own PID)."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.terminate()
        proc.wait(timeout=3)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=3)
    except ProcessLookupError:
        pass


def _drop_schema(drop: dict) -> None:
    from .connection import ConnSpec, open_connection
    from .sql import SqlText
    spec = ConnSpec.from_json(drop["conn"])
    spec = ConnSpec(spec.backend, {**spec.options, "statement_timeout_s": 10},
                    spec.connection_name)
    sql = SqlText(drop["database"], drop["schema"])
    tc = open_connection(spec)
    try:
        q = sql.drop_schema()
        tc.execute(q.text, q.params).close()
    finally:
        tc.close()


def resume(cfg: dict) -> None:
    for pid in cfg.get("resume") or ():
        try:
            os.kill(int(pid), signal.SIGCONT)  # harmless to a running process
        except (ProcessLookupError, PermissionError):
            pass


def clean(cfg: dict) -> None:
    if cfg.get("drop"):
        try:
            _drop_schema(cfg["drop"])
        except Exception:
            pass  # nothing to report to: the owner is gone; docs/snowflake.md says how to look
    deadline = time.monotonic() + 5.0
    for d in cfg.get("dirs", []):
        while os.path.exists(d) and time.monotonic() < deadline:
            shutil.rmtree(d, ignore_errors=True)  # a worker may still be closing a file
            if os.path.exists(d):
                time.sleep(0.2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="real_backend.watchdog")
    ap.add_argument("--parent", type=int, required=True)
    ap.add_argument("--config", required=True)
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        cfg = json.load(f)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal ^C is the owner's to handle
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while os.getppid() == args.parent:
        time.sleep(POLL_S)
    resume(cfg)  # a stopped server exits by itself once continued (its parent watch)
    time.sleep(SETTLE_S)
    clean(cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
