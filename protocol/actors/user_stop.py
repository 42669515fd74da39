"""A user's stop request: `stop_run` in an API request task, beside the poll loop (§3.5)."""
from __future__ import annotations

from protocol import events as ev
from protocol import phases as ph
from protocol.actors.common import OrchestratorState, emit_event, note
from protocol.actors.errors import until_ok
from protocol.actors.orchestrator import NOT_TERMINAL, parent, write
from protocol.effects import (NOW, LiveWorkers, ReadRunStatus, Sleep, StatementFailed,
                              TerminateWorkers)


def read_unfinished(st: OrchestratorState):
    """The run's row, or None when it is missing, unreadable or already terminal."""
    try:
        row = yield from until_ok(st.sw, ReadRunStatus(st.run_id))
    except StatementFailed:
        return None
    return None if row is None or row.status in ph.TERMINAL else row


def user_stop(st: OrchestratorState, at_s: float):
    yield Sleep(at_s)
    locked = st.sw.start_run_guard  # fixed: the run's lock, shared with start_run
    while locked and st.starting:
        yield Sleep(0.01)
    st.starting = locked
    try:
        row = yield from read_unfinished(st)
        if row is None:
            return
        yield from announce(st, row)
    finally:
        if locked:
            st.starting = False
    yield from finish_stop(st)


def announce(st: OrchestratorState, row):
    """Steps 2-4 of stop_run: the stopping flag, STOP, CANCELLING."""
    yield note("stop_request", by="api")
    if st.sw.user_stop_order == "flag_first":
        st.stopping = True  # the poll loop may now leave and finish on what it reads
    unstarted = st.sw.start_run_guard and row.status == ph.PREPARED  # no worker to tell
    if row.status != ph.CANCELLING and not unstarted:
        yield from emit_event(st, ev.STOP, ev.stop(ev.USER_REQUESTED, "stopped by user",
                                                   st.cfg.drain_timeout_s, "api"))
    yield from write(st, {"STATUS": ph.CANCELLING}, NOT_TERMINAL)
    st.stopping = True


def finish_stop(st: OrchestratorState):
    """Steps 5-6: wait for, then terminate, the workers; CANCELLED."""
    waited = 0.0
    while waited < st.cfg.stop_grace_s and (yield LiveWorkers()) > 0:
        yield Sleep(1.0)
        waited += 1.0
    if (yield LiveWorkers()) > 0:
        yield TerminateWorkers(st.cfg.kill_after_s)
    if (yield from read_unfinished(st)) is None:
        return
    if (yield from write(st, {"STATUS": ph.CANCELLED, "END_TIME": NOW}, NOT_TERMINAL)):
        yield from parent(st, ph.CANCELLED)
