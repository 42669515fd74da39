"""benchmarks/bench.py's plumbing on fake measurements: sections, the met / MISSED report,
--check's exit code, --write and its bad-input error (no real benchmark runs here)."""
from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import bench  # noqa: E402
import sim_speed  # noqa: E402


def fake_section(rows):
    mod = types.ModuleType("fake")
    mod.measure = lambda progress: (progress("measuring"), [dict(r) for r in rows])[1]
    return mod


MET = {"what": "a", "target": "<= 1x", "measured": "0.9x", "met": True, "note": ""}
MISSED = {"what": "b", "target": ">= 100x", "measured": "30.0x", "met": False, "note": "why"}
NO_TARGET = {"what": "c", "target": "—", "measured": "5 s", "met": None, "note": ""}


def test_verdict_fails_only_on_a_missed_target():
    assert bench.verdict([MET, NO_TARGET]) == 0
    assert bench.verdict([MET, MISSED, NO_TARGET]) == bench.MISSED_EXIT
    assert bench.verdict([]) == 0


def test_gather_tags_rows_with_their_section_and_prefixes_progress():
    seen = []
    rows = bench.gather([("one", fake_section([MET])), ("two", fake_section([MISSED]))],
                        seen.append)
    assert [r["section"] for r in rows] == ["one", "two"]
    assert seen == ["[one] measuring", "[two] measuring"]


def test_report_prints_each_target_beside_its_figure_and_verdict():
    text = bench.markdown([MET, MISSED, NO_TARGET], "a machine", "busy", "img/x.png")
    lines = text.splitlines()
    assert "| a | <= 1x | 0.9x | met |  |" in lines
    assert "| b | >= 100x | 30.0x | **MISSED** | why |" in lines
    assert "| c | — | 5 s |  |  |" in lines
    assert "![simulator cost against run size](img/x.png)" in lines
    assert "This run: a machine. busy" in text


def test_sections_are_chosen_by_name():
    assert [n for n, _ in bench.section_modules()] == ["sim_speed", "parallel"]
    assert [n for n, _ in bench.section_modules(["parallel"])] == ["parallel"]


def test_a_broken_parallel_section_is_not_hidden(monkeypatch):
    def broken(name):
        raise ModuleNotFoundError("No module named 'dask'", name="dask")
    monkeypatch.setattr(bench.importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError):
        bench.section_modules(["parallel"])


@pytest.mark.parametrize("rows, check, code", [
    ([MET, NO_TARGET], True, 0), ([MET, MISSED], True, 1), ([MET, MISSED], False, 0)])
def test_check_exit_code_on_a_fake_measurement(monkeypatch, tmp_path, capsys, rows, check,
                                               code):
    monkeypatch.setattr(bench, "section_modules", lambda only: [("fake", fake_section(rows))])
    out = tmp_path / "perf.md"
    argv = ["--json", "--write", str(out)] + (["--check"] if check else [])
    assert bench.main(argv) == code
    printed = json.loads(capsys.readouterr().out)
    assert [r["met"] for r in printed["rows"]] == [r["met"] for r in rows]
    written = out.read_text(encoding="utf-8")
    assert ("**MISSED**" in written) == (MISSED in rows)


def test_write_into_a_missing_folder_is_refused_before_measuring(tmp_path):
    target = tmp_path / "no" / "perf.md"
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench.py"), "--write",
                           str(target)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "--write" in done.stderr and "does not exist" in done.stderr
    assert "Traceback" not in done.stderr
    assert not target.parent.exists()


def test_growth_slope_is_one_for_linear_cost_and_two_for_quadratic():
    sizes = [(10, 10), (100, 10), (1000, 10)]
    lin = [{"workers": w, "connections": c, "wall_s": 0.001 * w * c} for w, c in sizes]
    quad = [{"workers": w, "connections": c, "wall_s": 1e-6 * (w * c) ** 2} for w, c in sizes]
    assert sim_speed.slope(lin) == pytest.approx(1.0)
    assert sim_speed.slope(quad) == pytest.approx(2.0)


def test_speed_rows_judge_against_the_target_and_state_the_event_loop_limit():
    run = {"sim_time_s": 100.0, "wall_s": 2.0, "cpu_s": 1.0, "events": 1_000_000,
           "queries": 5, "peak_rss_mb": 3000.0}
    speed, mem = sim_speed._speed_rows("r", run, 100.0, bare_us=1.0)
    assert (speed["met"], speed["measured"]) == (False, "50.0x")
    assert "alone would allow 100x" in speed["note"]
    assert mem["met"] is False
    speed, mem = sim_speed._speed_rows("r", {**run, "wall_s": 0.5, "peak_rss_mb": 10.0},
                                       100.0, bare_us=1.0)
    assert (speed["met"], mem["met"]) == (True, True)


def test_a_ratio_that_two_decimals_would_round_onto_its_target_gets_three():
    from rows import ratio_text
    assert ratio_text(1.7973, 1.8) == "1.797x"  # missed ">= 1.8x": not shown as 1.80x
    assert ratio_text(1.3049, 1.3) == "1.305x"  # missed "<= 1.3x": not shown as 1.30x
    assert ratio_text(1.91, 1.8) == "1.91x" and ratio_text(1.8, 1.8) == "1.80x"
