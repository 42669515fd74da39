"""`phaselab run` and `phaselab check` agree, and a truncated trace is reported, not fatal."""
import json

from phaselab import cli
from simhelp import BASELINE


def test_run_writes_a_trace_that_check_judges_the_same(tmp_path, capsys):
    trace = tmp_path / "ref.jsonl"
    code = cli.main(["run", BASELINE, "--seed", "1", "--variant", "reference",
                     "--trace", str(trace), "--json"])
    run_out = json.loads(capsys.readouterr().out)
    assert code == 1 and not run_out["verdict"]["ok"]
    assert "phaselab run" in run_out["replay"] and "--seed 1" in run_out["replay"]
    code2 = cli.main(["check", str(trace), "--json"])
    check_out = json.loads(capsys.readouterr().out)
    assert code2 == code
    assert [g["property"] for g in check_out["verdict"]["violated"]] == \
        [g["property"] for g in run_out["verdict"]["violated"]]


def test_fixed_run_exits_0_and_prints_timeline(capsys):
    assert cli.main(["run", BASELINE, "--seed", "2", "--variant", "fixed"]) == 0
    out = capsys.readouterr().out
    for needle in ("Phase timeline", "Start-up markers", "no property violated",
                   "Replay: phaselab run"):
        assert needle in out


def test_truncated_last_line_is_reported(tmp_path, capsys):
    trace = tmp_path / "t.jsonl"
    assert cli.main(["run", BASELINE, "--seed", "1", "--trace", str(trace), "--json"]) == 0
    capsys.readouterr()
    text = trace.read_text()
    trace.write_text(text[: len(text) - 40])  # cut the last record in half
    code = cli.main(["check", str(trace), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["truncated_line"] == text.count("\n")
    assert code == 3  # no run_end: the run did not happen as far as the trace shows
    assert out["did_not_run"] and "run_end" in out["did_not_run"]


def test_check_rejects_a_file_that_is_not_a_trace(tmp_path, capsys):
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"kind": "query"}\n')
    assert cli.main(["check", str(bad)]) == 2
    assert "run' header" in capsys.readouterr().err


def test_violation_messages_print_verbatim(capsys):
    """Checker messages hold brackets like [d, d+P]; the terminal report must not read them
    as rich markup and drop them."""
    code = cli.main(["run", BASELINE, "--seed", "3", "--variant", "reference",
                     "--set", "warmup_s=0"])
    out = capsys.readouterr().out.replace("\n", " ")
    assert code == 1
    assert "outside [d, d+P] = [" in out
