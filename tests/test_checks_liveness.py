"""Group C checkers (HB-*, LIVE-*) on synthetic traces."""
from protocol.checks import check
from tests.trace_builder import TraceBuilder, assert_violation, clean_run, is_, violations

GROUP_C = ["HB-GRAMMAR", "HB-READY-MEANS-READY", "HB-GAP", "HB-NO-FALSE-DEAD",
           "HB-DEAD-DETECTION", "LIVE-WORKER-EXIT", "LIVE-RUN-TERMINATES"]


def test_clean_run_passes_group_c():
    assert check(clean_run().build(), only=GROUP_C) == []


# --- HB-GRAMMAR ---------------------------------------------------------------------------

def test_ready_after_running():
    b = clean_run().hb(20.05, "worker-0", "READY")
    assert_violation(violations(b, "HB-GRAMMAR"), "HB-GRAMMAR", "worker-0 wrote heartbeat READY after RUNNING")


def test_orchestrator_writes_worker_status():
    b = clean_run().hb(20.05, "worker-1", "RUNNING", writer="orchestrator")
    assert_violation(violations(b, "HB-GRAMMAR"), "HB-GRAMMAR", "orchestrator wrote heartbeat status RUNNING",
                     "worker-1")


def test_clean_exit_without_final_heartbeat():
    b = clean_run().drop(is_("heartbeat", worker="worker-1", status="COMPLETED"))
    assert_violation(violations(b, "HB-GRAMMAR"), "HB-GRAMMAR", "worker-1 exited with code 0", "DRAINING")


def test_killed_worker_may_leave_a_prefix():
    b = clean_run().drop(is_("heartbeat", worker="worker-1", status="COMPLETED"))
    b.edit(is_("proc", worker="worker-1", action="exit"), code=-9)
    assert violations(b, "HB-GRAMMAR") == []


# --- HB-READY-MEANS-READY -----------------------------------------------------------------

def test_ready_before_pool_is_open():
    b = clean_run().edit(is_("conn", worker="worker-1", conn="c1", action="created"), t=3.5)
    assert_violation(violations(b, "HB-READY-MEANS-READY"), "HB-READY-MEANS-READY", "worker-1", "1 open connections")
    assert_violation(violations(b, "HB-READY-MEANS-READY"), "HB-READY-MEANS-READY", "connection c1 created at t=3.500")


def test_ready_before_setup_succeeded():
    b = clean_run().drop(lambda r: r["kind"] == "ok" and r.get("op") == "setup" and r["actor"] == "worker-0")
    assert_violation(violations(b, "HB-READY-MEANS-READY"), "HB-READY-MEANS-READY", "worker-0", "setup")


# --- HB-GAP -------------------------------------------------------------------------------

def test_heartbeat_gap():
    b = clean_run().drop(is_("heartbeat", worker="worker-0", status="RUNNING", t=lambda t: 7 < t < 40))
    assert_violation(violations(b, "HB-GAP"), "HB-GAP", "worker-0", "from RUNNING at t=6.100", "to DRAINING")


def test_gap_at_the_limit_fails_just_under_passes():
    at = clean_run().drop(is_("heartbeat", worker="worker-0", status="RUNNING", t=lambda t: 7 < t < 36))
    assert_violation(violations(at, "HB-GAP"), "HB-GAP", "30.000 s")  # 6.1 -> 36.1: not < 30 s
    under = clean_run().drop(is_("heartbeat", worker="worker-0", status="RUNNING", t=lambda t: 7 < t < 35))
    assert violations(under, "HB-GAP") == []  # 6.1 -> 35.1


# --- HB-NO-FALSE-DEAD ---------------------------------------------------------------------

def test_false_stale_mark():
    b = clean_run().hb(20.5, "worker-0", "STALE", writer="orchestrator", age=3600.2)
    assert_violation(violations(b, "HB-NO-FALSE-DEAD"), "HB-NO-FALSE-DEAD", "marked worker-0 STALE at t=20.500",
                     "3600.2")


def test_dead_mark_after_completion():
    b = clean_run().hb(45.0, "worker-1", "DEAD", writer="orchestrator", age=61)
    assert_violation(violations(b, "HB-NO-FALSE-DEAD"), "HB-NO-FALSE-DEAD", "worker-1 DEAD", "after it completed")


