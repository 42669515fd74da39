"""Group A checkers (RUN-*) on synthetic traces: each one fails on a broken trace, passes a clean one."""
from pathlib import Path

import pytest

from protocol.checks import CHECKERS, Violation, check, property_ids
from tests.trace_builder import (DB0, T_MEAS, T_STOP, TraceBuilder, assert_violation,
                                 clean_run, is_, violations)


def test_clean_run_passes_every_checker():
    assert check(clean_run().build()) == []


def test_live_trace_without_before_passes_every_checker():
    b = clean_run().edit(is_("status_write"), before=None)
    assert check(b.build()) == []


def test_registry_order_and_api():
    ids = property_ids()
    doc = (Path(__file__).resolve().parents[1].parent / "shared" / "docs" /
           "invariants.md").read_text(encoding="utf-8")
    in_doc = [i for i in ids if f"**{i}.**" in doc]
    assert ids[0] == "RUN-STATUS-EDGES" and "EPOCH-TAG-AGREE" in in_doc and len(in_doc) >= 29
    # by the position of each definition (ids are also mentioned before they are defined)
    assert sorted(in_doc, key=lambda i: doc.index(f"**{i}.**")) == in_doc
    assert ids[:len(in_doc)] == in_doc  # properties not in invariants.md come last
    assert list(CHECKERS) == ids
    with pytest.raises(KeyError):
        check(clean_run().build(), only=["NOPE"])
    v = Violation("X", "m", ())
    with pytest.raises(AttributeError):
        v.message = "n"  # frozen


def test_trace_without_data_yields_nothing():
    assert check(TraceBuilder().build()) == []


# --- RUN-STATUS-EDGES ---------------------------------------------------------------------

def test_status_edges_clean():
    assert violations(clean_run(), "RUN-STATUS-EDGES") == []


def test_status_edge_out_of_terminal():
    b = clean_run().status(60.0, "COMPLETED", "RUNNING", writer="orchestrator")
    assert_violation(violations(b, "RUN-STATUS-EDGES"), "RUN-STATUS-EDGES", "COMPLETED -> RUNNING", "t=60.000")


def test_status_starting_entered_twice():
    b = clean_run().status(1.0, "STARTING", "STARTING", phase="PREPARING", writer="api")
    assert_violation(violations(b, "RUN-STATUS-EDGES"), "RUN-STATUS-EDGES", "STARTING entered again", "t=1.000")


def _stopping_then_cancelled(matched):
    b = TraceBuilder(world="live")
    b.status(0.0, None, "PREPARED", phase="", live=True)
    b.status(0.5, "PREPARED", "STARTING", phase="PREPARING", live=True)
    b.status(5.0, "STARTING", "RUNNING", phase="WARMUP", live=True)
    b.status(20.0, "RUNNING", "STOPPING", live=True)
    b.status(21.0, "STOPPING", "CANCELLING", matched=matched, live=True)  # info: unknown outcome
    b.status(22.0, "CANCELLING", "CANCELLED", live=True)
    return b


def test_status_edge_maybe_applied_write_accepted():
    # if the info CANCELLING write applied, CANCELLING -> CANCELLED is legal: accept it
    assert violations(_stopping_then_cancelled(None), "RUN-STATUS-EDGES") == []
    # if it surely did not apply, the rebuilt before is STOPPING and STOPPING -> CANCELLED is not
    assert_violation(violations(_stopping_then_cancelled(False), "RUN-STATUS-EDGES"),
                     "RUN-STATUS-EDGES", "STOPPING -> CANCELLED", "t=22.000")


# --- RUN-PHASE-ORDER ----------------------------------------------------------------------

def test_phase_order_clean():
    assert violations(clean_run(), "RUN-PHASE-ORDER") == []


def test_phase_moves_backward():
    b = clean_run().edit(is_("status_write", t=T_MEAS), after={"status": "RUNNING", "phase": "PREPARING"})
    assert_violation(violations(b, "RUN-PHASE-ORDER"), "RUN-PHASE-ORDER", "'WARMUP' -> 'PREPARING'")


def test_end_time_written_twice_and_processing_without_completed():
    b = clean_run().edit_set(is_("status_write", t=38.5), END_TIME=DB0 + 38.5)
    assert_violation(violations(b, "RUN-PHASE-ORDER"), "RUN-PHASE-ORDER", "END_TIME written again")
    assert_violation(violations(b, "RUN-PHASE-ORDER"), "RUN-PHASE-ORDER", "END_TIME written at t=38.500")


def test_warmup_phase_with_zero_warmup():
    b = clean_run(warmup_s=0)
    assert_violation(violations(b, "RUN-PHASE-ORDER"), "RUN-PHASE-ORDER", "WARMUP written", "warmup_s=0")


