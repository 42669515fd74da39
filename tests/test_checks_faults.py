"""LIVE-AFTER-HEAL and the fault-aware rules of other checkers, on synthetic traces: each
with a trace that shows the violation and one that does not."""
from protocol.checks import judge
from trace_builder import TraceBuilder

HEAL, DEADLINE = 10.0, 100.0


def fault_run(**kw) -> TraceBuilder:
    b = TraceBuilder(heal_at_s=HEAL, heal_deadline_s=DEADLINE, **kw)
    b.header["faults"] = {"heal_at_s": HEAL}
    b.add(2.0, "fault", fault="worker_crash", worker="worker-1", step="hook")
    b.status(0.1, None, "PREPARED", phase="").status(0.5, "PREPARED", "STARTING",
                                                     phase="PREPARING")
    b.proc(0.6, "worker-0", "spawn").proc(0.6, "worker-1", "spawn")
    return b


def outcome(b: TraceBuilder, pid: str):
    (j,) = judge(b.build(), only=[pid])
    return j


def test_live_after_heal_passes_a_run_that_fails_in_time():
    b = fault_run().proc(2.0, "worker-1", "exit", code=-9).status(40.0, "STARTING", "FAILED")
    b.proc(45.0, "worker-0", "exit", code=0).run_end(46.0)
    assert outcome(b, "LIVE-AFTER-HEAL").outcome == "passed"


def test_live_after_heal_flags_a_run_stuck_after_healing():
    b = fault_run().proc(2.0, "worker-1", "exit", code=-9).proc(3.0, "worker-0", "exit", code=3)
    b.run_end(150.0, reason="deadline")
    j = outcome(b, "LIVE-AFTER-HEAL")
    assert j.outcome == "failed" and "never" in j.violations[0].message


def test_live_after_heal_flags_a_late_end_and_a_worker_that_never_exits():
    b = fault_run().proc(2.0, "worker-1", "exit", code=-9).status(120.0, "STARTING", "FAILED")
    b.run_end(130.0)
    msgs = [v.message for v in outcome(b, "LIVE-AFTER-HEAL").violations]
    assert any("only at t=120.000" in m for m in msgs)
    assert any("worker-0's process never exited" in m for m in msgs)


def test_live_after_heal_completed_needs_phase_completed():
    b = fault_run().status(5.0, "STARTING", "RUNNING", phase="WARMUP")
    b.status(30.0, "RUNNING", "COMPLETED", phase="PROCESSING")
    b.proc(31.0, "worker-0", "exit", code=0).proc(2.0, "worker-1", "exit", code=-9)
    b.run_end(150.0, reason="deadline")
    assert outcome(b, "LIVE-AFTER-HEAL").outcome == "failed"
    b.status(40.0, "COMPLETED", "COMPLETED", phase="COMPLETED")
    assert outcome(b, "LIVE-AFTER-HEAL").outcome == "passed"


def test_live_after_heal_not_judged_without_faults_or_before_its_bound():
    plain = TraceBuilder().status(0.5, None, "STARTING", phase="PREPARING")
    assert outcome(plain, "LIVE-AFTER-HEAL").outcome == "not judged"
    early = fault_run().run_end(50.0, reason="deadline")  # cut before the bound
    assert outcome(early, "LIVE-AFTER-HEAL").outcome == "not judged"


def test_timed_properties_are_not_judged_once_statement_faults_fired():
    b = fault_run().hb(1.0, "worker-0", "STARTING").hb(40.0, "worker-0", "READY")
    b.add(3.0, "fail", actor="worker-0", op="merge_heartbeat", error="injected error")
    assert outcome(b, "HB-GAP").outcome == "not judged"
    b.drop(lambda r: r["kind"] in ("fault", "fail"))
    assert outcome(b, "HB-GAP").outcome == "failed"  # the same gap, no fault: judged


def test_timed_properties_are_judged_when_only_worker_processes_were_killed():
    """A killed worker slows no statement, so the bounds stand: another worker's heartbeat gap
    is a violation, and a death the run never noticed is one for HB-DEAD-DETECTION."""
    b = fault_run().hb(1.0, "worker-0", "STARTING").hb(40.0, "worker-0", "READY")
    assert outcome(b, "HB-GAP").outcome == "failed"
    missed = fault_run().status(1.0, "STARTING", "RUNNING", phase="MEASUREMENT")
    missed.hb(1.5, "worker-1", "RUNNING").proc(2.0, "worker-1", "exit", code=-9)
    missed.event(3.0, 1, "STOP", reason="duration_elapsed")
    missed.status(3.1, "RUNNING", "STOPPING").status(4.0, "STOPPING", "COMPLETED")
    missed.run_end(200.0)
    j = outcome(missed, "HB-DEAD-DETECTION")
    assert j.outcome == "failed" and "without detecting" in j.violations[0].message
    seen = fault_run().status(1.0, "STARTING", "RUNNING", phase="MEASUREMENT")
    seen.hb(1.5, "worker-1", "RUNNING").proc(2.0, "worker-1", "exit", code=-9)
    seen.event(3.0, 1, "STOP", reason="worker_failure").status(3.1, "RUNNING", "FAILED")
    seen.run_end(200.0)
    assert outcome(seen, "HB-DEAD-DETECTION").outcome == "passed"


def user_stop_case(stop_emitted_at: float | None) -> TraceBuilder:
    b = fault_run().status(5.0, "STARTING", "RUNNING", phase="WARMUP").stop_request(8.0)
    b.add(9.0, "fault", fault="app_restart", action="down", down_s=1.0)
    if stop_emitted_at is not None:
        b.event(stop_emitted_at, 2, "STOP", reason="user_requested")
    b.status(30.0, "RUNNING", "FAILED")
    return b


def test_user_stop_lost_with_its_api_process_is_not_a_violation():
    assert outcome(user_stop_case(None), "RUN-USER-STOP-WINS").outcome == "passed"


def test_user_stop_made_durable_before_the_restart_must_still_win():
    assert outcome(user_stop_case(8.5), "RUN-USER-STOP-WINS").outcome == "failed"
