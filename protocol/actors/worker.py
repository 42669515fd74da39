"""The worker process: start-up, wait loop, main loop, exit (reference-protocol.md §5).

Step names W1..W22 follow the reference so a reader can find its wait loop, main loop and
reconcile here; each behaviour switch flips one decision.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from protocol import events as ev
from protocol import phases as ph
from protocol.actors import polling, worker_scaling
from protocol.actors.common import note, worker_tag
from protocol.actors.errors import retrying, until_ok
from protocol.actors.tasks import BenchmarkPool
from protocol.config import RunConfig
from protocol.effects import (Join, MergeHeartbeat, Now, ReadRunStatus, Setup,
                              StatementFailed, Touch, WriteTestResult, FetchEvents, Cancel)
from protocol.variants import Switches


@dataclass
class WorkerState:
    run_id: str
    worker_id: str
    group_id: int
    group_count: int
    cfg: RunConfig
    sw: Switches
    test_id: str = ""
    current_phase: str = ph.PREPARING
    current_target: int = 0
    cursor: int = 0
    epoch: int = 0
    measurement_active: bool = False
    tag: str = ""
    stopping: bool = False
    exit_status: str = ph.COMPLETED
    drain_timeout_s: float = 120.0
    terminal_seen: str | None = None
    markers: set = field(default_factory=set)
    poll: dict = field(default_factory=dict)  # the poll scheme's memory (polling.py)
    metrics_since: float = 0.0  # when the measurement hook last reset the counters
    ramp: tuple | None = None  # (from, to, started, seconds) of a target ramp (QPS)

    def __post_init__(self):
        self.test_id = self.test_id or f"{self.run_id}-{self.worker_id}"
        self.tag = worker_tag(self.test_id, measuring=False)
        self.drain_timeout_s = self.cfg.drain_timeout_s


def initial_target(cfg: RunConfig, group_id: int = 0, group_count: int = 1) -> int:
    return worker_scaling.start_target(cfg, group_id, group_count)


def heartbeat(w: WorkerState, status: str, pool: BenchmarkPool | None = None):
    """A failed heartbeat only records the error (§7.1)."""
    try:
        yield MergeHeartbeat(w.run_id, w.worker_id, w.group_id, status, w.current_phase,
                             pool.size() if pool else 0, w.current_target)
    except StatementFailed:
        pass


def sure_heartbeat(w: WorkerState, status: str, pool: BenchmarkPool | None = None):
    """STARTING (it registers the row), the first READY, the first RUNNING (DRAINING may
    follow only it) and COMPLETED or DEAD (the grammar's last word):
    upstream writes it once (a failure only records the error); fixed retries it until it is
    written (after a timeout it may be written twice: a stutter of the same status)."""
    if not retrying(w.sw):
        yield from heartbeat(w, status, pool)
        return
    yield from until_ok(w.sw, MergeHeartbeat(w.run_id, w.worker_id, w.group_id, status,
                                             w.current_phase, pool.size() if pool else 0,
                                             w.current_target))


def mark(w: WorkerState, name: str):
    """A start-up marker like the seeds' timing instrumentation, once per name."""
    if name not in w.markers:
        w.markers.add(name)
        yield note("marker", worker=w.worker_id, name=name)


def set_phase(w: WorkerState, phase: str, source: str):
    w.current_phase = phase
    yield note("worker_state", worker=w.worker_id, phase=phase, target=w.current_target,
               source=source)


def adopt_phase(w: WorkerState, pool: BenchmarkPool, phase: str, source: str,
                hook: bool = True):
    """SET_PHASE / reconcile: run the hook when entering MEASUREMENT, then take the phase."""
    if not phase or phase == w.current_phase or phase not in ph.PHASE_RANK:
        return False
    if (w.sw.phase_adoption == "forward_only"
            and ph.PHASE_RANK[phase] < ph.PHASE_RANK.get(w.current_phase, 0)):
        return False
    if phase == ph.MEASUREMENT and hook:
        yield from pool.measurement_hook(w)
    yield from set_phase(w, phase, source)
    return True


def request_stop(w: WorkerState, reason: str, data: dict | None = None):
    w.stopping = True
    w.exit_status = ph.COMPLETED if reason in ev.STOP_REASONS_COMPLETING else ph.CANCELLED
    if data and data.get("drain_timeout_seconds"):
        w.drain_timeout_s = float(data["drain_timeout_seconds"])


def fetch(w: WorkerState, limit: int):
    try:
        return (yield FetchEvents(w.run_id, w.cursor, limit))
    except StatementFailed:
        return ()


def read_status(w: WorkerState):
    try:
        return (yield ReadRunStatus(w.run_id))
    except StatementFailed:
        return None


def seen(w: WorkerState, e: ev.Event, loop: str, outcome: str):
    """The event_seen note: what a loop did with one event row, and the cursor after it."""
    return note("event_seen", worker=w.worker_id, seq=e.seq, type=e.type, loop=loop,
                outcome=outcome, cursor=w.cursor)


# --- W17: the wait loop -------------------------------------------------------------------

def wait_loop(w: WorkerState):
    """Wait for STATUS RUNNING. Returns True to start, False to exit (§5.2)."""
    cfg = w.cfg
    start = yield Now()
    last_poll = last_hb = -math.inf
    pushed = None
    while True:
        now = yield Now()
        if now - start > cfg.wait_timeout_s:
            return False
        row = pushed if pushed is not None else (yield from read_status(w))
        if row is not None:
            if row.phase and row.phase != w.current_phase:
                yield from set_phase(w, row.phase, "wait")  # a plain copy: no hook
            if row.status == ph.RUNNING:
                return True
            if row.status in ph.TERMINAL:
                w.terminal_seen = row.status
                return False
        now = yield Now()
        if now - last_poll >= cfg.event_poll_s:
            last_poll = now
            for e in (yield from fetch(w, cfg.event_limit_wait)):
                if e.seq <= w.cursor:
                    yield seen(w, e, "wait", "skipped_cursor")
                    continue
                if e.type == ev.STOP:
                    if w.sw.wait_loop_consumes_events:  # fixed: the wait loop never moves
                        w.cursor = e.seq  # the cursor; a STOP ends the process anyway
                    request_stop(w, "", e.data)
                    yield seen(w, e, "wait", "applied")
                    return False
                if w.sw.wait_loop_consumes_events:
                    w.cursor = e.seq
                yield seen(w, e, "wait", "ignored")
        if now - last_hb >= cfg.heartbeat_s:
            last_hb = now
            yield from heartbeat(w, ph.HB_READY)
        pushed = yield from polling.wait_pause(w)


# --- W22: the main loop -------------------------------------------------------------------

def handle_event(w: WorkerState, pool: BenchmarkPool, e: ev.Event):
    """One event row of a main-loop batch (§4.3); returns False to leave the batch."""
    if e.seq <= w.cursor:
        yield seen(w, e, "main", "skipped_cursor")
        return True
    w.cursor = e.seq
    if not e.concerns(w.worker_id, w.group_id):
        yield seen(w, e, "main", "skipped_scope")
        return True
    if e.type == ev.STOP:
        request_stop(w, e.data.get("reason", ""), e.data)
        yield seen(w, e, "main", "applied")
        return False
    if e.type == ev.SET_PHASE:
        yield from adopt_phase(w, pool, str(e.data.get("phase") or ""), "event")
        yield seen(w, e, "main", "applied")
    elif e.type == ev.SET_WORKER_TARGET:
        yield from worker_scaling.on_target(w, pool, e.data)
        yield seen(w, e, "main", "applied")
    else:
        yield seen(w, e, "main", "ignored")
    return True


def reconcile(w: WorkerState, pool: BenchmarkPool):
    """The 5 s RUN_STATUS reconcile (§4.4)."""
    row = yield from read_status(w)
    if row is None:
        return
    yield from adopt_phase(w, pool, row.phase, "reconcile", hook=w.sw.reconcile_runs_hook)
    if row.status in ph.TERMINAL:
        w.stopping = True
        w.exit_status = row.status
        return
    want = row.worker_targets.get(w.worker_id)
    if want is not None and want != w.current_target:
        yield from pool.scale_to(w, int(want), "reconcile")


def main_loop(w: WorkerState, pool: BenchmarkPool):
    cfg = w.cfg
    now = yield Now()
    last_poll, last_reconcile, last_hb = -math.inf, now, now
    period = cfg.event_poll_s
    while not w.stopping:  # (the clock is read again only after work that takes time)
        now = yield Now()
        if now - last_poll >= period:
            last_poll = now
            period = yield from polling.event_period(w, now)
            for e in (yield from fetch(w, cfg.event_limit_main)):
                if not (yield from handle_event(w, pool, e)):
                    break
            if w.stopping:
                break
            now = yield Now()
        if now - last_reconcile >= cfg.reconcile_s:
            last_reconcile = now
            yield from reconcile(w, pool)
            if w.stopping:
                break
            now = yield Now()
        if now - last_hb >= cfg.heartbeat_s:
            last_hb = now
            yield from heartbeat(w, ph.HB_RUNNING, pool)
        # what the next iteration would act on (a ramp steps every iteration: no skipping)
        due = (((last_poll, period), (last_reconcile, cfg.reconcile_s),
                (last_hb, cfg.heartbeat_s)) if w.ramp is None else ())
        notice = yield from polling.main_pause(w, due)
        if w.ramp is not None:  # a target ramp (QPS): one step per iteration
            yield from worker_scaling.ramp_tick(w, pool)
        if notice is not None:  # push: poll events now, adopt a pushed phase at once
            last_poll = -math.inf
            yield from adopt_phase(w, pool, notice.phase, "notify")


# --- the whole process --------------------------------------------------------------------

def worker(cfg: RunConfig, sw: Switches, run_id: str, worker_id: str, group_id: int,
           group_count: int):
    """A worker process; returns its exit code (§5.4)."""
    w = WorkerState(run_id, worker_id, group_id, group_count, cfg, sw)
    try:
        row = yield ReadRunStatus(run_id)  # W4
    except StatementFailed:
        return 2
    if row is None:
        return 1
    snapshot_phase, snapshot_status = row.phase, row.status
    w.current_target = initial_target(cfg, group_id, group_count)  # W10
    yield from set_phase(w, snapshot_phase or ph.PREPARING, "startup")
    pool = BenchmarkPool(w)
    yield from sure_heartbeat(w, ph.HB_STARTING)  # W11 (fixed: retried, it registers the row)
    if sw.pool_init == "before_ready":
        yield from heartbeat(w, ph.HB_INITIALIZING)  # W12
        try:
            yield from pool.initialize()
        except StatementFailed:
            yield from sure_heartbeat(w, ph.HB_DEAD)
            return 2
        yield from mark(w, "pool_ready")
    if not sw.ready_after_setup:  # bug-zoo regression: READY moved above W13
        yield from heartbeat(w, ph.HB_READY, pool)
    try:
        yield Setup(worker_id)  # W13
    except StatementFailed:
        yield from sure_heartbeat(w, ph.HB_DEAD)
        return 1
    yield from sure_heartbeat(w, ph.HB_READY, pool)  # W14
    yield from mark(w, "ready")
    yield from worker_scaling.start_metrics(w)  # W15 (a run with a load mode)
    if snapshot_status in ph.TERMINAL:  # W16
        yield from sure_heartbeat(w, ph.HB_COMPLETED)
        return 0
    if not (yield from wait_loop(w)):  # W17
        if w.terminal_seen or w.stopping:
            yield from sure_heartbeat(w, ph.HB_COMPLETED)
            return 0
        yield from sure_heartbeat(w, ph.HB_DEAD)
        return 3
    yield from mark(w, "wait_returned")
    polling.wait_ended(w, (yield Now()))
    if sw.pool_init == "after_wait":
        yield from pool.initialize()
        yield from mark(w, "pool_ready")
    if sw.start_in_measurement_from == "w4_snapshot":  # W19
        start_in_measurement = snapshot_phase == ph.MEASUREMENT
    else:
        start_in_measurement = w.current_phase == ph.MEASUREMENT
    if start_in_measurement and sw.hook_before_tasks and cfg.scaling is not None:
        # W21 first (fixed, load modes): no task can query under the warmup tag meanwhile
        yield from pool.measurement_hook(w)
        if w.current_phase != ph.MEASUREMENT:
            yield from set_phase(w, ph.MEASUREMENT, "main_entry")
        start_in_measurement = False
    if cfg.prespawn_tasks:  # seed 002 priority 3: tasks go as soon as the wait ends
        yield from pool.scale_to(w, w.current_target, "startup")  # W20, moved up
        yield from mark(w, "tasks_spawned")
    if cfg.parallel_startup:  # seed 002 priority 2: W18 and the insert at once
        if not (yield from polling.running_writes(w, pool.size())):
            yield from sure_heartbeat(w, ph.HB_DEAD)
            return 1
        yield from mark(w, "heartbeat_running")
    else:
        yield from sure_heartbeat(w, ph.HB_RUNNING, pool)  # W18
        yield from mark(w, "heartbeat_running")
        try:
            yield WriteTestResult(run_id, w.test_id, ph.RUNNING, insert=True)
        except StatementFailed:
            yield from sure_heartbeat(w, ph.HB_DEAD)
            return 1
    yield from mark(w, "test_row_inserted")
    if not cfg.prespawn_tasks:
        yield from pool.scale_to(w, w.current_target, "startup")  # W20
        yield from mark(w, "tasks_spawned")
    if start_in_measurement:  # W21
        yield from pool.measurement_hook(w)
        if w.current_phase != ph.MEASUREMENT:
            yield from set_phase(w, ph.MEASUREMENT, "main_entry")
    yield from mark(w, "main_loop")
    yield from main_loop(w, pool)  # W22
    return (yield from exit_sequence(w, pool))


def exit_sequence(w: WorkerState, pool: BenchmarkPool):
    """§5.4: drain tasks, write the child row, final heartbeat."""
    if w.stopping:
        yield from heartbeat(w, ph.HB_DRAINING, pool)
    handles = pool.stop_all()
    yield Touch(w.worker_id)  # query bursts in flight end here
    if handles and not (yield Join(tuple(handles), w.drain_timeout_s)):
        yield Cancel(tuple(handles))
    try:
        yield WriteTestResult(w.run_id, w.test_id, w.exit_status)
    except StatementFailed:
        pass
    ok = w.exit_status in (ph.COMPLETED, ph.CANCELLED)
    yield from sure_heartbeat(w, ph.HB_COMPLETED if ok else ph.HB_DEAD)
    return 0 if ok else 1
