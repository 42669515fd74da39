"""The worker's side of the scaling modes: its 1 s metrics posts, its start-up target, and
SET_WORKER_TARGET with or without a ramp (reference-protocol.md §9.3, §10.1).

worker.py calls these as hooks, so its start-up, wait loop and main loop read as the
reference's; a run without a [scaling] table never reaches them.
"""
from __future__ import annotations

import math

from protocol import scaling as sc
from protocol.actors.common import note
from protocol.effects import Now, PostMetrics, Sleep, Spawn, WorkerCounters
from protocol.live_metrics import MetricsSnapshot

METRICS_PERIOD_S = 1.0  # the executor's metrics interval (§12)


def start_target(cfg, group_id: int, group_count: int) -> int:
    """W10: the worker's first target; with a load mode, its share of the mode's initial
    total (§9.3) over the group count it was spawned with."""
    if cfg.scaling is None or cfg.scaling.load_mode == "CONCURRENCY":
        return cfg.connections_per_worker
    return sc.initial_target(cfg.scaling, group_id, group_count)


def percentile(sorted_ms: list, q: float) -> float | None:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_ms:
        return None
    k = max(0, min(len(sorted_ms) - 1, math.ceil(q / 100.0 * len(sorted_ms)) - 1))
    return float(sorted_ms[k])


def metrics_task(w):
    """W15 until the exit sequence: every second, read the executor's counters (since the
    last reset, which the measurement hook does) and POST a snapshot unless stopping."""
    since, last_ops, last_t, resets = None, 0, None, -1
    while not w.stopping:
        now = yield Now()
        if since != w.metrics_since:  # a reset: rates start afresh
            since, last_ops, last_t = w.metrics_since, 0, max(w.metrics_since, 0.0)
            resets += 1  # the first pass only takes the start-up `since`
        c = yield WorkerCounters(w.worker_id, since)
        dt = now - last_t if last_t is not None else 0.0
        qps = max(0.0, (c.ops - last_ops) / dt) if dt > 0 else 0.0
        last_ops, last_t = c.ops, now
        lat = sorted(c.latencies_ms)
        if not w.stopping:
            yield PostMetrics(w.run_id, MetricsSnapshot(
                w.worker_id, w.group_id, w.current_phase, "RUNNING", w.current_target,
                c.ops, c.errors, qps, percentile(lat, 95), percentile(lat, 99), resets))
        yield Sleep(METRICS_PERIOD_S)


def start_metrics(w):
    """W15: start the metrics task (only in a run with a load mode)."""
    if w.cfg.scaling is not None:
        yield Spawn(metrics_task(w), f"{w.worker_id}-metrics")


def on_target(w, pool, data: dict):
    """SET_WORKER_TARGET in the main loop: a ramp (QPS, 5 s) or `_scale_to` at once; the
    ramp is forced to 0 in FIND_MAX (§4.3)."""
    target = int(data.get("target_connections", 0))
    ramp = float(data.get("ramp_seconds") or 0.0)
    if w.cfg.scaling is not None and w.cfg.scaling.load_mode == "FIND_MAX":
        ramp = 0.0
    if w.sw.ramp_settles and (target == w.current_target if w.ramp is None
                              else target == w.ramp[1]):
        return  # fixed: already there, or already on the way there
    if ramp > 0 and not w.stopping:
        now = yield Now()
        w.ramp = (w.current_target, target, now, ramp)
        yield note("worker_state", worker=w.worker_id, phase=w.current_phase,
                   target=w.current_target, source="ramp_start", ramp_to=target, ramp_s=ramp)
        return
    w.ramp = None
    yield from pool.scale_to(w, target, "event")


def ramp_tick(w, pool):
    """Each main-loop iteration during a ramp: scale to the interpolated value (§9.3)."""
    if w.ramp is None or w.stopping:
        return
    a, b, t0, dur = w.ramp
    if w.sw.ramp_settles and w.current_target == b:
        w.ramp = None  # fixed: a reconcile jumped to the end; the ramp is over
        return
    now = yield Now()
    value = sc.ramp_target(a, b, now - t0, dur)
    if now - t0 >= dur:
        w.ramp = None
    if value != w.current_target:
        yield from pool.scale_to(w, value, "ramp")
