"""The verdict's third outcome: a property the trace cannot support is 'not judged', never
counted as passed (protocol.checks.judge, phaselab.report.verdict)."""
from __future__ import annotations

from phaselab import report
from protocol.checks import check, judge
from trace_builder import clean_run


def _by_id(judgements):
    return {j.property_id: j for j in judgements}


def test_missing_bound_is_not_judged_not_passed():
    b = clean_run()
    b.header["params"].pop("start_bound_s", None)
    tr = b.build()
    j = _by_id(judge(tr, only=["RUN-START-LATENCY"]))["RUN-START-LATENCY"]
    assert j.outcome == "not judged" and "start_bound_s" in j.not_judged


def test_bound_present_is_judged():
    b = clean_run()
    b.header["params"]["start_bound_s"] = 1e9
    tr = b.build()
    assert _by_id(judge(tr, only=["RUN-START-LATENCY"]))["RUN-START-LATENCY"].outcome == "passed"


def test_verdict_lists_not_judged_apart_from_passed_and_violated():
    b = clean_run()
    b.header["params"].pop("start_bound_s", None)
    tr = b.build()
    v = report.verdict(judge(tr))
    assert {"property": "RUN-START-LATENCY", "reason": "the header states no start_bound_s"} \
        in v["not_judged"]
    assert v["passed"] + len(v["not_judged"]) + len(v["violated"]) == len(judge(tr))
    assert report.json_verdict(v)["not_judged"] == v["not_judged"]
    # check() stays the list of violations: a not-judged property adds none
    assert [x.property_id for x in check(tr)] == [g["property"] for g in v["violated"]]


import pytest  # noqa: E402


@pytest.mark.parametrize("pid,param", [
    ("RUN-WARMUP-LENGTH", "P"), ("RUN-MEASUREMENT-LENGTH", "duration_s"),
    ("EV-CONVERGE", "E"), ("EV-STOP-DELIVERY", "R"), ("HB-GAP", "stale_s"),
    ("HB-NO-FALSE-DEAD", "dead_s"), ("HB-DEAD-DETECTION", "L"), ("LIVE-WORKER-EXIT", "D"),
    ("PH-HOOK-ONCE", "E"),
])
def test_checkers_missing_a_bound_say_not_judged(pid, param):
    """Issue 8: a missing header bound used to be a silent pass."""
    b = clean_run()
    assert _by_id(judge(b.build(), only=[pid]))[pid].outcome == "passed"
    b.header["params"].pop(param)
    j = _by_id(judge(b.build(), only=[pid]))[pid]
    assert j.outcome == "not judged" and param in j.not_judged, j


def test_ready_gate_without_heartbeat_records_is_not_judged():
    from tests.trace_builder import is_
    b = clean_run().drop(is_("heartbeat"))
    j = _by_id(judge(b.build(), only=["RUN-READY-GATE"]))["RUN-READY-GATE"]
    assert j.outcome == "not judged" and "heartbeat" in j.not_judged


def _no_queries_from_worker_1(start_target=None):
    from trace_builder import is_
    b = clean_run()
    b.header["params"]["start_bound_s"] = 2.0
    b.drop(lambda r: r.get("kind") in ("query", "query_batch") and r.get("worker") == "worker-1")
    if start_target is not None:
        b.wstate(0.5, "worker-1", target=start_target, source="startup")
    return b.build()


def test_a_worker_that_never_queries_is_late():
    vs = check(_no_queries_from_worker_1(), only=["RUN-START-LATENCY"])
    assert any("worker-1 started no query" in v.message for v in vs)


def test_a_worker_started_with_target_zero_has_nothing_to_start():
    vs = check(_no_queries_from_worker_1(start_target=0), only=["RUN-START-LATENCY"])
    assert not any("worker-1" in v.message for v in vs)
