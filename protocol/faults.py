"""The fault model: which faults a run may suffer, and the per-call decisions, as pure data.

A fault is decided by the driver, never by an actor (architecture.md "Faults"). The spec says
which fault kinds are active for a run; the decision functions below turn one uniform draw
into one outcome, so a simulation (draws from its seed) and a later live fault layer (draws
from its own seeded generator) take the same decisions the same way, in the manner of
FoundationDB's BUGGIFY: kinds are switched on per run, each call is hit or not.

Faults fire only before `heal_at_s` (run clock); after it the run is healed and must finish
on its own (liveness, checked by protocol/checks/faults.py).

Pure like the rest of protocol/: no randomness (draws are passed in), no clock, no I/O.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

# Outcomes of one statement call, besides ok.
FAIL = "fail"  # an error: the statement did not take effect
INFO = "info"  # a timeout: it may or may not have taken effect (the seed decides)
SLOW = "slow"  # its latency comes from the slow tail distribution
DROP = "drop"  # the connection dropped: the statement failed and the session must reopen
STATEMENT_FAULTS = (FAIL, INFO, SLOW, DROP)

# Where a worker process can be made to die (checked against the effect it is about to do).
BEFORE_FIRST_HEARTBEAT = "before_first_heartbeat"  # dies instead of its first heartbeat
WAIT_LOOP = "wait_loop"  # dies instead of its first RUN_STATUS read after READY (wait loop)
HOOK = "hook"  # dies instead of its first ALTER to the measurement tag
DRAINING = "draining"  # dies right after its DRAINING heartbeat
EXIT_SEQUENCE = "exit_sequence"  # dies instead of writing its final child row
AT_TIME = "at_time"  # dies at `at_s` on the run clock, wherever it is
CRASH_STEPS = (BEFORE_FIRST_HEARTBEAT, WAIT_LOOP, HOOK, DRAINING, EXIT_SEQUENCE, AT_TIME)

# Exit code of a killed process (as a shell reports SIGKILL).
KILLED = -9

# Fault kinds a search can switch on (swarm style), one name each.
KINDS = ("fail", "info", "slow", "drop", "worker_crash", "app_restart", "clock", "stall",
         "throttle")


@dataclass(frozen=True)
class StatementFaults:
    """Per-call probabilities for one statement kind (their sum is at most 1)."""
    fail: float = 0.0
    info: float = 0.0
    slow: float = 0.0
    drop: float = 0.0

    def total(self) -> float:
        return self.fail + self.info + self.slow + self.drop


@dataclass(frozen=True)
class WorkerCrash:
    worker: str  # e.g. "worker-0"
    step: str  # one of CRASH_STEPS
    at_s: float = 0.0  # for AT_TIME


@dataclass(frozen=True)
class Window:
    """A stretch of the run clock [start_s, start_s + length_s)."""
    start_s: float
    length_s: float

    def covers(self, t: float) -> bool:
        return self.start_s <= t < self.start_s + self.length_s

    @property
    def end_s(self) -> float:
        return self.start_s + self.length_s


@dataclass(frozen=True)
class AppRestart:
    """The API process dies at `at_s` (poll loop, stop requests, enrichment with it; the
    worker processes live on) and starts again `down_s` later, running its start-up recovery."""
    at_s: float
    down_s: float


@dataclass(frozen=True)
class FaultSpec:
    heal_at_s: float = 0.0  # no fault fires at or after this instant
    statements: Mapping[str, StatementFaults] = field(default_factory=dict)  # op or "default"
    info_applied: float = 0.5  # chance that an `info` statement took effect
    info_timeout_s: float = 2.0  # how long a client waits before it calls a statement `info`
    crashes: tuple[WorkerCrash, ...] = ()
    clock_offset_s: Mapping[str, float] = field(default_factory=dict)  # worker -> offset
    clock_drift: Mapping[str, float] = field(default_factory=dict)  # worker -> s per s
    stalls: tuple[Window, ...] = ()  # the whole backend answers nothing
    throttle: Window | None = None  # statements take `throttle_factor` times longer
    throttle_factor: float = 1.0
    app_restart: AppRestart | None = None

    def active(self) -> bool:
        return self.heal_at_s > 0 and bool(
            any(s.total() > 0 for s in self.statements.values()) or self.crashes
            or self.clock_offset_s or self.clock_drift or self.stalls or self.throttle
            or self.app_restart)

    def of(self, op: str) -> StatementFaults:
        return self.statements.get(op) or self.statements.get("default") or StatementFaults()

    def as_dict(self) -> dict[str, Any]:
        """The spec as the trace header states it (checkers read heal_at_s from here)."""
        return {
            "heal_at_s": self.heal_at_s, "info_applied": self.info_applied,
            "info_timeout_s": self.info_timeout_s,
            "statements": {op: {k: getattr(s, k) for k in STATEMENT_FAULTS}
                           for op, s in sorted(self.statements.items())},
            "crashes": [{"worker": c.worker, "step": c.step, "at_s": c.at_s}
                        for c in self.crashes],
            "clock_offset_s": dict(sorted(self.clock_offset_s.items())),
            "clock_drift": dict(sorted(self.clock_drift.items())),
            "stalls": [{"start_s": w.start_s, "length_s": w.length_s} for w in self.stalls],
            "throttle": (None if self.throttle is None else
                         {"start_s": self.throttle.start_s, "length_s": self.throttle.length_s,
                          "factor": self.throttle_factor}),
            "app_restart": (None if self.app_restart is None else
                            {"at_s": self.app_restart.at_s, "down_s": self.app_restart.down_s}),
        }


NO_FAULTS = FaultSpec()

# A worker's 1 s metrics POST to the API (§10.1), faulted only when the spec names it (never
# by `default`): a lost POST leaves the live cache to expire the worker's snapshot, which is
# how the reference's empty-cache QPS reset (§9.5) shows.
POST_METRICS = "post_metrics"

# Statement kinds no fault touches: benchmark queries (their errors are the workload's, not
# the protocol's) and the in-process notices of push coordination.
UNFAULTED_OPS = frozenset({"benchmark", "notify"})


def statement_outcome(spec: FaultSpec, op: str, now: float, u: float) -> str | None:
    """One call of statement kind `op` at `now`, hit by uniform draw `u`: a fault, or None.

    The caller draws `u` only when `may_fault` says a fault is possible, so a run without
    faults takes exactly the draws it took before the fault model existed."""
    s = spec.of(op)
    edge = 0.0
    for name in STATEMENT_FAULTS:
        edge += getattr(s, name)
        if u < edge:
            return name
    return None


def may_fault(spec: FaultSpec, op: str, now: float) -> bool:
    return now < spec.heal_at_s and op not in UNFAULTED_OPS and spec.of(op).total() > 0


def info_took_effect(spec: FaultSpec, u: float) -> bool:
    return u < spec.info_applied


def crash_step(effect: Any, last_status: str | None, ready_count: int) -> str | None:
    """The crash step a worker reaches by performing `effect`, given its last heartbeat
    status written and how many READY heartbeats it wrote. Judged on what the effect does,
    so a driver needs nothing from inside the actor."""
    op = getattr(effect, "op", None)
    if op == "merge_heartbeat" and last_status is None:
        return BEFORE_FIRST_HEARTBEAT
    if op == "read_run_status" and last_status == "READY" and ready_count >= 1:
        return WAIT_LOOP
    if op == "alter_tag" and str(getattr(effect, "tag", "")).endswith(":phase=RUNNING"):
        return HOOK
    if op == "write_test_result" and not getattr(effect, "insert", True) \
            and getattr(effect, "test_id", "") != getattr(effect, "run_id", None):
        return EXIT_SEQUENCE
    return None


def crash_after(effect: Any) -> str | None:
    """The crash step reached right after `effect` succeeded (DRAINING: the heartbeat is
    written, the drain has not begun)."""
    if getattr(effect, "op", None) == "merge_heartbeat" and effect.status == "DRAINING":
        return DRAINING
    return None


def clock_offset(spec: FaultSpec, worker: str, now: float) -> float:
    """How far `worker`'s wall clock is ahead of the database's at run-clock `now`."""
    return spec.clock_offset_s.get(worker, 0.0) + spec.clock_drift.get(worker, 0.0) * now


def stalled_until(spec: FaultSpec, now: float) -> float | None:
    """The end of a backend stall covering `now` (before healing), else None."""
    for w in spec.stalls:
        if w.covers(now) and now < spec.heal_at_s:
            return w.end_s
    return None


def latency_factor(spec: FaultSpec, now: float) -> float:
    if spec.throttle is not None and spec.throttle.covers(now) and now < spec.heal_at_s:
        return spec.throttle_factor
    return 1.0


def spec_from_dict(d: Mapping[str, Any]) -> FaultSpec:
    """The inverse of FaultSpec.as_dict: how a live worker process gets the run's spec (it
    arrives as JSON in the worker's config)."""
    th, ar = d.get("throttle"), d.get("app_restart")
    return FaultSpec(
        heal_at_s=float(d.get("heal_at_s", 0.0)),
        statements={op: StatementFaults(**{k: float(v) for k, v in s.items()})
                    for op, s in (d.get("statements") or {}).items()},
        info_applied=float(d.get("info_applied", 0.5)),
        info_timeout_s=float(d.get("info_timeout_s", 2.0)),
        crashes=tuple(WorkerCrash(c["worker"], c["step"], float(c.get("at_s", 0.0)))
                      for c in d.get("crashes") or ()),
        clock_offset_s={k: float(v) for k, v in (d.get("clock_offset_s") or {}).items()},
        clock_drift={k: float(v) for k, v in (d.get("clock_drift") or {}).items()},
        stalls=tuple(Window(float(w["start_s"]), float(w["length_s"]))
                     for w in d.get("stalls") or ()),
        throttle=None if th is None else Window(float(th["start_s"]), float(th["length_s"])),
        throttle_factor=1.0 if th is None else float(th.get("factor", 1.0)),
        app_restart=None if ar is None else AppRestart(float(ar["at_s"]), float(ar["down_s"])))
