"""Scaling modes, target arithmetic and the two run-time controllers (reference-protocol.md §9).

Theory of operation. A run has a scaling mode (how many worker processes: AUTO, BOUNDED,
FIXED) and a load mode (what moves the targets at run time: nothing, the QPS controller, the
FIND_MAX step controller). Both controllers are pure state machines here: the orchestrator's
poll loop hands them what it read (live metrics, the clock) and gets back a new state and a
decision, which it then carries out with statements (target rows, events, spawns). Keeping
them pure lets the checkers recompute what a controller should have decided from the inputs
recorded in the trace (`ctrl_eval`, `targets`), and lets the search drive them without a run.

Where the reference is wrong the function takes the choice as an argument (the variants'
switches pass it), and the reference's behaviour is the default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

SCALING_MODES = ("AUTO", "BOUNDED", "FIXED")
LOAD_MODES = ("CONCURRENCY", "QPS", "FIND_MAX")


@dataclass(frozen=True)
class ModeRule:
    """One row of the §9.1 table."""
    controller: str | None         # who moves targets in MEASUREMENT
    spawns_mid_run: frozenset      # scaling modes in which the controller spawns workers
    duration_limit: bool           # whether d ends the run


MODE_RULES: dict[str, ModeRule] = {
    "CONCURRENCY": ModeRule(None, frozenset(), True),
    "QPS": ModeRule("QPS", frozenset({"BOUNDED"}), True),
    "FIND_MAX": ModeRule("FIND_MAX", frozenset(SCALING_MODES), False),
}


@dataclass(frozen=True)
class ScalingConfig:
    """The run's scaling settings with the reference's defaults (§9.1-9.6, §12)."""
    scaling_mode: str = "AUTO"
    load_mode: str = "CONCURRENCY"
    min_workers: int = 1
    max_workers: int | None = None        # None: unbounded
    min_connections: int = 1
    max_connections: int = 200
    per_worker_connections: int | None = None
    concurrent_connections: int = 1       # CONCURRENCY / QPS total threads (AUTO, BOUNDED)
    # FIND_MAX (§9.4)
    start_concurrency: int = 5
    concurrency_increment: int = 10
    step_duration_s: float = 30.0
    qps_drop_pct: float = 5.0
    latency_rise_pct: float = 20.0
    error_pct: float = 1.0
    # QPS (§9.5-9.6)
    target_qps: float | None = None
    starting_threads: int = 0
    max_thread_increase: int = 15
    qps_eval_period_s: float = 10.0
    qps_ramp_s: float = 5.0
    bounds_patience: int = 3

    def __post_init__(self):
        if self.scaling_mode not in SCALING_MODES:
            raise ValueError(f"scaling_mode {self.scaling_mode!r}: one of {SCALING_MODES}")
        if self.load_mode not in LOAD_MODES:
            raise ValueError(f"load_mode {self.load_mode!r}: one of {LOAD_MODES}")

    @property
    def rule(self) -> ModeRule:
        return MODE_RULES[self.load_mode]


# --- sizes and caps (§9.1-9.2) -------------------------------------------------------------

def total_threads(c: ScalingConfig) -> int:
    """The CONCURRENCY total: FIXED derives it from the per-worker floor."""
    if c.scaling_mode == "FIXED":
        return c.min_workers * c.min_connections
    return c.concurrent_connections


def initial_worker_count(c: ScalingConfig) -> int:
    """Processes spawned at start: FIXED min_workers; AUTO/BOUNDED enough for the sizing
    target at max_connections each, at least min_workers, at most max_workers."""
    if c.scaling_mode == "FIXED":
        return c.min_workers
    sizing = c.start_concurrency if c.load_mode == "FIND_MAX" else total_threads(c)
    n = max(math.ceil(sizing / c.max_connections), c.min_workers)
    return n if c.max_workers is None else min(n, c.max_workers)


def cap_eff(c: ScalingConfig) -> int:
    """The per-worker ceiling the QPS controller and the BOUNDED rule use."""
    if c.per_worker_connections is not None:
        other = c.per_worker_connections
    elif c.load_mode == "FIND_MAX":
        other = c.max_connections or 200
    else:
        other = c.concurrent_connections
    return min(c.max_connections, other)


def even_split(total: int, n: int, g: int) -> int:
    """Worker g's share of `total` over n workers: total // n, +1 for the first total % n."""
    return total // n + (1 if g < total % n else 0)


