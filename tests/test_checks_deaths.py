"""A worker death is never silent (issue 8): HB-DEAD-DETECTION judges a worker process that
exits unasked without a final heartbeat, from its `proc exit` record, within the heartbeat
rule's bound counted from the death, even when the run would have ended first."""
from __future__ import annotations

from tests.trace_builder import TraceBuilder, assert_violation, violations

BOUND = dict(dead_s=8.0, health_refresh_s=2.0, P=1.0, L=1.0)  # bound 12 s


def _run(kill_at: float, *, phase="MEASUREMENT", code=-9, requested=None, heartbeats=True):
    """Two workers; worker-1 dies at `kill_at` (STARTING if phase is None, else RUNNING)."""
    b = TraceBuilder(warmup_s=0, duration_s=10, world="live", **BOUND)
    b.status(0.0, None, "PREPARED", phase="", live=True)
    b.status(0.5, "PREPARED", "STARTING", phase="PREPARING", live=True)
    for k in ("worker-0", "worker-1"):
        b.proc(0.6, k, "spawn")
    if phase is not None:
        b.status(3.0, "STARTING", "RUNNING", phase=phase, live=True)
    if heartbeats:
        t = 1.0
        while t < kill_at:
            b.hb(t, "worker-1", "READY" if t < 3.0 else "RUNNING")
            t += 1.0
    extra = {} if requested is None else {"requested": requested}
    b.add(kill_at, "proc", "driver", worker="worker-1", action="exit", code=code,
          **({"signal": "SIGKILL"} if code == -9 else {}), **extra)
    return b


def _complete(b: TraceBuilder, at: float) -> TraceBuilder:
    b.event(at, 2, "STOP", reason="duration_elapsed")
    b.status(at + 0.1, "RUNNING", "STOPPING", live=True)
    b.status(at + 1.0, "STOPPING", "COMPLETED", phase="PROCESSING", live=True)
    return b.run_end(at + 2.0)


def test_kill_in_measurement_then_completed_is_a_violation():
    b = _complete(_run(6.0), 13.0)
    assert_violation(violations(b, "HB-DEAD-DETECTION"), "HB-DEAD-DETECTION", "worker-1",
                     "killed by SIGKILL", "t=6.000", "went on to COMPLETED")


def test_kill_detected_by_worker_failure_stop_is_clean():
    b = _run(6.0)
    b.event(6.4, 2, "STOP", reason="worker_failure")
    b.status(6.5, "RUNNING", "FAILED", live=True)
    b.run_end(8.0)
    assert violations(b, "HB-DEAD-DETECTION") == []


def test_kill_detected_by_dead_mark_within_bound_is_clean():
    b = _run(6.0)
    b.hb(16.5, "worker-1", "DEAD", writer="orchestrator", age=11.5)  # last heartbeat 5 + 12
    b.event(16.7, 2, "STOP", reason="worker_failure")
    b.status(16.8, "RUNNING", "FAILED", live=True)
    assert violations(b, "HB-DEAD-DETECTION") == []


def test_detection_after_the_bound_is_a_violation():
    b = _run(6.0)
    b.hb(19.0, "worker-1", "DEAD", writer="orchestrator", age=13.0)
    b.event(19.5, 2, "STOP", reason="worker_failure")
    b.status(19.6, "RUNNING", "FAILED", live=True)
    assert_violation(violations(b, "HB-DEAD-DETECTION"), "HB-DEAD-DETECTION",
                     "detected only at t=19.000")


def test_requested_exit_or_final_heartbeat_is_not_a_death():
    assert violations(_complete(_run(6.0, requested=True), 13.0), "HB-DEAD-DETECTION") == []
    b = _run(6.0, code=0)
    b.hb(5.9, "worker-1", "COMPLETED")
    assert violations(_complete(b, 13.0), "HB-DEAD-DETECTION") == []


def test_exit_after_the_stop_is_not_judged_as_a_death():
    b = _complete(_run(13.5), 13.0)  # killed while draining, after the STOP
    assert violations(b, "HB-DEAD-DETECTION") == []


def test_startup_death_without_any_heartbeat_gets_the_same_bound():
    # killed before its first heartbeat: heartbeat ages cannot see it, the proc record can
    b = _run(1.5, phase=None, heartbeats=False)
    b.status(40.0, "STARTING", "FAILED", live=True)  # e.g. a ready timeout, 38.5 s later
    assert_violation(violations(b, "HB-DEAD-DETECTION"), "HB-DEAD-DETECTION",
                     "STARTING", "SIGKILL", "after t=13.500")
    b = _run(1.5, phase=None, heartbeats=False)
    b.event(2.0, 2, "STOP", reason="worker_failure")
    b.status(2.1, "STARTING", "FAILED", live=True)
    assert violations(b, "HB-DEAD-DETECTION") == []


def test_trace_ending_before_the_bound_says_nothing_yet():
    b = _run(6.0)  # no run_end, trace ends at the death
    assert violations(b, "HB-DEAD-DETECTION") == []


def test_final_heartbeat_with_unknown_outcome_may_have_applied():
    """Under load a final COMPLETED heartbeat times out (info): it may have applied, so an
    exit 0 after it is no HB-GRAMMAR violation; a certain failure still is."""
    from tests.trace_builder import clean_run, is_
    for outcome, bad in (("info", False), ("fail", True)):
        b = clean_run().drop(is_("heartbeat", worker="worker-0", status="COMPLETED"))
        b.op(37.4, "worker-0", "merge_heartbeat", outcome=outcome, worker_id="worker-0",
             status="COMPLETED")
        vs = violations(b, "HB-GRAMMAR")
        if bad:
            assert_violation(vs, "HB-GRAMMAR", "worker-0 exited with code 0")
        else:
            assert vs == []
