"""phaselab sweep: statistics with known answers, numbers independent of --jobs, bad input."""
import json

import numpy as np
import pytest

from phaselab import cli, metrics, stats
from protocol.checks import check
from protocol.trace import Trace
from simhelp import BASELINE, baseline, run_scenario


# --- statistics against closed forms ------------------------------------------------------

def test_uniform_detection_quantiles_and_interval_coverage():
    """A fixed latency c plus a poll phase uniform on [0, T) makes the detection latency
    uniform on [c, c + T): its q-quantile is c + qT. The estimates land near it, and the
    bootstrap 95% intervals cover it in about 95% of repeated experiments."""
    c, T, n, trials = 100.0, 200.0, 120, 150
    rng = np.random.default_rng(7)
    cover = {"p50": 0, "p95": 0}
    truth = {"p50": c + 0.5 * T, "p95": c + 0.95 * T}
    for _ in range(trials):
        groups = [[x] for x in c + T * rng.random(n)]
        s = stats.summarize(groups, rng, boot=400)
        for k in cover:
            cover[k] += s[f"{k}_lo"] <= truth[k] <= s[f"{k}_hi"]
    big = stats.summarize([[x] for x in c + T * rng.random(20000)], rng, boot=50)
    assert big["p50"] == pytest.approx(truth["p50"], abs=3.0)
    assert big["p95"] == pytest.approx(truth["p95"], abs=3.0)
    assert big["max"] <= c + T and big["max"] == pytest.approx(c + T, abs=1.0)
    for k, hits in cover.items():
        assert 0.87 <= hits / trials <= 0.995, (k, hits)


def test_summary_of_nothing_is_none_and_groups_are_resampled_whole():
    s = stats.summarize([[None], []], np.random.default_rng(0))
    assert s["n"] == 0 and s["p50"] is None and s["p95_hi"] is None
    # two replications, each internally constant: every resample's median is 1 or 3 or 2
    s = stats.summarize([[1.0] * 4, [3.0] * 4], np.random.default_rng(0), boot=200)
    assert s["p50"] == 2.0 and s["p50_lo"] == 1.0 and s["p50_hi"] == 3.0


def test_detection_metric_on_a_hand_built_trace():
    """detection = wait_returned marker - RUNNING write; start = first query start."""
    recs = [{"t": 0.0, "kind": "run", "actor": "phaselab", "params": {"worker_ids": ["worker-0", "worker-1"]}},
            {"t": 2.0, "kind": "status_write", "actor": "orchestrator", "matched": True,
             "before": {"status": "STARTING", "phase": "PREPARING"},
             "after": {"status": "RUNNING", "phase": "WARMUP"}},
            {"t": 2.25, "kind": "marker", "worker": "worker-0", "name": "wait_returned"},
            {"t": 2.5, "kind": "marker", "worker": "worker-1", "name": "wait_returned"},
            {"t": 2.8, "kind": "query", "worker": "worker-1", "conn": 0, "start": 2.7, "tag": "x:phase=WARMUP"},
            {"t": 3.0, "kind": "query_batch", "worker": "worker-0", "conn": 0, "starts": [2.6, 2.9],
             "finish": 3.0, "tag": "x:phase=WARMUP", "n": 2},
            {"t": 4.0, "kind": "run_end", "actor": "driver"}]
    m = metrics.run_metrics(Trace(recs))
    assert m["detection_ms"] == [250.0, 500.0]
    assert m["start_ms"] == [600.0, 700.0] and m["skew_ms"] == pytest.approx(100.0)


# --- the sweep command --------------------------------------------------------------------

def _sweep(tmp_path, name, jobs, extra=()):
    out = tmp_path / name
    code = cli.main(["sweep", BASELINE, "--set", "status_poll_s=0.05,1.0", "--set",
                     "bulk_queries=true", "--reps", "3", "--seed", "11", "--jobs", str(jobs),
                     "--out", str(out), "--json", *extra])
    return code, out


def test_same_seed_same_numbers_whatever_jobs(tmp_path, capsys):
    code1, out1 = _sweep(tmp_path, "one", 1)
    j1 = json.loads(capsys.readouterr().out)
    code2, out2 = _sweep(tmp_path, "two", 2)
    j2 = json.loads(capsys.readouterr().out)
    assert code1 == code2 == 0
    assert j1["rows"] == j2["rows"]
    assert (out1 / "summary.csv").read_text() == (out2 / "summary.csv").read_text()
    for f in ("summary.csv", "runs.csv", "sweep.json", "latency_cost.png", "report.html"):
        assert (out2 / f).stat().st_size > 0
    fast, slow = j1["rows"]
    assert fast["label"] == "0.05" and slow["label"] == "1.0"
    assert fast["detection_ms"]["p50"] < slow["detection_ms"]["p50"]
    assert fast["wait_load_per_worker_per_s"]["mean"] > slow["wait_load_per_worker_per_s"]["mean"]


