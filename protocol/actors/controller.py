"""The orchestrator's side of the scaling modes: blocks 11-15 of a poll-loop iteration
(reference-protocol.md §3.2) — live aggregation, the BOUNDED stop rule, the QPS controller,
the FIND_MAX step controller, rollups — and what carries out their decisions: target
batches (§9.3 `_apply_worker_targets`) and mid-run spawns (§5.5 `_ensure_workers_for_target`).

The decisions themselves are protocol/scaling.py's pure functions; this module only reads
their inputs, records them (`ctrl_eval`, `targets`: docs/trace.md) and issues statements.
orchestrator.py calls it as hooks; a run without a [scaling] table never reaches it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from protocol import events as ev
from protocol import phases as ph
from protocol import scaling as sc
from protocol.actors.common import OrchestratorState, emit_event, note
from protocol.effects import (CountHeartbeats, Guard, Join, Now, ReadLiveCache, Sleep, Spawn,
                              SpawnWorker, StatementFailed, WriteRunStatus, WriteTestResult)

ROLLUP_PERIOD_S = 4.0  # RUN_STATUS rollup, at least this far apart while active (§10.2)
SPAWN_WAIT_S = 30.0  # _ensure_workers_for_target blocks the poll loop at most this long
SPAWN_POLL_S = 1.0
UP_STATUSES = (ph.HB_READY, ph.HB_RUNNING, "WAITING")
NOT_TERMINAL = Guard(status_not_in=tuple(sorted(ph.TERMINAL)))


@dataclass
class Controller:
    """The orchestrator's in-memory controller state for one run."""
    cfg: sc.ScalingConfig
    fm: sc.FindMaxState | None = None
    qps: sc.QpsState | None = None
    bounded_count: int = 0
    finished: bool = False
    worker_targets: dict = field(default_factory=dict)
    last_rollup_t: float = -math.inf
    last_rollup: tuple | None = None
    enrichment: object = None  # the enrichment task T7/T8 started
    step_spawn_wait_s: float = 0.0  # how long the current FIND_MAX step's spawns blocked
    measured: dict = field(default_factory=dict)  # worker -> (ops, errors) after its reset


def get(st: OrchestratorState) -> Controller | None:
    if st.cfg.scaling is None:
        return None
    if st.ctrl is None:
        st.ctrl = Controller(st.cfg.scaling)
    return st.ctrl


def duration_applies(st: OrchestratorState) -> bool:
    """§3.3: FIND_MAX has no duration limit until it has finished."""
    c = get(st)
    return c is None or c.cfg.rule.duration_limit or c.finished


def cap_of(c: sc.ScalingConfig) -> int:
    """The orchestrator's distribution and spawn cap: the smallest cap that is set (§9.2)."""
    caps = [x for x in (c.max_connections, c.per_worker_connections) if x]
    return min(caps) if caps else 0


# --- carrying decisions out ---------------------------------------------------------------

def ensure_workers(st: OrchestratorState, c: Controller, target: int):
    """§9.3/§5.5: spawn the next worker ids when `target` needs more processes, then block
    the poll loop (≤30 s, 1 s polls) until that many are READY or RUNNING."""
    if c.cfg.scaling_mode not in c.cfg.rule.spawns_mid_run:
        return
    need = sc.workers_needed(target, cap_of(c.cfg), c.cfg.min_workers, c.cfg.max_workers)
    if need <= st.group_count:
        return
    for g in range(st.group_count, need):
        wid = f"worker-{g}"
        st.spawned.append(wid)
        yield SpawnWorker(wid, g, need)
    st.group_count = need
    if c.cfg.rule.duration_limit and not st.sw.spawn_wait_in_timed_modes:
        return  # fixed: a timed run's poll loop does not stop for process start-ups
    t0 = yield Now()
    while True:
        try:
            counts = yield CountHeartbeats(st.run_id)
            if sum(s in UP_STATUSES for s in counts.rows.values()) >= need:
                return
        except StatementFailed:
            pass
        now = yield Now()
        if now - t0 >= SPAWN_WAIT_S or (st.stopping and st.sw.spawn_wait_honours_stop):
            return
        yield Sleep(SPAWN_POLL_S)