def initial_target(c: ScalingConfig, g: int, n: int) -> int:
    """Worker g's start-up target (worker side, §9.3), clamped to its cap."""
    cap = c.max_connections
    if c.per_worker_connections is not None:
        t = c.per_worker_connections
    elif c.load_mode == "QPS":
        t = even_split(c.starting_threads, n, g) if c.starting_threads > 0 else c.min_connections
    elif c.load_mode == "FIND_MAX":
        t = max(1, even_split(c.start_concurrency, n, g))
    else:
        t = even_split(total_threads(c), n, g)
    return max(0, min(t, cap))


# --- target batches (§9.3) -----------------------------------------------------------------

@dataclass(frozen=True)
class TargetBatch:
    """What `build_worker_targets` returns, as the `targets` trace record holds it."""
    requested: int
    total: int                 # effective total
    targets: tuple[int, ...]   # per worker group
    cap: int | None
    workers: int
    min_connections: int
    distribution: str          # "pack" (reference) or "even"
    target_qps: float | None = None

    def record(self, reason: str) -> dict:
        """The fields of a `targets` trace record (docs/trace.md)."""
        return {"requested": self.requested, "total": self.total, "targets": list(self.targets),
                "cap": self.cap, "workers": self.workers,
                "min_connections": self.min_connections, "distribution": self.distribution,
                "target_qps": self.target_qps, "reason": reason}


def effective_total(requested: int, n: int, cap: int | None, min_connections: int,
                    floor_within_cap: bool = False) -> int:
    """clamp(requested, min_connections * n, cap * n). The reference applies the floor after
    the cap (so a floor above the cap wins); `floor_within_cap` keeps the result at most
    cap * n, which is what SC-TARGET-ARITH asks."""
    n = max(1, n)
    total = max(0, requested)
    if cap and cap > 0:
        total = min(total, cap * n)
    if min_connections > 0:
        total = max(total, min_connections * n)
    if floor_within_cap and cap and cap > 0:
        total = min(total, cap * n)
    return total


def build_worker_targets(requested: int, workers: int, cap: int | None, min_connections: int,
                         target_qps: float | None = None, distribution: str = "pack",
                         floor_within_cap: bool = False) -> TargetBatch:
    """Split a requested total over the current workers (reference `build_worker_targets`).

    "pack" fills earlier groups up to the cap first (250 on 2 at cap 200: 200, 50; 5 on 2:
    5, 0 — a worker may get 0 although min_connections is 1: the floor is on the total only);
    "even" spreads it (total // n, +1 for the first total % n)."""
    if distribution not in ("pack", "even"):
        raise ValueError(f"distribution {distribution!r}: 'pack' or 'even'")
    n = max(1, workers)
    total = effective_total(requested, n, cap, min_connections, floor_within_cap)
    if cap and cap > 0 and distribution == "pack":
        out, left = [], total
        for _ in range(n):
            out.append(min(cap, left))
            left -= out[-1]
    else:
        out = [even_split(total, n, g) for g in range(n)]
    return TargetBatch(max(0, requested), total, tuple(out), cap, n, min_connections,
                       distribution, None if target_qps is None else target_qps / n)


def workers_needed(target: int, cap: int, min_workers: int, max_workers: int | None) -> int:
    """`_ensure_workers_for_target`: processes needed to carry `target` at `cap` each."""
    need = max(math.ceil(target / cap) if cap > 0 else min_workers, min_workers)
    return need if max_workers is None else min(need, max_workers)


