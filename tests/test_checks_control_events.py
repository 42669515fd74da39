"""Group B checkers (EV-*) on synthetic traces."""
from protocol.checks import check
from tests.trace_builder import assert_violation, clean_run, is_, violations

TARGET = dict(worker_id="worker-1", worker_group_id=1, target_connections=3, ramp_seconds=0,
              reason="qps_scaling_up")


def test_clean_run_passes_group_b():
    ids = ["EV-SEQ-UNIQUE", "EV-SEQ-PREFIX", "EV-ORDER", "EV-NO-SWALLOW", "EV-SCOPE",
           "EV-CONVERGE", "EV-STOP-DELIVERY"]
    assert check(clean_run().build(), only=ids) == []


# --- EV-SEQ-UNIQUE ------------------------------------------------------------------------

def test_duplicate_seq():
    b = clean_run().event(15.7, 3, "SET_WORKER_TARGET", emitter="api", **TARGET)
    assert_violation(violations(b, "EV-SEQ-UNIQUE"), "EV-SEQ-UNIQUE", "seq 3 used 2 times", "SET_WORKER_TARGET")


def test_unused_seq():
    b = clean_run().edit(is_("event_emit", seq=4), seq=6)
    assert_violation(violations(b, "EV-SEQ-UNIQUE"), "EV-SEQ-UNIQUE", "[4, 5]")


def test_unused_seq_excused_by_unknown_insert():
    b = clean_run().edit(is_("event_emit", seq=4), seq=5).op(35.9, "orchestrator", "insert_event", outcome="info")
    assert violations(b, "EV-SEQ-UNIQUE") == []


def test_second_start():
    b = clean_run().event(1.0, 5, "START", phase="WARMUP")
    assert_violation(violations(b, "EV-SEQ-UNIQUE"), "EV-SEQ-UNIQUE", "START has seq 5")


# --- EV-SEQ-PREFIX ------------------------------------------------------------------------

def test_seq_prefix_clean():
    assert violations(clean_run(), "EV-SEQ-PREFIX") == []


def test_lower_seq_committed_late():
    b = clean_run().edit(is_("event_emit", seq=2), t=16.0)
    assert_violation(violations(b, "EV-SEQ-PREFIX"), "EV-SEQ-PREFIX", "SET_PHASE seq 3", "seq 2", "t=16.000")


# --- EV-ORDER -----------------------------------------------------------------------------

def test_order_clean():
    assert violations(clean_run(), "EV-ORDER") == []


def test_event_handled_twice():
    b = clean_run().seen(17.0, "worker-0", 3, "SET_PHASE")
    assert_violation(violations(b, "EV-ORDER"), "EV-ORDER", "worker-0 handled seq 3", "again", "t=17.000")


def test_event_handled_out_of_order():
    b = clean_run().seen(17.0, "worker-1", 2, "SET_PHASE", cursor=3)
    assert_violation(violations(b, "EV-ORDER"), "EV-ORDER", "worker-1 handled seq 2", "after seq 3")


# --- EV-NO-SWALLOW ------------------------------------------------------------------------

def test_no_swallow_clean():
    assert violations(clean_run(), "EV-NO-SWALLOW") == []


def test_wait_loop_swallows_set_phase():
    # R1: the wait loop moved the cursor past SET_PHASE, the main loop never saw it
    b = clean_run().drop(is_("event_seen", worker="worker-0", seq=3))
    b.seen(15.9, "worker-0", 3, "SET_PHASE", outcome="ignored", loop="wait")
    assert_violation(violations(b, "EV-NO-SWALLOW"), "EV-NO-SWALLOW", "worker-0", "SET_PHASE seq 3",
                     "wait loop", "'ignored'")


def test_cursor_jumps_over_an_event():
    b = clean_run().drop(is_("event_seen", worker="worker-1", seq=3))
    assert_violation(violations(b, "EV-NO-SWALLOW"), "EV-NO-SWALLOW", "worker-1 swallowed SET_PHASE seq 3",
                     "cursor reached 4")


def test_duplicate_seq_row_for_the_worker_is_swallowed():
    b = clean_run().event(15.7, 3, "SET_WORKER_TARGET", **TARGET)
    b.seen(16.3, "worker-0", 3, "SET_WORKER_TARGET", outcome="skipped_scope")
    b.seen(16.31, "worker-1", 3, "SET_WORKER_TARGET", outcome="skipped_cursor")
    assert_violation(violations(b, "EV-NO-SWALLOW"), "EV-NO-SWALLOW", "worker-1 swallowed SET_WORKER_TARGET seq 3",
                     "concerns worker-1")
    assert not any("worker-0" in v.message for v in violations(b, "EV-NO-SWALLOW"))


def test_events_after_applied_stop_are_exempt():
    b = clean_run().event(36.05, 5, "SET_PHASE", phase="MEASUREMENT")
    b.seen(36.51, "worker-0", 5, "SET_PHASE", outcome="skipped_cursor", cursor=5)
    assert violations(b, "EV-NO-SWALLOW") == []


# --- EV-SCOPE -----------------------------------------------------------------------------

def test_scope_clean():
    assert violations(clean_run(), "EV-SCOPE") == []


def test_worker_applies_other_workers_target():
    b = clean_run().event(20.0, 5, "SET_WORKER_TARGET", **TARGET)
    b.seen(20.5, "worker-0", 5, "SET_WORKER_TARGET", outcome="applied")
    assert_violation(violations(b, "EV-SCOPE"), "EV-SCOPE", "worker-0 applied SET_WORKER_TARGET seq 5",
                     "not for worker-0")


