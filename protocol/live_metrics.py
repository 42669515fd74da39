"""The API's live-metrics cache: the last snapshot per worker, pruned after 5 s, and the
aggregate the orchestrator's controllers steer by (reference-protocol.md §10.1-10.2).

Pure: the drivers keep one LiveCache per run and feed it the workers' 1 s POSTs; time is
passed in. The aggregate is what a controller really sees — stale by up to a POST period,
empty when every snapshot is older than the TTL — which is why it lives in one place.
"""
from __future__ import annotations

from dataclasses import dataclass, field

TTL_S = 5.0  # snapshots older than this are dropped on every access (§12)
COUNTED_PHASES = ("", "WARMUP", "MEASUREMENT", "RUNNING")  # §10.1: what the sums include


@dataclass(frozen=True)
class MetricsSnapshot:
    """One worker's 1 s metrics POST: counters since its last reset (the measurement hook)."""
    worker_id: str
    group_id: int
    phase: str
    status: str
    target_connections: int
    total_ops: int
    errors: int
    current_qps: float
    p95_ms: float | None = None
    p99_ms: float | None = None
    resets: int = 0  # measurement resets (hooks) the counters reflect: 0 = warmup counts


@dataclass(frozen=True)
class LiveAggregate:
    """Sums over the fresh snapshots (§10.1): ops, errors, QPS and connections; max p95/p99.
    `phases` is each counted worker's phase, so a controller can tell when all have reset.
    `true_threads` is filled by a simulation only (the targets the workers really run), so a
    checker can tell an expired cache from idle workers; live drivers leave it None.
    `per_worker` lets a reader count only snapshots taken after their worker's measurement
    reset (`resets` >= 1), as fixed's controller does (read_live_aggregate)."""
    workers: int = 0
    total_ops: int = 0
    errors: int = 0
    current_qps: float = 0.0
    target_connections: int = 0
    p95_ms: float | None = None
    p99_ms: float | None = None
    phases: tuple = ()
    true_threads: int | None = None
    per_worker: tuple = ()  # (worker id, resets, ops, errors) of each fresh snapshot


@dataclass
class LiveCache:
    ttl_s: float = TTL_S
    entries: dict = field(default_factory=dict)  # worker id -> (post time, snapshot)

    def post(self, now: float, snap: MetricsSnapshot) -> None:
        self.entries[snap.worker_id] = (now, snap)

    def prune(self, now: float) -> None:
        for w in [w for w, (t, _) in self.entries.items() if now - t > self.ttl_s]:
            del self.entries[w]

    def aggregate(self, now: float) -> LiveAggregate:
        self.prune(now)
        snaps = [s for _, s in (self.entries[w] for w in sorted(self.entries))
                 if (s.phase or "") in COUNTED_PHASES and s.status != "DEAD"]
        if not snaps:
            return LiveAggregate()
        p95 = [s.p95_ms for s in snaps if s.p95_ms is not None]
        p99 = [s.p99_ms for s in snaps if s.p99_ms is not None]
        return LiveAggregate(
            workers=len(snaps), total_ops=sum(s.total_ops for s in snaps),
            errors=sum(s.errors for s in snaps),
            current_qps=sum(s.current_qps for s in snaps),
            target_connections=sum(s.target_connections for s in snaps),
            p95_ms=max(p95) if p95 else None, p99_ms=max(p99) if p99 else None,
            phases=tuple(s.phase for s in snaps),
            per_worker=tuple((s.worker_id, s.resets, s.total_ops, s.errors) for s in snaps))
