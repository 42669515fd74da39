"""The API process starting again after it died: what becomes of the run it was driving.

Reference (`restart_recovery = "age_rules"`, §3.1 T13 and §12 "API start-up"): PREPARED and
STARTING runs whose START_TIME is NULL or older than 60 min, and RUNNING and CANCELLING runs
whose UPDATED_AT is older than 10 min, are set CANCELLED (no guard); STOPPING is not selected.
Any other run keeps its status with no poll loop driving it. A COMPLETED run left in
PROCESSING is enriched again only once PENDING for 60 min, and that retry does not write PHASE.

Fixed (`"adopt"`): a PREPARED run is cancelled as upstream does (its creator is gone); a run
in STARTING, RUNNING, STOPPING or CANCELLING gets a poll loop again, which counts its
workers by heartbeats (they are not the new process's children) and fails it if STARTING
lasts too long; before that, holes in the event log are filled and a STOP whose status write
died with the process is completed (a user's stop still wins). A COMPLETED run left in
PROCESSING is enriched again, PHASE included.
"""
from __future__ import annotations

from protocol import events as ev
from protocol import phases as ph
from protocol.actors.common import OrchestratorState
from protocol.actors.errors import VERIFY_AFTER_S, insert_once, until_ok
from protocol.actors.orchestrator import (enrichment, final_step, parent, poll_loop, write)
from protocol.effects import (NOW, FetchEvents, Guard, InsertEvent, ReadNextSeq, ReadRunStatus,
                              Sleep, StatementFailed)

HOLE = "NOOP"  # the type of an event that fills a hole in the log
LOG_LIMIT = 10000  # events read back at recovery (a run has a few dozen)

ORPHAN_START_S = 3600.0  # PREPARED / STARTING: START_TIME older than this (or NULL)
ORPHAN_UPDATE_S = 600.0  # RUNNING / CANCELLING: UPDATED_AT older than this


def app_startup(st: OrchestratorState):
    try:
        row = yield from until_ok(st.sw, ReadRunStatus(st.run_id))
    except StatementFailed:
        return  # upstream: the cleanup query failed, start-up goes on without it
    if row is None or (row.status in ph.TERMINAL and row.phase != ph.PROCESSING):
        return
    if st.sw.restart_recovery == "age_rules":
        yield from age_rules(st, row)
        return
    if row.status == ph.PREPARED:
        if (yield from write(st, {"STATUS": ph.CANCELLED, "END_TIME": NOW},
                             Guard(status_in=(ph.PREPARED,)))):
            yield from parent(st, ph.CANCELLED)
        return
    if row.status == ph.COMPLETED:  # PROCESSING: the enrichment died with the process
        yield from enrichment(st)
        return
    st.adopted, st.group_count = True, st.cfg.workers
    st.spawned = [f"worker-{g}" for g in range(st.cfg.workers)]
    log = yield from read_log(st)
    if row.status in (ph.STARTING, ph.CANCELLING) and not any(e.type == ev.START for e in log):
        # start_run died (or was stopped) before START was in the log, so before it spawned
        # any worker: nothing to adopt (T13's STARTING -> CANCELLED, T12's from CANCELLING)
        if (yield from write(st, {"STATUS": ph.CANCELLED, "END_TIME": NOW},
                             Guard(status_in=(row.status,)))):
            yield from parent(st, ph.CANCELLED)
        return
    yield from repair_log(st, log)
    yield from finish_announced_stop(st, row)
    yield from poll_loop(st)
    yield from final_step(st)


def read_log(st: OrchestratorState):
    """The run's event log as the dead process left it, and the sequence counter."""
    yield Sleep(VERIFY_AFTER_S)  # let the dead process's last commits become visible
    st.next_seq = yield from until_ok(st.sw, ReadNextSeq(st.run_id))
    return (yield from until_ok(st.sw, FetchEvents(st.run_id, 0, LOG_LIMIT)))


def repair_log(st: OrchestratorState, log):
    """Fill the holes the dead process left in the event log (a sequence id allocated but
    its insert never made) with no-op events, so the ids stay exactly 1..n; workers ignore an
    event type they do not know (§4.3)."""
    have = {e.seq for e in log}
    for seq in range(1, st.next_seq):
        if seq not in have:
            yield from insert_once(st, InsertEvent(st.run_id, seq, HOLE, {"scope": "RUN"}))


def finish_announced_stop(st: OrchestratorState, row):
    """A STOP the dead process emitted without its status write: write it now (a user's
    stop becomes CANCELLING, and the run is not adopted as if nothing had been asked)."""
    if row.status not in (ph.STARTING, ph.RUNNING):
        return
    events = yield from until_ok(st.sw, FetchEvents(st.run_id, 0, LOG_LIMIT))
    stops = [e for e in events if e.type == ev.STOP]
    if not stops:
        return
    status = ev.STOP_REASON_ANNOUNCES.get(stops[-1].data.get("reason", ""))
    if status in (ph.CANCELLING, ph.STOPPING, ph.FAILED):
        set_ = {"STATUS": status, **({"END_TIME": NOW} if status == ph.FAILED else {})}
        yield from write(st, set_, Guard(status_in=(ph.STARTING, ph.RUNNING)))


def age_rules(st: OrchestratorState, row):
    """T13, as upstream: cancel only old orphans; leave the rest undriven."""
    stale_start = row.status in (ph.PREPARED, ph.STARTING) and (
        row.elapsed is None or row.elapsed > ORPHAN_START_S)
    stale_update = row.status in (ph.RUNNING, ph.CANCELLING) and (
        row.updated_elapsed is not None and row.updated_elapsed > ORPHAN_UPDATE_S)
    if stale_start or stale_update:
        if (yield from write(st, {"STATUS": ph.CANCELLED, "END_TIME": NOW})):
            yield from parent(st, ph.CANCELLED)