def ramp_target(start: int, end: int, elapsed: float, duration: float) -> int:
    """The worker's target `elapsed` seconds into a ramp (QPS, 5 s): truncated linear."""
    if duration <= 0 or elapsed >= duration:
        return end
    return int(start + (end - start) * max(0.0, elapsed) / duration)


# --- FIND_MAX step controller (§9.4) --------------------------------------------------------

STABLE, DEGRADED, ERROR_THRESHOLD, QUEUE_DETECTED = (
    "STABLE", "DEGRADED", "ERROR_THRESHOLD", "QUEUE_DETECTED")


@dataclass(frozen=True)
class FindMaxInputs:
    """What one poll-loop iteration reads from the live cache (sums since each reset)."""
    total_ops: float
    errors: float
    p95_ms: float | None = None
    queued: bool = False


@dataclass(frozen=True)
class FindMaxState:
    step: int = 0
    target: int = 0
    target_before: int = 0      # the previous step's effective target
    t0: float = 0.0
    ops0: float = 0.0
    err0: float = 0.0
    prev_qps: float = 0.0
    base_p95: float | None = None
    best_c: int = 0
    best_qps: float = 0.0
    backoff_used: bool = False
    in_backoff: bool = False
    failed_c: int = 0
    first_reason: str | None = None
    finished: bool = False
    finish_reason: str | None = None
    last_outcome: str | None = None


@dataclass(frozen=True)
class StepDecision:
    """What the orchestrator must do after an evaluation: `wait` (step still running),
    `start` / `advance` / `backoff` (apply `target` and start a step), `finish`."""
    kind: str
    target: int | None = None
    outcome: str | None = None
    qps: float | None = None
    elapsed: float | None = None
    reason: str | None = None


def findmax_max(c: ScalingConfig) -> int:
    """max_c = max(start, 10000): caps never lower it (§9.4)."""
    return max(c.start_concurrency, 10000)


def findmax_begin(c: ScalingConfig, now: float, inp: FindMaxInputs) -> tuple[FindMaxState,
                                                                              StepDecision]:
    """Step 0 → 1: the first target is `start`, its baseline the current sums."""
    st = FindMaxState(step=1, target=c.start_concurrency, t0=now, ops0=inp.total_ops,
                      err0=inp.errors)
    return st, StepDecision("start", st.target, reason="step_start")


def findmax_outcome(c: ScalingConfig, st: FindMaxState, qps: float, err_pct: float,
                    p95: float | None, queued: bool) -> str:
    """Classify a finished step: queue, errors, latency rise (not on a backoff step), QPS drop."""
    if queued:
        return QUEUE_DETECTED
    if err_pct > c.error_pct:
        return ERROR_THRESHOLD
    if (not st.in_backoff and st.base_p95 and p95 is not None
            and 100.0 * (p95 - st.base_p95) / st.base_p95 > c.latency_rise_pct):
        return DEGRADED
    if st.prev_qps > 0 and 100.0 * (qps - st.prev_qps) / st.prev_qps < -c.qps_drop_pct:
        return DEGRADED
    return STABLE