def test_run_event_not_applied_by_live_worker():
    b = clean_run().edit(is_("event_seen", worker="worker-1", seq=3), outcome="skipped_scope")
    assert_violation(violations(b, "EV-SCOPE"), "EV-SCOPE", "SET_PHASE seq 3", "worker-1", "skipped_scope")


def test_event_sharing_an_applied_stops_id_is_not_a_scope_violation():
    # The reference's three-statement allocation can give a user STOP and a SET_PHASE the
    # same id. A worker that applied the STOP ended its processing there; the duplicate id is
    # EV-SEQ-UNIQUE's to report, not a scope violation.
    b = clean_run().event(15.9, 3, "STOP", reason="user_requested")
    b.edit(is_("event_seen", seq=3), type="STOP")  # both workers applied the STOP
    assert violations(b, "EV-SCOPE") == []
    assert [v.property_id for v in violations(b, "EV-SEQ-UNIQUE")] == ["EV-SEQ-UNIQUE"]


# --- EV-CONVERGE --------------------------------------------------------------------------

def test_converge_clean():
    assert violations(clean_run(), "EV-CONVERGE") == []


def test_phase_does_not_converge():
    b = clean_run().drop(is_("worker_state", worker="worker-1", phase="MEASUREMENT"))
    assert_violation(violations(b, "EV-CONVERGE"), "EV-CONVERGE", "worker-1", "current_phase is 'WARMUP'",
                     "SET_PHASE seq 3")


def _target_run(applied: bool, stored: int = 3):
    b = clean_run().status(19.9, "RUNNING", "RUNNING",
                           WORKER_TARGETS={"worker-1": {"target_connections": stored, "worker_group_id": 1}})
    b.event(20.0, 5, "SET_WORKER_TARGET", **TARGET)
    b.seen(20.6, "worker-1", 5, "SET_WORKER_TARGET")
    if applied:
        b.wstate(20.6, "worker-1", target=3, source="event")
    return b


def test_target_converges():
    assert violations(_target_run(True), "EV-CONVERGE") == []


def test_target_does_not_converge():
    assert_violation(violations(_target_run(False), "EV-CONVERGE"), "EV-CONVERGE", "worker-1",
                     "current_target is 2", "SET_WORKER_TARGET seq 5")


def test_worker_targets_disagree_after_quiet_period():
    assert_violation(violations(_target_run(True, stored=4), "EV-CONVERGE"), "EV-CONVERGE",
                     "WORKER_TARGETS[worker-1]=4", "says 3")


# --- EV-STOP-DELIVERY ---------------------------------------------------------------------

def test_stop_delivery_clean():
    assert violations(clean_run(), "EV-STOP-DELIVERY") == []


def test_query_started_after_stop_bound():
    b = clean_run().query(38.0, 38.3, "worker-1", "RUNNING")
    assert_violation(violations(b, "EV-STOP-DELIVERY"), "EV-STOP-DELIVERY", "worker-1", "t=38.000",
                     "STOP seq 4", "t=37.800")


def test_wait_loop_peek_without_cursor_move_is_not_handling():
    # the fixed wait loop looks at START but leaves the cursor at 0; the main loop takes it later
    b = clean_run().edit(is_("event_seen", seq=1), loop="wait", cursor=0)
    b.seen(6.25, "worker-0", 1, "START", outcome="ignored", loop="main")
    b.seen(6.35, "worker-1", 1, "START", outcome="ignored", loop="main")
    assert check(b.build(), only=["EV-ORDER", "EV-NO-SWALLOW", "EV-SCOPE"]) == []


def _ramp_run(mid_value: int):
    """Target 3 at once, then 6 with a 10 s ramp emitted just before seq 5's deadline
    (20.0 + E + R + L = 26.8): at that deadline the worker is read mid-ramp."""
    b = _target_run(True, stored=6)
    b.event(26.0, 6, "SET_WORKER_TARGET", **{**TARGET, "target_connections": 6,
                                             "ramp_seconds": 10})
    b.seen(26.3, "worker-1", 6, "SET_WORKER_TARGET")
    b.wstate(26.5, "worker-1", target=mid_value, source="ramp")
    b.wstate(36.0, "worker-1", target=6, source="ramp")
    return b


def test_target_mid_ramp_between_the_two_targets_is_converging():
    assert violations(_ramp_run(4), "EV-CONVERGE") == []


def test_target_outside_the_ramp_is_not_converging():
    assert_violation(violations(_ramp_run(8), "EV-CONVERGE"), "EV-CONVERGE", "worker-1",
                     "current_target is 8")


def _reconciled_run(value: int):
    """After seq 5 (target 3), WORKER_TARGETS[worker-1] = 4 is written before its own event:
    the 5 s reconcile may adopt it first (§9.3 writes the row, then the event)."""
    b = _target_run(True)
    b.status(22.0, "RUNNING", "RUNNING",
             WORKER_TARGETS={"worker-1": {"target_connections": 4, "worker_group_id": 1}})
    b.wstate(22.1, "worker-1", target=value, source="reconcile")
    return b


def test_target_from_a_worker_targets_write_is_converging():
    assert violations(_reconciled_run(4), "EV-CONVERGE") == []


def test_target_neither_event_nor_worker_targets_is_not_converging():
    assert_violation(violations(_reconciled_run(5), "EV-CONVERGE"), "EV-CONVERGE", "worker-1",
                     "current_target is 5")
