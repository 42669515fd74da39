"""The live fault layer: protocol/faults.py's decisions, injected into a real run.

Between the actors and the connector (real_backend/driver.py asks this layer once per
control statement, through a small hook), in every process of the run:

- statement faults: `fail` raises before the statement is sent (it certainly did not take
  effect); `info` is, as the draw says, sent and its result thrown away, or not sent, and
  either way reported after the statement timeout as a timeout whose outcome is unknown;
  `drop` closes the task's control session (the next statement reopens it, recorded as a
  `reconnect` fault);
- worker crashes: a worker process SIGKILLs itself when it reaches the chosen step
  (protocol/faults.py `crash_step`/`crash_after`) or the run-clock time, after writing the
  `fault` record; its `proc exit` (code -9, SIGKILL) is recorded by the parent's reaper;
- clock skew: a worker's heartbeat stamps are its wall clock plus offset and drift;
- server stall (orchestrator process): `ServerStall` SIGSTOPs the embedded server and
  SIGCONTs it after the window, guaranteed on every way out of this process (its own
  finally, `resume()` from the run's clean-up, atexit; after a SIGKILL of the owner, the
  watchdog process continues the server).

Why draws are hashed rather than taken from one generator: a process runs several actor
tasks on threads, so the order in which they reach a statement changes from run to run. The
decision for the k-th call of statement kind `op` by task `task` of actor `actor` is a hash
of (seed, actor, task, op, k), so a live run's fault schedule is reproducible per call even
though its timing is not.
"""
from __future__ import annotations

import atexit
import hashlib
import os
import signal
import threading
from typing import Any, Callable

from protocol import faults as fm

# What `phaselab smoke --faults` can do live (phaselab/live_faults.py refuses the rest).
LIVE_STATEMENT_FAULTS = (fm.FAIL, fm.INFO, fm.DROP)


