"""Group E checkers (protocol/checks/scaling.py): a trace that shows each violation, one that
does not, and 'not judged' when a controller run lacks its records."""
from __future__ import annotations

from protocol import scaling as sc
from protocol.checks import judge
from trace_builder import assert_violation, clean_run, violations


def _outcome(b, pid):
    return judge(b.build(), only=[pid])[0]


def _targets(b, t, batch: sc.TargetBatch, reason="step_start", **override):
    b.add(t, "targets", actor="orchestrator", **{**batch.record(reason), **override})
    return b


# --- SC-TARGET-ARITH ------------------------------------------------------------------------

def test_target_arith_clean_for_pack_and_even():
    b = clean_run(load_mode="FIND_MAX")
    _targets(b, 16.0, sc.build_worker_targets(250, 2, 200, 1))
    _targets(b, 20.0, sc.build_worker_targets(7, 2, 200, 1, distribution="even"))
    assert violations(b, "SC-TARGET-ARITH") == []
    assert _outcome(b, "SC-TARGET-ARITH").outcome == "passed"


def test_target_arith_catches_the_reference_floor_above_the_cap():
    b = clean_run(load_mode="FIND_MAX")
    _targets(b, 16.0, sc.build_worker_targets(1, 2, cap=3, min_connections=5))  # reference
    assert_violation(violations(b, "SC-TARGET-ARITH"), "SC-TARGET-ARITH", "should total 6",
                     "sum to 6", "says 10")


def test_target_arith_catches_a_split_that_is_not_the_declared_one():
    b = clean_run(load_mode="QPS")
    _targets(b, 16.0, sc.build_worker_targets(250, 2, 200, 1), targets=[125, 125])
    assert_violation(violations(b, "SC-TARGET-ARITH"), "SC-TARGET-ARITH", "pack split",
                     "[200, 50]")


def test_target_arith_catches_a_target_over_the_cap():
    b = clean_run(load_mode="QPS")
    _targets(b, 16.0, sc.build_worker_targets(250, 2, 200, 1), targets=[250, 0])
    assert_violation(violations(b, "SC-TARGET-ARITH"), "SC-TARGET-ARITH", "outside [0, 200]")


def test_target_arith_not_judged_for_a_controller_run_without_records_passed_without_one():
    assert _outcome(clean_run(load_mode="QPS"), "SC-TARGET-ARITH").outcome == "not judged"
    assert _outcome(clean_run(), "SC-TARGET-ARITH").outcome == "passed"


# --- SC-WORKER-COUNT ------------------------------------------------------------------------

def test_worker_count_clean_run():
    assert violations(clean_run(), "SC-WORKER-COUNT") == []


def test_worker_count_catches_a_mid_run_spawn_in_a_fixed_run():
    b = clean_run()
    b.proc(20.0, "worker-2", "spawn")
    assert_violation(violations(b, "SC-WORKER-COUNT"), "SC-WORKER-COUNT", "worker-2",
                     "after the RUNNING write")


def test_worker_count_allows_the_find_max_spawn_but_not_above_max_workers():
    b = clean_run(load_mode="FIND_MAX", scaling_mode="AUTO", max_workers=3)
    b.proc(20.0, "worker-2", "spawn")
    assert violations(b, "SC-WORKER-COUNT") == []
    b.proc(25.0, "worker-3", "spawn")
    assert_violation(violations(b, "SC-WORKER-COUNT"), "SC-WORKER-COUNT", "4 worker processes",
                     "max_workers is 3")


def test_worker_count_catches_duplicate_and_gapped_ids():
    b = clean_run()
    b.proc(1.5, "worker-0", "spawn")
    assert_violation(violations(b, "SC-WORKER-COUNT"), "SC-WORKER-COUNT", "spawned twice")
    b = clean_run(load_mode="FIND_MAX", scaling_mode="AUTO")
    b.proc(20.0, "worker-3", "spawn")
    assert_violation(violations(b, "SC-WORKER-COUNT"), "SC-WORKER-COUNT", "[0, 1, 3]")


# --- FIND_MAX -------------------------------------------------------------------------------

def _step(b, t, step, target, outcome, qps, kind, to, backoff=False, best=None):
    b.add(t, "ctrl_eval", actor="orchestrator", controller="FIND_MAX", step=step,
          target=target, outcome=outcome, qps=qps, backoff=backoff,
          decision={"kind": kind, "target": to}, best=best)


