"""`smoke --mode`: a live run in a load mode at a size the embedded server can carry.

FIND_MAX starts at 1 connection and adds 1 per STABLE step, at most `connections` per worker
and `workers` processes, so it spawns workers mid-run and, on `fixed`, ends when the total
can no longer grow (or on a latency or QPS guardrail). QPS holds `target_qps` with BOUNDED
scaling over the same ceiling. Short steps and evaluation periods keep the run under a minute.
"""
from __future__ import annotations

from dataclasses import replace

from protocol import scaling as sc
from protocol.config import RunConfig

MODES = ("CONCURRENCY", "FIND_MAX", "QPS")


def apply_mode(cfg: RunConfig, mode: str, workers: int, connections: int,
               step_s: float = 3.0, target_qps: float = 4.0) -> RunConfig:
    if mode == "CONCURRENCY":
        return cfg
    if mode == "FIND_MAX":
        s = sc.ScalingConfig(load_mode="FIND_MAX", scaling_mode="AUTO", max_workers=workers,
                             max_connections=connections, start_concurrency=1,
                             concurrency_increment=1, step_duration_s=step_s)
        steps = workers * connections + 2  # each a step, plus the backoff and the last
        budget = steps * (step_s + 2 * cfg.orchestrator_poll_s) + 10.0 * workers
    else:
        s = sc.ScalingConfig(load_mode="QPS", scaling_mode="BOUNDED", max_workers=workers,
                             max_connections=connections, concurrent_connections=connections,
                             target_qps=target_qps, starting_threads=1,
                             qps_eval_period_s=step_s, qps_ramp_s=1.0)
        budget = cfg.duration_s
    n = sc.initial_worker_count(s)
    return replace(cfg, scaling=s, workers=n, connections_per_worker=connections,
                   deadline_s=cfg.deadline_s + budget + 30.0)
