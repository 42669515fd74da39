"""Checkers 39-43 (dashboard and stream): each catches its bug and passes a clean run."""
import copy

import pytest

from protocol.checks import check
from protocol.trace import Trace
from simhelp import baseline, run_scenario

DASH = ["dashboards=1"]


@pytest.fixture(scope="module")
def clean():
    return run_scenario(baseline(), seed=1, variant="fixed", sets=DASH).records


def ids(records, only):
    return [v.property_id for v in check(Trace(records), only=[only])]


def edit(records, pred, **fields):
    out = copy.deepcopy(records)
    for r in out:
        if pred(r):
            r.update(fields)
            break
    return out


@pytest.mark.parametrize("pid", ["UI-QPS-HISTORY-GATE", "WS-END-RULE", "WS-NO-STUCK-PROCESSING",
                                 "UI-MONOTONE", "UI-ROLLUP-CONVERGE"])
def test_clean_dashboard_run_passes(clean, pid):
    assert any(r["kind"] == "ws_payload" for r in clean)
    assert ids(clean, pid) == []


def test_qps_history_gate_catches_pushes_in_processing():
    recs = run_scenario(baseline(), seed=1, variant="qps-history-in-processing", sets=DASH).records
    assert "UI-QPS-HISTORY-GATE" in ids(recs, "UI-QPS-HISTORY-GATE")


def test_end_rule_catches_completed_before_enrichment(clean):
    recs = edit(clean, lambda r: r["kind"] == "ws_payload" and r["phase"] == "COMPLETED",
                enrichment="PENDING")
    assert ids(recs, "WS-END-RULE") == ["WS-END-RULE"]


def test_end_rule_catches_a_server_close_without_completed(clean):
    recs = edit(clean, lambda r: r["kind"] == "ws_payload" and r["phase"] == "COMPLETED",
                phase="PROCESSING")
    assert "WS-END-RULE" in ids(recs, "WS-END-RULE")


def test_no_stuck_processing_catches_children_first_lookup():
    recs = run_scenario(baseline(), seed=1, variant="ws-enrichment-children-first",
                        sets=DASH).records
    assert ids(recs, "WS-NO-STUCK-PROCESSING") == ["WS-NO-STUCK-PROCESSING"]


def test_monotone_catches_a_phase_going_back(clean):
    recs = edit(clean, lambda r: r["kind"] == "ws_payload" and r["phase"] == "PROCESSING",
                phase="WARMUP")
    assert "UI-MONOTONE" in ids(recs, "UI-MONOTONE")


def test_monotone_catches_elapsed_going_back(clean):
    last = [r for r in clean if r["kind"] == "ui"][-1]
    recs = edit(clean, lambda r: r is not None and r.get("kind") == "ui"
                and r["t"] == last["t"], elapsed=0.0)
    assert "UI-MONOTONE" in ids(recs, "UI-MONOTONE")


def _rollup(records, active, completed, registered=4):
    last_exit = max(r["t"] for r in records if r["kind"] == "proc" and r["action"] == "exit")
    rec = {"t": last_exit + 1.0, "actor": "orchestrator", "kind": "status_write", "op_id": 99999,
           "writer": "orchestrator", "guard": {}, "matched": True,
           "set": {"WORKERS_ACTIVE": active, "WORKERS_COMPLETED": completed,
                   "WORKERS_REGISTERED": registered},
           "before": None, "after": {"status": "COMPLETED", "phase": "PROCESSING"},
           "db_time": last_exit + 1.0}
    out = copy.deepcopy(records)
    i = next(i for i, r in enumerate(out) if r["t"] > rec["t"])
    out[-1]["t"] = last_exit + 30.0  # the trace reaches past the rollup deadline
    return out[:i] + [rec] + out[i:]


def test_rollup_converge_clean_and_stale(clean):
    assert ids(_rollup(clean, 0, 4), "UI-ROLLUP-CONVERGE") == []
    assert ids(_rollup(clean, 1, 3), "UI-ROLLUP-CONVERGE") == ["UI-ROLLUP-CONVERGE"]