def _findmax_run(bad_best=None, second_backoff=False, stuck=False):
    b = clean_run(load_mode="FIND_MAX")
    _step(b, 46.0, 1, 5, "STABLE", 50.0, "advance", 15)
    _step(b, 76.0, 2, 15, "STABLE", 150.0, "advance", 25)
    if stuck:
        _step(b, 106.0, 3, 15, "STABLE", 150.0, "advance", 25)
        return b
    _step(b, 106.0, 3, 25, "DEGRADED", 140.0, "backoff", 15)
    if second_backoff:
        _step(b, 136.0, 4, 15, "DEGRADED", 130.0, "backoff", 5, backoff=True)
        return b
    _step(b, 136.0, 4, 15, "DEGRADED", 130.0, "finish", 15, backoff=True,
          best=bad_best or {"concurrency": 15, "qps": 150.0})
    return b


def test_findmax_clean_search():
    b = _findmax_run()
    assert violations(b, "SC-FINDMAX-RESULT") == []
    assert violations(b, "SC-FINDMAX-TERMINATES") == []


def test_findmax_wrong_best_is_caught():
    b = _findmax_run(bad_best={"concurrency": 25, "qps": 150.0})
    assert_violation(violations(b, "SC-FINDMAX-RESULT"), "SC-FINDMAX-RESULT",
                     "best concurrency 25", "is 15")


def test_findmax_second_backoff_is_caught():
    assert_violation(violations(_findmax_run(second_backoff=True), "SC-FINDMAX-RESULT"),
                     "SC-FINDMAX-RESULT", "2 backoff decisions")


def test_findmax_target_that_does_not_grow_is_caught():
    assert_violation(violations(_findmax_run(stuck=True), "SC-FINDMAX-TERMINATES"),
                     "SC-FINDMAX-TERMINATES", "did not grow")


def test_findmax_step_limit_is_caught():
    b = _findmax_run()
    b.header["params"]["findmax_step_limit"] = 3
    assert_violation(violations(b, "SC-FINDMAX-TERMINATES"), "SC-FINDMAX-TERMINATES",
                     "bound of 3 steps")


def test_findmax_not_judged_without_evaluations():
    assert _outcome(clean_run(load_mode="FIND_MAX"), "SC-FINDMAX-RESULT").outcome == \
        "not judged"
    assert _outcome(clean_run(), "SC-FINDMAX-RESULT").outcome == "passed"


# --- QPS ------------------------------------------------------------------------------------

def _qps(b, t, qps, threads, desired, target=100.0, **extra):
    b.add(t, "ctrl_eval", actor="orchestrator", controller="QPS", qps=qps, threads=threads,
          target_qps=target, lo=2, hi=100, decision={"target": desired}, **extra)


def test_qps_clean_decisions():
    b = clean_run(load_mode="QPS")
    _qps(b, 20.0, 20.0, 4, 8)
    _qps(b, 30.0, 99.0, 8, None)
    _qps(b, 40.0, 200.0, 20, None)
    _qps(b, 50.0, 200.0, 20, 18)
    assert violations(b, "SC-QPS-ENVELOPE") == []


def test_qps_decisions_too_close_and_too_big_are_caught():
    b = clean_run(load_mode="QPS")
    _qps(b, 20.0, 20.0, 4, 8)
    _qps(b, 25.0, 20.0, 8, 30)
    vs = violations(b, "SC-QPS-ENVELOPE")
    assert_violation(vs, "SC-QPS-ENVELOPE", "less than 10.0 s apart")
    assert_violation(vs, "SC-QPS-ENVELOPE", "from 8 to 30")


def test_qps_change_inside_the_band_and_hasty_decrease_are_caught():
    b = clean_run(load_mode="QPS")
    _qps(b, 20.0, 98.0, 10, 11)
    _qps(b, 40.0, 200.0, 20, 18)  # one over-target evaluation only
    vs = violations(b, "SC-QPS-ENVELOPE")
    assert_violation(vs, "SC-QPS-ENVELOPE", "inside the band")
    assert_violation(vs, "SC-QPS-ENVELOPE", "1 over-target evaluation")


