"""phaselab conform's measures and comparisons, on traces built here (no upstream needed)."""
from __future__ import annotations

import json

import pytest

from phaselab import conformance as cf
from phaselab.cli import main
from protocol.trace import Trace, dumps
from trace_builder import T_MEAS, T_RUNNING, T_STOPPING, clean_run


def test_measures_of_a_clean_run():
    m = cf.measures(clean_run().build())
    assert m["phase STARTING s"] == pytest.approx(T_RUNNING - 0.5)
    assert m["phase WARMUP s"] == pytest.approx(T_MEAS - T_RUNNING)
    assert m["phase MEASUREMENT s"] == pytest.approx(T_STOPPING - T_MEAS)
    assert m["queries tagged WARMUP per worker"] > 0
    assert m["start-up wait_returned median ms"] == pytest.approx(350.0)


def test_a_value_outside_the_simulations_range_differs():
    sim = [{"x": 1.0}, {"x": 2.0}, {"x": 3.0}]
    inside, outside = cf.compare([{"x": 2.5}], sim)[0], cf.compare([{"x": 3.5}], sim)[0]
    assert not inside["differs"] and outside["differs"]
    assert outside["sim_range"] == (1.0, 3.0) and outside["sim_median"] == 2.0
    # a measure only one side has is a difference too
    assert cf.compare([{"x": None}], sim)[0]["differs"]


def test_properties_differ_only_where_the_upstream_was_judged():
    rows = {r["property"]: r for r in cf.compare_properties(
        [{"A": "failed", "B": "not judged", "C": "passed", "D": "passed"}],
        {"A": 0, "B": 0, "C": 5, "D": 2}, seeds=5)}
    assert rows["A"]["differs"]          # the upstream fails what no seed did
    assert not rows["B"]["differs"]      # not judged: no claim
    assert rows["C"]["differs"]          # every seed fails what the upstream passed
    assert not rows["D"]["differs"]


def _upstream_trace(tmp_path):
    tr = clean_run().build()
    hdr = {**tr.header, "world": "upstream",
           "upstream": {"map": "flakebench-6cb34b8.toml", "coverage": {}}}
    p = tmp_path / "up.jsonl"
    p.write_text("".join(dumps(r) + "\n" for r in [hdr] + tr.records[1:]))
    return p


def test_conform_on_a_saved_upstream_trace(tmp_path, capsys):
    md, png = tmp_path / "c.md", tmp_path / "c.png"
    code = main(["conform", "--upstream-trace", str(_upstream_trace(tmp_path)), "--runs", "0",
                 "--seeds", "2", "--json", "--markdown", str(md), "--plot", str(png)])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["seeds"] == 2 and out["upstream_runs"] == 1
    assert {r["measure"] for r in out["measures"]} >= {"phase WARMUP s"}
    # no coverage declared: every upstream property is not judged, so none differs
    assert all(p["upstream"] == ["not judged"] for p in out["properties"])
    assert "| phase WARMUP s |" in md.read_text()
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv, words", [
    (["conform", "--runs", "0"], ["--upstream-trace"]),
    (["conform", "--upstream-trace", "{sim}", "--runs", "0"], ["not a trace from `phaselab "
                                                              "upstream`"]),
    (["conform", "--seeds", "0", "--runs", "0"], ["--seeds"]),
    (["conform", "--variant", "nope", "--runs", "0"], ["--variant", "allowed"]),
])
def test_conform_bad_input_exits_2(tmp_path, capsys, argv, words):
    sim = tmp_path / "sim.jsonl"
    sim.write_text("".join(dumps(r) + "\n" for r in clean_run().build().records))
    assert main([a.format(sim=sim) for a in argv]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and all(w in err for w in words)