def apply_targets(st: OrchestratorState, c: Controller, total: int, step: int, reason: str):
    """`_apply_worker_targets`: build the batch over the current workers, then per worker
    the WORKER_TARGETS update and its SET_WORKER_TARGET event; returns the effective total."""
    sw = st.sw
    if st.stopping and sw.spawn_wait_honours_stop:
        return total  # fixed: a run stopped meanwhile gets no new targets
    b = sc.build_worker_targets(total, st.group_count, cap_of(c.cfg), c.cfg.min_connections,
                                c.cfg.target_qps if c.cfg.load_mode == "QPS" else None,
                                sw.target_distribution, sw.target_floor_within_cap)
    yield note("targets", **b.record(reason), step=step)
    ramp = 0.0 if c.cfg.load_mode == "FIND_MAX" else c.cfg.qps_ramp_s
    for g, t in enumerate(b.targets):
        wid = f"worker-{g}"
        c.worker_targets[wid] = t
        try:
            yield WriteRunStatus(st.run_id, {"WORKER_TARGETS": dict(c.worker_targets)})
        except StatementFailed:
            pass
        data = ev.set_worker_target(wid, g, t, ramp, reason)
        data.update(step_number=step, target_qps=b.target_qps)
        yield from emit_event(st, ev.SET_WORKER_TARGET, data)
    return b.total


def mark_completed(st: OrchestratorState, c: Controller, announce: bool = False):
    """`_mark_run_completed` from a controller (T7, T8): COMPLETED/PROCESSING (guarded), the
    parent row, and enrichment; the poll loop goes on until the workers have left.
    `announce`: emit STOP{find_max_complete} first (fixed T7). Fixed (controller_end_guard)
    takes the run's lock, which a user's stop_run holds from its read to its CANCELLING
    write, and gives way to a stop under way: a user stop accepted while RUNNING wins."""
    c.finished = True
    if not st.sw.controller_end_guard:
        return (yield from _complete(st, c, announce, NOT_TERMINAL))
    while st.starting:  # a stop_run (or start_run) holds the run's lock
        yield Sleep(0.01)
    if st.stopping:
        return ph.RUNNING
    st.starting = True
    try:
        return (yield from _complete(st, c, announce, Guard(status_in=(ph.RUNNING,))))
    finally:
        st.starting = False


def _complete(st: OrchestratorState, c: Controller, announce: bool, guard: Guard):
    from protocol.actors import orchestrator as orch  # the poll loop's own helpers
    if announce:
        yield from emit_event(st, ev.STOP, ev.stop(ev.FIND_MAX_COMPLETE, "search finished"))
    if not (yield from orch.write(st, {"STATUS": ph.COMPLETED, "PHASE": ph.PROCESSING}, guard)) \
            and st.sw.controller_end_guard:
        return ph.RUNNING  # the status moved meanwhile: the poll loop's final step decides
    yield from orch.parent(st, ph.COMPLETED, "PENDING")
    c.enrichment = yield Spawn(orch.enrichment(st), "enrichment")
    return ph.COMPLETED


# --- FIND_MAX (§9.4, block 14) --------------------------------------------------------------

def _fm_record(before: sc.FindMaxState, d: sc.StepDecision, inp: sc.FindMaxInputs,
               after: sc.FindMaxState, spawn_wait_s: float):
    rec = dict(controller="FIND_MAX", step=before.step, target=before.target,
               backoff=before.in_backoff, outcome=d.outcome, qps=d.qps, elapsed=d.elapsed,
               ops=max(0.0, inp.total_ops - before.ops0), p95_ms=inp.p95_ms,
               base_p95_ms=before.base_p95, decision={"kind": d.kind, "target": d.target},
               t0=before.t0, spawn_wait_s=round(spawn_wait_s, 6))
    if d.kind == "finish":
        rec["best"] = {"concurrency": after.best_c, "qps": after.best_qps}
        rec["reason"] = d.reason
    return note("ctrl_eval", **rec)


