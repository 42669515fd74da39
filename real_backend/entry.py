"""Worker entry adapter: the protocol's worker actor, rebuilt from a JSON worker config.

The worker config travels as JSON, so RunConfig and Switches arrive as plain dicts; they
are frozen dataclasses whose fields round-trip through `dataclasses.asdict` / `Cls(**d)`.
"""
from __future__ import annotations

from protocol.actors.worker import worker as protocol_worker
from protocol.config import RunConfig
from protocol.scaling import ScalingConfig
from protocol.variants import Switches


def worker(worker_id: str, group_id: int, group_count: int, run_id: str, cfg: dict,
           switches: dict):
    """Named in worker_config["entry"] as `real_backend.entry:worker`."""
    if isinstance(cfg.get("scaling"), dict):  # a load mode's settings, as JSON
        cfg = {**cfg, "scaling": ScalingConfig(**cfg["scaling"])}
    return protocol_worker(RunConfig(**cfg), Switches(**switches), run_id, worker_id,
                           int(group_id), int(group_count))
