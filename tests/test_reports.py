"""What the comparison reports: barrier load, frontier, thresholds, diff, the property
catalogue, and the charts (read back from the figure, not from pixels)."""
import json

import pytest

from phaselab import catalogue, cli, metrics, thresholds as th
from phaselab.errors import UsageError
from phaselab.reports import charts, diff, frontier, layout, run_plot
from protocol.checks import CHECKERS
from protocol.trace import Trace
from simhelp import ROOT, baseline, run_scenario


# --- the barrier load on hand-built wait loops ---------------------------------------------

def _wait_loop(worker, ready, statements, returned):
    """marker ready, then (op, invoke t, done t) statements, then wait_returned."""
    recs = [{"t": ready, "kind": "marker", "worker": worker, "name": "ready"}]
    for i, (op, t0, t1) in enumerate(statements):
        oid = f"{worker}-{i}"
        recs.append({"t": t0, "kind": "invoke", "actor": worker, "op": op, "id": oid})
        recs.append({"t": t1, "kind": "ok", "actor": worker, "op": op, "id": oid})
    recs.append({"t": returned, "kind": "marker", "worker": worker, "name": "wait_returned"})
    return recs


HEAD = {"t": 0.0, "kind": "run", "actor": "driver", "params": {"worker_ids": ["worker-0"]}}
FIRST_PASS = [("read_run_status", 1.0, 1.1), ("fetch_events", 1.1, 1.2),
              ("merge_heartbeat", 1.2, 1.3)]


def test_barrier_rate_leaves_out_the_first_pass_and_the_read_that_saw_running():
    """Pauses of 0.2 s and reads of 0.1 s: a cycle of 0.3 s holds one statement, 3.33/s.
    Counting the first pass (three statements at once) and the exit read gives more."""
    loop = FIRST_PASS + [("read_run_status", 1.5, 1.6), ("read_run_status", 1.8, 1.9),
                         ("read_run_status", 2.1, 2.2)]
    trace = Trace([HEAD] + _wait_loop("worker-0", 1.0, loop, 2.2))
    assert metrics.barrier_rate(trace) == pytest.approx(1 / 0.3)
    assert metrics._wait_load(trace) == pytest.approx(6 / 1.2)  # the inflated figure


def test_barrier_rate_keeps_the_last_statement_when_a_notice_ended_the_wait():
    """Push: the wait ends on a notice after a pause, not on a read; nothing is dropped."""
    loop = FIRST_PASS + [("read_run_status", 2.3, 2.4)]
    trace = Trace([HEAD] + _wait_loop("worker-0", 1.0, loop, 2.9))
    assert metrics.barrier_rate(trace) == pytest.approx(1 / (2.4 - 1.3))


def test_barrier_rate_is_none_when_no_worker_waited_past_one_pass():
    trace = Trace([HEAD] + _wait_loop("worker-0", 1.0, [("read_run_status", 1.0, 1.1)], 1.1))
    assert metrics.barrier_rate(trace) is None


def test_barrier_load_sums_over_workers_and_grows_with_them():
    small = metrics.run_metrics(Trace(run_scenario(baseline(), 1, "fixed", [
        "bulk_queries=true", "status_poll_s=0.05", "workers=2", "duration_s=3"]).records))
    big = metrics.run_metrics(Trace(run_scenario(baseline(), 1, "fixed", [
        "bulk_queries=true", "status_poll_s=0.05", "workers=8", "duration_s=3"]).records))
    for m, n in ((small, 2), (big, 8)):
        assert m["barrier_load_per_s"] == pytest.approx(n * m["barrier_load_per_worker_per_s"])
        assert m["cost_usd_per_run"] is None  # no [cost] given: no money figure
    assert big["barrier_load_per_s"] > 3 * small["barrier_load_per_s"]


# --- the frontier -------------------------------------------------------------------------

def _row(label, cost, p95, violations=(), series="4", x=None, barrier=10.0):
    values = {"case": label} if x is None else {"status_poll_s": str(x)}
    values["workers"] = series
    stat = lambda v: {"mean": v, "p50": v, "p50_lo": v, "p50_hi": v, "p95": v,  # noqa: E731
                      "p95_lo": v, "p95_hi": v, "n": 1}
    return {"label": label, "values": values, "violations": list(violations),
            "cost_usd_per_run": stat(cost), "detection_ms": stat(p95),
            "barrier_load_per_s": stat(barrier), "workers": int(series), "reps": 1}


