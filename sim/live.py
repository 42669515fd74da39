"""The simulation's stand-in for what the workers' executors count in process and the API's
live cache holds: per-worker benchmark counters (for `WorkerCounters`), the cache the 1 s
POSTs feed (protocol/live_metrics.py), and the targets workers really run (ground truth a
checker needs to tell an expired cache from idle workers)."""
from __future__ import annotations

from collections import defaultdict

import numpy as np

from protocol import effects as fx
from protocol import faults as fm
from protocol.live_metrics import LiveCache

LATENCY_WINDOW = 10_000  # the executor's percentile window (§10.1)


class QueryLog:
    """Finished benchmark queries per worker, as (finish times, latencies) chunks."""

    def __init__(self):
        self.chunks: dict[str, list[tuple[np.ndarray, np.ndarray]]] = defaultdict(list)

    def add(self, worker: str, starts, finishes) -> None:
        s, f = np.asarray(starts, float), np.asarray(finishes, float)
        if len(f):
            self.chunks[worker].append((f, f - s))

    def counters(self, worker: str, since: float, now: float, active=()) -> fx.Counters:
        """Queries finished in (since, now], with the latencies (ms) of the last 10 000."""
        parts = list(self.chunks.get(worker, ()))
        parts += [(b.finishes, b.finishes - b.starts) for b in active]
        ops, lats = 0, []
        for f, lat in parts:
            m = (f > since) & (f <= now)
            k = int(m.sum())
            if k:
                ops += k
                lats.append(lat[m])
        tail = np.concatenate(lats)[-LATENCY_WINDOW:] if lats else np.empty(0)
        return fx.Counters(ops, 0, tuple((tail * 1000.0).round(3).tolist()))


class LiveWorld:
    """The driver's part of the metrics path: counters, the API cache, true targets."""

    def __init__(self):
        self.log = QueryLog()
        self.cache = LiveCache()
        self.targets: dict[str, int] = {}
        self.in_flight = 0  # single benchmark queries running (bursts count themselves)

    def aggregate(self, now: float, live_workers) -> object:
        from dataclasses import replace
        agg = self.cache.aggregate(now)
        true = sum(self.targets.get(w, 0) for w in live_workers)
        return replace(agg, true_threads=true)

    @staticmethod
    def post_lost(faults, now: float) -> bool:
        """Whether a worker's metrics POST fails: only when the fault spec names
        `post_metrics` (the `default` probabilities never reach it, so fault runs drawn
        before take the draws they took). A lost POST is not retried (§10.1)."""
        if faults is None or fm.POST_METRICS not in faults.spec.statements:
            return False
        return faults.outcome(fm.POST_METRICS, now) is not None