def _carry_out(st, c: Controller, d: sc.StepDecision):
    """Start the step the decision asks for: spawn, apply, and take the effective total."""
    t = yield Now()
    yield from ensure_workers(st, c, d.target)
    c.step_spawn_wait_s = (yield Now()) - t  # SC-FINDMAX-STEP does not count it
    eff = yield from apply_targets(st, c, d.target, c.fm.step, d.reason)
    c.fm, fin = sc.findmax_applied(c.fm, d, eff, st.sw.findmax_stop_when_clamped)
    if fin is not None:  # the target cannot grow: the search ends here (fixed)
        yield note("ctrl_eval", controller="FIND_MAX", step=c.fm.step, target=eff,
                   backoff=False, outcome=None, qps=None,
                   decision={"kind": "finish", "target": fin.target},
                   best={"concurrency": c.fm.best_c, "qps": c.fm.best_qps}, reason=fin.reason)
        return (yield from mark_completed(st, c, st.sw.findmax_announces_stop))
    return None


def findmax_block(st, c: Controller, agg, now: float, status: str):
    inp = sc.FindMaxInputs(agg.total_ops, agg.errors, agg.p95_ms, False)
    if c.fm is None:
        if st.sw.findmax_baseline == "after_reset" and not (
                agg.workers >= st.group_count and agg.phases
                and all(p == ph.MEASUREMENT for p in agg.phases)):
            return status  # not every worker has reset its counters yet
        c.fm, d = sc.findmax_begin(c.cfg, now, inp)
        return (yield from _carry_out(st, c, d)) or status
    before = c.fm
    c.fm, d = sc.findmax_evaluate(c.cfg, c.fm, now, inp)
    if d.kind == "wait":
        return status
    yield _fm_record(before, d, inp, c.fm, c.step_spawn_wait_s)
    if d.kind == "finish":
        return (yield from mark_completed(st, c, st.sw.findmax_announces_stop))
    return (yield from _carry_out(st, c, d)) or status


# --- QPS (§9.5, block 13) and the BOUNDED rule (§9.6, block 12) ------------------------------

def bounded_block(st, c: Controller, agg, status: str):
    total = sum(c.worker_targets.values()) if c.worker_targets else agg.target_connections
    c.bounded_count, stop = sc.bounded_tick(c.cfg, c.bounded_count, agg.current_qps, total,
                                            st.group_count)
    if not stop:
        return status
    yield from emit_event(st, ev.STOP, ev.stop(ev.BOUNDS_LIMIT_REACHED,
                                               f"under {c.cfg.target_qps} QPS at the ceiling"))
    return (yield from mark_completed(st, c))


def qps_block(st, c: Controller, agg, now: float):
    if c.qps is None:
        lo, hi = sc.qps_bounds(c.cfg, st.group_count)
        c.qps = sc.QpsState(lo, hi)
    if agg.workers == 0 and st.sw.qps_empty_cache == "hold":
        return  # fixed: an empty cache is no reading, not "0 threads"
    threads, qps = agg.target_connections, agg.current_qps
    new, desired = sc.qps_evaluate(c.cfg, c.qps, now, qps, threads, st.sw.qps_min_step)
    if new is c.qps:  # inside the evaluation period: skipped
        return
    c.qps = new
    yield note("ctrl_eval", controller="QPS", qps=qps, threads=threads,
               true_threads=agg.true_threads, target_qps=c.cfg.target_qps, lo=new.lo,
               hi=new.hi, workers=agg.workers, decision={"target": desired})
    if desired is None:
        return
    yield from ensure_workers(st, c, desired)
    reason = "qps_scaling_up" if desired > threads else "qps_scaling_down"
    yield from apply_targets(st, c, desired, 0, reason)