def test_qps_reset_on_an_empty_cache_is_caught_and_a_real_zero_is_not():
    b = clean_run(load_mode="QPS")
    _qps(b, 20.0, 20.0, 4, 8)
    _qps(b, 30.0, 80.0, 0, 4, true_threads=8)  # the live cache expired: the reference resets
    assert_violation(violations(b, "SC-QPS-ENVELOPE"), "SC-QPS-ENVELOPE",
                     "read 0 threads while workers ran 8")
    b = clean_run(load_mode="QPS")
    _qps(b, 20.0, 20.0, 4, 8)
    _qps(b, 30.0, 0.0, 0, 4, true_threads=0)
    assert violations(b, "SC-QPS-ENVELOPE") == []
    b = clean_run(load_mode="QPS")
    _qps(b, 20.0, 20.0, 4, 8)
    _qps(b, 30.0, 0.0, 0, 4)
    assert _outcome(b, "SC-QPS-ENVELOPE").outcome == "not judged"


# --- SC-WORKER-CAP --------------------------------------------------------------------------

def _tasks(b, t, worker, running, live, target):
    b.add(t, "task_count", actor=worker, worker=worker, running=running, live=live,
          target=target)
    return b


def _cap_run():
    """worker-0 grows 2 -> 4 (prewarm, then 4 tasks) and shrinks to 1 (three tasks end
    within Q of the stop signal)."""
    b = clean_run(load_mode="QPS", max_connections=4)
    _tasks(b, 6.0, "worker-0", 2, 2, 2)
    b.wstate(20.0, "worker-0", phase="MEASUREMENT", target=4, source="event")
    _tasks(b, 20.6, "worker-0", 4, 4, 4)
    b.wstate(25.0, "worker-0", phase="MEASUREMENT", target=1, source="reconcile")
    _tasks(b, 25.0, "worker-0", 1, 4, 1)
    _tasks(b, 25.4, "worker-0", 1, 1, 1)
    return b


def test_worker_cap_clean_grow_and_shrink():
    assert violations(_cap_run(), "SC-WORKER-CAP") == []
    assert _outcome(_cap_run(), "SC-WORKER-CAP").outcome == "passed"


def test_worker_cap_catches_a_target_and_live_tasks_over_the_cap():
    b = _cap_run()
    b.wstate(30.0, "worker-0", phase="MEASUREMENT", target=5, source="event")
    assert_violation(violations(b, "SC-WORKER-CAP"), "SC-WORKER-CAP", "current_target 5",
                     "cap 4")
    b = _cap_run()
    _tasks(b, 25.2, "worker-0", 1, 5, 1)
    assert_violation(violations(b, "SC-WORKER-CAP"), "SC-WORKER-CAP", "5 live tasks")


def test_worker_cap_catches_a_grow_left_short_and_a_shrink_that_lingers():
    b = _cap_run().edit(lambda r: r["kind"] == "task_count" and r["t"] == 20.6, running=3)
    assert_violation(violations(b, "SC-WORKER-CAP"), "SC-WORKER-CAP", "set to 4 tasks",
                     "did not run exactly 4")
    b = _cap_run().drop(lambda r: r["kind"] == "task_count" and r["t"] == 25.4)
    assert_violation(violations(b, "SC-WORKER-CAP"), "SC-WORKER-CAP", "shrank to 1",
                     "still live")


def test_worker_cap_not_judged_without_task_counts_or_a_cap():
    assert _outcome(clean_run(load_mode="QPS"), "SC-WORKER-CAP").outcome == "not judged"
    b = _cap_run()
    del b.header["params"]["max_connections"]
    assert _outcome(b, "SC-WORKER-CAP").outcome == "not judged"


# --- SC-RAMP-MONOTONE -----------------------------------------------------------------------

def _ramp_run(values=((20.5, 3), (21.0, 4), (21.5, 5), (22.0, 6))):
    """worker-0 ramps 2 -> 6 over 2 s from t=20, one value per main-loop iteration."""
    b = clean_run(load_mode="QPS")
    b.add(20.0, "worker_state", actor="worker-0", worker="worker-0", phase="MEASUREMENT",
          target=2, source="ramp_start", ramp_to=6, ramp_s=2.0)
    for t, v in values:
        src = "ramp" if isinstance(t, float) else t[1]
        t = t if isinstance(t, float) else t[0]
        b.wstate(t, "worker-0", phase="MEASUREMENT", target=v, source=src)
    return b


def test_ramp_monotone_clean_ramp_and_a_reconcile_jump_to_its_end():
    assert violations(_ramp_run(), "SC-RAMP-MONOTONE") == []
    assert _outcome(_ramp_run(), "SC-RAMP-MONOTONE").outcome == "passed"
    b = _ramp_run(((20.5, 3), ((21.0, "reconcile"), 6)))
    assert violations(b, "SC-RAMP-MONOTONE") == []


