"""Group H checkers (delivery: RUN-PHASE-ANNOUNCED, LIVE-WAIT-EXIT, EV-CURSOR-HANDLED) on
synthetic traces: each with a trace that shows its violation, one that does not, and one
that lacks the data (not judged)."""
from protocol.checks import judge
from tests.trace_builder import (WORKERS, TraceBuilder, assert_violation, clean_run, is_,
                                 violations)

H = ["RUN-PHASE-ANNOUNCED", "LIVE-WAIT-EXIT", "EV-CURSOR-HANDLED"]


def outcome(b, pid):
    return judge(b.build(), only=[pid])[0].outcome


# --- RUN-PHASE-ANNOUNCED ------------------------------------------------------------------

def test_phase_announced_clean():
    assert outcome(clean_run(), "RUN-PHASE-ANNOUNCED") == "passed"


def test_measurement_written_but_never_announced():
    b = clean_run().drop(is_("event_emit", seq=3))
    assert_violation(violations(b, "RUN-PHASE-ANNOUNCED"), "RUN-PHASE-ANNOUNCED",
                     "WARMUP -> MEASUREMENT", "t=15.600", "no SET_PHASE MEASUREMENT")


def test_start_phase_never_announced():
    b = clean_run().drop(is_("event_emit", seq=2))
    assert_violation(violations(b, "RUN-PHASE-ANNOUNCED"), "RUN-PHASE-ANNOUNCED",
                     "PREPARING -> WARMUP", "t=5.500")


def test_announcement_later_than_p():
    b = clean_run().edit(is_("event_emit", seq=3), t=15.6 + 1.3)  # P = 1.2 in the header
    assert_violation(violations(b, "RUN-PHASE-ANNOUNCED"), "RUN-PHASE-ANNOUNCED",
                     "WARMUP -> MEASUREMENT", "by t=16.800")


def test_announcement_exactly_at_p_is_in_time():
    b = clean_run().edit(is_("event_emit", seq=3), t=15.6 + 1.2)
    assert violations(b, "RUN-PHASE-ANNOUNCED") == []


def test_phase_announced_not_judged_without_a_phase_change():
    b = TraceBuilder()
    b.status(0.0, None, "PREPARED", phase="").status(0.5, "PREPARED", "CANCELLED")
    j = judge(b.build(), only=["RUN-PHASE-ANNOUNCED"])[0]
    assert j.outcome == "not judged" and "no PHASE change" in j.not_judged


def test_phase_announced_skips_a_change_the_trace_stops_before_judging():
    b = clean_run()
    b.records = [r for r in b.records if r["t"] <= 15.65]  # cut just after the MEASUREMENT write
    b.drop(is_("event_emit", seq=2))  # the WARMUP change, due long before the end, is judged
    vs = violations(b, "RUN-PHASE-ANNOUNCED")
    assert [v.message.split(" was ")[0] for v in vs] == ["PHASE PREPARING -> WARMUP"]


# --- LIVE-WAIT-EXIT -----------------------------------------------------------------------

def cancelled_while_waiting(exit0: float = 5.3, exit1: float = 5.6) -> TraceBuilder:
    """Two workers READY and waiting; a user stop cancels the run before it is RUNNING."""
    b = TraceBuilder(warmup_s=10, duration_s=20, workers=2)
    b.status(0.0, None, "PREPARED", phase="")
    b.status(0.5, "PREPARED", "STARTING", phase="PREPARING")
    b.event(0.6, 1, "START", phase="WARMUP", workers_expected=2)
    for g, k in enumerate(WORKERS):
        b.proc(1.0, k, "spawn").hb(2.0, k, "STARTING").hb(3.0, k, "READY")
        b.marker(3.0, k, "ready")
    b.stop_request(4.0)
    b.status(4.1, "STARTING", "CANCELLING")
    b.event(4.2, 2, "STOP", reason="user_requested")
    b.status(5.0, "CANCELLING", "CANCELLED")
    for k, t in zip(WORKERS, (exit0, exit1)):
        b.hb(t, k, "COMPLETED").proc(t + 0.1, k, "exit", code=0)
    return b.run_end(9.0)


def test_wait_exit_clean():
    assert outcome(cancelled_while_waiting(), "LIVE-WAIT-EXIT") == "passed"
    assert outcome(clean_run(), "LIVE-WAIT-EXIT") == "passed"  # left on RUNNING long before


def test_waiting_worker_ignores_the_cancelled_run():
    b = cancelled_while_waiting(exit1=7.5)  # bound: 5.0 + 2.0
    assert_violation(violations(b, "LIVE-WAIT-EXIT"), "LIVE-WAIT-EXIT", "worker-1",
                     "STATUS CANCELLED", "t=5.000", "left only at t=7.500")


def test_waiting_worker_never_leaves():
    b = cancelled_while_waiting().drop(lambda r: r.get("worker") == "worker-1"
                                       and r["t"] > 5.0)
    assert_violation(violations(b, "LIVE-WAIT-EXIT"), "LIVE-WAIT-EXIT", "worker-1",
                     "had not left")