@pytest.mark.parametrize("args,needle", [
    (["--reps", "0"], "--reps: must be a whole number >= 1"),
    (["--jobs", "0"], "--jobs: must be a whole number >= 1"),
    (["--set", "status_poll_s"], "--set 'status_poll_s': expected key=v1,v2"),
    (["--set", "status_poll_s=0.1,,0.2"], "non-empty values"),
    (["--set", "status_poll_s=0.1,abc"], "run.status_poll_s must be a number"),
    (["--set", "scheme=poll,carrier-pigeon"], "coordination.scheme must be one of"),
    (["--case", "no colon"], "--case 'no colon': expected 'label: key=value"),
    (["--set", "bogus=1,2"], "unknown key 'bogus'"),
    ([], "--set: give at least one setting"),
])
def test_bad_arguments_exit_2_naming_them_and_write_nothing(tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    assert cli.main(["sweep", BASELINE, "--out", str(out), *args]) == 2
    assert needle in capsys.readouterr().err
    assert not out.exists()


# --- the coordination schemes and bulk queries keep the protocol correct ------------------

@pytest.mark.parametrize("sets", [["scheme=jittered"], ["scheme=adaptive"], ["scheme=push"],
                                  ["parallel_startup=true", "prespawn_tasks=true"],
                                  ["visibility_lag_s=0.1", "scheme=push"],
                                  ["bulk_queries=true", "warmup_s=0"]])
def test_alternatives_stay_clean_on_fixed(sets):
    for seed in range(4):
        res = run_scenario(baseline(), seed=seed, variant="fixed", sets=sets)
        assert check(Trace(res.records)) == [], (sets, seed)
        assert res.phase == "COMPLETED"


def test_bulk_queries_find_what_per_query_finds():
    """The reference variant's tag/epoch disagreement is found from query_batch records, and
    a batch retagged WARMUP after the hook is caught."""
    # The warmup and duration lengths depend on where the poll iterations fall against the
    # database's second boundaries (TIMESTAMPDIFF in reference), which a different schedule
    # moves; they are not about queries, so they are left out of the comparison.
    timing = {"RUN-WARMUP-LENGTH", "RUN-MEASUREMENT-LENGTH"}
    for seed in (1, 2):
        per = {v.property_id for v in check(Trace(run_scenario(baseline(), seed, "reference").records))}
        bulk = {v.property_id for v in check(Trace(run_scenario(
            baseline(), seed, "reference", ["bulk_queries=true"]).records))}
        assert per - timing == bulk - timing and "EPOCH-TAG-AGREE" in bulk
    recs = run_scenario(baseline(), 3, "fixed", ["bulk_queries=true"]).records
    hook = next(r for r in recs if r["kind"] == "hook")
    late = next(r for r in recs if r["kind"] == "query_batch" and r["worker"] == hook["worker"]
                and r["starts"][0] > hook["t"] + 1.0)
    late["tag"] = late["tag"].replace("RUNNING", "WARMUP")
    late["epoch"] = 0
    found = {v.property_id for v in check(Trace(recs))}
    assert {"TAG-MEASUREMENT", "TAG-PROPAGATION", "EPOCH-ISOLATION"} <= found


def test_read_run_status_sees_other_sessions_writes_late():
    from protocol.effects import CreateRun, Guard, ReadRunStatus, WriteRunStatus
    from sim.tables import Tables
    t = Tables(visibility_lag_s=0.1)
    t.create_run(0.0, CreateRun("r", 1), "orchestrator", 1)
    t.write_run_status(1.0, WriteRunStatus("r", {"STATUS": "STARTING"}, Guard()), "orchestrator", 2)
    assert t.read_run_status(1.05, ReadRunStatus("r"), "worker-0")[0].status == "PREPARED"
    assert t.read_run_status(1.05, ReadRunStatus("r"), "orchestrator")[0].status == "STARTING"
    assert t.read_run_status(1.1, ReadRunStatus("r"), "worker-0")[0].status == "STARTING"



def test_seed_validation_doc_is_what_the_command_prints(capsys, monkeypatch):
    """docs/seed-validation.md agrees with `phaselab seed-validation` on this code."""
    from simhelp import ROOT
    monkeypatch.chdir(ROOT)
    assert cli.main(["seed-validation", "--jobs", "1", "--json"]) == 0
    text = json.loads(capsys.readouterr().out)["markdown"]
    committed = (ROOT / "docs" / "seed-validation.md").read_text()
    body = lambda s: s.split("\n", 3)[3].strip()  # noqa: E731  (the command line differs)
    assert body(text) == body(committed), \
        "docs/seed-validation.md is stale: run `phaselab seed-validation --out docs/seed-validation.md`"


# --- --per, --at and what the comparison writes -------------------------------------------

def test_per_repeats_every_setting_and_case_and_at_changes_the_matching_ones():
    from phaselab import sweep as sw
    combos = sw.combinations(sw.parse_axes(["status_poll_s=0.1,1.0"]), ["push: scheme=push"],
                             sw.parse_axes(["workers=2,30"], "--per"),
                             [sw.parse_at("workers=30: reps=2; duration_s=3")])
    assert [c.label for c in combos] == ["0.1, workers=2", "1.0, workers=2", "push, workers=2",
                                         "0.1, workers=30", "1.0, workers=30", "push, workers=30"]
    assert [c.reps for c in combos] == [None] * 3 + [2] * 3
    assert combos[4].sets == ("status_poll_s=1.0", "workers=30", "duration_s=3")
    assert combos[5].values == {"case": "push", "workers": "30"}


@pytest.mark.parametrize("text,needle", [
    ("workers=30", "expected 'key=value: setting=value"),
    ("workers: reps=2", "must be key=value"),
    ("workers=30: reps=0", "reps must be a whole number >= 1"),
    ("workers=30: nonsense", "'nonsense' is not key=value"),
    ("workers=30:", "give reps=N or settings")])
def test_bad_at_rules_name_what_is_allowed(text, needle):
    from phaselab import sweep as sw
    with pytest.raises(sw.UsageError, match=needle):
        sw.parse_at(text)


def test_comparison_writes_answer_charts_report_and_fails_a_threshold(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = cli.main(["sweep", BASELINE, "--set", "status_poll_s=0.05,1.0", "--case",
                     "push: scheme=push", "--set", "bulk_queries=true", "--set", "duration_s=3",
                     "--per", "workers=2,6", "--at", "workers=6: reps=1", "--reps", "2",
                     "--jobs", "1", "--seed", "5", "--out", str(out), "--variant", "fixed",
                     "--threshold", "detection_ms.p95<1", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 99  # clean runs, failed threshold
    assert [a["series"] for a in doc["answers"]] == ["2", "6"]
    assert all(a["sentence"].startswith(f"At {a['series']} workers") for a in doc["answers"])
    assert doc["axes"] == {"x": "status_poll_s", "series": "workers"}
    assert [r["reps"] for r in doc["rows"]] == [2, 2, 2, 1, 1, 1]
    assert [r["workers"] for r in doc["rows"]] == [2, 2, 2, 6, 6, 6]
    for r in doc["rows"]:
        assert r["barrier_load_per_s"]["mean"] > 0 and r["cost_usd_per_run"]["mean"] > 0
    fast, slow = doc["rows"][3], doc["rows"][4]
    assert fast["barrier_load_per_s"]["mean"] > 2 * slow["barrier_load_per_s"]["mean"]
    assert not any(t["ok"] for t in doc["thresholds"])
    for f in ("report.html", "latency_cost.png", "latency_interval.png", "barrier_load.png",
              "sweep.json", "summary.csv", "runs.csv"):
        assert (out / f).stat().st_size > 0, f
    page = (out / "report.html").read_text()
    assert doc["answers"][0]["sentence"].split(":")[0] in page
    assert page.count("data:image/png;base64,") == 3


def test_main_job_compares_at_4_100_and_1000_workers():
    """tasks.py's main job: the interval sweep and push, at the three sizes, with the big
    runs shortened by --at (their settings are stated in the report)."""
    import importlib.util
    from simhelp import ROOT
    spec = importlib.util.spec_from_file_location("tasks", ROOT / "tasks.py")
    tasks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tasks)
    job = tasks.MAIN_JOB
    assert job[job.index("--per") + 1] == "workers=4,100,1000"
    ats = [job[i + 1] for i, a in enumerate(job) if a == "--at"]
    assert any(a.startswith("workers=1000:") for a in ats)
    from phaselab import sweep as sw
    combos = sw.combinations(sw.parse_axes([job[i + 1] for i, a in enumerate(job) if a == "--set"]),
                             [job[job.index("--case") + 1]],
                             sw.parse_axes(["workers=4,100,1000"], "--per"),
                             [sw.parse_at(a) for a in ats])
    sw.validate(str(ROOT / job[2]), combos)  # every combination is a valid scenario
    assert len(combos) == 18
