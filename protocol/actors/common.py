"""Pieces the orchestrator and the user stop share: run identity and event emission."""
from __future__ import annotations

from dataclasses import dataclass, field

from protocol.actors.errors import allocate_seq, insert_once
from protocol.actors.polling import announce_event
from protocol.config import RunConfig
from protocol.effects import BumpNextSeq, InsertEvent, Note, ReadNextSeq, Sleep
from protocol.variants import Switches


@dataclass
class OrchestratorState:
    """What the API process keeps in memory for one run (its poll loop and stop_run share it)."""
    run_id: str
    cfg: RunConfig
    sw: Switches
    group_count: int = 0
    stopping: bool = False  # ctx.stopping of reference-protocol.md §3.5
    emit_busy: bool = False
    health: object = None  # last applied HeartbeatCounts
    health_task: object = None
    health_pending: object = None
    health_started_at: float = float("-inf")  # when the last background refresh began
    spawned: list[str] = field(default_factory=list)
    starting: bool = False  # the run's lock, held by start_run or stop_run (start_run_guard)
    next_seq: int = 1  # fixed: what NEXT_SEQUENCE_ID should say next (errors.allocate_seq)
    adopted: bool = False  # a restarted API drives this run; its workers are not its children
    ctrl: object = None  # controller.Controller: the scaling modes' state (issue 11)


def worker_tag(test_id: str, measuring: bool) -> str:
    """The benchmark session QUERY_TAG (reference-protocol.md §6.1)."""
    return f"flakebench:test_id={test_id}:phase={'RUNNING' if measuring else 'WARMUP'}"


def emit_event(st: OrchestratorState, type_: str, data: dict):
    """Append one control event; returns its sequence id.

    Reference: three auto-committed statements with no lock, so two emitters can share an id
    or commit out of order (§4.2). Fixed: one atomic allocation, emitters serialised.
    """
    if st.sw.sequence_allocation == "atomic":
        while st.emit_busy:
            yield Sleep(0.001)
        st.emit_busy = True
        try:
            seq = yield from allocate_seq(st)
            yield from insert_once(st, InsertEvent(st.run_id, seq, type_, data))
        finally:
            st.emit_busy = False
        yield from announce_event(st, type_)  # push coordination only
        return seq
    seq = yield ReadNextSeq(st.run_id)
    yield BumpNextSeq(st.run_id)
    yield InsertEvent(st.run_id, seq, type_, data)
    yield from announce_event(st, type_)
    return seq


def note(kind: str, **fields):
    return Note(kind, fields)
