"""Worker OS processes: launch, count, terminate, and record `proc` trace records.

Each worker is `python -m real_backend.worker_main --config FILE` with a JSON config that
names its actor function by dotted path (so the real worker actor can be wired in later) and
the trace part file it writes. A reaper thread per process waits for its exit and writes the
`proc exit` record at the moment it happened. Workers die with their parent through a
getppid() watchdog in worker_main (not PR_SET_PDEATHSIG: that fires when the *thread* that
forked exits, and SpawnWorker may run on a short-lived task thread).
"""
from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class WorkerLauncher:
    def __init__(self, run_dir: str, base_config: dict, record: Callable[..., None]):
        self.run_dir = run_dir
        self.base_config = base_config
        self.record = record  # record(kind, actor=..., **fields), thread-safe, stamps t
        self.procs: dict[str, subprocess.Popen] = {}
        self.parts: list[str] = []
        self._lock = threading.Lock()
        self._reapers: list[threading.Thread] = []
        self.requested: set[str] = set()  # workers we signalled to stop
        atexit.register(self.kill_all)

    def spawn(self, worker_id: str, group_id: int, group_count: int, index: int,
              actor: str = "driver") -> int:
        part = os.path.join(self.run_dir, f"trace-{worker_id}.jsonl")
        cfg = {**self.base_config, "worker_id": worker_id, "group_id": int(group_id),
               "group_count": int(group_count), "trace_path": part, "actor": f"worker-{group_id}",
               "id_base": (index + 1) * 10_000_000, "parent_pid": os.getpid()}
        cfg_path = os.path.join(self.run_dir, f"config-{worker_id}.json")
        with open(cfg_path, "w", encoding="utf-8") as f:
            json.dump(cfg, f)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)}
        log = open(os.path.join(self.run_dir, f"worker-{worker_id}.log"), "wb")
        with self._lock:
            proc = subprocess.Popen(
                [sys.executable, "-m", "real_backend.worker_main", "--config", cfg_path],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env,
                start_new_session=True)
            log.close()
            self.procs[worker_id] = proc
            self.parts.append(part)
        self.record("proc", worker=worker_id, action="spawn", pid=proc.pid, actor=actor)
        t = threading.Thread(target=self._reap, args=(worker_id, proc), daemon=True,
                             name=f"reap-{worker_id}")
        t.start()
        self._reapers.append(t)
        return proc.pid

    def _reap(self, worker_id: str, proc: subprocess.Popen) -> None:
        """Records the exit the moment it happens: `code` (negative: the signal that killed
        it, also named in `signal`) and `requested` (we asked it to stop: TerminateWorkers or
        the run's own end), so that a death nobody asked for is told apart."""
        code = proc.wait()
        extra = {}
        if code < 0:
            try:
                extra["signal"] = signal.Signals(-code).name
            except ValueError:
                extra["signal"] = str(-code)
        self.record("proc", worker=worker_id, action="exit", code=code,
                    requested=worker_id in self.requested, actor="driver", **extra)

    def live(self) -> int:
        with self._lock:
            return sum(p.poll() is None for p in self.procs.values())

    def terminate(self, kill_after_s: float = 5.0) -> int:
        """SIGTERM the running workers, SIGKILL any left after kill_after_s; returns how many
        were running."""
        with self._lock:
            running = [p for p in self.procs.values() if p.poll() is None]
            self.requested.update(w for w, p in self.procs.items() if p in running)
        for p in running:
            _signal(p, signal.SIGTERM)
        deadline = time.monotonic() + kill_after_s
        for p in running:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal(p, signal.SIGKILL)
                p.wait()
        self.join_reapers(2.0)
        return len(running)

    def join_reapers(self, timeout_s: float) -> None:
        for t in list(self._reapers):
            t.join(timeout_s)

    def kill_all(self) -> None:
        with self._lock:
            running = [p for p in self.procs.values() if p.poll() is None]
            self.requested.update(w for w, p in self.procs.items() if p in running)
        for p in running:
            _signal(p, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        atexit.unregister(self.kill_all)


def _signal(p: subprocess.Popen, sig: int) -> None:
    try:
        p.send_signal(sig)  # its own PID only; Popen skips an already-reaped process
    except ProcessLookupError:
        pass
