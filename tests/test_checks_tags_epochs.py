"""Group D checkers (PH-*, TAG-*, EPOCH-*) on synthetic traces."""
from protocol.checks import check
from tests.trace_builder import T_MEAS, assert_violation, clean_run, is_, tag, violations

GROUP_D = ["PH-HOOK-ONCE", "PH-NO-REGRESS", "TAG-WARMUP", "TAG-MEASUREMENT", "TAG-PROPAGATION",
           "EPOCH-ISOLATION", "EPOCH-TAG-AGREE"]


def test_clean_run_passes_group_d():
    assert check(clean_run().build(), only=GROUP_D) == []


def _stuck_in_warmup(worker="worker-1"):
    """R1: the worker never ran its hook; its queries stay WARMUP, epoch 0, all measurement long."""
    b = clean_run().drop(is_("hook", worker=worker))
    b.drop(is_("conn", worker=worker, action="altered"))
    b.edit(is_("query", worker=worker, epoch=1), tag=tag(worker, "WARMUP"), epoch=0)
    return b


# --- PH-HOOK-ONCE -------------------------------------------------------------------------

def test_hook_never_runs():
    assert_violation(violations(_stuck_in_warmup(), "PH-HOOK-ONCE"), "PH-HOOK-ONCE",
                     "worker-1 never ran its measurement hook", f"t={T_MEAS:.3f}")


def test_hook_runs_twice():
    b = clean_run().hook(20.0, 20.2, "worker-0", epoch=2)
    assert_violation(violations(b, "PH-HOOK-ONCE"), "PH-HOOK-ONCE", "worker-0 ran its measurement hook 2 times")


def test_hook_too_late():
    b = clean_run().edit(is_("hook", worker="worker-0"), t=23.0, end=23.0)
    assert_violation(violations(b, "PH-HOOK-ONCE"), "PH-HOOK-ONCE", "worker-0's hook finished at t=23.000",
                     "t=22.400")


def test_worker_joining_in_measurement_queries_before_hook():
    b = clean_run()
    k = "worker-2"
    b.proc(18.0, k, "spawn").wstate(18.5, k, phase="MEASUREMENT", target=2, source="startup")
    b.marker(20.0, k, "main_loop").hook(20.0, 20.3, k, epoch=1)
    b.query(20.1, 20.4, k, "RUNNING", epoch=1)
    assert_violation(violations(b, "PH-HOOK-ONCE"), "PH-HOOK-ONCE", "worker-2 started in MEASUREMENT",
                     "t=20.100", "t=20.300")
    ok = clean_run().proc(18.0, k, "spawn").marker(20.0, k, "main_loop").hook(20.0, 20.3, k)
    ok.query(20.4, 20.6, k, "RUNNING")
    assert violations(ok, "PH-HOOK-ONCE") == []


# --- PH-NO-REGRESS ------------------------------------------------------------------------

def test_phase_regresses_on_replay():
    b = clean_run().wstate(20.0, "worker-0", phase="WARMUP", source="event")
    assert_violation(violations(b, "PH-NO-REGRESS"), "PH-NO-REGRESS", "worker-0", "MEASUREMENT",
                     "to WARMUP at t=20.000")


def test_no_regress_clean():
    assert violations(clean_run(), "PH-NO-REGRESS") == []


# --- TAG-WARMUP ---------------------------------------------------------------------------

def test_running_tag_before_measurement():
    b = clean_run().query(12.5, 12.9, "worker-0", "RUNNING", epoch=0)
    assert_violation(violations(b, "TAG-WARMUP"), "TAG-WARMUP", "worker-0", "non-WARMUP", "t=12.500")


def test_malformed_and_shared_tags():
    b = clean_run().query(20.5, 20.9, "worker-0", tag_="flakebench:test_id=run-1:phase=PROCESSING")
    assert_violation(violations(b, "TAG-WARMUP"), "TAG-WARMUP", "worker-0", "malformed")
    b = clean_run().query(20.5, 20.9, "worker-1", "RUNNING", tag_=tag("worker-0", "RUNNING"))
    assert_violation(violations(b, "TAG-WARMUP"), "TAG-WARMUP", "worker-1", "test_id=tid-worker-0")


def test_tag_warmup_clean():
    assert violations(clean_run(), "TAG-WARMUP") == []


# --- TAG-MEASUREMENT ----------------------------------------------------------------------

def test_queries_stay_warmup_in_measurement():
    assert_violation(violations(_stuck_in_warmup(), "TAG-MEASUREMENT"), "TAG-MEASUREMENT", "worker-1",
                     "t_M + E + R + L")


def test_query_after_hook_with_old_tag():
    b = clean_run().query(16.8, 17.0, "worker-0", "WARMUP", epoch=0)
    assert_violation(violations(b, "TAG-MEASUREMENT"), "TAG-MEASUREMENT", "worker-0", "after its hook",
                     "t=16.800")


def test_tag_measurement_clean():
    assert violations(clean_run(), "TAG-MEASUREMENT") == []


# --- TAG-PROPAGATION ----------------------------------------------------------------------

def test_connection_created_with_old_tag_after_update():
    b = clean_run().conn(20.0, "worker-0", "c2", "created", tag("worker-0", "WARMUP"))
    b.query(20.2, 20.5, "worker-0", "WARMUP", epoch=1, conn="c2")
    vs = violations(b, "TAG-PROPAGATION")
    assert_violation(vs, "TAG-PROPAGATION", "worker-0's connection c2 was created at t=20.000")
    assert_violation(vs, "TAG-PROPAGATION", "worker-0 connection c2", "t=20.200")


def test_tag_propagation_clean():
    assert violations(clean_run(), "TAG-PROPAGATION") == []


# --- EPOCH-ISOLATION ----------------------------------------------------------------------

def test_query_spanning_the_hook_counted():
    b = clean_run().edit(is_("query", worker="worker-1", counted=False), counted=True)
    assert_violation(violations(b, "EPOCH-ISOLATION"), "EPOCH-ISOLATION", "worker-1", "still counted")


def test_hook_does_not_open_new_epoch():
    b = clean_run().edit(is_("hook", worker="worker-0"), epoch=0)
    assert_violation(violations(b, "EPOCH-ISOLATION"), "EPOCH-ISOLATION", "worker-0's hook", "epoch at 0")


def test_query_records_wrong_epoch():
    b = clean_run().query(25.0, 25.3, "worker-1", "RUNNING", epoch=2)
    assert_violation(violations(b, "EPOCH-ISOLATION"), "EPOCH-ISOLATION", "worker-1", "records epoch 2")


def test_epoch_isolation_clean():
    assert violations(clean_run(), "EPOCH-ISOLATION") == []


# --- EPOCH-TAG-AGREE ----------------------------------------------------------------------

def test_tag_and_epoch_disagree():
    b = clean_run().edit(is_("query", worker="worker-0", start=21.0), epoch=0)
    assert_violation(violations(b, "EPOCH-TAG-AGREE"), "EPOCH-TAG-AGREE", "worker-0", "t=21.000", "epoch 0")


def test_epoch_tag_agree_clean():
    assert violations(clean_run(), "EPOCH-TAG-AGREE") == []
