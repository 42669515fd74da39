"""Issue 12: every bad input is a usage error, big runs are sized before they start, a run
that did not happen is not called clean, outputs never overwrite inputs."""
from __future__ import annotations

import json
import os
import stat

import pytest

from phaselab import cli, outcome, scenario as scn
from phaselab.errors import EXIT_DID_NOT_RUN, UsageError
from phaselab.files import write_atomically
from phaselab.inputs import budget
from phaselab.inputs.trace_records import load_trace
from protocol.trace import Trace, dumps
from simhelp import BASELINE, baseline, run_scenario

SHORT = ["warmup_s=1", "duration_s=2", "workers=2", "connections_per_worker=2"]


def _trace_file(tmp_path, records, name="t.jsonl") -> str:
    path = tmp_path / name
    path.write_text("".join(dumps(r) + "\n" for r in records))
    return str(path)


# --- a run that did not happen ------------------------------------------------------------

def test_a_run_that_never_started_exits_3_not_0(capsys):
    code = cli.main(["run", BASELINE, "--set", "wait_timeout_s=0.01", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"]["ok"] and "never started" in out["did_not_run"]
    assert code == EXIT_DID_NOT_RUN


def test_a_run_that_happened_is_still_clean(capsys):
    assert cli.main(["run", BASELINE, "--seed", "2", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["did_not_run"] is None


def test_a_header_only_trace_is_not_judged_clean(tmp_path, capsys):
    header = run_scenario(baseline(), seed=1, sets=SHORT).records[0]
    assert cli.main(["check", _trace_file(tmp_path, [header])]) == EXIT_DID_NOT_RUN
    assert "nothing to judge" in capsys.readouterr().out.replace("\n", " ")


def test_did_not_run_names_each_reason():
    recs = run_scenario(baseline(), seed=1, sets=SHORT).records
    assert outcome.did_not_run(Trace(recs)) is None
    assert "no run_end" in outcome.did_not_run(Trace(recs[:-1]))
    never = [r for r in recs if not (r["kind"] == "status_write"
                                     and (r.get("after") or {}).get("status") == "RUNNING")]
    assert "never started" in outcome.did_not_run(Trace(never))


def test_violations_outrank_did_not_run():
    bad = {"ok": False}
    assert outcome.exit_code(bad, "never started") == 1
    assert outcome.exit_code({"ok": True}, "never started") == 3
    assert outcome.exit_code({"ok": True}, None) == 0


def test_explore_with_a_tiny_budget_still_judges_examples(capsys):
    # A time budget only stops new shards: the first always runs, so a search never reports
    # "no property violated" after 0 examples (exit 3 stays for that case).
    code = cli.main(["explore", BASELINE, "--budget", "1e-9", "--max-examples", "5",
                     "--no-database", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert out["examples"] >= 1
    assert code == (1 if out["findings"] else 0) and code != EXIT_DID_NOT_RUN


# --- numbers on the command line ----------------------------------------------------------

@pytest.mark.parametrize("argv,needle", [
    (["explore", BASELINE, "--budget", "nan"], "--budget: must be a finite number"),
    (["explore", BASELINE, "--budget", "inf"], "--budget: must be a finite number"),
    (["smoke", "--login-timeout", "nan"], "--login-timeout: must be a finite number"),
    (["smoke", "--statement-timeout", "NaN"], "--statement-timeout: must be a finite"),
    (["smoke", "--measure", "inf"], "--measure: must be a finite number"),
    (["smoke", "--think-time", "nan"], "--think-time: must be a finite number"),
    (["smoke", "--workers", "1000000"], "--workers: 1,000,000 is above the limit of 8"),
    (["smoke", "--workers", "8", "--connections", "100"], "--workers x --connections: 800"),
    (["smoke", "--measure", "100000"], "--warmup + --measure"),
    (["sweep", BASELINE, "--set", "workers=2,3", "--reps", "1000000000"],
     "--reps x settings: 2,000,000,000 is above the limit"),
    (["sweep", BASELINE, "--set", "workers=2,3", "--jobs", "1000"], "--jobs: 1,000 is above"),
    (["run", BASELINE, "--seed", "-1"], "--seed: must be a whole number >= 0"),
])
def test_bad_numbers_exit_2_before_anything_starts(argv, needle, capsys, tmp_path,
                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    assert needle in capsys.readouterr().err
    assert os.listdir(tmp_path) == []


def test_duplicate_sweep_labels_are_refused(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["sweep", BASELINE, "--case", "a: workers=2", "--case", "a: workers=3",
                     "--out", str(out)]) == 2
    assert "label is already used" in capsys.readouterr().err and not out.exists()


# --- sizes ------------------------------------------------------------------------------

def test_the_estimate_is_near_the_baselines_record_count():
    sc = baseline()
    est = budget.estimate_scenario(sc)
    records = len(run_scenario(sc, seed=1).records)
    assert records / 2 <= est.records <= records * 3  # errs high, not wild


@pytest.mark.parametrize("sets,needle", [
    (["workers=10000"], "benchmark queries"),
    (["dashboards=1000000"], "run.dashboards"),
    (["duration_s=1e12"], "benchmark queries"),
    (["main_loop_sleep_s=1e-9"], "run.main_loop_sleep_s"),
])
def test_runs_above_the_limits_are_refused_naming_the_key(sets, needle):
    sc = scn.load(BASELINE, sets)
    with pytest.raises(UsageError, match="--allow-large") as err:
        budget.check_scenario(sc, allow_large=False)
    assert needle in str(err.value)
    budget.check_scenario(sc, allow_large=True)  # the user may insist


def test_a_run_that_would_never_end_is_refused_even_when_allowed():
    sc = scn.load(BASELINE, ["think_time_s=0", 'latency.benchmark={dist="fixed", value=0}'])
    with pytest.raises(UsageError, match="never end"):
        budget.check_scenario(sc, allow_large=True)
    budget.check_scenario(scn.load(BASELINE, ['latency.benchmark={dist="fixed", value=0}',
                                              "think_time_s=0.5"]), allow_large=False)


def test_run_refuses_a_big_scenario_with_exit_2(capsys):
    assert cli.main(["run", BASELINE, "--set", "workers=100000"]) == 2
    assert "--allow-large" in capsys.readouterr().err


# --- keys that must agree ----------------------------------------------------------------

@pytest.mark.parametrize("bad,good", [
    (["stale_s=90"], ["stale_s=59"]),
    (["heartbeat_s=30"], ["heartbeat_s=29"]),
    (["user_stop_at_s=-0.5"], ["user_stop_at_s=-1"]),
    (["deadline_s=30"], ["deadline_s=31"]),
    (["scheme=adaptive", "fast_s=2", "slow_s=1"], ["scheme=adaptive", "fast_s=1", "slow_s=2"]),
    (['latency.connect={dist="lognormal", median=3, sigma=0.2, cap=2}'],
     ['latency.connect={dist="lognormal", median=3, sigma=0.2, cap=3}']),
    (['latency.connect={dist="lognormal", median=3, sigma=400}'],
     ['latency.connect={dist="lognormal", median=3, sigma=400, cap=10}']),
])
def test_cross_key_rules(bad, good):
    with pytest.raises(scn.ScenarioError):
        scn.load(BASELINE, bad)
    scn.load(BASELINE, good)


# --- files ------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ["run", "{d}"], ["check", "{d}"], ["run", "--replay", "{d}"],
    ["run", BASELINE, "--trace", "{d}"], ["calibrate", "{t}", "--out", "{d}"],
])
def test_a_folder_where_a_file_is_expected(argv, tmp_path, capsys):
    trace = _trace_file(tmp_path, run_scenario(baseline(), seed=1, sets=SHORT).records)
    argv = [a.format(d=tmp_path, t=trace) for a in argv]
    assert cli.main(argv) == 2
    assert "is a folder" in capsys.readouterr().err


def test_run_never_writes_its_trace_over_the_scenario(tmp_path, capsys):
    scen = tmp_path / "s.toml"
    scen.write_text(open(BASELINE).read())
    before = scen.read_bytes()
    assert cli.main(["run", str(scen), "--trace", str(scen)]) == 2
    assert "is also the input" in capsys.readouterr().err
    assert scen.read_bytes() == before


def test_calibrate_never_writes_over_its_trace(tmp_path, capsys):
    trace = _trace_file(tmp_path, run_scenario(baseline(), seed=1, sets=SHORT).records)
    before = open(trace, "rb").read()
    assert cli.main(["calibrate", trace, "--out", trace]) == 2
    assert open(trace, "rb").read() == before


def test_outputs_get_the_umask_permissions_and_keep_an_existing_mode(tmp_path):
    old = os.umask(0o022)
    try:
        new = tmp_path / "new.txt"
        write_atomically(str(new), ["x"])
        assert stat.S_IMODE(new.stat().st_mode) == 0o644  # mkstemp alone gives 0600
        private = tmp_path / "private.txt"
        private.write_text("old")
        private.chmod(0o600)
        write_atomically(str(private), ["y"])
        assert stat.S_IMODE(private.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_trace_record_error_names_file_line_field_and_what_is_allowed(tmp_path):
    recs = run_scenario(baseline(), seed=1, sets=SHORT).records
    i = next(i for i, r in enumerate(recs) if r["kind"] == "marker")
    recs[i] = dict(recs[i], worker=["w"])
    path = _trace_file(tmp_path, recs)
    with pytest.raises(UsageError) as err:
        load_trace(path)
    assert f"{path}:{i + 1}: field 'worker' must be a string, not ['w']" in str(err.value)
    recs[i] = dict(recs[i], worker="worker-0")
    load_trace(_trace_file(tmp_path, recs, "ok.jsonl"))


def test_a_converted_upstream_trace_loads_without_a_false_alarm(tmp_path):
    """A recorded upstream run has no epochs, counted flags or event cursors (nulls)."""
    from test_upstream_units import _convert
    recs = _convert(tmp_path).records
    assert any(r["kind"] == "query" and r["epoch"] is None for r in recs)
    assert len(load_trace(_trace_file(tmp_path, recs, "up.jsonl")).records) == len(recs)


def test_sweep_refuses_a_total_over_the_limit_although_each_setting_fits(monkeypatch, tmp_path,
                                                                         capsys):
    # Each combination is checked at its own reps; the sum over all of them must fit as well.
    sc = scn.with_overrides(scn.load(BASELINE), None, None, ["bulk_queries=true"])
    one = budget.estimate_scenario(sc).events * 3  # one setting at --reps 3
    monkeypatch.setitem(budget.LIMITS, "total_events", (one * 1.5, budget.LIMITS["total_events"][1]))
    argv = ["sweep", BASELINE, "--set", "status_poll_s=0.2,0.20001", "--set", "bulk_queries=true",
            "--reps", "3", "--out", str(tmp_path / "out")]
    assert cli.main(argv) == 2
    assert "the sweep would take" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # refused before anything ran or was written