def findmax_evaluate(c: ScalingConfig, st: FindMaxState, now: float, inp: FindMaxInputs,
                     ) -> tuple[FindMaxState, StepDecision]:
    """One poll-loop evaluation of a running step. After a `start`, `advance` or `backoff`
    decision the orchestrator applies the target and reports the effective total with
    `findmax_applied` (a cap may clamp it)."""
    if st.finished:
        return st, StepDecision("finish", st.best_c, reason=st.finish_reason)
    elapsed = now - st.t0
    ops = max(0.0, inp.total_ops - st.ops0)
    errs = max(0.0, inp.errors - st.err0)
    err_pct = 100.0 * errs / ops if ops > 0 else 0.0
    qps = ops / elapsed if elapsed > 0 else 0.0
    if elapsed < c.step_duration_s:
        return st, StepDecision("wait", st.target, qps=qps, elapsed=elapsed)
    outcome = findmax_outcome(c, st, qps, err_pct, inp.p95_ms, inp.queued)
    base = st.base_p95 if st.base_p95 is not None else inp.p95_ms
    st = replace(st, in_backoff=False, base_p95=base, last_outcome=outcome)
    if outcome == STABLE:
        st = replace(st, best_c=max(st.best_c, st.target), best_qps=max(st.best_qps, qps))
        max_c = findmax_max(c)
        if st.target < max_c:
            nxt = min(max_c, st.target + c.concurrency_increment)
            return _next(st, nxt, now, inp, qps, "step_advance", outcome, elapsed)
        return _finish(st, "reached_max", outcome, qps, elapsed)
    st = replace(st, first_reason=st.first_reason or outcome)
    if not st.backoff_used and 0 < st.best_c < st.target:
        st = replace(st, backoff_used=True, failed_c=st.target)
        st2, d = _next(st, st.best_c, now, inp, qps, "backoff", outcome, elapsed)
        return replace(st2, in_backoff=True), d
    return _finish(st, st.first_reason, outcome, qps, elapsed)


def findmax_applied(st: FindMaxState, decision: StepDecision, effective: int,
                    stop_when_clamped: bool = False) -> tuple[FindMaxState, StepDecision | None]:
    """Record the effective total `apply` returned as the step's target (the reference's
    `target := apply(...)`). An advance that a cap clamped to no growth keeps stepping at the
    same level in the reference (§9.4: "the run stays at that level until a non-STABLE
    step"); with `stop_when_clamped` the search finishes instead, as SC-FINDMAX-TERMINATES
    asks. Returns a finish decision in that case, else None."""
    before = st.target_before
    st = replace(st, target=effective)
    if stop_when_clamped and decision.kind == "advance" and effective <= before:
        st = replace(st, finished=True, finish_reason="target_cannot_grow")
        return st, StepDecision("finish", st.best_c, reason="target_cannot_grow")
    return st, None


def _next(st: FindMaxState, target: int, now: float, inp: FindMaxInputs, qps: float,
          why: str, outcome: str, elapsed: float) -> tuple[FindMaxState, StepDecision]:
    kind = "backoff" if why == "backoff" else "advance"
    st = replace(st, prev_qps=qps, step=st.step + 1, t0=now, ops0=inp.total_ops,
                 err0=inp.errors, target=target, target_before=st.target)
    return st, StepDecision(kind, target, outcome=outcome, qps=qps, elapsed=elapsed, reason=why)


def _finish(st: FindMaxState, reason: str | None, outcome: str, qps: float,
            elapsed: float) -> tuple[FindMaxState, StepDecision]:
    st = replace(st, finished=True, finish_reason=reason)
    return st, StepDecision("finish", st.best_c, outcome=outcome, qps=qps, elapsed=elapsed,
                            reason=reason)


def findmax_step_limit(c: ScalingConfig) -> int:
    """SC-FINDMAX-TERMINATES: ⌈(max_c − start) / increment⌉ + 2 steps at the most."""
    inc = max(1, c.concurrency_increment)
    return math.ceil((findmax_max(c) - c.start_concurrency) / inc) + 2


# --- QPS controller (§9.5) ------------------------------------------------------------------

@dataclass(frozen=True)
class QpsState:
    lo: int
    hi: int
    last_eval: float | None = None
    up: int = 0
    down: int = 0
    decided: bool = False


