"""The interval rule (docs/trace.md): in a live trace a write's effect instant is a window,
invoke to completion, and a timing property fails only when it fails for every instant in
the windows. The simulation records exact instants, so there the same numbers still fail."""
from __future__ import annotations

from protocol.checks import judge
from tests.trace_builder import TraceBuilder, assert_violation, violations

D = 5.0


def _measured(world: str, m_invoke: float, m_done: float, s_invoke: float, s_done: float,
              **params) -> TraceBuilder:
    """A run whose MEASUREMENT write (ids 101) and duration STOP insert (id 102) are
    statements invoked and completed at the given instants."""
    b = TraceBuilder(warmup_s=0, duration_s=D, world=world, P=1.5, clock_eps_s=0.01, **params)
    b.status(0.0, None, "PREPARED", phase="", live=world == "live")
    b.status(0.5, "PREPARED", "STARTING", phase="PREPARING", live=world == "live")
    b.add(m_invoke, "invoke", "orchestrator", op="write_run_status", id=101, args={})
    b.status(m_done, "STARTING", "RUNNING", phase="MEASUREMENT", live=world == "live")
    b.records[-1]["op_id"] = 101
    b.add(m_done, "ok", "orchestrator", op="write_run_status", id=101)
    b.add(s_invoke, "invoke", "orchestrator", op="insert_event", id=102, args={})
    b.event(s_done, 1, "STOP", reason="duration_elapsed")
    b.records[-1]["op_id"] = 102
    b.add(s_done, "ok", "orchestrator", op="insert_event", id=102)
    return b


def test_live_stop_inside_the_bound_for_some_instant_is_not_a_violation():
    # completion to completion 4.85 s (the false alarm of issue 8); invoke of the
    # MEASUREMENT write to completion of the STOP insert 5.05 s: the property can hold
    b = _measured("live", 10.0, 10.2, 14.9, 15.05)
    assert violations(b, "RUN-MEASUREMENT-LENGTH") == []


def test_live_stop_too_early_for_every_instant_is_a_violation():
    b = _measured("live", 10.0, 10.2, 13.9, 14.5)  # at most 4.51 s
    assert_violation(violations(b, "RUN-MEASUREMENT-LENGTH"), "RUN-MEASUREMENT-LENGTH",
                     "4.", "invoke to completion", "[5, 6.5]")


def test_live_stop_too_late_for_every_instant_is_a_violation():
    b = _measured("live", 10.0, 10.2, 17.0, 17.1)  # at least 6.79 s > d + P = 6.5
    assert_violation(violations(b, "RUN-MEASUREMENT-LENGTH"), "RUN-MEASUREMENT-LENGTH",
                     "outside [d, d+P]")


def test_simulated_trace_keeps_exact_instants():
    # same numbers as the first test, but a simulation records the effect instant itself
    b = _measured("sim", 10.0, 10.2, 14.9, 15.05)
    assert_violation(violations(b, "RUN-MEASUREMENT-LENGTH"), "RUN-MEASUREMENT-LENGTH",
                     "4.850 s")


def test_live_query_after_running_invoke_is_not_early():
    b = _measured("live", 10.0, 10.2, 14.9, 15.05)
    b.query(10.1, 10.3, "worker-0", phase="RUNNING")  # before the completion, after the invoke
    assert violations(b, "RUN-NO-EARLY-LOAD") == []
    b.query(9.5, 9.7, "worker-1", phase="RUNNING")  # before the invoke: early for sure
    assert_violation(violations(b, "RUN-NO-EARLY-LOAD"), "RUN-NO-EARLY-LOAD", "worker-1")


def test_live_events_whose_inserts_overlap_keep_the_prefix():
    b = TraceBuilder(world="live", clock_eps_s=0.0)
    for i, (inv, done) in enumerate(((1.0, 1.5), (1.1, 1.3)), start=1):
        b.add(inv, "invoke", "orchestrator", op="insert_event", id=200 + i, args={})
        b.event(done, i, "START" if i == 1 else "SET_PHASE", phase="WARMUP")
        b.records[-1]["op_id"] = 200 + i
    assert violations(b, "EV-SEQ-PREFIX") == []  # seq 2 may have committed after seq 1
    b.records[-1]["t"] = 0.9  # seq 2 done before seq 1's insert began
    b.records[-2]["t"] = 0.5
    assert_violation(violations(b, "EV-SEQ-PREFIX"), "EV-SEQ-PREFIX", "seq 2")


