"""Benchmark queries in bulk: one SimPy wait per burst instead of one per query.

A burst samples its queries' latencies up front (vectorised), then waits for its horizon. If
the worker changes what its tasks read before that (a `Touch`: the measurement hook, a stop)
or the session's tag is altered, the burst is cut at that instant: queries that started
before the cut keep their results, the one in flight finishes, the rest never happened. So a
query's tag, epoch and counted flag are what the per-query loop would have given, while the
simulation pays SimPy events only per control decision.
"""
from __future__ import annotations

import math

import numpy as np

from protocol import effects as fx
from sim.latency import Distribution, Empirical, Fixed, LogNormal, NumpySource, Uniform

HORIZON_S = 20.0  # longest burst; bounds what a kill or the deadline can lose


def sample_many(dist: Distribution, src, n: int) -> np.ndarray:
    """n draws of `dist`; vectorised for a numpy source, else one by one."""
    gen = src.gen if isinstance(src, NumpySource) else None
    if gen is None:
        return np.array([dist.sample(src) for _ in range(n)])
    if isinstance(dist, Fixed):
        return np.full(n, dist.value)
    if isinstance(dist, Uniform):
        return dist.low + (dist.high - dist.low) * gen.random(n)
    if isinstance(dist, LogNormal):
        return np.minimum(dist.cap, dist.median * np.exp(dist.sigma * gen.standard_normal(n)))
    if isinstance(dist, Empirical):
        s = np.asarray(dist.samples)
        return s[np.minimum(len(s) - 1, (gen.random(n) * len(s)).astype(int))]
    return np.array([dist.sample(src) for _ in range(n)])


class _Burst:
    __slots__ = ("worker", "conn", "starts", "finishes", "cut_at", "cut")

    def __init__(self, worker, conn, starts, finishes, cut):
        self.worker, self.conn = worker, conn
        self.starts, self.finishes = starts, finishes
        self.cut_at: float | None = None
        self.cut = cut


class Bursts:
    def __init__(self, env, latency, src, counts: dict):
        self.env, self.latency, self.src, self.counts = env, latency, src, counts
        self.active: dict[str, list[_Burst]] = {}
        self.horizon_s = HORIZON_S
        self.warehouse = None  # sim.warehouse.WarehouseModel: latency grows with the load
        self.log = None  # sim.live.QueryLog: what the workers' executors count

    def in_flight(self) -> int:
        return sum(len(v) for v in self.active.values())

    def run(self, eff: fx.QueryBurst):
        env = self.env
        now = env.now
        tag = eff.conn.tag
        dist = self.latency.of("benchmark")
        step = max(1e-6, dist.mean() + eff.think_s)
        horizon = self.horizon_s
        n = eff.limit or max(1, math.ceil(horizon / step * 1.25) + 1)
        lat = sample_many(dist, self.src, n)
        if self.warehouse is not None:  # the load this burst starts into, itself included
            lat = lat * self.warehouse.slowdown(self.in_flight() + 1)
        think = eff.think_s
        if think:
            finishes = now + (lat + think).cumsum() - think
        else:  # (x + 0.0 - 0.0 is x for these non-negative sums: the same bits, fewer passes)
            finishes = now + lat.cumsum()
        starts = np.empty(n)
        starts[0] = now
        starts[1:] = finishes[:-1] + think if think else finishes[:-1]
        if eff.limit is None:  # stop at the horizon
            k = max(1, int(starts.searchsorted(now + horizon, "left")))
            starts, finishes = starts[:k], finishes[:k]
        b = _Burst(eff.worker_id, eff.conn, starts, finishes, env.event())
        mine = self.active.setdefault(eff.worker_id, [])
        mine.append(b)
        done = env.timeout(float(finishes[-1]) - now)
        done.callbacks.append(lambda _e: None if b.cut.triggered else b.cut.succeed())
        try:
            yield b.cut  # the horizon's timeout or a cut, whichever comes first
            if b.cut_at is not None:
                k = max(1, int(starts.searchsorted(b.cut_at, "left")))
                starts, finishes = starts[:k], finishes[:k]
                end = float(finishes[-1])
                if end > env.now:
                    yield env.timeout(end - env.now)
        finally:
            mine.remove(b)
        if self.log is not None:
            self.log.add(eff.worker_id, starts, finishes)
        self.counts["benchmark"] = self.counts.get("benchmark", 0) + len(starts)
        return fx.BurstResult(starts.tolist(), float(finishes[-1]), tag)

    def _cut(self, b: _Burst) -> None:
        if b.cut_at is None and not b.cut.triggered:  # (not already ended at its horizon)
            b.cut_at = self.env.now
            b.cut.succeed()

    def touch(self, worker_id: str) -> None:
        """The worker's tasks must look at their state again: cut its bursts now."""
        for b in list(self.active.get(worker_id, ())):
            self._cut(b)

    def altered(self, worker_id: str, conn) -> None:
        """A session's tag changed: the burst on it must not start another query."""
        for b in list(self.active.get(worker_id, ())):
            if b.conn is conn:
                self._cut(b)