def qps_bounds(c: ScalingConfig, workers: int) -> tuple[int, int]:
    """[min_threads, max_threads] at the first evaluation."""
    ce = cap_eff(c)
    if c.scaling_mode == "FIXED":
        hi = ce * workers if ce > 0 else workers * 100
        return c.min_connections * workers, hi
    worker_cap = c.max_workers if c.max_workers else (max(1, 10000 // ce) if ce > 0 else 100)
    hi = ce * worker_cap if ce > 0 else min(10000, worker_cap * 100)
    return c.min_connections * c.min_workers, hi


QPS_UP_NEEDED, QPS_DOWN_NEEDED = 1, 2  # consecutive evaluations below / above the band
QPS_MAX_DECREASE = 8


def qps_band(target: float) -> float:
    return max(2.0, 0.05 * target)


def qps_fraction(error: float) -> float:
    """How much of the gap one decision closes, by relative error."""
    for above, frac in ((0.50, 0.25), (0.30, 0.20), (0.15, 0.15), (0.05, 0.10)):
        if error > above:
            return frac
    return 0.06


def qps_evaluate(c: ScalingConfig, st: QpsState, now: float, qps: float, threads: int,
                 min_step: bool = False) -> tuple[QpsState, int | None]:
    """One evaluation: the new total of threads, or None for no change. Evaluations closer
    than `qps_eval_period_s` to the last are skipped (None, state unchanged).

    The reference rounds `threads + gap × fraction`, so outside the band but near the
    target the step rounds to 0 and the rate settles short of it for good (e.g. 17 threads
    at 170 QPS for a target of 200: +0.3 rounds away). `min_step` moves at least one thread
    toward the target whenever a change is due (fixed)."""
    target = float(c.target_qps or 0.0)
    if st.last_eval is not None and now - st.last_eval < c.qps_eval_period_s:
        return st, None
    st = replace(st, last_eval=now)
    if threads <= 0:  # the reference reads an empty live cache as "no threads": back to start
        start = c.starting_threads
        desired = min(max(start, st.lo), st.hi) if start > 0 else st.lo
        return replace(st, decided=True), desired
    band = qps_band(target)
    if abs(qps - target) <= band:
        return replace(st, up=0, down=0), None
    if qps < target:
        st = replace(st, up=st.up + 1, down=0)
        if st.up < QPS_UP_NEEDED:
            return st, None
    else:
        st = replace(st, down=st.down + 1, up=0)
        if st.down < QPS_DOWN_NEEDED:
            return st, None
    if qps <= 0:
        return st, None
    gap = target / (qps / threads) - threads
    err = abs(target - qps) / target if target else 0.0
    step = min(max(gap * qps_fraction(err), -float(QPS_MAX_DECREASE)),
               float(c.max_thread_increase))
    moved = round(threads + step)  # round(): ties to even
    if min_step and moved == threads:
        moved = threads + (1 if qps < target else -1)
    desired = min(max(moved, st.lo), st.hi)
    if desired == threads or (desired >= st.hi and threads >= st.hi) or (
            desired <= st.lo and threads <= st.lo):
        return st, None
    return replace(st, decided=True), desired


# --- BOUNDED stop rule (§9.6) ---------------------------------------------------------------

def bounded_tick(c: ScalingConfig, count: int, qps: float, target_total: int,
                 worker_group_count: int) -> tuple[int, bool]:
    """One ≈1 s tick of the QPS+BOUNDED stop rule: (new count, stop now?)."""
    if c.target_qps is None or c.max_workers is None:
        return 0, False
    under = qps < 0.98 * c.target_qps
    at_ceiling = (target_total >= cap_eff(c) * c.max_workers
                  and worker_group_count >= c.max_workers)
    count = count + 1 if (under and at_ceiling) else 0
    return count, count >= c.bounds_patience


# --- what a trace header states (docs/trace.md, "Scaling and controllers") --------------------

def header_params(c: ScalingConfig, sw=None) -> dict:
    """The params the checkers judge the modes by; `sw` the run's Switches."""
    return {"load_mode": c.load_mode, "scaling_mode": c.scaling_mode,
            "max_workers": c.max_workers, "min_workers": c.min_workers,
            "min_connections": c.min_connections, "max_connections": c.max_connections,
            "cap_eff": cap_eff(c), "findmax_step_limit": findmax_step_limit(c),
            "step_duration_s": c.step_duration_s, "target_qps": c.target_qps,
            "qps_eval_period_s": c.qps_eval_period_s,
            "max_thread_increase": c.max_thread_increase,
            "target_distribution": getattr(sw, "target_distribution", "pack")}