# --- rollups (§10.2, block 15) ---------------------------------------------------------------

def rollup(st, c: Controller, status: str, counts, agg=None, force: bool = False):
    """The RUN_STATUS rollup: when the counts changed, ≥4 s apart while active, at once when
    terminal (or `force`d: the fixed final rollup)."""
    if counts is None:
        return
    now = yield Now()
    key = (counts.registered, counts.active, counts.completed)
    due = force or status in ph.TERMINAL or now - c.last_rollup_t >= ROLLUP_PERIOD_S
    if not due or key == c.last_rollup:
        return
    c.last_rollup_t, c.last_rollup = now, key
    set_ = {"WORKERS_REGISTERED": counts.registered, "WORKERS_ACTIVE": counts.active,
            "WORKERS_COMPLETED": counts.completed}
    if agg is not None:
        set_.update(TOTAL_OPS=agg.total_ops, CURRENT_QPS=round(agg.current_qps, 3))
    try:
        yield WriteRunStatus(st.run_id, set_)
    except StatementFailed:
        pass


# --- live aggregation (§10.2, block 11) ------------------------------------------------------

def read_live_aggregate(st: OrchestratorState):
    """Block 11: the aggregate the controllers steer by, recorded as `live_agg` (judged by
    EPOCH-AGG-MONOTONE). Fixed (live_agg_counts = measured) counts a worker's ops and errors
    only from snapshots taken after its measurement reset, and keeps a worker's last such
    count when its snapshot expires (a lost POST, an exited worker)."""
    agg = yield ReadLiveCache(st.run_id)
    c = get(st)
    if st.sw.live_agg_counts == "measured":  # a lost POST or an exit is no reading: keep
        for w, resets, ops, errors in agg.per_worker:  # the worker's last measured count
            if resets >= 1:
                c.measured[w] = (ops, errors)
        agg = replace(agg, total_ops=sum(o for o, _ in c.measured.values()),
                      errors=sum(e for _, e in c.measured.values()))
    yield note("live_agg", ops_total=agg.total_ops, errors=agg.errors,
               current_per_sec=round(agg.current_qps, 3), workers=agg.workers,
               target_connections=agg.target_connections)
    return agg


# --- the hooks orchestrator.py calls --------------------------------------------------------

def poll_blocks(st: OrchestratorState, status: str, phase: str, counts):
    """Blocks 11-15 of one poll-loop iteration; returns the iteration's local status."""
    c = get(st)
    if c is None:
        return status
    agg = None
    if status == ph.RUNNING and phase == ph.MEASUREMENT:
        agg = yield from read_live_aggregate(st)  # 11
        now = yield Now()
        if c.cfg.load_mode == "QPS" and not c.finished:
            if c.cfg.scaling_mode == "BOUNDED":  # 12
                status = yield from bounded_block(st, c, agg, status)
            if status == ph.RUNNING:  # 13
                yield from qps_block(st, c, agg, now)
        elif c.cfg.load_mode == "FIND_MAX" and not c.finished:  # 14
            status = yield from findmax_block(st, c, agg, now, status)
    yield from rollup(st, c, status, counts, agg)  # 15
    return status


def after_loop(st: OrchestratorState):
    """After the poll loop: fixed writes a final rollup (the reference writes none, so
    WORKERS_ACTIVE keeps its last value, §10.2); a controller's enrichment is awaited."""
    c = get(st)
    if c is None:
        return
    if st.sw.final_rollup:
        try:
            counts = yield CountHeartbeats(st.run_id)
        except StatementFailed:
            counts = None
        yield from rollup(st, c, ph.COMPLETED, counts, force=True)
    if c.enrichment is not None:
        yield Join((c.enrichment,), st.cfg.enrichment_timeout_s + st.cfg.enrichment_poll_s)