def test_true_stale_mark_is_fine():
    b = clean_run().drop(is_("heartbeat", worker="worker-0", t=lambda t: 10 < t < 45))
    b.hb(40.0, "worker-0", "STALE", writer="orchestrator", age=31)
    assert violations(b, "HB-NO-FALSE-DEAD") == []


# --- HB-DEAD-DETECTION --------------------------------------------------------------------

def _crashed_worker_run(mark_at=None, failed_at=None):
    """worker-1 stops heartbeating at t=10.2 in a long RUNNING run (d = 300 s)."""
    b = clean_run(duration_s=300).drop(lambda r: r.get("worker") == "worker-1" and r["t"] > 10.2)
    b.drop(lambda r: r["t"] > 30)
    b.hb(30.0, "worker-0", "RUNNING")
    t = 31.0
    while t < 100:
        b.hb(t, "worker-0", "RUNNING")
        t += 1.0
    if mark_at is not None:
        b.hb(mark_at, "worker-1", "DEAD", writer="orchestrator", age=61)
    if failed_at is not None:
        b.status(failed_at, "RUNNING", "FAILED", END_TIME=1000 + failed_at)
    return b


def test_dead_worker_never_marked():
    assert_violation(violations(_crashed_worker_run(), "HB-DEAD-DETECTION"), "HB-DEAD-DETECTION",
                     "worker-1's last heartbeat was at t=10.200", "not marked DEAD by t=73.700")


def test_dead_mark_without_failed():
    assert_violation(violations(_crashed_worker_run(mark_at=72.0), "HB-DEAD-DETECTION"),
                     "HB-DEAD-DETECTION", "worker-1 was marked DEAD at t=72.000", "FAILED")


def test_dead_detected_and_failed():
    b = _crashed_worker_run(mark_at=72.0, failed_at=72.8)
    assert violations(b, "HB-DEAD-DETECTION") == []


# --- LIVE-WORKER-EXIT ---------------------------------------------------------------------

def test_worker_never_exits():
    b = clean_run().drop(is_("proc", worker="worker-1", action="exit"))
    assert_violation(violations(b, "LIVE-WORKER-EXIT"), "LIVE-WORKER-EXIT", "worker-1's process never exited")


def test_worker_exits_too_late():
    b = clean_run().edit(is_("proc", worker="worker-0", action="exit"), t=170.0)
    assert_violation(violations(b, "LIVE-WORKER-EXIT"), "LIVE-WORKER-EXIT", "worker-0 exited at t=170.000",
                     "t=36.000")


def test_worker_that_fails_before_first_heartbeat():
    b = TraceBuilder(workers=1)
    b.status(0.0, None, "PREPARED", phase="").status(0.5, "PREPARED", "STARTING", phase="PREPARING")
    b.proc(1.0, "worker-0", "spawn")
    b.status(140.0, "STARTING", "FAILED", END_TIME=1140.0).run_end(141.0, reason="deadline")
    b.add(300.0, "health", "orchestrator")
    assert_violation(violations(b, "LIVE-WORKER-EXIT"), "LIVE-WORKER-EXIT", "worker-0's process never exited")
    b.proc(2.0, "worker-0", "exit", code=2)
    assert violations(b, "LIVE-WORKER-EXIT") == []


# --- LIVE-RUN-TERMINATES ------------------------------------------------------------------

def test_completed_run_stuck_in_processing():
    b = clean_run().drop(is_("status_write", t=50.0))
    assert_violation(violations(b, "LIVE-RUN-TERMINATES"), "LIVE-RUN-TERMINATES", "PHASE 'PROCESSING'")


def test_stopping_too_long():
    b = clean_run().edit(is_("status_write", t=38.5), t=200.0).edit(is_("status_write", t=50.0), t=210.0)
    b.edit(is_("run_end"), t=211.0)
    assert_violation(violations(b, "LIVE-RUN-TERMINATES"), "LIVE-RUN-TERMINATES", "STOPPING", "t=36.100", "bound 130")


def test_run_never_terminal():
    b = clean_run().drop(lambda r: r["kind"] == "status_write" and r["t"] > 38)
    assert_violation(violations(b, "LIVE-RUN-TERMINATES"), "LIVE-RUN-TERMINATES", "STATUS STOPPING, not terminal")


def test_running_too_long():
    b = clean_run().edit(is_("status_write", t=36.1), t=40.0)
    assert_violation(violations(b, "LIVE-RUN-TERMINATES"), "LIVE-RUN-TERMINATES", "RUNNING", "bound 32.4")
