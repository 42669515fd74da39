"""The numbers a run is made of: sizes, phase lengths, cadences and timeouts.

Defaults are the reference implementation's (reference-protocol.md §12); a scenario file
overrides any of them. Pure data: the drivers add their own settings (latencies, seeds).
"""
from __future__ import annotations

from dataclasses import dataclass, fields

from protocol.scaling import ScalingConfig


@dataclass(frozen=True)
class RunConfig:
    workers: int = 4
    connections_per_worker: int = 10
    warmup_s: float = 10.0
    duration_s: float = 20.0
    think_time_s: float = 0.0
    dashboards: int = 0  # browser dashboards following the run over the WebSocket (issue 3)

    orchestrator_poll_s: float = 1.0  # poll-loop sleep
    health_refresh_s: float = 2.0  # background heartbeat count outside STARTING
    status_poll_s: float = 0.2  # worker wait-loop sleep between RUN_STATUS reads
    event_poll_s: float = 1.0  # worker event poll, wait and main loop
    heartbeat_s: float = 1.0
    reconcile_s: float = 5.0
    main_loop_sleep_s: float = 0.05
    event_limit_wait: int = 50
    event_limit_main: int = 100

    wait_timeout_s: float = 120.0  # worker gives up waiting for RUNNING (DEAD, exit 3)
    drain_timeout_s: float = 120.0
    stale_s: float = 30.0
    dead_s: float = 60.0
    stop_grace_s: float = 10.0  # stop_run: wait before SIGTERM
    kill_after_s: float = 5.0  # stop_run: SIGTERM to SIGKILL

    enrichment_poll_s: float = 10.0
    enrichment_timeout_s: float = 240.0

    user_stop_at_s: float = -1.0  # < 0: no user stop; else seconds after the run began
    deadline_s: float = 0.0  # 0: derived from the phase bounds (LIVE-RUN-TERMINATES)

    # How workers learn of a change (protocol/actors/polling.py; scenario table [coordination]).
    coordination: str = "poll"  # poll | jittered | adaptive | push
    poll_jitter: float = 0.5  # jittered: each sleep is interval x U[1 - j, 1 + j]
    adaptive_fast_s: float = 0.05  # adaptive: poll period near an expected transition
    adaptive_slow_s: float = 1.0  # adaptive: poll period otherwise
    adaptive_window_s: float = 1.0  # adaptive: how far around the expected instant is "near"
    push_fallback_s: float = 1.0  # push: the slow poll kept in case a notification is lost
    parallel_startup: bool = False  # seed 002: heartbeat RUNNING and test-row insert at once
    prespawn_tasks: bool = False  # seed 002: benchmark tasks start as soon as the wait ends
    bulk_queries: bool = False  # benchmark queries as bursts between control decisions
    # Load and scaling modes (protocol/scaling.py; scenario table [scaling]). None: the
    # plain CONCURRENCY run of `workers` x `connections_per_worker`, with no controller,
    # metrics posts or rollups, exactly as before the modes existed.
    scaling: ScalingConfig | None = None

    def derived_deadline_s(self) -> float:
        if self.deadline_s > 0:
            return self.deadline_s
        return (self.wait_timeout_s + self.warmup_s + self.duration_s + self.drain_timeout_s
                + self.enrichment_timeout_s + 120.0)


def field_names(cls=RunConfig) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))