def test_frontier_keeps_only_settings_nothing_beats_and_never_a_violated_one():
    rows = [_row("0.05", 3.0, 100, x=0.05), _row("0.2", 2.0, 300, x=0.2),
            _row("0.5", 2.5, 400, x=0.5),  # dominated by 0.2
            _row("1.0", 1.0, 900, x=1.0), _row("bad", 0.5, 50, ["TAG-WARMUP"])]
    assert [r["label"] for r in frontier.frontier(rows)] == ["1.0", "0.2", "0.05"]
    ax = layout.infer(rows, ["workers"])
    text = frontier.sentence(rows, frontier.frontier(rows), ax, "4")
    assert text.startswith("At 4 workers the frontier is 1.0, 0.2, 0.05")
    assert "from 900 to 100 ms" in text and "bad violated a property" in text
    assert "0.5 is both slower and dearer" in text


def test_frontier_of_one_setting_says_there_is_no_trade_off():
    rows = [_row("push", 1.0, 100), _row("0.2", 2.0, 300, x=0.2)]
    text = frontier.sentence(rows, frontier.frontier(rows), layout.infer(rows, ["workers"]), "4")
    assert "push is best on both counts" in text


# --- charts, read back --------------------------------------------------------------------

def _sweep_rows():
    rows = []
    for series in ("4", "100"):
        for x, cost, p95 in ((0.05, 2.0, 150), (0.2, 1.5, 400), (1.0, 1.0, 1100)):
            rows.append(_row(f"{x}, workers={series}", cost * int(series), p95, series=series,
                             x=x, barrier=int(series) * 6 / x ** 0.5))
        rows.append(_row("push", 0.9 * int(series), 120, series=series))
    rows[1]["violations"] = ["EV-ORDER"]  # 0.2 at 4 workers
    return rows


def _by_gid(fig, prefix):
    return [a for ax in fig.axes for a in ax.get_children()
            if (a.get_gid() or "").startswith(prefix)]


def test_latency_interval_chart_is_log_with_a_line_per_series_and_schemes_apart():
    rows = _sweep_rows()
    ax_ = layout.infer(rows, ["workers"])
    fig = charts.latency_interval(rows, ax_, "t")
    main, side = fig.axes[:2]
    assert main.get_xscale() == "log"
    labels = [t.get_text() for t in main.get_legend().get_texts()]
    assert {"4 workers p95", "100 workers p95", "4 workers p50"} <= set(labels)
    assert "push" not in " ".join(labels)  # a scheme is not a point on the interval axis
    assert [t.get_text() for t in side.get_xticklabels()] == ["push"]
    assert _by_gid(fig, "scheme:push:4") and _by_gid(fig, "scheme:push:100")
    ringed = _by_gid(fig, "violated")
    assert len(ringed) == 1 and list(ringed[0].get_xdata()) == [0.2]


def test_latency_cost_chart_marks_the_frontier_and_the_violated_setting():
    rows = _sweep_rows()
    fig = charts.latency_cost(rows, layout.infer(rows, ["workers"]), "t")
    assert [ax.get_title() for ax in fig.axes] == ["4 workers", "100 workers"]
    line = _by_gid(fig, "frontier:4")[0]
    assert list(line.get_xdata()) == [3.6]  # push dominates every clean 4-worker setting
    assert list(line.get_ydata()) == [120]
    ringed = _by_gid(fig, "violated")
    assert len(ringed) == 1 and ringed[0].axes is fig.axes[0]
    assert list(ringed[0].get_xdata()) == [6.0] and list(ringed[0].get_ydata()) == [400]
    assert list(_by_gid(fig, "frontier:100")[0].get_xdata()) == [90.0]


