"""A user's stop request: `stop_run` in an API request task, beside the poll loop (§3.5)."""
from __future__ import annotations

from protocol import events as ev
from protocol import phases as ph
from protocol.actors.common import OrchestratorState, emit_event, note
from protocol.actors.orchestrator import NOT_TERMINAL, parent, write
from protocol.effects import (NOW, LiveWorkers, ReadRunStatus, Sleep, StatementFailed,
                              TerminateWorkers)


def read_unfinished(st: OrchestratorState):
    """The run's row, or None when it is missing, unreadable or already terminal."""
    try:
        row = yield ReadRunStatus(st.run_id)
    except StatementFailed:
        return None
    return None if row is None or row.status in ph.TERMINAL else row


def user_stop(st: OrchestratorState, at_s: float):
    yield Sleep(at_s)
    row = yield from read_unfinished(st)
    if row is None:
        return
    yield note("stop_request", by="api")
    if st.sw.user_stop_order == "flag_first":
        st.stopping = True  # the poll loop may now leave and finish on what it reads
    if row.status != ph.CANCELLING:
        yield from emit_event(st, ev.STOP, ev.stop(ev.USER_REQUESTED, "stopped by user",
                                                   st.cfg.drain_timeout_s, "api"))
    yield from write(st, {"STATUS": ph.CANCELLING}, NOT_TERMINAL)
    st.stopping = True
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
