"""CLK-ONE-CLOCK, CLK-ELAPSED-SANE and EPOCH-AGG-MONOTONE: a trace that shows each violation
and one that does not; and CLK-ONE-CLOCK's metamorphic form on whole simulated runs."""
from protocol.checks import judge
from protocol.trace import Trace
from simhelp import baseline, run_scenario
from trace_builder import TraceBuilder


def outcome(b, pid):
    (j,) = judge(b.build() if isinstance(b, TraceBuilder) else b, only=[pid])
    return j


def marked(age: float) -> TraceBuilder:
    return TraceBuilder().hb(1.0, "worker-0", "STARTING").hb(62.0, "worker-0", "DEAD",
                                                              writer="orchestrator", age=age)


def test_one_clock_age_matches_the_rows_true_age():
    assert outcome(marked(61.0), "CLK-ONE-CLOCK").outcome == "passed"


def test_one_clock_flags_an_age_off_by_a_time_zone():
    j = outcome(marked(61.0 + 3600.0), "CLK-ONE-CLOCK")
    assert j.outcome == "failed" and "two clocks" in j.violations[0].message


def test_one_clock_not_judged_without_marks():
    assert outcome(TraceBuilder().hb(1.0, "worker-0", "STARTING"),
                   "CLK-ONE-CLOCK").outcome == "not judged"


def ws(elapsed: float, phase_elapsed: float | None = None) -> TraceBuilder:
    b = TraceBuilder().status(0.5, None, "STARTING", phase="PREPARING")
    b.status(5.0, "STARTING", "RUNNING", phase="WARMUP")
    return b.add(10.0, "ws_payload", "dashboard-0", conn="c0", phase="WARMUP", status="RUNNING",
                 elapsed=elapsed, phase_elapsed=phase_elapsed)


def test_elapsed_sane_within_true_elapsed():
    assert outcome(ws(9.4, 5.0), "CLK-ELAPSED-SANE").outcome == "passed"


def test_elapsed_sane_flags_a_future_or_negative_elapsed():
    assert outcome(ws(9.5 + 3600.0), "CLK-ELAPSED-SANE").outcome == "failed"
    assert outcome(ws(-2.0), "CLK-ELAPSED-SANE").outcome == "failed"
    assert outcome(ws(9.0, 12.0), "CLK-ELAPSED-SANE").outcome == "failed"  # phase > total


def test_elapsed_sane_not_judged_without_a_dashboard():
    b = TraceBuilder().status(0.5, None, "STARTING", phase="PREPARING")
    assert outcome(b, "CLK-ELAPSED-SANE").outcome == "not judged"


def agg(totals) -> TraceBuilder:
    b = TraceBuilder(workers=1).status(0.5, None, "STARTING", phase="PREPARING")
    b.proc(0.6, "worker-0", "spawn").status(5.0, "STARTING", "RUNNING", phase="MEASUREMENT")
    b.hook(5.5, 5.6, "worker-0")
    for i, n in enumerate(totals):
        b.add(6.0 + i, "live_agg", "orchestrator", ops_total=n)
    return b


def test_agg_monotone_passes_a_growing_total_and_flags_a_fall():
    assert outcome(agg([10, 20, 20, 35]), "EPOCH-AGG-MONOTONE").outcome == "passed"
    j = outcome(agg([10, 20, 5]), "EPOCH-AGG-MONOTONE")
    assert j.outcome == "failed" and "fell from 20" in j.violations[0].message


def test_agg_monotone_not_judged_without_live_agg():
    assert outcome(agg([]), "EPOCH-AGG-MONOTONE").outcome == "not judged"


def decisions(res):
    """Every RUN_STATUS write and heartbeat mark: what was decided, by whom, when."""
    return [(r["kind"], r.get("writer"), r.get("worker"), r.get("status"),
             (r.get("after") or {}).get("status"), round(r["t"], 6)) for r in res.records
            if r["kind"] == "status_write" or (r["kind"] == "heartbeat"
                                               and r.get("writer") == "orchestrator")]


def test_one_clock_metamorphic_fixed_decides_the_same_in_any_time_zone_or_skew():
    """invariants.md 44 as stated: rerun one seed with another session time zone and with a
    worker clock offset; fixed takes every decision at the same instant, the reference not."""
    sets = ["workers=2", "connections_per_worker=2", "warmup_s=2", "duration_s=4"]
    for variant, same in (("fixed", True), ("reference", False)):
        base = decisions(run_scenario(baseline(), 3, variant, sets))
        tz = decisions(run_scenario(baseline(), 3, variant, [*sets, "tz_offset_s=-28800"]))
        skew = decisions(run_scenario(baseline(), 3, variant,
                                      [*sets, "worker_clock_offset_s=-45"]))
        assert (base == tz and base == skew) is same, variant
