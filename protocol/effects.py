"""The vocabulary an actor may ask its driver for.

An actor is a generator: it yields one of these and receives the result. The SimPy driver
gives each statement a sampled latency and an in-memory meaning; the real backend runs SQL.
Statement effects are named by what they do, never by SQL text, so the same actor runs in
both worlds.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Generator, Mapping

# --- control effects (no database) --------------------------------------------------------


@dataclass(frozen=True)
class Now:
    """The run clock in seconds since the run began (virtual in sim, monotonic when real)."""


@dataclass(frozen=True)
class Sleep:
    seconds: float


@dataclass(frozen=True)
class Tick(Sleep):
    """The worker main loop's pause: one Sleep of `seconds`. `due` holds the loop's
    (last, period) pairs; a driver may sleep on through whole further ticks while, at every
    tick's end t, no `t - last >= period` holds: the loop would only wake to find nothing
    due (§5.3's idle iterations). A driver that does not skip treats it as a Sleep."""
    due: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Parallel:
    """Perform several effects at once; resumes with their results, in order, when all end.

    A failed part raises its StatementFailed once all have ended; with `settle` the failure
    is returned in its place instead, so the caller can retry just the parts that failed."""
    effects: tuple
    settle: bool = False


@dataclass(frozen=True)
class Spawn:
    """Start a concurrent task of the same actor (benchmark task, background health check).

    Resumes at once with a handle; shared state between tasks is plain Python objects,
    changed only between yields.
    """
    program: Generator
    name: str


@dataclass(frozen=True)
class Join:
    """Wait until every handle has finished, or `timeout` seconds; resumes with True if all did."""
    handles: tuple
    timeout: float | None = None


@dataclass(frozen=True)
class Cancel:
    """Stop tasks that are still running (after a drain timeout)."""
    handles: tuple


@dataclass(frozen=True)
class Note:
    """Append an actor record to the trace (what the database cannot see)."""
    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SpawnWorker:
    """Start a worker OS process (a SimPy process with start-up cost in the simulation)."""
    worker_id: str
    group_id: int
    group_count: int


@dataclass(frozen=True)
class LiveWorkers:
    """How many of this orchestrator's worker processes have not exited."""


@dataclass(frozen=True)
class TerminateWorkers:
    """SIGTERM the still-running worker processes, then SIGKILL after `kill_after_s`."""
    kill_after_s: float = 5.0


@dataclass(frozen=True)
class Random:
    """A uniform draw in [0, 1) from the driver (jittered polling): the protocol has no
    randomness of its own, so a seeded simulation stays reproducible."""


@dataclass(frozen=True)
class Notify:
    """Push a notice to every worker of the run (push coordination): a doorbell with the
    row's STATUS/PHASE as just written, or the type of the event just inserted."""
    run_id: str
    status: str = ""
    phase: str = ""
    event: str = ""


@dataclass(frozen=True)
class Notice:
    status: str = ""
    phase: str = ""
    event: str = ""


@dataclass(frozen=True)
class AwaitNotice:
    """Sleep up to `timeout` seconds, ending early when a notice arrives -> Notice or None.
    A driver without a notification channel just sleeps (polling stays the fallback)."""
    worker_id: str
    timeout: float


@dataclass(frozen=True)
class Touch:
    """A worker changed what its benchmark tasks read (tag, epoch, stop flags): query bursts
    of that worker in flight end at this instant (see QueryBurst). A no-op otherwise."""
    worker_id: str


# --- statements ---------------------------------------------------------------------------

NOW = "__now__"  # a value in a statement's SET that the database fills with CURRENT_TIMESTAMP()


class Statement:
    """Base of every database statement; `op` names its latency class and trace op."""
    op: ClassVar[str] = "statement"


@dataclass(frozen=True)
class CreateRun(Statement):
    op: ClassVar[str] = "create_run"
    run_id: str
    workers_expected: int
    scenario: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRow:
    status: str
    phase: str
    elapsed: float | None  # seconds since START_TIME, database clock
    warmup_elapsed: float | None  # seconds since WARMUP_START_TIME
    measurement_elapsed: float | None  # seconds since MEASUREMENT_START_TIME (fixed variant)
    worker_targets: Mapping[str, int]
    # The database clock at the read, when the driver knows it: whole-second elapsed values
    # are then counted as TIMESTAMPDIFF(SECOND) counts them, second boundaries crossed.
    db_now: float | None = None
    updated_elapsed: float | None = None  # seconds since UPDATED_AT (API start-up recovery)


@dataclass(frozen=True)
class ReadRunStatus(Statement):
    """SELECT STATUS, PHASE, elapsed... -> RunRow, or None when the row is missing."""
    op: ClassVar[str] = "read_run_status"
    run_id: str


@dataclass(frozen=True)
class Guard:
    """The WHERE clause of a guarded RUN_STATUS update."""
    status_in: tuple[str, ...] | None = None
    status_not_in: tuple[str, ...] | None = None
    phase_in: tuple[str, ...] | None = None

    def admits(self, status: str, phase: str) -> bool:
        if self.status_in is not None and status not in self.status_in:
            return False
        if self.status_not_in is not None and status in self.status_not_in:
            return False
        if self.phase_in is not None and phase not in self.phase_in:
            return False
        return True

    def as_dict(self) -> dict:
        return {k: list(v) for k, v in
                (("status_in", self.status_in), ("status_not_in", self.status_not_in),
                 ("phase_in", self.phase_in)) if v is not None}


@dataclass(frozen=True)
class WriteRunStatus(Statement):
    """UPDATE RUN_STATUS SET ... WHERE RUN_ID = ? AND <guard> -> True when the row matched.

    `set` maps column names (STATUS, PHASE, START_TIME, WARMUP_START_TIME, WARMUP_END_TIME,
    MEASUREMENT_START_TIME, END_TIME, WORKER_TARGETS, CANCELLATION_REASON) to values; NOW
    means the database's CURRENT_TIMESTAMP(); `coalesce` columns keep an existing value.
    """
    op: ClassVar[str] = "write_run_status"
    run_id: str
    set: Mapping[str, Any]
    guard: Guard = Guard()
    coalesce: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReadNextSeq(Statement):
    """Reference allocation, statement 1: SELECT NEXT_SEQUENCE_ID."""
    op: ClassVar[str] = "read_next_seq"
    run_id: str


@dataclass(frozen=True)
class BumpNextSeq(Statement):
    """Reference allocation, statement 2: NEXT_SEQUENCE_ID := (stored value) + 1."""
    op: ClassVar[str] = "bump_next_seq"
    run_id: str


@dataclass(frozen=True)
class AllocSeq(Statement):
    """Fixed allocation: one atomic statement that increments and returns the old value."""
    op: ClassVar[str] = "alloc_seq"
    run_id: str


@dataclass(frozen=True)
class InsertEvent(Statement):
    op: ClassVar[str] = "insert_event"
    run_id: str
    seq: int
    type: str
    data: Mapping[str, Any]


@dataclass(frozen=True)
class FetchEvents(Statement):
    """Rows with SEQUENCE_ID > after, ORDER BY SEQUENCE_ID LIMIT limit -> tuple[Event]."""
    op: ClassVar[str] = "fetch_events"
    run_id: str
    after: int
    limit: int


@dataclass(frozen=True)
class MergeHeartbeat(Statement):
    """Worker heartbeat upsert; LAST_HEARTBEAT is the worker's wall clock, filled by the driver."""
    op: ClassVar[str] = "merge_heartbeat"
    run_id: str
    worker_id: str
    group_id: int
    status: str
    phase: str = ""
    active_connections: int = 0
    target_connections: int = 0


@dataclass(frozen=True)
class MarkHeartbeats(Statement):
    """Orchestrator: set `status` on rows outside `unless` whose computed age exceeds `age_s`.

    `basis` is how age is computed: "last_heartbeat" compares the worker's clock stamp with
    the database's CURRENT_TIMESTAMP() in the session time zone (reference); "updated_at"
    compares two database readings (one clock). Resumes with the worker ids marked.
    """
    op: ClassVar[str] = "mark_heartbeats"
    run_id: str
    status: str
    age_s: float
    unless: tuple[str, ...]
    basis: str = "last_heartbeat"


@dataclass(frozen=True)
class HeartbeatCounts:
    registered: int
    active: int
    completed: int
    dead: int
    ready: int
    rows: Mapping[str, str]  # worker id -> status


@dataclass(frozen=True)
class CountHeartbeats(Statement):
    op: ClassVar[str] = "count_heartbeats"
    run_id: str


@dataclass(frozen=True)
class WriteTestResult(Statement):
    """Insert or update a TEST_RESULTS row: the parent (test_id == run_id) or a worker's child."""
    op: ClassVar[str] = "write_test_result"
    run_id: str
    test_id: str
    status: str
    enrichment_status: str | None = None
    insert: bool = False


@dataclass(frozen=True)
class ReadEnrichmentStatus(Statement):
    """Enrichment status of a run; `parent_first` decides which rows are consulted first."""
    op: ClassVar[str] = "read_enrichment_status"
    run_id: str
    parent_first: bool = True


@dataclass(frozen=True)
class Enrich(Statement):
    """The PROCESSING step's work (merging query history); its cost is a latency class."""
    op: ClassVar[str] = "enrich"
    run_id: str


@dataclass(frozen=True)
class Setup(Statement):
    """A worker's executor setup (table profiling); one latency class."""
    op: ClassVar[str] = "setup"
    worker_id: str


@dataclass(frozen=True)
class Connect(Statement):
    """Open a benchmark connection whose session starts with QUERY_TAG = tag -> a handle."""
    op: ClassVar[str] = "connect"
    worker_id: str
    conn_id: str
    tag: str


@dataclass(frozen=True)
class SetQueryTag(Statement):
    """ALTER SESSION SET QUERY_TAG on one benchmark connection."""
    op: ClassVar[str] = "alter_tag"
    worker_id: str
    conn: Any
    tag: str


@dataclass(frozen=True)
class QueryResult:
    start: float  # run clock when the query began on the server
    finish: float
    tag: str  # the session's QUERY_TAG when the query began
    ok: bool = True


@dataclass(frozen=True)
class BenchmarkQuery(Statement):
    """One benchmark point lookup on a benchmark connection -> QueryResult."""
    op: ClassVar[str] = "benchmark"
    worker_id: str
    conn: Any


@dataclass(frozen=True)
class BurstResult:
    """Queries of one burst: their start times; each ends where the next starts, less think
    time, and the last at `finish`. One session tag throughout (a cut happens at any ALTER)."""
    starts: list
    finish: float
    tag: str
    ok: bool = True


@dataclass(frozen=True)
class QueryBurst(Statement):
    """Benchmark queries back to back (with `think_s` between) on one connection, at most
    `limit`, until the driver's horizon or a Touch of the worker / an ALTER of this session
    -> BurstResult. Queries started before the cut keep their results; the one in flight
    finishes. Lets a simulation generate queries in bulk between control decisions."""
    op: ClassVar[str] = "benchmark"
    worker_id: str
    conn: Any
    think_s: float = 0.0
    limit: int | None = None


class StatementFailed(Exception):
    """Thrown into an actor when a statement failed (or its outcome is unknown: `info`)."""

    def __init__(self, op: str, message: str, outcome: str = "fail"):
        super().__init__(f"{op}: {message}")
        self.op, self.outcome = op, outcome


# --- dashboard (issue 3) -------------------------------------------------------------------


@dataclass(frozen=True)
class LiveMetrics:
    """What the API's live-metrics cache and RUN_STATUS rollup give a WebSocket payload.

    `ops_present` is false when the cache holds no fresh worker snapshot (the browser's
    `if (ops)`); `current_per_sec` is the summed last-second QPS; `workers_active` the
    number of workers whose heartbeat is active (the rollup's WORKERS_ACTIVE).
    """
    ops_present: bool
    current_per_sec: float
    workers_active: int


@dataclass(frozen=True)
class ReadLiveMetrics(Statement):
    """The WebSocket's live-metrics read -> LiveMetrics."""
    op: ClassVar[str] = "read_live_metrics"
    run_id: str


# --- scaling and controllers (issue 11) -----------------------------------------------------


@dataclass(frozen=True)
class WorkerCounters:
    """A worker's own benchmark counters, as its executor keeps them in process (no
    statement): queries finished after `since` (run clock) and the latencies, in ms, of the
    last ≤10 000 of them -> Counters."""
    worker_id: str
    since: float = 0.0


@dataclass(frozen=True)
class Counters:
    ops: int
    errors: int
    latencies_ms: tuple = ()


@dataclass(frozen=True)
class PostMetrics:
    """The worker's 1 s HTTP POST of a live-metrics snapshot to the API (not a statement)."""
    run_id: str
    snapshot: Any


@dataclass(frozen=True)
class ReadLiveCache:
    """The orchestrator's read of the API's live-metrics cache (§10.2) -> LiveAggregate."""
    run_id: str
