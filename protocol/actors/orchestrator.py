"""The orchestrator: create and start a run, the 1 s poll loop, its final step, enrichment.

Follows reference-protocol.md §3.1-3.4; the numbered blocks of one poll-loop iteration keep
the reference's order (T3 READY gate, T10 dead workers, T4 warmup end, T5 duration).
"""
from __future__ import annotations

import math

from protocol import events as ev
from protocol import phases as ph
from protocol.actors import controller, polling
from protocol.actors.common import OrchestratorState, emit_event, note
from protocol.actors.errors import (create_once, result_row, retrying, until_ok,
                                    verified_write)
from protocol.bounds import starting_timeout_s
from protocol.effects import (NOW, CountHeartbeats, CreateRun, Enrich, Guard, Join,
                              LiveWorkers, MarkHeartbeats, Now, ReadRunStatus, Sleep, Spawn,
                              SpawnWorker, StatementFailed, WriteRunStatus, WriteTestResult)

NOT_TERMINAL = Guard(status_not_in=tuple(sorted(ph.TERMINAL)))


def write(st: OrchestratorState, set_: dict, guard: Guard = Guard(), coalesce=()):
    try:  # fixed retries until it knows the outcome (errors.verified_write)
        matched = yield from verified_write(st.sw, st.run_id,
                                            WriteRunStatus(st.run_id, set_, guard,
                                                           tuple(coalesce)))
    except StatementFailed:
        return False
    if matched:
        yield from polling.announce_write(st, set_)  # push coordination only
    return matched


def parent(st: OrchestratorState, status: str, enrichment: str | None = None, insert=False):
    try:  # upstream ignores a failure; fixed retries (the dashboard waits for this row)
        yield from result_row(st.sw, WriteTestResult(st.run_id, st.run_id, status, enrichment,
                                                     insert))
    except StatementFailed:
        pass


def refresh_health(st: OrchestratorState):
    """§7.2: mark DEAD, mark STALE, count; returns the counts."""
    basis = st.sw.heartbeat_age_basis
    yield MarkHeartbeats(st.run_id, ph.HB_DEAD, st.cfg.dead_s, (ph.HB_DEAD, ph.HB_COMPLETED),
                         basis)
    yield MarkHeartbeats(st.run_id, ph.HB_STALE, st.cfg.stale_s,
                         (ph.HB_STALE, ph.HB_DEAD, ph.HB_COMPLETED), basis)
    counts = yield CountHeartbeats(st.run_id)
    yield note("health", registered=counts.registered, active=counts.active,
               ready=counts.ready, dead=counts.dead, completed=counts.completed)
    return counts


def background_health(st: OrchestratorState):
    try:
        st.health_pending = yield from refresh_health(st)
    except StatementFailed:
        pass
    st.health_task = None


def start_run(st: OrchestratorState):
    """T2 and what follows it: STARTING/PREPARING, parent row, START event, spawn workers.

    Returns False when the run was stopped before it could start (fixed: the STARTING write
    is guarded by PREPARED and holds the run's lock until START is out, so a user stop never
    takes seq 1 or revives a CANCELLING run)."""
    locked = st.sw.start_run_guard
    while locked and st.starting:  # a stop_run holds the run's lock
        yield Sleep(0.01)
    st.starting = locked
    try:
        guard = Guard(status_in=(ph.PREPARED,)) if locked else Guard()
        if not (yield from write(st, {"STATUS": ph.STARTING, "PHASE": ph.PREPARING,
                                      "START_TIME": NOW}, guard)) and locked:
            return False
        yield from parent(st, ph.STARTING)  # an update: create_run (T1) inserted the row
        yield from emit_event(st, ev.START, ev.start(ph.initial_phase(st.cfg.warmup_s),
                                                     st.cfg.workers))
    finally:
        st.starting = False
    st.group_count = st.cfg.workers
    for g in range(st.cfg.workers):
        wid = f"worker-{g}"
        st.spawned.append(wid)
        yield SpawnWorker(wid, g, st.cfg.workers)
    return True


def elapsed(st: OrchestratorState, value, db_now: float | None = None):
    """An elapsed value as the variant reads it. Whole seconds are what the reference's
    TIMESTAMPDIFF(SECOND, start, CURRENT_TIMESTAMP()) returns: second boundaries crossed,
    floor(now) - floor(start), which can exceed the exact difference by up to 1 s (the
    upstream, recorded against the embedded server, showed it; docs/conformance.md). Without
    the database clock the exact difference is floored."""
    if value is None:
        return None
    if not st.sw.elapsed_whole_seconds:
        return value
    if db_now is None:
        return math.floor(value)
    return math.floor(db_now) - math.floor(db_now - value)


