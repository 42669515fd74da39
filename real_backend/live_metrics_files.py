"""The live world's metrics path (reference-protocol.md §10.1): each worker process counts
its own benchmark queries and posts a 1 s snapshot; the orchestrator reads them as the API's
live cache. The reference POSTs over HTTP; here a snapshot is a small JSON file per worker in
the run's folder, replaced atomically, stamped with the shared run clock, so the same
LiveCache (5 s pruning, sums) aggregates them."""
from __future__ import annotations

import dataclasses
import glob
import json
import os
import threading

from protocol import effects as fx
from protocol.live_metrics import LiveCache, MetricsSnapshot

LATENCY_WINDOW = 10_000


class LiveMetrics:
    def __init__(self, folder: str | None):
        self.folder = folder
        self._lock = threading.Lock()
        self._done: list[tuple[float, float, bool]] = []  # (finish, latency s, ok)

    def query(self, start: float, finish: float, ok: bool) -> None:
        with self._lock:
            self._done.append((finish, finish - start, ok))

    def perform(self, e, now: float):
        """WorkerCounters, PostMetrics or ReadLiveCache; None for another effect."""
        kind = type(e).__name__
        if kind == "WorkerCounters":
            with self._lock:
                mine = [d for d in self._done if e.since < d[0] <= now]
            lat = tuple(round(d[1] * 1000.0, 3) for d in mine[-LATENCY_WINDOW:])
            return fx.Counters(len(mine), sum(not d[2] for d in mine), lat)
        if kind == "PostMetrics":
            if self.folder:
                snap = e.snapshot
                path = os.path.join(self.folder, f"metrics-{snap.worker_id}.json")
                tmp = path + ".tmp"
                with open(tmp, "w", encoding="utf-8") as f:
                    json.dump({"posted_at": now, **dataclasses.asdict(snap)}, f)
                os.replace(tmp, path)
            return None
        if kind == "ReadLiveCache":
            cache = LiveCache()
            for path in sorted(glob.glob(os.path.join(self.folder or "", "metrics-*.json"))):
                try:
                    with open(path, encoding="utf-8") as f:
                        d = json.load(f)
                except (OSError, ValueError):
                    continue  # being replaced: the previous one is gone, the next not there
                cache.post(float(d.pop("posted_at")), MetricsSnapshot(**d))
            return cache.aggregate(now)
        return NotImplemented
