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


# --- a command line that behaves like a finished tool -------------------------------------

import os  # noqa: E402
import stat  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from simhelp import ROOT  # noqa: E402


def _phaselab(*args, **kw):
    return subprocess.run([sys.executable, "-m", "phaselab", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, **kw)


def test_version_and_python_dash_m():
    from importlib.metadata import version
    res = _phaselab("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"phaselab {version('phaselab')}"
    res = _phaselab("docs", "states")
    assert res.returncode == 0 and res.stdout.startswith("# ")


def test_json_into_a_closed_pipe_ends_quietly():
    """`phaselab ... --json | head -c 1`: no BrokenPipeError traceback, exit 141 (SIGPIPE's
    shell code) or 0 when everything fit into the pipe before it closed."""
    p = subprocess.Popen([sys.executable, "-m", "phaselab", "docs", "properties", "--json"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.read(1)
    p.stdout.close()  # the reader goes away, as `head` does
    err = p.stderr.read().decode()
    code = p.wait(timeout=60)
    assert "Traceback" not in err and "BrokenPipeError" not in err
    assert code in (0, 141)


def test_closed_pipe_inside_a_command_exits_141(monkeypatch, capsys):
    def broken(args):
        raise BrokenPipeError
    from phaselab.commands import docs
    monkeypatch.setattr(docs, "run", broken)
    assert cli.main(["docs", "states"]) == 141
    assert capsys.readouterr().err == ""


def test_failing_threshold_exits_99_and_passing_one_exits_0(capsys):
    code = cli.main(["run", BASELINE, "--seed", "2", "--threshold", "detection_ms.p95<1"])
    out = capsys.readouterr().out
    assert code == 99 and "✗ detection_ms.p95<1" in out
    assert cli.main(["run", BASELINE, "--seed", "2", "--threshold",
                     "detection_ms.p95<100000", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["thresholds"]
    assert res[0]["ok"] and res[0]["value"] > 1
    # a property violation outranks a failed threshold
    assert cli.main(["run", BASELINE, "--seed", "3", "--variant", "reference",
                     "--threshold", "detection_ms.p95<1"]) == 1


def test_failing_threshold_through_the_real_command_line():
    res = _phaselab("run", "scenarios/baseline.toml", "--threshold", "detection_ms.p95<1")
    assert res.returncode == 99
    res = _phaselab("run", "scenarios/baseline.toml", "--threshold", "detection_ms.p95")
    assert res.returncode == 2 and "expected FIGURE.STAT OP NUMBER" in res.stderr
    assert "Traceback" not in res.stderr


def test_help_shows_defaults_and_an_example_for_every_command():
    parser, mods = cli._parser()
    for name in mods:
        sub = parser._subparsers._group_actions[0].choices[name]
        text = sub.format_help()
        assert "example:\n  phaselab " + name in text, name
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings[0]} has no help"
    sweep = parser._subparsers._group_actions[0].choices["sweep"].format_help()
    assert "(default: 20)" in sweep


def test_help_does_not_import_matplotlib():
    res = subprocess.run([sys.executable, "-c", "import sys; from phaselab import cli\n"
                          "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
                          "print('matplotlib' in sys.modules, file=sys.stderr)"],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert res.stderr.strip().endswith("False")


def test_output_files_get_the_users_normal_mode(tmp_path, capsys):
    old = os.umask(0o022)
    try:
        trace, plot, page = tmp_path / "t.jsonl", tmp_path / "t.png", tmp_path / "t.html"
        assert cli.main(["run", BASELINE, "--trace", str(trace), "--plot", str(plot),
                         "--html", str(page), "--json"]) == 0
    finally:
        os.umask(old)
    for f in (trace, plot, page):
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
    html = page.read_text()
    assert "data:image/png;base64," in html and "Phase timeline" in html
    assert "http://" not in html and "https://" not in html  # viewable offline


def test_run_plot_into_a_missing_folder_is_bad_input(tmp_path, capsys):
    assert cli.main(["run", BASELINE, "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "--plot" in capsys.readouterr().err


def test_tables_keep_their_width_in_a_pipe():
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    res = _phaselab("run", "scenarios/baseline.toml", env=env)
    assert res.returncode == 0
    widest = max(len(line) for line in res.stdout.splitlines())
    assert widest > 80, widest
    assert "…" not in res.stdout  # no cell cut short


def test_violations_are_explained_from_the_catalogue(capsys):
    from phaselab import catalogue
    assert cli.main(["run", BASELINE, "--seed", "3", "--variant", "reference"]) == 1
    out = capsys.readouterr().out.replace("\n", " ")
    assert "EPOCH-TAG-AGREE: " + catalogue.line("EPOCH-TAG-AGREE")[:40] in " ".join(out.split())
    assert cli.main(["run", BASELINE, "--seed", "3", "--variant", "reference", "--json"]) == 1
    v = json.loads(capsys.readouterr().out)["verdict"]["violated"][0]
    assert v["meaning"] == catalogue.line(v["property"])


def test_docs_write_regenerates_the_files(tmp_path, monkeypatch, capsys):
    from phaselab.commands import docs
    monkeypatch.setattr(docs, "DOCS", tmp_path)
    assert cli.main(["docs", "all", "--write"]) == 0
    for name in ("scenarios.md", "state-machine.md", "properties.md"):
        assert (tmp_path / name).read_text() == (ROOT / "docs" / name).read_text(), name
    assert cli.main(["docs", "all"]) == 2


def test_smoke_takes_plot_html_and_threshold_and_checks_them_first(tmp_path, capsys):
    """Before any server starts: a bad threshold or a missing folder is bad input."""
    assert cli.main(["smoke", "--threshold", "nope"]) == 2
    assert "--threshold 'nope'" in capsys.readouterr().err
    assert cli.main(["smoke", "--plot", str(tmp_path / "no" / "x.png")]) == 2
    assert "--plot" in capsys.readouterr().err


def test_live_status_line_carries_status_and_phase_from_their_own_writes():
    from real_backend.live import _last_status
    recs = [{"kind": "status_write", "matched": True, "after": {"status": "RUNNING",
                                                                "phase": "WARMUP"}},
            {"kind": "status_write", "matched": True, "after": {"phase": "MEASUREMENT"}}]
    assert _last_status(recs) == "RUNNING/MEASUREMENT"
    assert _last_status([]) == "—"


def test_explore_save_creates_its_folder_and_explains_what_it_found(tmp_path, capsys):
    from phaselab import catalogue
    save = tmp_path / "new" / "found"
    code = cli.main(["explore", BASELINE, "--variant", "reference", "--budget", "3",
                     "--seed", "1", "--save", str(save), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 1 and out["findings"]
    assert save.is_dir() and len(list(save.iterdir())) == len(out["findings"])
    for f in out["findings"]:
        assert f["meaning"] == catalogue.line(f["property"])
    (tmp_path / "file").write_text("x")
    assert cli.main(["explore", BASELINE, "--save", str(tmp_path / "file")]) == 2
    assert "is not a folder" in capsys.readouterr().err