def fail_run(st: OrchestratorState, reason: str, detail: str):
    """T10: STOP first, then FAILED with END_TIME. Fixed yields to a user stop: it waits
    for the run's lock (held by stop_run until CANCELLING is written) and gives up if the run
    is stopping, so an accepted stop is never overwritten (RUN-USER-STOP-WINS)."""
    if st.sw.failed_guard == "active_only":
        while st.starting:
            yield Sleep(0.01)
        if st.stopping:
            return
    yield from emit_event(st, ev.STOP, ev.stop(reason, detail))
    guard = (NOT_TERMINAL if st.sw.failed_guard == "not_terminal"
             else Guard(status_in=(ph.STARTING, ph.RUNNING)))
    if (yield from write(st, {"STATUS": ph.FAILED, "END_TIME": NOW,
                              "CANCELLATION_REASON": detail}, guard)):
        yield from parent(st, ph.FAILED)


def poll_iteration(st: OrchestratorState, row):
    """Blocks 6-10 of §3.2 on this iteration's RUN_STATUS read; returns the local status."""
    cfg, sw = st.cfg, st.sw
    status, phase = row.status, row.phase
    if status == ph.STARTING:
        counts = yield from refresh_health(st)  # inline while STARTING
    else:
        counts = st.health  # a snapshot started at least one iteration earlier
        if st.health_pending is not None:
            st.health, st.health_pending = st.health_pending, None
        now = yield Now()
        if st.health_task is None and now - st.health_started_at >= cfg.health_refresh_s:
            st.health_started_at = now
            st.health_task = yield Spawn(background_health(st), "health")
    # 6. T3: the READY gate
    if status == ph.STARTING and counts is not None and counts.ready >= st.group_count:
        ip = ph.initial_phase(cfg.warmup_s)
        set_ = {"STATUS": ph.RUNNING, "PHASE": ip,
                "WARMUP_START_TIME": NOW if ip == ph.WARMUP else None}
        if ip == ph.MEASUREMENT:
            set_["MEASUREMENT_START_TIME"] = NOW
        if (yield from write(st, set_, Guard(status_in=(ph.STARTING,)))):
            status, phase = ph.RUNNING, ip
            yield from parent(st, ph.RUNNING)
            yield from emit_event(st, ev.SET_PHASE, ev.set_phase(ip, counts.ready))
    # 8. T10: dead workers (the guardrail of block 7 has no CPU model here)
    if (counts is not None and counts.dead > 0 and status in (ph.STARTING, ph.RUNNING)
            and not st.stopping):
        dead = sorted(w for w, s in counts.rows.items() if s == ph.HB_DEAD)
        yield from fail_run(st, ev.WORKER_FAILURE, f"{len(dead)} dead worker(s): {dead}")
        return ph.FAILED
    # 9. T4: warmup over
    w_el = elapsed(st, row.warmup_elapsed, row.db_now)
    if status == ph.RUNNING and phase == ph.WARMUP and w_el is not None and w_el >= cfg.warmup_s:
        if (yield from write(st, {"PHASE": ph.MEASUREMENT, "WARMUP_END_TIME": NOW,
                                  "MEASUREMENT_START_TIME": NOW},
                             Guard(phase_in=(ph.WARMUP,)), coalesce=("WARMUP_END_TIME",))):
            phase = ph.MEASUREMENT
            yield from emit_event(st, ev.SET_PHASE, ev.set_phase(ph.MEASUREMENT))
    # 10. T5: the duration rule
    if sw.duration_base == "measurement_start":
        base, budget = elapsed(st, row.measurement_elapsed, row.db_now), cfg.duration_s
    else:
        base, budget = elapsed(st, row.elapsed, row.db_now), cfg.warmup_s + cfg.duration_s
        if cfg.warmup_s > 0 and w_el is not None:
            base = w_el
    if (status == ph.RUNNING and cfg.duration_s > 0 and base is not None and base >= budget
            and controller.duration_applies(st)):
        yield from emit_event(st, ev.STOP, ev.stop(ev.DURATION_ELAPSED))
        if (yield from write(st, {"STATUS": ph.STOPPING}, Guard(status_in=(ph.RUNNING,)))):
            status = ph.STOPPING
    # 11-15: live aggregation, BOUNDED rule, QPS and FIND_MAX controllers, rollups
    return (yield from controller.poll_blocks(st, status, phase, counts))


def live_workers(st: OrchestratorState, status: str):
    """Worker processes still running: this process's children, or for an adopted run
    (not its children) the heartbeat rows not yet COMPLETED or DEAD (§3.5 step 5's way). With
    no row at all, workers may still be starting while STARTING (the STARTING timeout bounds
    that); in any later status none is left to wait for."""
    if not st.adopted:
        return (yield LiveWorkers())
    try:
        counts = yield CountHeartbeats(st.run_id)
    except StatementFailed:
        return 1  # unknown: keep going
    if counts.registered == 0:
        return 1 if status == ph.STARTING else 0
    return counts.registered - counts.completed


def starting_too_long(st: OrchestratorState, row) -> bool:
    """Fixed: STARTING for longer than bounds.starting_timeout_s fails the run."""
    return (st.sw.starting_timeout and row.status == ph.STARTING and row.elapsed is not None
            and row.elapsed > starting_timeout_s(st.cfg))