def test_live_warmup_length_allows_the_millisecond_datediff():
    b = TraceBuilder(warmup_s=3, world="live", clock_eps_s=0.01, P=1.0)
    b.status(0.0, None, "PREPARED", phase="", live=True)
    b.status(1.0, "STARTING", "RUNNING", phase="WARMUP", live=True, WARMUP_START_TIME=100.0)
    b.status(4.0, "RUNNING", "RUNNING", phase="MEASUREMENT", live=True,
             WARMUP_END_TIME=102.9995)
    assert violations(b, "RUN-WARMUP-LENGTH") == []
    b.edit_set(lambda r: r["kind"] == "status_write" and r["t"] == 4.0,
               WARMUP_END_TIME=102.9)
    assert_violation(violations(b, "RUN-WARMUP-LENGTH"), "RUN-WARMUP-LENGTH", "2.900 s")


def test_missing_duration_param_is_not_judged():
    b = _measured("live", 10.0, 10.2, 14.9, 15.05)
    b.header["params"].pop("duration_s")
    (j,) = judge(b.build(), only=["RUN-MEASUREMENT-LENGTH"])
    assert j.outcome == "not judged" and "duration_s" in j.not_judged


def _hb_live(*, final_info=False):
    """worker-0 heartbeats live: STARTING ok, then READY statements that timed out (info),
    then RUNNING ok 7 s after STARTING (stale_s 5)."""
    b = TraceBuilder(world="live", stale_s=5.0, clock_eps_s=0.0, workers=1)
    b.status(0.0, None, "PREPARED", phase="", live=True)
    b.status(0.5, "PREPARED", "STARTING", phase="PREPARING", live=True)
    b.hb(1.0, "worker-0", "STARTING")
    for t in (2.0, 3.5, 5.0, 6.5):
        b.op(t, "worker-0", "merge_heartbeat", outcome="info", dt=1.0, worker_id="worker-0",
             status="READY")
    b.status(7.5, "STARTING", "RUNNING", phase="WARMUP", live=True)
    b.hb(8.0, "worker-0", "RUNNING")
    return b


def test_heartbeats_with_unknown_outcome_may_have_applied():
    b = _hb_live()
    for pid in ("HB-GAP", "HB-GRAMMAR", "RUN-READY-GATE"):
        assert violations(b, pid) == [], pid
    # the same trace with those statements certainly failed: three real violations
    b = _hb_live().edit(lambda r: r["kind"] == "info", kind="fail")
    assert_violation(violations(b, "HB-GAP"), "HB-GAP", "7.000 s")
    assert_violation(violations(b, "HB-GRAMMAR"), "HB-GRAMMAR", "RUNNING after STARTING")
    assert_violation(violations(b, "RUN-READY-GATE"), "RUN-READY-GATE", "latest heartbeat is STARTING")


def test_live_event_seen_before_the_insert_returned_is_not_a_swallow():
    b = TraceBuilder(world="live", clock_eps_s=0.0, workers=1)
    b.add(1.0, "invoke", "orchestrator", op="insert_event", id=301, args={})
    b.event(1.5, 1, "START", phase="WARMUP")
    b.records[-1]["op_id"] = 301
    b.seen(1.4, "worker-0", 1, "START", outcome="applied", loop="main")  # fetched before 1.5
    assert violations(b, "EV-NO-SWALLOW") == []
    b.records[-1]["t"] = 0.9  # seen before the insert even began: impossible, flagged
    assert violations(b, "EV-NO-SWALLOW")


def test_a_status_write_that_timed_out_may_have_applied():
    """Live: the STOPPING write after the duration STOP timed out (info); the driver records
    it with matched null, and the later STOPPING -> COMPLETED is then not judged as
    RUNNING -> COMPLETED without a completion reason."""
    from protocol import effects as fx
    from real_backend.driver import _maybe_write
    rec = _maybe_write(fx.WriteRunStatus("run-1", {"STATUS": "STOPPING"},
                                         fx.Guard(status_in=("RUNNING",))), "orchestrator", 53)
    assert rec["matched"] is None and rec["after"] == {"status": "STOPPING"}

    def run(with_maybe: bool) -> TraceBuilder:
        b = TraceBuilder(world="live", warmup_s=0, duration_s=5)
        b.status(0.0, None, "PREPARED", phase="", live=True)
        b.status(0.5, "PREPARED", "STARTING", phase="PREPARING", live=True)
        b.status(2.0, "STARTING", "RUNNING", phase="MEASUREMENT", live=True)
        b.event(7.0, 1, "STOP", reason="duration_elapsed")
        if with_maybe:
            b.add(8.5, "status_write", "orchestrator", **rec)
        b.status(12.0, "RUNNING", "COMPLETED", phase="PROCESSING", live=True)
        return b
    assert_violation(violations(run(False), "RUN-STOP-ANNOUNCED"), "RUN-STOP-ANNOUNCED",
                     "RUNNING -> COMPLETED")
    assert violations(run(True), "RUN-STOP-ANNOUNCED") == []
