"""Fuzz the trace loader (issue 12) with what `phaselab check` and `calibrate` do next: the
checkers, the timeline, the did-not-run test and the calibration fit. A record the loader
accepts must never crash them; a record they cannot use must be the usage error naming the
file and line. Inputs: arbitrary bytes and lines, and mutations of small valid traces
(simulated, with dashboards, bulk queries and a user stop; and one made to look live)."""
from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, strategies as st

from fuzzhelp import VALUES, loads_or_usage_error, mutated
from phaselab import calibrate as cal, outcome, report, scenario as scn
from phaselab.inputs.trace_records import load_trace
from phaselab.timeline import summarize
from protocol.checks import judge
from protocol.trace import Trace, dumps
from sim.run import simulate
from simhelp import BASELINE

SMALL = ["workers=2", "connections_per_worker=2", "warmup_s=1", "duration_s=2",
         "think_time_s=0.5", "enrichment_timeout_s=10", "dashboards=1"]


def _trace(extra: list[str]) -> list[dict]:
    sc = scn.load(BASELINE, SMALL + extra)
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=1, variant=sc.variant, scenario=sc.raw)
    return [json.loads(dumps(r)) for r in res.records]


def _scaling() -> list[dict]:
    """A FIND_MAX run with targets and controller records (the sim does not write them yet),
    from the scaling checkers' own test builder, plus a QPS evaluation."""
    from test_checks_scaling import _findmax_run, _qps, _targets
    from protocol import scaling
    b = _findmax_run()
    _targets(b, 16.0, scaling.build_worker_targets(250, 2, 200, 1))
    _qps(b, 20.0, 20.0, 4, 8, true_threads=4)
    return [json.loads(dumps(r)) for r in b.build().records]


SCALING = _scaling()
SIM = _trace([])
BULK = _trace(["bulk_queries=true", "user_stop_at_s=4"])
LIVE = [dict(SIM[0], world="live", seed=None,
             live={"backend": "embedded", "run_config": dataclasses.asdict(
                 scn.load(BASELINE, SMALL).cfg), "idle_probe_ms": [30.0, 31.5],
                   "statement_timeout_s": 1.0, "login_timeout_s": 10.0}), *SIM[1:]]


def _write(tmp_path_factory, records_or_text) -> str:
    path = tmp_path_factory.mktemp("fuzz") / "t.jsonl"
    if isinstance(records_or_text, (bytes, str)):
        data = records_or_text if isinstance(records_or_text, bytes) else \
            records_or_text.encode("utf-8", "surrogatepass")
    else:
        data = "".join(json.dumps(r) + "\n" for r in records_or_text).encode()
    path.write_bytes(data)
    return str(path)


def _check_pipeline(path: str) -> None:
    """What `phaselab check` does with a file; a loaded trace must go all the way through."""
    tf = loads_or_usage_error(load_trace, path)
    if tf is None:
        return
    trace = Trace(tf.records)
    report.json_verdict(report.verdict(judge(trace)))
    summarize(trace)
    outcome.did_not_run(trace)
    return tf


@given(st.one_of(st.binary(max_size=300), st.text(max_size=300)))
def test_bytes_and_text(tmp_path_factory, data):
    _check_pipeline(_write(tmp_path_factory, data))


def _record_edits(base):
    """Mutate a few records of a valid trace (whole-record edits included)."""
    @st.composite
    def edit(draw):
        recs = [dict(r) for r in base]
        for _ in range(draw(st.integers(1, 3))):
            i = draw(st.integers(0, len(recs) - 1))
            op = draw(st.sampled_from(["field", "field", "field", "drop", "swap", "kind"]))
            if op == "field":
                recs[i] = draw(mutated(recs[i], VALUES, 2))
            elif op == "drop" and len(recs) > 1:
                del recs[i]
            elif op == "swap":
                j = draw(st.integers(0, len(recs) - 1))
                recs[i], recs[j] = recs[j], recs[i]
            else:
                recs[i]["kind"] = draw(st.sampled_from(
                    ["run", "invoke", "ok", "status_write", "query", "query_batch", "marker",
                     "run_end", "ws_payload", "ui", "heartbeat", "event_emit", "new_kind"]))
        return recs
    return edit()


@given(st.one_of(_record_edits(SIM), _record_edits(BULK), _record_edits(SCALING)))
def test_mutated_simulated_traces(tmp_path_factory, records):
    _check_pipeline(_write(tmp_path_factory, records))


@given(_record_edits(LIVE))
def test_mutated_live_traces_through_calibrate(tmp_path_factory, records):
    tf = _check_pipeline(_write(tmp_path_factory, records))
    if tf is None:
        return
    h = tf.records[0]
    if h.get("world") != "live" or not isinstance((h.get("live") or {}).get("run_config"), dict):
        return  # the calibrate command refuses these with a usage error before fitting
    raw = loads_or_usage_error(cal.calibrate, tf.records, True)
    if raw is not None:
        loads_or_usage_error(scn.from_dict, raw[0], "calibrated")


@pytest.mark.parametrize("name", ["SIM", "BULK", "LIVE", "SCALING"])
def test_the_unmutated_traces_load(tmp_path_factory, name):
    """No false alarm: each base trace passes the loader before it is mutated."""
    tf = load_trace(_write(tmp_path_factory, globals()[name]))
    assert len(tf.records) == len(globals()[name])