def silent_exits(st: OrchestratorState, live: int):
    """How many worker processes exited without a final heartbeat (COMPLETED or DEAD): the
    processes gone (counted first) minus the final rows (read after, so a worker that wrote
    its final heartbeat and then exited is never counted as silent)."""
    try:
        counts = yield CountHeartbeats(st.run_id)
    except StatementFailed:
        return 0
    return max(0, len(st.spawned) - live - counts.completed)


def failed_on_silent_exit(st: OrchestratorState, status: str, live: int | None = None):
    """Fixed: if a worker process is gone without a final heartbeat while the run is STARTING
    or RUNNING, fail the run. Returns whether it did. Asked before an iteration acts on its
    read as well as after it (block 16), so a death in the last poll period before the
    duration rule fires is not hidden behind the STOPPING it writes (found by judging
    HB-DEAD-DETECTION on runs whose only fault is a killed worker)."""
    if not (st.sw.fail_on_silent_exit and st.spawned
            and status in (ph.STARTING, ph.RUNNING) and not st.stopping):
        return False
    if live is None:
        if st.adopted:  # its workers are counted by a statement: only once, after the iteration
            return False
        live = yield LiveWorkers()
    if live >= len(st.spawned):
        return False
    gone = yield from silent_exits(st, live)
    if gone:
        yield from fail_run(st, ev.WORKER_FAILURE, f"{gone} worker process(es) exited "
                            "without a final heartbeat")
    return bool(gone)


def poll_loop(st: OrchestratorState):
    while True:
        yield Sleep(st.cfg.orchestrator_poll_s)
        try:
            row = yield ReadRunStatus(st.run_id)
        except StatementFailed:
            continue
        if row is None:
            return
        if starting_too_long(st, row):
            yield from fail_run(st, ev.WORKER_FAILURE, "STARTING timed out")
            continue
        if (yield from failed_on_silent_exit(st, row.status)):
            continue
        try:
            status = yield from poll_iteration(st, row)
        except StatementFailed:
            if not retrying(st.sw):
                raise  # upstream: the poll-loop task dies of it
            continue  # fixed: the next iteration starts afresh
        live = yield from live_workers(st, status)  # 16. exit checks
        if (yield from failed_on_silent_exit(st, status, live)):
            status = ph.FAILED
        if st.spawned and live == 0:
            break
        if st.stopping:
            break
        if status in ph.TERMINAL and live == 0:
            break


def enrichment(st: OrchestratorState):
    """PROCESSING: merge query history, mark enrichment done, then PHASE COMPLETED (T9)."""
    try:
        yield Enrich(st.run_id)
        outcome = "COMPLETED"
    except StatementFailed:
        outcome = "FAILED"
    yield from parent(st, ph.COMPLETED, outcome)
    yield from write(st, {"PHASE": ph.P_COMPLETED, "END_TIME": NOW},
                     Guard(phase_in=(ph.PROCESSING,)), coalesce=("END_TIME",))


def final_step(st: OrchestratorState):
    """§3.4: act on the STATUS read once after the loop."""
    try:
        row = yield from until_ok(st.sw, ReadRunStatus(st.run_id))
    except StatementFailed:
        return
    if row is None:
        return
    sw = st.sw
    if (row.status == ph.RUNNING and sw.all_exited_while_running == "fail") or (
            row.status == ph.STARTING and st.spawned and sw.all_exited_while_starting == "fail"):
        # fixed: the loop ended because every worker process exited
        yield from fail_run(st, ev.WORKER_FAILURE, "every worker process exited")
        return
    if row.status in (ph.STOPPING, ph.RUNNING):  # T6 (RUNNING is "unexpected" upstream)
        # fixed (start_run_guard): only from what was read, so a CANCELLING written by a
        # concurrent stop_run is not overwritten with COMPLETED (found by issue 3's search)
        guard = (Guard(status_in=(ph.STOPPING, ph.RUNNING)) if st.sw.start_run_guard
                 else NOT_TERMINAL)
        yield from write(st, {"STATUS": ph.COMPLETED, "PHASE": ph.PROCESSING}, guard)
        yield from parent(st, ph.COMPLETED, "PENDING")
        task = yield Spawn(enrichment(st), "enrichment")
        yield Join((task,), st.cfg.enrichment_timeout_s + st.cfg.enrichment_poll_s)
    elif row.status == ph.CANCELLING:  # T12
        if (yield from write(st, {"STATUS": ph.CANCELLED, "END_TIME": NOW},
                             Guard(status_in=(ph.CANCELLING,)))):
            yield from parent(st, ph.CANCELLED)


def orchestrator(st: OrchestratorState):
    """The whole life of one run as the API process sees it."""
    yield from create_once(st.sw, CreateRun(st.run_id, st.cfg.workers))
    yield from parent(st, ph.PREPARED, insert=True)
    if not (yield from start_run(st)):
        yield from final_step(st)  # stopped while PREPARED: CANCELLING -> CANCELLED
        return
    yield from poll_loop(st)
    yield from controller.after_loop(st)
    yield from final_step(st)
