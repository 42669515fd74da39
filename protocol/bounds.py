"""The timing bounds invariants.md names (P, E, R, L, Q, D, F), derived from a configuration.

Both drivers put these in the trace header, so checkers never hard-code a number. `L` and `Q`
come from the driver (a latency model's upper bound, or what a live backend allows).
"""
from __future__ import annotations

from protocol.config import RunConfig

# Statements one poll-loop iteration can issue at most: the status read, three health
# statements, T3 (write, parent, three for an event), T4 (write, event) and T5 (event, write).
POLL_ITERATION_STATEMENTS = 17
# A main-loop iteration between two event polls: fetch, reconcile read, heartbeat.
MAIN_LOOP_STATEMENTS = 3
# A wait-loop turn besides its pause: the RUN_STATUS read, the event fetch, the heartbeat.
WAIT_LOOP_STATEMENTS = 3


def bounds(cfg: RunConfig, L: float, Q: float, hook_s: float = 0.0,
           spawn_s: float = 0.0, scale_s: float = 0.0,
           wait_pause_s: float | None = None) -> dict:
    """`hook_s` is how long a measurement hook may take (ALTERs over the pool), `spawn_s`
    a worker process start plus its pool initialisation and setup, `scale_s` how long a
    scale-up may hold the main loop (its prewarm connects, §5.3; load modes only),
    `wait_pause_s` the longest wait-loop pause the coordination scheme takes (default
    status_poll_s)."""
    P = cfg.orchestrator_poll_s + POLL_ITERATION_STATEMENTS * L
    E = cfg.event_poll_s + cfg.main_loop_sleep_s + MAIN_LOOP_STATEMENTS * L + hook_s + scale_s
    R = cfg.reconcile_s + cfg.main_loop_sleep_s + MAIN_LOOP_STATEMENTS * L + hook_s + scale_s
    wait_period = (cfg.status_poll_s if wait_pause_s is None else wait_pause_s) \
        + WAIT_LOOP_STATEMENTS * L
    return {
        "P": P, "E": E, "R": R, "L": L, "Q": Q,
        "D": cfg.drain_timeout_s, "F": 4 * L,
        "warmup_s": cfg.warmup_s, "duration_s": cfg.duration_s,
        "stale_s": cfg.stale_s, "dead_s": cfg.dead_s, "heartbeat_s": cfg.heartbeat_s,
        "ready_timeout_s": cfg.wait_timeout_s, "spawn_bound_s": spawn_s,
        # RUNNING visible -> first query: a wait-loop turn and a few statements (issue 3)
        "start_bound_s": cfg.status_poll_s + 8 * L + hook_s,
        "enrichment_bound_s": cfg.enrichment_timeout_s + cfg.enrichment_poll_s + L,
        # Delivery (invariants.md H). RUN-PHASE-ANNOUNCED: the SET_PHASE of a PHASE write
        # comes in the same poll iteration, so within P of it.
        "announce_bound_s": P,
        # LIVE-WAIT-EXIT: the worker's status read may have begun just before the terminal
        # write was visible (L), then its fetch and heartbeat and pause (one wait period),
        # the read that sees it (L) and the final heartbeat that marks the exit (L):
        # wait period + 2L.
        "wait_period_s": wait_period,
        "wait_exit_bound_s": wait_period + 2 * L,
        "workers": cfg.workers, "worker_ids": [f"worker-{g}" for g in range(cfg.workers)],
        "connections_per_worker": cfg.connections_per_worker,
        "kill_after_s": cfg.stop_grace_s + cfg.kill_after_s,
    }


def fault_bounds(cfg: RunConfig, b: dict, faults) -> dict:
    """Liveness bounds of a run with faults (checked by LIVE-AFTER-HEAL).

    `run_bound_s`: the longest a fault-free run may take from its STARTING write to a terminal
    STATUS with PHASE COMPLETED, the stays of LIVE-RUN-TERMINATES added up.
    `heal_bound_s`: the longest a healed run may still take: a worker may wait its whole
    ready timeout and die (DEAD), or have died silently just before healing (detected dead_s +
    one background health refresh + P + L after its last heartbeat, FAILED one P later); then
    the stop reaches every worker (E + L), they drain (D + F, killed after kill_after_s) and a
    COMPLETED run still enriches. `heal_deadline_s`: the later of heal + heal_bound and the
    fault-free end, counted from the run's start at t = 0.
    """
    P, L, E = b["P"], b["L"], b["E"]
    drain = b["D"] + b["F"] + b["kill_after_s"]
    enrich = b["enrichment_bound_s"] + L
    stay_running = cfg.warmup_s + cfg.duration_s + (2 * P if cfg.warmup_s > 0 else P)
    run_bound = (b["spawn_bound_s"] + cfg.wait_timeout_s + P + stay_running + drain + enrich)
    heal_bound = (cfg.wait_timeout_s + cfg.dead_s + cfg.health_refresh_s + 3 * P + 2 * L
                  + E + L + drain + enrich)
    slowest = max([faults.info_timeout_s, *(w.length_s for w in faults.stalls)], default=0.0)
    if faults.app_restart is not None:  # nobody drives the run while the API is down
        slowest += faults.app_restart.down_s
    return {"run_bound_s": run_bound + slowest, "heal_bound_s": heal_bound + slowest,
            "heal_at_s": faults.heal_at_s,
            "heal_deadline_s": max(faults.heal_at_s + heal_bound, run_bound) + slowest}


def starting_timeout_s(cfg: RunConfig) -> float:
    """How long fixed lets a run stay STARTING before it fails it (switch starting_timeout).

    Every worker gives up waiting for RUNNING after wait_timeout_s and writes DEAD, and a
    worker that died silently is marked DEAD dead_s after its last heartbeat; past the sum,
    nothing can still make the run RUNNING (e.g. a restarted API adopted a run whose workers
    were never spawned)."""
    return cfg.wait_timeout_s + cfg.dead_s


METRICS_PERIOD_S = 1.0  # a worker's metrics POST period (reference-protocol.md §10.1, §12)


def scaling_bounds(params: dict) -> dict:
    """The slack of the scaling properties (invariants.md §E), from a header's P, E, L, Q.

    Derived at check time rather than stored in the header, so traces without a load mode
    keep their header as it was. `ramp_slack_s` (SC-RAMP-MONOTONE): one main-loop period
    with its statements and a scale-up's prewarm, which E already bounds. `shrink_s` /
    `grow_s` (SC-WORKER-CAP): a stop-signalled task ends after its current operation (Q);
    growing first creates connections, bounded by the prewarm inside E. `eval_slack_s`
    (SC-FINDMAX-STEP): the evaluation runs in the first poll-loop iteration past the step's
    end, so within P. `metrics_stale_s`: how old the live cache's view of a worker's counters
    may be: one POST period plus a statement."""
    P, E, L, Q = (params.get(k) for k in ("P", "E", "L", "Q"))
    if not all(isinstance(x, (int, float)) for x in (P, E, L, Q)):
        return {}
    return {"ramp_slack_s": E + L, "shrink_s": Q + L, "grow_s": Q + E + L,
            "eval_slack_s": P + L, "metrics_stale_s": METRICS_PERIOD_S + L}
