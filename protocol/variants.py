"""Behaviour switches and the named presets (variants) built from them.

A switch names a behaviour, not a blame; each one flips a single decision inside an actor, so
the reference control flow stays recognisable. `reference` is what the upstream tool does
today (reference-protocol.md), odd parts included; `fixed` is what we would ship.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Switches:
    # Worker wait loop (reference-protocol.md §5.2): advance the cursor over every event it
    # fetches, acting on STOP only. This is how SET_PHASE got swallowed (seed issue 1).
    wait_loop_consumes_events: bool = True
    # W19/W21: decide "start in measurement" from the W4 snapshot (reference) or from the
    # last RUN_STATUS read of the wait loop (fixed). With warmup 0 the snapshot says PREPARING
    # and the hook never runs.
    start_in_measurement_from: str = "w4_snapshot"
    # §4.2: NEXT_SEQUENCE_ID read, bumped and used in three statements, with emitters
    # concurrent (reference), or one allocation serialised per orchestrator (fixed).
    sequence_allocation: str = "three_statements"
    # §6.2-6.3: the hook ALTERs every pooled connection, then bumps the epoch (reference), or
    # each benchmark task reads (tag, epoch) together and re-tags its own session first.
    tag_switch: str = "alter_pool_then_epoch"
    # §3.3: with warmup 0 the duration counts from START_TIME, so PREPARING eats into it
    # (reference); fixed counts from the MEASUREMENT write.
    duration_base: str = "start_time"
    # §7.3: heartbeat age from the worker's clock stamp vs the database clock in the session
    # time zone (reference) or from UPDATED_AT, one clock (fixed).
    heartbeat_age_basis: str = "last_heartbeat"
    # §8 and seed issue 2: parallel connection creates per batch, and whether the benchmark
    # pool is initialised before READY or only after the wait (the 60 s start).
    pool_parallel_creates: int = 32
    pool_init: str = "before_ready"
    # §4.3: a phase event or reconcile read is copied as is (reference: SET_PHASE(WARMUP) read
    # after MEASUREMENT moves the worker back) or adopted only when it moves forward (fixed).
    phase_adoption: str = "copy"
    # §3.2: elapsed values are whole seconds from SQL TIMESTAMPDIFF, i.e. second boundaries
    # crossed (reference; up to 1 s more than the exact time), or exact (fixed).
    elapsed_whole_seconds: bool = True
    # §3.5: stop_run sets the in-memory stopping flag before it writes CANCELLING, so the poll
    # loop can finish first and mark the run COMPLETED (reference); fixed writes first.
    user_stop_order: str = "flag_first"
    # Dashboard (§10.3-10.4, seed issues 3 and 4): where the WebSocket reads the enrichment
    # status first (children first left the stream stuck in PROCESSING), and what gates a
    # qpsHistory push (ops alone kept pushing through PROCESSING).
    ws_enrichment_lookup: str = "parent_first"
    ui_qps_gate: str = "phase_and_workers"
    # Regressions of our own for the bug zoo (issue 3); reference and fixed agree on each.
    # W4.4: the reconcile runs the measurement hook when it adopts MEASUREMENT.
    reconcile_runs_hook: bool = True
    # W13/W14: READY is written after executor setup succeeded.
    ready_after_setup: bool = True
    # T2: start_run writes STARTING unguarded and a concurrent stop_run can slip in between
    # it and START (reference; found by issue 3's search: a stop while PREPARED took seq 1);
    # fixed guards the write with STATUS = PREPARED and holds the run's lock until START.
    start_run_guard: bool = False
    # §10.3: a stop while STOPPING (CANCELLING) makes the derived phase fall back from
    # PROCESSING to RUN_STATUS.PHASE (reference; found by issue 3's search); fixed never
    # sends a lower phase than it already sent, except FAILED/CANCELLED.
    ws_phase_never_back: bool = False
    # §3.2 block 16: the poll loop only checks that all worker processes exited (reference:
    # a worker killed mid-run goes unnoticed until its heartbeat ages past the DEAD limit, or
    # at all when the run ends first); fixed also fails the run, within one iteration, when a
    # worker process exits without a final heartbeat while STARTING or RUNNING (issue 8).
    fail_on_silent_exit: bool = False
    # Issue 9, error paths under faults (protocol/actors/errors.py). A statement error the
    # upstream code does not catch ends its task or process (reference); fixed retries control
    # statements and resolves an `info` (outcome unknown) by reading before writing again.
    statement_errors: str = "reference"
    # §3.4: the poll loop ends because every worker process exited while RUNNING; the final
    # step then marks the run COMPLETED with no STOP (reference) or FAILED, announced by a
    # STOP{worker_failure} (fixed).
    all_exited_while_running: str = "complete"
    # T10: the FAILED write is guarded by NOT IN terminal, so it can overwrite a concurrent
    # stop_run's CANCELLING (reference), or (fixed) only by STATUS IN (STARTING, RUNNING), after
    # waiting for the run's lock and not at all once a user stop has been accepted.
    failed_guard: str = "not_terminal"
    # §3.4 / §3.3: a run still STARTING when every worker process has exited (one died before
    # its first heartbeat) is left STARTING (reference) or marked FAILED (fixed).
    all_exited_while_starting: str = "leave"
    # §3.3: PREPARING has no orchestrator timeout (reference); fixed fails a run still
    # STARTING after bounds.starting_timeout_s.
    starting_timeout: bool = False
    # §3.1 T13, §12: after an API restart, runs are cancelled by age rules and otherwise left
    # with nothing driving them (reference), or adopted: a new poll loop for a started run,
    # enrichment again for one left in PROCESSING (fixed; protocol/actors/recovery.py).
    restart_recovery: str = "age_rules"
    # Scaling and controllers (§9, issue 11). How `build_worker_targets` splits a total:
    # earlier groups filled to the cap first (reference: "5 on 2 => 5, 0") or evenly.
    target_distribution: str = "pack"
    # §9.3: the min_connections floor is applied after the cap, so it can push the total
    # over cap x workers (reference); fixed keeps the total within the cap.
    target_floor_within_cap: bool = False
    # §9.4: an advance a cap clamps back to the same level keeps stepping at that level until
    # a non-STABLE step (reference); fixed ends the search ("target cannot grow").
    findmax_stop_when_clamped: bool = False
    # §9.4: step 1's ops baseline is read in the T4 iteration from warmup-cumulative counters
    # that the workers then reset (reference); fixed starts step 1 once every worker's
    # snapshot reports MEASUREMENT, i.e. after its reset.
    findmax_baseline: str = "t4_iteration"
    # §9.5: an empty live cache reads as 0 threads and sets every worker back to the
    # starting level (reference); fixed skips the evaluation.
    qps_empty_cache: str = "reset"
    # §10.2: no rollup after the poll loop ends, so WORKERS_ACTIVE keeps its last value
    # (reference, seed issue 3); fixed writes one final rollup after the last exit.
    final_rollup: bool = False
    # §3.6: FIND_MAX's end (T7) writes COMPLETED with no STOP, so workers learn of it only
    # from the 5 s reconcile (reference); fixed emits STOP{find_max_complete} first.
    findmax_announces_stop: bool = False
    # §9.3: `_ensure_workers_for_target` blocks the poll loop up to 30 s whatever happens
    # meanwhile, then applies the targets even to a run stopped in between (reference);
    # fixed stops waiting once the run is stopping and applies nothing after a stop.
    spawn_wait_honours_stop: bool = False
    # W20/W21: a worker that starts in MEASUREMENT (warmup 0, or spawned mid-run, §5.5)
    # spawns its tasks under the warmup tag and runs the hook after them, so its first
    # queries race the hook (reference; found live: a spawned worker's first query tagged
    # WARMUP); fixed runs the hook first. Only in runs with a load mode: CONCURRENCY traces
    # stay as they were (the same race in a warmup-0 CONCURRENCY run is left to the lead).
    hook_before_tasks: bool = False
    # T7/T8 (§3.1): a controller's COMPLETED write is guarded only by NOT IN terminal, so it
    # overwrites a CANCELLING a concurrent user stop wrote (reference; found by explore on
    # fixed FIND_MAX); fixed writes it only from RUNNING and not once a stop is under way.
    controller_end_guard: bool = False
    # §9.3: `_ensure_workers_for_target` blocks the poll loop while spawned workers start, so
    # a QPS run's duration STOP comes late (reference; found by explore on fixed QPS); fixed
    # does not wait in a mode with a duration limit (the new workers take their targets from
    # WORKER_TARGETS and their events). FIND_MAX, which has no duration limit, still waits so
    # that a step measures the workers it needs.
    spawn_wait_in_timed_modes: bool = True
    # §9.3 ramps: a repeated SET_WORKER_TARGET restarts the ramp from the current value, and
    # after a reconcile jumped to the final target the next ramp read sets the interpolated
    # value back; with truncation, a 4 -> 5 ramp re-sent more often than it lasts never
    # reaches 5 (reference; found by explore on fixed QPS). Fixed: a ramp ends once the
    # worker is at its end, and a target equal to the ramp's end does not restart it.
    ramp_settles: bool = False
    # §9.5: a QPS step that rounds to 0 threads outside the band leaves the rate short of
    # the target for good (reference); fixed moves at least one thread (scaling.qps_evaluate).
    qps_min_step: bool = False
    # §10.1-10.2: the orchestrator's live aggregate sums every worker's counters since its
    # last reset, so a worker's warmup counts stay in the total until its first post-hook
    # snapshot replaces them: ops.total falls while RUNNING just after the last hook
    # (reference; EPOCH-AGG-MONOTONE), as it does when lost POSTs let a snapshot expire.
    # Fixed sums, per worker, the last snapshot taken after its measurement reset, kept when
    # the snapshot expires. (A second reset, a mid-run worker replaying SET_PHASE, §5.5, would
    # still show; fixed's forward-only phase adoption prevents it.)
    live_agg_counts: str = "all"
    # §9.3 grow spawns min(t - running, cap - live) tasks, so a grow that comes while
    # stop-signalled tasks still finish their operation stays short of t until the next
    # `_scale_to` (reference; SC-WORKER-CAP); fixed starts the missing tasks as those end.
    task_top_up: bool = False


# The switches that only the scaling modes read: a run without a [scaling] table leaves them
# out of its trace header, so such traces stay byte-identical to before the modes existed.
SCALING_SWITCHES = ("target_distribution", "target_floor_within_cap",
                    "findmax_stop_when_clamped", "findmax_baseline", "qps_empty_cache",
                    "final_rollup", "findmax_announces_stop", "spawn_wait_honours_stop",
                    "hook_before_tasks", "controller_end_guard", "spawn_wait_in_timed_modes",
                    "ramp_settles", "qps_min_step", "live_agg_counts", "task_top_up")

SWITCH_CHOICES: dict[str, tuple[Any, ...] | type] = {
    "wait_loop_consumes_events": bool,
    "start_in_measurement_from": ("w4_snapshot", "latest_read"),
    "sequence_allocation": ("three_statements", "atomic"),
    "tag_switch": ("alter_pool_then_epoch", "per_task_atomic", "epoch_then_alter_pool"),
    "duration_base": ("start_time", "measurement_start"),
    "heartbeat_age_basis": ("last_heartbeat", "updated_at"),
    "pool_parallel_creates": int,
    "pool_init": ("before_ready", "after_wait"),
    "phase_adoption": ("copy", "forward_only"),
    "elapsed_whole_seconds": bool,
    "user_stop_order": ("flag_first", "write_first"),
    "ws_enrichment_lookup": ("parent_first", "children_first"),
    "ui_qps_gate": ("phase_and_workers", "ops_only"),
    "reconcile_runs_hook": bool,
    "ready_after_setup": bool,
    "start_run_guard": bool,
    "ws_phase_never_back": bool,
    "fail_on_silent_exit": bool,
    "statement_errors": ("reference", "retry"),
    "all_exited_while_running": ("complete", "fail"),
    "failed_guard": ("not_terminal", "active_only"),
    "all_exited_while_starting": ("leave", "fail"),
    "starting_timeout": bool,
    "restart_recovery": ("age_rules", "adopt"),
    "target_distribution": ("pack", "even"),
    "target_floor_within_cap": bool,
    "findmax_stop_when_clamped": bool,
    "findmax_baseline": ("t4_iteration", "after_reset"),
    "qps_empty_cache": ("reset", "hold"),
    "final_rollup": bool,
    "findmax_announces_stop": bool,
    "spawn_wait_honours_stop": bool,
    "hook_before_tasks": bool,
    "controller_end_guard": bool,
    "spawn_wait_in_timed_modes": bool,
    "ramp_settles": bool,
    "qps_min_step": bool,
    "live_agg_counts": ("all", "measured"),
    "task_top_up": bool,
}

# Switches of the error paths (issues 8 and 9): they decide only when a statement fails or a
# process dies, so a simulated fault-free trace's header leaves them out and stays
# byte-identical to one written before they existed (sim/run.py).
ERROR_PATH_SWITCHES = ("fail_on_silent_exit", "statement_errors", "all_exited_while_running",
                       "failed_guard", "all_exited_while_starting", "starting_timeout",
                       "restart_recovery")

REFERENCE = Switches()
FIXED = Switches(
    wait_loop_consumes_events=False,
    start_in_measurement_from="latest_read",
    sequence_allocation="atomic",
    tag_switch="per_task_atomic",
    duration_base="measurement_start",
    heartbeat_age_basis="updated_at",
    phase_adoption="forward_only",
    elapsed_whole_seconds=False,
    user_stop_order="write_first",
    start_run_guard=True,
    ws_phase_never_back=True,
    fail_on_silent_exit=True,
    statement_errors="retry",
    all_exited_while_running="fail",
    failed_guard="active_only",
    all_exited_while_starting="fail",
    starting_timeout=True,
    restart_recovery="adopt",
    target_distribution="even",
    target_floor_within_cap=True,
    findmax_stop_when_clamped=True,
    findmax_baseline="after_reset",
    qps_empty_cache="hold",
    final_rollup=True,
    findmax_announces_stop=True,
    spawn_wait_honours_stop=True,
    hook_before_tasks=True,
    controller_end_guard=True,
    spawn_wait_in_timed_modes=False,
    ramp_settles=True,
    qps_min_step=True,
    live_agg_counts="measured",
    task_top_up=True,
)

# One preset per known bug: the fixed protocol with exactly one regression put back.
PRESETS: dict[str, Switches] = {
    "reference": REFERENCE,
    "fixed": FIXED,
    "wait-loop-swallows-set-phase": replace(FIXED, wait_loop_consumes_events=True),
    "slow-pool-start": replace(FIXED, pool_parallel_creates=8, pool_init="after_wait"),
    # Issue 3's bug zoo: the seeds' dashboard bugs, then regressions of our own.
    "qps-history-in-processing": replace(FIXED, ui_qps_gate="ops_only"),
    "ws-enrichment-children-first": replace(FIXED, ws_enrichment_lookup="children_first"),
    "reconcile-skips-hook": replace(FIXED, reconcile_runs_hook=False),
    "epoch-before-tag": replace(FIXED, tag_switch="epoch_then_alter_pool"),
    "ready-before-setup": replace(FIXED, ready_after_setup=False),
    "phase-copy-regresses": replace(FIXED, phase_adoption="copy"),
    "duration-from-start-time": replace(FIXED, duration_base="start_time"),
    # Issue 9's error paths under faults: the reference's handling put back one at a time.
    "errors-end-actors": replace(FIXED, statement_errors="reference"),
    # The next two put back §3.2 block 16 as the reference has it: only "all processes gone"
    # is checked (fixed's silent-exit check, issue 8, would otherwise catch the death first).
    "all-exited-running-completes": replace(FIXED, all_exited_while_running="complete",
                                            fail_on_silent_exit=False),
    "failed-overwrites-cancelling": replace(FIXED, failed_guard="not_terminal"),
    "starting-left-after-all-exit": replace(FIXED, all_exited_while_starting="leave",
                                            fail_on_silent_exit=False),
    "restart-leaves-run-undriven": replace(FIXED, restart_recovery="age_rules"),
}


class UnknownVariant(ValueError):
    pass


def switch_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Switches))


def validate_switch(name: str, value: Any) -> Any:
    """Check one switch value; the error names the switch and what is allowed."""
    if name not in SWITCH_CHOICES:
        raise UnknownVariant(f"unknown switch {name!r}; switches are: {', '.join(switch_names())}")
    allowed = SWITCH_CHOICES[name]
    if allowed is bool:
        if not isinstance(value, bool):
            raise UnknownVariant(f"switch {name!r} takes true or false, not {value!r}")
    elif allowed is int:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise UnknownVariant(f"switch {name!r} takes a whole number >= 1, not {value!r}")
    elif value not in allowed:
        raise UnknownVariant(f"switch {name!r} takes one of {', '.join(map(str, allowed))}, "
                             f"not {value!r}")
    return value


def variant(name: str, overrides: dict[str, Any] | None = None) -> Switches:
    if name not in PRESETS:
        raise UnknownVariant(f"unknown variant {name!r}; variants are: {', '.join(PRESETS)}")
    sw = PRESETS[name]
    for k, v in (overrides or {}).items():
        sw = replace(sw, **{k: validate_switch(k, v)})
    return sw


def as_dict(sw: Switches) -> dict[str, Any]:
    return {f.name: getattr(sw, f.name) for f in fields(sw)}