def test_barrier_chart_puts_workers_on_a_log_axis_one_line_per_setting():
    rows = _sweep_rows()
    fig = charts.barrier_load(rows, layout.infer(rows, ["workers"]), "t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    lines = {l.get_gid(): l for l in _by_gid(fig, "barrier:")}
    assert set(lines) == {"barrier:0.05", "barrier:0.2", "barrier:1.0", "barrier:push"}
    assert list(lines["barrier:0.05"].get_xdata()) == [4, 100]
    assert lines["barrier:push"].get_marker() == "*"
    assert _by_gid(fig, "violated")


def test_charts_without_a_violation_ring_nothing():
    rows = [r for r in _sweep_rows() if not r["violations"]]
    for build in charts.CHARTS.values():
        assert not _by_gid(build(rows, layout.infer(rows, ["workers"]), "t"), "violated")


def test_run_timeline_shows_phases_workers_tags_markers_and_violations():
    res = run_scenario(baseline(), 3, "reference", ["bulk_queries=true"])
    trace = Trace(res.records)
    fig = run_plot.figure(trace, "t", [("EPOCH-TAG-AGREE", 19.2)])
    gids = {a.get_gid() for ax in fig.axes for a in ax.get_children() if a.get_gid()}
    assert any(g.startswith("orchestrator:RUNNING/MEASUREMENT") for g in gids)
    for w in trace.workers():
        assert f"adopted:{w}:MEASUREMENT" in gids and f"tag:{w}:RUNNING" in gids
        assert f"marker:{w}:wait_returned" in gids
    assert {"queries:WARMUP", "queries:RUNNING"} <= gids
    assert "violation:EPOCH-TAG-AGREE" in gids
    clean = run_plot.figure(trace, "t")
    assert not any((a.get_gid() or "").startswith("violation") for ax in clean.axes
                   for a in ax.get_children())


# --- thresholds ---------------------------------------------------------------------------

def test_threshold_parse_and_evaluate():
    t = th.parse("detection_ms.p95<500")
    res = th.evaluate([t], [("a", {"detection_ms": {"p95": 400.0}}),
                            ("b", {"detection_ms": {"p95": 600.0}}),
                            ("c", {"detection_ms": {"p95": None}})])
    assert [r["ok"] for r in res] == [True, False, False]
    assert res[2]["judged"] is False and "not judged" in th.lines(res)[2]
    assert th.exit_code(0, res) == 99 and th.exit_code(1, res) == 1
    assert th.exit_code(0, res[:1]) == 0


@pytest.mark.parametrize("text,needle", [("detection_ms.p95", "expected FIGURE.STAT OP NUMBER"),
                                         ("latency.p95<3", "unknown figure 'latency'"),
                                         ("detection_ms.p42<3", "unknown statistic 'p42'")])
def test_bad_thresholds_name_what_is_allowed(text, needle):
    with pytest.raises(UsageError, match=needle):
        th.parse(text)


# --- diff ---------------------------------------------------------------------------------

def _doc(p50, lo, hi):
    row = {"label": "0.2", "violations": [],
           "detection_ms": {"p50": p50, "p50_lo": lo, "p50_hi": hi}}
    return {"rows": [row]}


def test_diff_says_moved_only_when_intervals_do_not_overlap():
    moved = diff.compare(_doc(100, 90, 110), _doc(200, 180, 220))
    f = next(f for f in moved["rows"][0]["figures"] if f["figure"] == "detection_ms.p50")
    assert f["verdict"] == "moved up" and f["change"] == pytest.approx(1.0)
    same = diff.compare(_doc(100, 90, 110), _doc(105, 95, 115))
    f = next(f for f in same["rows"][0]["figures"] if f["figure"] == "detection_ms.p50")
    assert f["verdict"] == "within intervals"
    assert same["moved"] == 0 and moved["moved"] == 1


def test_diff_command_reads_two_sweeps_and_rejects_other_files(tmp_path, capsys):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_doc(100, 90, 110)))
    b.write_text(json.dumps(_doc(300, 280, 320)))
    assert cli.main(["diff", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "moved up" in out and "1 of 8 figures moved" in out
    b.write_text("{}")
    assert cli.main(["diff", str(a), str(b)]) == 2
    assert "not a sweep.json" in capsys.readouterr().err
    assert cli.main(["diff", str(a), str(tmp_path / "none.json")]) == 2


# --- the property catalogue ---------------------------------------------------------------

def test_catalogue_has_one_line_per_checker_from_its_docstring():
    entries = catalogue.entries()
    assert [e["id"] for e in entries] == list(CHECKERS)
    for e in entries:
        assert e["line"] != catalogue.NO_TEXT, f"{e['id']}: its checker has no docstring"
        assert e["line"].endswith(".") and "\n" not in e["line"]
    assert catalogue._first_sentence("Ends here, e.g. this. Not this.") == \
        "Ends here, e.g. this."


def test_properties_doc_is_current():
    committed = (ROOT / "docs" / "properties.md").read_text()
    assert committed.strip() == catalogue.markdown().strip(), \
        "docs/properties.md is stale: run `phaselab docs properties --write`"