def uniform(*key: Any) -> float:
    """A uniform draw in [0, 1) named by `key`: the same key, the same draw, anywhere."""
    h = hashlib.blake2b("|".join(map(str, key)).encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2.0 ** 64


class LiveFaults:
    """One process's fault decisions. `worker` is the worker id in a worker process (crash
    steps and clock skew apply to it), None in the orchestrator's."""

    def __init__(self, spec: fm.FaultSpec, seed: int, worker: str | None,
                 record: Callable[..., None], now: Callable[[], float]):
        self.spec, self.seed, self.worker = spec, int(seed), worker
        self.record, self.now = record, now  # record(actor, kind, **fields)
        self._lock = threading.Lock()
        self._calls: dict[tuple, int] = {}
        self.last_status: str | None = None  # this worker's heartbeats so far
        self.ready_count = 0
        self.crashed = False

    # --- statements -----------------------------------------------------------------------
    def _draw(self, actor: str, task: str, op: str, purpose: str) -> float:
        with self._lock:
            k = self._calls.get((actor, task, op, purpose), 0)
            self._calls[(actor, task, op, purpose)] = k + 1
        return uniform(self.seed, actor, task, op, k, purpose)

    def outcome(self, actor: str, task: str, op: str) -> str | None:
        """fail, info, drop or None for this call (no draw when no fault is possible)."""
        now = self.now()
        if not fm.may_fault(self.spec, op, now):
            return None
        return fm.statement_outcome(self.spec, op, now, self._draw(actor, task, op, "outcome"))

    def info_applies(self, actor: str, task: str, op: str) -> bool:
        return fm.info_took_effect(self.spec, self._draw(actor, task, op, "applied"))

    # --- worker crashes -------------------------------------------------------------------
    def before(self, effect: Any) -> None:
        """Called before a statement is sent: dies here if this is the crash step."""
        self._maybe_die(fm.crash_step(effect, self.last_status, self.ready_count))

    def after_effect(self, effect: Any) -> None:
        """A statement took effect (ok, or an `info` that was sent): heartbeat memory."""
        if getattr(effect, "op", None) == "merge_heartbeat":
            self.last_status = effect.status
            self.ready_count += effect.status == "READY"

    def after(self, effect: Any) -> None:
        """Called after a statement succeeded: heartbeat memory, then the DRAINING step."""
        self.after_effect(effect)
        self._maybe_die(fm.crash_after(effect))

    def _maybe_die(self, step: str | None) -> None:
        if step is None or self.worker is None or self.now() >= self.spec.heal_at_s:
            return
        if any(c.worker == self.worker and c.step == step for c in self.spec.crashes):
            self.die(step)

    def die(self, step: str) -> None:
        """SIGKILL this process, as `kill -9` would: no finally, no exit steps. The fault
        record goes first (the trace part is flushed per line)."""
        with self._lock:
            if self.crashed:
                return
            self.crashed = True
        self.record("driver", "fault", fault="worker_crash", worker=self.worker, step=step)
        os.kill(os.getpid(), signal.SIGKILL)

    def start_timed_crash(self) -> threading.Thread | None:
        """A crash at a run-clock time (`crash = {worker-N = seconds}`): a timer thread."""
        due = [c for c in self.spec.crashes
               if c.worker == self.worker and c.step == fm.AT_TIME and c.at_s < self.spec.heal_at_s]
        if not due:
            return None
        at = min(c.at_s for c in due)

        def body():
            wait = threading.Event()
            while self.now() < at:
                wait.wait(min(0.05, max(0.0, at - self.now())))
            self.die(fm.AT_TIME)
        t = threading.Thread(target=body, daemon=True, name="timed-crash")
        t.start()
        return t

    # --- clocks ---------------------------------------------------------------------------
    def clock_offset(self) -> float:
        """How far this worker's wall clock is ahead of the database's now (0 elsewhere)."""
        if self.worker is None:
            return 0.0
        return fm.clock_offset(self.spec, self.worker, self.now())


class ServerStall(threading.Thread):
    """Stops the embedded server (SIGSTOP) for each stall window of the spec, then continues
    it (SIGCONT). `server` is real_backend.embedded_server.ServerProcess: its `stalled` flag
    tells its `lost()` that a stop is ours and will end, not a lost server."""

    def __init__(self, spec: fm.FaultSpec, server: Any, now: Callable[[], float],
                 record: Callable[..., None]):
        super().__init__(name="server-stall", daemon=True)
        self.windows = [w for w in spec.stalls if w.start_s < spec.heal_at_s]
        self.server, self.now, self.record = server, now, record
        self._cancel = threading.Event()
        self._stopped = False
        self._lock = threading.Lock()
        atexit.register(self.resume)

    def run(self) -> None:
        try:
            for w in self.windows:
                if self._wait_until(w.start_s):
                    return
                with self._lock:
                    if self._cancel.is_set():
                        return
                    self.server.stalled.set()
                    os.kill(self.server.pid, signal.SIGSTOP)
                    self._stopped = True
                self.record("driver", "fault", fault="stall", action="start",
                            until=w.end_s, pid=self.server.pid)
                self._wait_until(w.end_s)
                if self._continue():
                    self.record("driver", "fault", fault="stall", action="end")
        finally:
            self._continue()

    def _wait_until(self, t: float) -> bool:
        """Wait until run-clock second t, or until cancelled (-> True). A window far in the
        future (stall=1e308@2 is a valid spec) waits at most threading's longest timeout,
        longer than any run, instead of raising OverflowError in this thread."""
        return self._cancel.wait(min(max(0.0, t - self.now()), threading.TIMEOUT_MAX))

    def _continue(self) -> bool:
        """SIGCONT the server if we stopped it; True if this call did."""
        with self._lock:
            if not self._stopped:
                return False
            try:
                os.kill(self.server.pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
            self._stopped = False
            self.server.stalled.clear()
            return True

    def resume(self) -> None:
        """End any stall now and let no later one start (the run is ending, or we are)."""
        self._cancel.set()
        if self._continue():
            try:
                self.record("driver", "fault", fault="stall", action="end", cut_short=True)
            except (OSError, ValueError):
                pass  # at interpreter exit the trace may be closed; the SIGCONT is what counts
        atexit.unregister(self.resume)
