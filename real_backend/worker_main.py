"""Entry of a worker OS process: `python -m real_backend.worker_main --config FILE`.

The config (written by processes.WorkerLauncher) names the actor function by dotted path,
"package.module:function" or "package.module.function", so the real worker actor
(protocol.actors.worker.worker) can be wired in without changing this file. The function is
called with worker_id, group_id, group_count, run_id and the config's "args", and must return
an actor generator; its integer return value becomes the exit code. The process writes its
own trace part file and dies if its parent dies.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback

from protocol.faults import spec_from_dict
from protocol.trace import TraceWriter

from .clock import RunClock
from .connection import ConnSpec, redact
from .driver import RealDriver
from .faults import LiveFaults
from .sql import SqlText


def resolve(dotted: str):
    mod, _, attr = dotted.partition(":") if ":" in dotted else dotted.rpartition(".")
    return getattr(importlib.import_module(mod), attr)


def _watch_parent(parent_pid: int) -> None:
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(4)  # orphaned: the orchestrator is gone, so is the run


_terminated = False


def _on_sigterm(signum, frame):
    global _terminated
    _terminated = True
    raise SystemExit(128 + signum)  # unwinds the actor (its finally blocks run)


def _exit(code: int) -> None:
    """After a SIGTERM has been unwound, die of it, so the parent sees returncode -15 like a
    process the signal killed outright (and like the simulation's terminated workers)."""
    if _terminated:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="real_backend.worker_main")
    ap.add_argument("--config", required=True)
    cfg = json.load(open(ap.parse_args(argv).config, encoding="utf-8"))
    if cfg.get("parent_pid"):
        threading.Thread(target=_watch_parent, args=(int(cfg["parent_pid"]),), daemon=True,
                         name="parent-watch").start()
    signal.signal(signal.SIGTERM, _on_sigterm)
    clock = RunClock.join(float(cfg["epoch_wall"]))
    sql = SqlText(cfg["database"], cfg["schema"], bool(cfg.get("hybrid", False)),
                  bool(cfg.get("snowflake", False)))
    with open(cfg["trace_path"], "a", encoding="utf-8") as sink:
        driver = RealDriver(ConnSpec.from_json(cfg["conn"]), sql, TraceWriter(sink, keep=False),
                            clock, id_base=int(cfg.get("id_base", 0)),
                            control_tag=cfg.get("control_tag", "phaselab"),
                            metrics_dir=cfg.get("metrics_dir"))
        if cfg.get("faults"):  # `smoke --faults`: this process's fault layer
            driver.faults = LiveFaults(spec_from_dict(cfg["faults"]["spec"]),
                                       int(cfg["faults"]["seed"]), cfg["worker_id"],
                                       driver.record, clock.now)
            driver.faults.start_timed_crash()
        try:
            program = resolve(cfg["entry"])(
                worker_id=cfg["worker_id"], group_id=cfg["group_id"],
                group_count=cfg["group_count"], run_id=cfg["run_id"], **cfg.get("args", {}))
            result = driver.run(program, cfg["actor"])
            return result if isinstance(result, int) else 0
        except SystemExit:
            raise
        except BaseException as exc:
            sys.stderr.write(redact("".join(traceback.format_exception(exc))))
            return 1
        finally:
            driver.close()


if __name__ == "__main__":
    try:
        rc = main()
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    _exit(rc)
