"""`phaselab controllers`: FIND_MAX's answer against the model's true capacity, QPS error;
files written whole, bad input exit 2."""
import json

import pytest

from phaselab import cli, controller_sweep as cs
from protocol.trace import Trace
from simhelp import BASELINE, ROOT

FINDMAX = str(ROOT / "scenarios" / "findmax.toml")


def test_findmax_sweep_compares_the_answer_with_the_true_knee(tmp_path, capsys):
    code = cli.main(["controllers", FINDMAX, "--set", "scaling.concurrency_increment=2,4",
                     "--reps", "2", "--jobs", "1", "--out", str(tmp_path), "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    rows = doc["rows"]
    assert [r["label"] for r in rows] == ["concurrency_increment=2", "concurrency_increment=4"]
    for r in rows:
        assert r["knee_concurrency"]["mean"] == 8.0 and r["max_qps"]["mean"] == 80.0
        lo, hi = r["best_concurrency"]["lo"], r["best_concurrency"]["hi"]
        assert lo <= r["best_concurrency"]["mean"] <= hi
        assert r["error_vs_knee"]["mean"] == pytest.approx(r["best_concurrency"]["mean"] - 8.0)
    assert rows[1]["steps"]["mean"] < rows[0]["steps"]["mean"]  # bigger steps, fewer of them
    assert (tmp_path / "controllers.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "controllers.json").read_text())["reps"] == 2


def test_findmax_figures_come_from_the_trace():
    tr = Trace([{"t": 0.0, "kind": "run", "actor": "phaselab",
                 "params": {"warehouse": {"knee_concurrency": 8.0, "max_qps": 80.0}}},
                {"t": 5.0, "kind": "targets", "reason": "step_start"},
                {"t": 8.0, "kind": "ctrl_eval", "controller": "FIND_MAX", "step": 1,
                 "target": 2, "outcome": "STABLE", "qps": 20.0,
                 "decision": {"kind": "advance", "target": 4}},
                {"t": 11.0, "kind": "ctrl_eval", "controller": "FIND_MAX", "step": 2,
                 "target": 4, "outcome": "DEGRADED", "qps": 19.0, "reason": "DEGRADED",
                 "decision": {"kind": "finish", "target": 2},
                 "best": {"concurrency": 2, "qps": 20.0}}])
    f = cs.findmax_figures(tr)
    assert (f["best_concurrency"], f["steps"], f["converge_s"], f["knee_concurrency"]) == \
        (2, 2, 6.0, 8.0)


def test_a_concurrency_scenario_is_refused_with_exit_2(tmp_path, capsys):
    assert cli.main(["controllers", BASELINE, "--reps", "1", "--out", str(tmp_path)]) == 2
    assert "FIND_MAX or QPS" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
