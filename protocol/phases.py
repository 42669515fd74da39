"""Run STATUS, PHASE and worker heartbeat statuses, with their legal moves as tables.

The tables are the single source of truth: the actors ask them before writing, the checkers
ask them when reading a trace, and docs draw the diagrams from them (like h11's state table).
"""
from __future__ import annotations

# --- run STATUS ---------------------------------------------------------------------------

PREPARED, STARTING, RUNNING, STOPPING = "PREPARED", "STARTING", "RUNNING", "STOPPING"
CANCELLING, COMPLETED, FAILED, CANCELLED = "CANCELLING", "COMPLETED", "FAILED", "CANCELLED"
RUN_STATUSES = (PREPARED, STARTING, RUNNING, STOPPING, CANCELLING, COMPLETED, FAILED, CANCELLED)
TERMINAL = frozenset({COMPLETED, FAILED, CANCELLED})
NONE = None  # the "status" of a run row that does not exist yet

# (from, to) -> the transition ids of reference-protocol.md §3.1 that may write it.
RUN_STATUS_EDGES: dict[tuple[str | None, str], tuple[str, ...]] = {
    (NONE, PREPARED): ("T1",),
    (PREPARED, STARTING): ("T2",),
    (STARTING, STARTING): ("T2",),  # start_run re-run on STARTING has no SQL guard
    (STARTING, RUNNING): ("T3",),
    (RUNNING, RUNNING): ("T4",),  # PHASE-only change
    (RUNNING, STOPPING): ("T5",),
    (STOPPING, COMPLETED): ("T6",),
    (RUNNING, COMPLETED): ("T6", "T7", "T8"),
    (COMPLETED, COMPLETED): ("T9",),  # PHASE PROCESSING -> COMPLETED
    (STARTING, FAILED): ("T10",),
    (RUNNING, FAILED): ("T10",),
    (PREPARED, CANCELLING): ("T11",),
    (STARTING, CANCELLING): ("T11",),
    (RUNNING, CANCELLING): ("T11",),
    (STOPPING, CANCELLING): ("T11",),
    (CANCELLING, CANCELLING): ("T11",),
    (CANCELLING, CANCELLED): ("T12", "T13"),
    (PREPARED, CANCELLED): ("T13",),
    (STARTING, CANCELLED): ("T13",),
    (RUNNING, CANCELLED): ("T13",),
}

# Edges invariants.md RUN-STATUS-EDGES allows as a *change* of STATUS (self-loops excluded).
STATUS_CHANGES = frozenset((a, b) for (a, b) in RUN_STATUS_EDGES if a != b)


class IllegalTransition(ValueError):
    """A write that the state tables do not allow; names from, to and who."""

    def __init__(self, what: str, frm: object, to: object, who: str):
        super().__init__(f"illegal {what} transition {frm!r} -> {to!r} by {who}")
        self.what, self.frm, self.to, self.who = what, frm, to, who


def check_status_edge(frm: str | None, to: str, who: str) -> None:
    if (frm, to) not in RUN_STATUS_EDGES:
        raise IllegalTransition("STATUS", frm, to, who)


# --- run PHASE ----------------------------------------------------------------------------

P_NONE, PREPARING, WARMUP, MEASUREMENT = "", "PREPARING", "WARMUP", "MEASUREMENT"
PROCESSING, P_COMPLETED = "PROCESSING", "COMPLETED"
PHASE_ORDER = (P_NONE, PREPARING, WARMUP, MEASUREMENT, PROCESSING, P_COMPLETED)
PHASE_RANK = {p: i for i, p in enumerate(PHASE_ORDER)}


def check_phase_edge(frm: str, to: str, who: str) -> None:
    """PHASE moves forward only (staying put is allowed: most writes do not touch it)."""
    if to not in PHASE_RANK or frm not in PHASE_RANK or PHASE_RANK[to] < PHASE_RANK[frm]:
        raise IllegalTransition("PHASE", frm, to, who)


def initial_phase(warmup_s: float) -> str:
    return WARMUP if warmup_s > 0 else MEASUREMENT


# --- worker heartbeat statuses ------------------------------------------------------------

HB_STARTING, HB_INITIALIZING, HB_READY = "STARTING", "INITIALIZING", "READY"
HB_RUNNING, HB_DRAINING, HB_COMPLETED, HB_DEAD, HB_STALE = (
    "RUNNING", "DRAINING", "COMPLETED", "DEAD", "STALE")
HB_FINAL = frozenset({HB_COMPLETED, HB_DEAD})

# The worker's own statuses, invariants.md HB-GRAMMAR:
#   STARTING INITIALIZING? READY+ (RUNNING+ DRAINING?)? (COMPLETED | DEAD), DEAD ends any prefix.
# As an automaton: state -> allowed next statuses. None is "nothing written yet".
HEARTBEAT_NEXT: dict[str | None, frozenset[str]] = {
    None: frozenset({HB_STARTING, HB_DEAD}),
    HB_STARTING: frozenset({HB_INITIALIZING, HB_READY, HB_DEAD}),
    HB_INITIALIZING: frozenset({HB_READY, HB_DEAD}),
    HB_READY: frozenset({HB_READY, HB_RUNNING, HB_COMPLETED, HB_DEAD}),
    HB_RUNNING: frozenset({HB_RUNNING, HB_DRAINING, HB_COMPLETED, HB_DEAD}),
    HB_DRAINING: frozenset({HB_COMPLETED, HB_DEAD}),
    HB_COMPLETED: frozenset(),
    HB_DEAD: frozenset(),
}


def check_heartbeat_edge(frm: str | None, to: str, who: str) -> None:
    if to not in HEARTBEAT_NEXT.get(frm, frozenset()):
        raise IllegalTransition("heartbeat", frm, to, who)


# What the orchestrator's count statement puts in each bucket (reference-protocol.md §7.2).
HB_ACTIVE = frozenset({"STARTING", "WAITING", "RUNNING", "DRAINING", "STALE", "READY", "INITIALIZING"})