def test_ramp_monotone_catches_the_reference_read_after_a_reconcile_jump():
    """§9.3: a reconcile mid-ramp jumps to the end; the next ramp read sets the
    interpolated value back."""
    b = _ramp_run(((20.5, 3), ((21.0, "reconcile"), 6), (21.5, 5), (22.0, 6)))
    assert_violation(violations(b, "SC-RAMP-MONOTONE"), "SC-RAMP-MONOTONE", "from 6 to 5",
                     "not monotone")


def test_ramp_monotone_catches_a_ramp_that_never_arrives():
    b = _ramp_run(((20.5, 3), (21.0, 4), (21.5, 5), ((30.0, "event"), 6)))
    assert_violation(violations(b, "SC-RAMP-MONOTONE"), "SC-RAMP-MONOTONE",
                     "had not reached 6", "last 5")


def test_ramp_monotone_not_judged_without_the_ramp_length():
    b = _ramp_run().edit(lambda r: r.get("source") == "ramp_start", ramp_s=None)
    assert _outcome(b, "SC-RAMP-MONOTONE").outcome == "not judged"


# --- SC-FINDMAX-STEP ------------------------------------------------------------------------

def _step_run(t_eval=26.0, ops=6, spawn_wait=0.0):
    """Step 1 runs from t=20 for 5 s; clean_run's workers finish a measurement query every
    2 s each (worker-0 at 21.4, 23.4, 25.4, ...), so 4 to 8 finished in the step given the
    cache's 1.3 s lag (P = 1.2, L = 0.3)."""
    b = clean_run(load_mode="FIND_MAX", step_duration_s=5.0)
    b.add(t_eval, "ctrl_eval", actor="orchestrator", controller="FIND_MAX", step=1, target=4,
          outcome="DEGRADED", qps=1.2, backoff=False, ops=ops, t0=20.0,
          spawn_wait_s=spawn_wait, decision={"kind": "finish", "target": 0},
          best={"concurrency": 0, "qps": 0.0}, reason="DEGRADED")
    return b


def test_findmax_step_clean_evaluation():
    assert violations(_step_run(), "SC-FINDMAX-STEP") == []
    assert _outcome(_step_run(), "SC-FINDMAX-STEP").outcome == "passed"
    assert violations(_step_run(t_eval=28.0, spawn_wait=2.0), "SC-FINDMAX-STEP") == []


def test_findmax_step_catches_a_late_evaluation():
    assert_violation(violations(_step_run(t_eval=28.0), "SC-FINDMAX-STEP"), "SC-FINDMAX-STEP",
                     "evaluated at t=28.000", "spawn wait + P")


def test_findmax_step_catches_ops_the_step_did_not_run():
    """§9.4: the reference takes step 1's baseline from warmup counters the hook resets."""
    assert_violation(violations(_step_run(ops=2), "SC-FINDMAX-STEP"), "SC-FINDMAX-STEP",
                     "counted 2 ops", "4 to 8")
    assert_violation(violations(_step_run(ops=12), "SC-FINDMAX-STEP"), "SC-FINDMAX-STEP",
                     "counted 12 ops")


def test_findmax_step_not_judged_without_step_start_times():
    b = _step_run().edit(lambda r: r["kind"] == "ctrl_eval", t0=None)
    assert _outcome(b, "SC-FINDMAX-STEP").outcome == "not judged"
    assert _outcome(clean_run(), "SC-FINDMAX-STEP").outcome == "passed"


# --- EPOCH-AGG-MONOTONE with a mid-run spawn (the live_agg records of a load mode) ----------

def test_agg_monotone_judges_before_a_worker_spawned_later_exists():
    """A worker spawned mid-run (§5.5) is live from its spawn: the fall at t=21 comes while
    both initial workers are past their hooks, before worker-2 exists."""
    b = clean_run(load_mode="FIND_MAX", scaling_mode="AUTO")
    for t, n in ((18.0, 30), (19.0, 40), (21.0, 12), (22.0, 50)):
        b.add(t, "live_agg", "orchestrator", ops_total=n, current_per_sec=10.0, workers=2)
    b.proc(25.0, "worker-2", "spawn").hook(27.0, 27.2, "worker-2")
    assert_violation(violations(b, "EPOCH-AGG-MONOTONE"), "EPOCH-AGG-MONOTONE",
                     "fell from 40", "to 12")
    b = b.edit(lambda r: r["kind"] == "live_agg" and r["t"] == 21.0, ops_total=45)
    assert violations(b, "EPOCH-AGG-MONOTONE") == []