def test_stop_event_counts_as_leaving():
    b = cancelled_while_waiting(exit1=7.5).seen(5.2, "worker-1", 2, "STOP", loop="wait",
                                                cursor=0)
    assert violations(b, "LIVE-WAIT-EXIT") == []


def test_failed_status_read_extends_the_bound():
    b = cancelled_while_waiting(exit1=6.9)
    assert violations(b, "LIVE-WAIT-EXIT") == []  # 6.9 <= 7.0
    b = cancelled_while_waiting(exit1=8.0)
    assert violations(b, "LIVE-WAIT-EXIT")
    b.op(5.5, "worker-1", "read_run_status", outcome="fail")  # one more period: 7.0 + 1.4
    assert violations(b, "LIVE-WAIT-EXIT") == []


def test_worker_entering_its_wait_loop_after_the_end_counts_from_entry():
    b = cancelled_while_waiting(exit1=7.5).edit(is_("marker", worker="worker-1"), t=6.0)
    b.edit(is_("heartbeat", worker="worker-1", status="READY"), t=6.0)
    assert violations(b, "LIVE-WAIT-EXIT") == []  # 7.5 <= 6.0 + 2.0


def test_wait_exit_not_judged_without_a_terminal_status():
    b = cancelled_while_waiting().drop(is_("status_write", set=lambda s: s.get("STATUS") == "CANCELLED"))
    j = judge(b.build(), only=["LIVE-WAIT-EXIT"])[0]
    assert j.outcome == "not judged" and "terminal" in j.not_judged


def test_wait_exit_not_judged_without_its_bound():
    b = TraceBuilder(wait_exit_bound_s=None)
    assert outcome(b, "LIVE-WAIT-EXIT") == "not judged"


# --- EV-CURSOR-HANDLED --------------------------------------------------------------------

def test_cursor_handled_clean():
    assert outcome(clean_run(), "EV-CURSOR-HANDLED") == "passed"


def test_wait_loop_moves_the_cursor_over_set_phase():
    b = clean_run().seen(5.7, "worker-0", 2, "SET_PHASE", outcome="ignored", loop="wait")
    assert_violation(violations(b, "EV-CURSOR-HANDLED"), "EV-CURSOR-HANDLED",
                     "worker-0's cursor reached 2", "wait loop", "SET_PHASE seq 2",
                     "its record marks it 'ignored'")


def test_cursor_runs_ahead_of_the_batch():
    """The cursor jumps to the batch's last row before the rows are handled; the rows are
    handled later, so only the order shows it (EV-NO-SWALLOW accepts it)."""
    b = clean_run().edit(is_("event_seen", worker="worker-1", seq=2), cursor=3)
    vs = violations(b, "EV-CURSOR-HANDLED")
    assert_violation(vs, "EV-CURSOR-HANDLED", "worker-1's cursor reached 3",
                     "SET_PHASE seq 3 phase=MEASUREMENT", "no record")
    assert violations(b, "EV-NO-SWALLOW") == []


def test_events_not_for_the_worker_may_be_passed():
    b = clean_run().event(20.0, 4, "SET_WORKER_TARGET", worker_id="worker-1",
                          worker_group_id=1, target_connections=2, ramp_seconds=0)
    b.edit(is_("event_emit", type="STOP"), seq=5).edit(is_("event_seen", type="STOP"), seq=5)
    b.seen(21.0, "worker-0", 4, "SET_WORKER_TARGET", outcome="skipped_scope")
    b.seen(21.0, "worker-1", 4, "SET_WORKER_TARGET")
    assert violations(b, "EV-CURSOR-HANDLED") == []
    b.seen(21.0, "worker-1", 4, "SET_WORKER_TARGET", outcome="skipped_scope")  # its own
    b.drop(lambda r: r["kind"] == "event_seen" and r.get("worker") == "worker-1"
           and r.get("seq") == 4 and r.get("outcome") == "applied")
    assert_violation(violations(b, "EV-CURSOR-HANDLED"), "EV-CURSOR-HANDLED", "worker-1",
                     "SET_WORKER_TARGET seq 4")


def test_cursor_handled_not_judged_without_notes():
    b = clean_run().drop(is_("event_seen"))
    j = judge(b.build(), only=["EV-CURSOR-HANDLED"])[0]
    assert j.outcome == "not judged" and "event_seen" in j.not_judged


def test_a_stop_before_the_announcement_was_due_excuses_it():
    """A STOP that ends the run before P elapsed: the workers need no phase any more (a user
    stop racing the RUNNING write, its SET_PHASE lost to a backend stall)."""
    b = clean_run().drop(is_("event_emit", seq=3)).event(15.9, 5, "STOP",
                                                          reason="user_requested")
    assert violations(b, "RUN-PHASE-ANNOUNCED") == []
