"""Small actor programs that exercise the real backend in tests and demos.

Not the protocol's actors (those live in protocol/actors): these only prove that effects map
to SQL, processes and trace records as intended.
"""
from __future__ import annotations

from protocol import effects as fx


def heartbeat_worker(worker_id: str, group_id: int, group_count: int, run_id: str,
                     beats: int = 3, period_s: float = 0.2, linger_s: float = 0.0):
    """A worker that writes `beats` heartbeats, then lingers (to be killed), then completes."""
    yield fx.Note("marker", {"worker": worker_id, "name": "heartbeat_running"})
    for i in range(beats):
        status = "READY" if i < beats - 1 else "RUNNING"
        yield fx.MergeHeartbeat(run_id, worker_id, group_id, status, phase="WARMUP")
        yield fx.Sleep(period_s)
    end = (yield fx.Now()) + linger_s
    while (yield fx.Now()) < end:
        yield fx.Sleep(0.1)
    yield fx.MergeHeartbeat(run_id, worker_id, group_id, "COMPLETED")
    return 0