def test_end_time_before_start_time():
    b = clean_run().edit_set(is_("status_write", t=50.0), END_TIME=DB0 - 5)
    assert_violation(violations(b, "RUN-PHASE-ORDER"), "RUN-PHASE-ORDER", "< START_TIME")


# --- RUN-READY-GATE -----------------------------------------------------------------------

def test_ready_gate_clean():
    assert violations(clean_run(), "RUN-READY-GATE") == []


def test_ready_gate_worker_not_ready():
    b = clean_run().drop(is_("heartbeat", worker="worker-1", status="READY"))
    assert_violation(violations(b, "RUN-READY-GATE"), "RUN-READY-GATE", "worker-1", "INITIALIZING")


def test_ready_gate_stale_mark_counts():
    b = clean_run().hb(5.3, "worker-0", "STALE", writer="orchestrator", age=31)
    assert_violation(violations(b, "RUN-READY-GATE"), "RUN-READY-GATE", "worker-0", "STALE")


# --- RUN-NO-EARLY-LOAD --------------------------------------------------------------------

def test_no_early_load_clean():
    assert violations(clean_run(), "RUN-NO-EARLY-LOAD") == []


def test_query_before_running():
    b = clean_run().query(4.0, 4.2, "worker-0")
    assert_violation(violations(b, "RUN-NO-EARLY-LOAD"), "RUN-NO-EARLY-LOAD", "worker-0", "t=4.000", "t=5.500")


# --- RUN-WARMUP-LENGTH --------------------------------------------------------------------

def test_warmup_length_clean():
    assert violations(clean_run(), "RUN-WARMUP-LENGTH") == []


@pytest.mark.parametrize("end", [DB0 + 14.9, DB0 + 17.0])
def test_warmup_too_short_or_long(end):
    b = clean_run().edit_set(is_("status_write", t=T_MEAS), WARMUP_END_TIME=end)
    assert_violation(violations(b, "RUN-WARMUP-LENGTH"), "RUN-WARMUP-LENGTH", "outside [w, w+P]")


def test_warmup_length_iso_timestamps():
    b = clean_run().edit_set(is_("status_write", t=5.5), WARMUP_START_TIME="2026-03-10T10:00:00")
    b.edit_set(is_("status_write", t=T_MEAS), WARMUP_END_TIME="2026-03-10T10:00:09")
    assert_violation(violations(b, "RUN-WARMUP-LENGTH"), "RUN-WARMUP-LENGTH", "9.000 s")


# --- RUN-MEASUREMENT-LENGTH ---------------------------------------------------------------

def test_measurement_length_clean():
    assert violations(clean_run(), "RUN-MEASUREMENT-LENGTH") == []


def test_duration_stop_too_early():
    # the reference's w = 0 bug looks like this: the budget counted from START_TIME
    b = clean_run().edit(is_("event_emit", seq=4), t=33.0)
    assert_violation(violations(b, "RUN-MEASUREMENT-LENGTH"), "RUN-MEASUREMENT-LENGTH", "seq 4", "t=33.000")


# --- RUN-STOP-ANNOUNCED -------------------------------------------------------------------

def test_stop_announced_clean():
    assert violations(clean_run(), "RUN-STOP-ANNOUNCED") == []


def test_stopping_without_stop_event():
    b = clean_run().drop(is_("event_emit", seq=4))
    assert_violation(violations(b, "RUN-STOP-ANNOUNCED"), "RUN-STOP-ANNOUNCED", "RUNNING -> STOPPING", "t=36.100")


def test_stop_reason_must_match():
    b = clean_run().edit(is_("event_emit", seq=4), payload={"reason": "guardrail"})
    assert_violation(violations(b, "RUN-STOP-ANNOUNCED"), "RUN-STOP-ANNOUNCED", "duration_elapsed", "guardrail")


def test_stop_insert_with_unknown_outcome_is_accepted():
    b = clean_run().drop(is_("event_emit", seq=4)).op(35.9, "orchestrator", "insert_event", outcome="info")
    assert violations(b, "RUN-STOP-ANNOUNCED") == []


# --- RUN-USER-STOP-WINS -------------------------------------------------------------------

def test_user_stop_wins_clean():
    b = clean_run().stop_request(T_STOP + 0.05)  # the duration STOP was first
    assert violations(b, "RUN-USER-STOP-WINS") == []


def test_user_stop_lost_to_duration():
    b = clean_run().stop_request(20.0)
    assert_violation(violations(b, "RUN-USER-STOP-WINS"), "RUN-USER-STOP-WINS", "t=20.000", "COMPLETED")
