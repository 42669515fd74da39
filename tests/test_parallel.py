"""phaselab/parallel: results in task order whatever ran them, biggest first, the deadline,
the idle accounting, --scheduler's addresses; sweep and explore on Dask give the numbers of
--jobs 1; a bad or unreachable scheduler is exit 2; Ctrl-C leaves no process behind."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from phaselab import cli, parallel
from phaselab.errors import UsageError
from phaselab.explore import explore
from phaselab.parallel import addresses, dask_cluster

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")


def square(x: int) -> int:
    return x * x


def slow_square(x: int) -> int:
    time.sleep(0.05 * (x % 3))  # finish out of order
    return x * x


# --- run_tasks ------------------------------------------------------------------------------

def test_serial_runs_in_the_given_order_and_returns_task_order():
    seen, timings = [], []
    out = parallel.run_tasks(square, [1, 2, 3, 4], order=[3, 1, 0, 2], on_done=seen.append,
                             timings=timings)
    assert out == [1, 4, 9, 16]
    assert seen == [16, 4, 1, 9]  # started (and, here, ended) biggest-first as asked
    assert [t.index for t in timings] == [3, 1, 0, 2]
    assert all(t.end >= t.start for t in timings)


def test_pool_results_are_in_task_order_although_they_end_out_of_order():
    timings: list = []
    out = parallel.run_tasks(slow_square, list(range(8)), jobs=2, timings=timings)
    assert out == [x * x for x in range(8)]
    assert sorted(t.index for t in timings) == list(range(8))
    assert len({t.where for t in timings}) == 2  # two processes did the work
    assert all(t.where.split(":")[1] != str(os.getpid()) for t in timings)


def test_the_order_must_name_every_task_once():
    with pytest.raises(ValueError):
        parallel.run_tasks(square, [1, 2, 3], order=[0, 0, 1])


def test_a_passed_deadline_still_runs_the_first_task_and_skips_the_rest():
    out = parallel.run_tasks(square, [5, 6, 7], order=[2, 0, 1],
                             deadline=time.monotonic() - 1)
    assert out == [None, None, 49]


def test_idle_summary_names_start_up_gaps_and_the_tail():
    T = parallel.TaskTime
    ts = [T(0, "h:1", 10.0, 12.0, 1.9), T(1, "h:1", 13.0, 14.0, 1.0), T(2, "h:2", 11.0, 17.0, 6.0)]
    got = parallel.idle_summary(ts, 9.0, 18.0)
    assert got["h:1"] == {"tasks": 2, "busy_s": 3.0, "cpu_s": pytest.approx(2.9),
                          "before_first_s": 1.0, "between_s": 1.0, "after_last_s": 4.0}
    assert got["h:2"]["before_first_s"] == 2.0 and got["h:2"]["after_last_s"] == 1.0


# --- --scheduler's value --------------------------------------------------------------------

@pytest.mark.parametrize("text,want", [
    ("local", "local"), ("tcp://10.0.0.5:8786", "tcp://10.0.0.5:8786"),
    ("10.0.0.5:8786", "tcp://10.0.0.5:8786"), ("tls://sched.example.org:8786",
                                              "tls://sched.example.org:8786"),
    ("[::1]:8786", "tcp://[::1]:8786")])
def test_scheduler_addresses_accepted(text, want):
    assert addresses.parse(text) == want


@pytest.mark.parametrize("text,needle", [
    ("http://h:8786", "the scheme 'http' is not one of tcp, tls, ws, wss"),
    ("tcp://h", "not an address"), ("tcp://h:0", "the port 0 is not between"),
    ("lokal", "not an address"), ("", "not an address")])
def test_scheduler_addresses_refused(text, needle):
    with pytest.raises(UsageError, match="--scheduler") as e:
        addresses.parse(text)
    assert needle in str(e.value) and "'local'" in str(e.value)


@pytest.mark.parametrize("command", [
    ["sweep", BASELINE, "--set", "status_poll_s=0.1,0.2", "--reps", "1"],
    ["explore", BASELINE, "--max-examples", "5", "--no-database"]])
def test_bad_scheduler_is_exit_2_and_writes_nothing(tmp_path, capsys, command):
    out = tmp_path / "out"
    extra = ["--out", str(out)] if command[0] == "sweep" else ["--save", str(out)]
    assert cli.main([*command, *extra, "--scheduler", "udp://h:1"]) == 2
    err = capsys.readouterr().err
    assert "--scheduler 'udp://h:1'" in err and "Traceback" not in err
    assert not out.exists()


def test_unreachable_scheduler_is_exit_2_within_the_connect_timeout(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.setattr(dask_cluster, "CONNECT_TIMEOUT_S", 1.0)
    t0 = time.monotonic()
    code = cli.main(["sweep", BASELINE, "--set", "status_poll_s=0.1,0.2", "--reps", "1",
                     "--out", str(tmp_path / "out"), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "no Dask scheduler answered within 1 s" in err and "dask scheduler" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()
    assert time.monotonic() - t0 < 30


# --- the same numbers on Dask ---------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster_address():
    """A running two-worker cluster, reached by its address like a remote one."""
    import distributed
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=":0", silence_logs=50) as cluster:
        yield cluster.scheduler_address


def _sweep(tmp_path, name, *extra):
    out = tmp_path / name
    code = cli.main(["sweep", BASELINE, "--set", "status_poll_s=0.05,1.0", "--case",
                     "push: scheme=push", "--set", "bulk_queries=true", "--reps", "2",
                     "--seed", "11", "--out", str(out), "--json", *extra])
    return code, out


def test_sweep_on_a_dask_cluster_gives_the_numbers_of_one_process(tmp_path, capsys,
                                                                  cluster_address):
    code1, out1 = _sweep(tmp_path, "one", "--jobs", "1")
    j1 = json.loads(capsys.readouterr().out)
    code2, out2 = _sweep(tmp_path, "dask", "--scheduler", cluster_address)
    j2 = json.loads(capsys.readouterr().out)
    assert code1 == code2 == 0
    assert (out1 / "summary.csv").read_bytes() == (out2 / "summary.csv").read_bytes()
    assert j1["rows"] == j2["rows"]
    runs1 = json.loads((out1 / "sweep.json").read_text())["runs"]
    runs2 = json.loads((out2 / "sweep.json").read_text())["runs"]
    strip = lambda runs: {k: [{f: v for f, v in r.items()  # noqa: E731
                               if f not in ("wall_s", "cpu_s", "sim_wall_s")} for r in rs]
                          for k, rs in runs.items()}
    assert strip(runs1) == strip(runs2)
    par = j2["parallel"]
    assert par["scheduler"] == cluster_address
    assert sum(p["tasks"] for p in par["processes"].values()) == 6
    assert all(str(os.getpid()) != w.split(":")[1] for w in par["processes"])


def test_explore_shards_and_shrinks_on_dask_find_what_one_process_finds(cluster_address):
    kw = dict(max_examples=40, seed=7, database=None, shrink_calls=25)
    one = explore(BASELINE, "epoch-before-tag", jobs=1, **kw)
    dask = explore(BASELINE, "epoch-before-tag", scheduler=cluster_address, **kw)
    assert one.findings, "the preset's bug should be found in 40 examples"
    assert [(f.key, f.examples, f.first.case, f.shrunk and f.shrunk.case)
            for f in one.findings] == [(f.key, f.examples, f.first.case, f.shrunk and
                                        f.shrunk.case) for f in dask.findings]
    assert one.tally.counts == dask.tally.counts and dask.examples == 40


# --- Ctrl-C leaves no process behind --------------------------------------------------------

def _session_processes(sid: int) -> list[int]:
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getsid(int(d)) == sid:
                    out.append(int(d))
            except OSError:
                pass
    return out


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("how", [["--jobs", "2"], ["--scheduler", "local", "--jobs", "2"]])
def test_ctrl_c_leaves_no_worker_process(tmp_path, how):
    cmd = [sys.executable, "-m", "phaselab.cli", "sweep", BASELINE, "--set",
           "status_poll_s=0.05,0.1,0.2,0.5,1.0", "--reps", "400", "--seed", "1",
           "--out", str(tmp_path / "out"), *how]
    proc = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        seen = []
        while not (seen and seen[-1].startswith("sweep:")):  # "sweep: N/M runs": running
            seen.append(proc.stderr.readline())
            assert seen[-1], "".join(seen)  # the command ended before running anything
        assert len(_session_processes(proc.pid)) >= 3  # the command and its two workers
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        _, err = proc.communicate(timeout=60)
        err = "".join(seen) + err
        deadline = time.monotonic() + 15
        while _session_processes(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _session_processes(proc.pid) == [], err[-2000:]
        assert proc.returncode == 130 and "phaselab: interrupted" in err
        assert "Traceback" not in err, err[-2000:]  # nor one from each worker
        assert not (tmp_path / "out" / "sweep.json").exists()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


# --- the sweep's order and its early statistics ---------------------------------------------

def test_sweep_starts_the_costliest_runs_first_and_hands_each_combination_over_once():
    from phaselab import sweep as sw
    combos = sw.combinations([("status_poll_s", ["1.0"])], [], [("workers", ["2", "8"])])
    scenarios = sw.validate(BASELINE, combos)
    timings, handed = [], []
    results = sw.run_jobs(scenarios, combos, 2, 1, 1, False, timings=timings,
                          on_combination=lambda c, runs: handed.append((c.index, runs)))
    # tasks 0, 1: 2 workers; 2, 3: 8 workers (the bigger estimate), which run first
    assert [t.index for t in timings] == [2, 3, 0, 1]
    assert [i for i, _ in handed] == [1, 0]
    assert all(runs == results[i] for i, runs in handed)
    assert [r["seed"] for r in results[0]] == [sw.rep_seed(1, 0, 0), sw.rep_seed(1, 0, 1)]


# --- benchmarks/parallel.py -----------------------------------------------------------------

def _parallel_bench():
    import importlib.util
    spec = importlib.util.spec_from_file_location("parallel_bench",
                                                  ROOT / "benchmarks" / "parallel.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


def test_the_explore_benchmark_row_names_the_shards_explore_cuts():
    from phaselab.explore import plan
    bench = _parallel_bench()
    budget = int(bench.EXPLORE[bench.EXPLORE.index("--max-examples") + 1])
    sizes = plan(budget)
    assert bench.explore_label() == (f"explore, {budget:,} examples in {len(sizes)} shards "
                                     f"of {max(sizes)} down to {min(sizes)} examples")


def test_the_scaling_rows_judge_wall_time_and_show_the_ratio_on_cpu_time():
    """On a shared machine the wall ratio is low by what other work took; the note also
    gives the ratio on the processes' CPU seconds (the parent's time outside the runs,
    plus the longest process's start-up, gaps and CPU)."""
    def proc(before, between, cpu):
        return {"tasks": 1, "busy_s": cpu, "cpu_s": cpu, "before_first_s": before,
                "between_s": between, "after_last_s": 0.0}
    one = {"parallel": {"runs_s": 20.0, "processes": {"h:1": proc(0.0, 0.0, 19.0)}}}
    two = {"parallel": {"runs_s": 12.0, "processes": {"h:2": proc(0.1, 0.0, 10.0),
                                                       "h:3": proc(0.1, 0.2, 9.5)}}}
    rows = _parallel_bench()._scaling_rows(
        "x", {"walls": {1: [21.0, 22.0], 2: [14.0, 13.0]}, "docs": {1: one, 2: two},
              "load": (1.5, 1.0)}, lambda doc, wall: "")
    ratio = rows[2]
    assert (ratio["measured"], ratio["met"]) == ("1.62x", False)  # 21 / 13, best of each
    # 21 - 20 + 19 = 20 s on 1 process; 13 - 12 + (0.1 + 10) = 11.1 s on 2: 1.80x
    assert "the runs' CPU 19.0 s on 1 process, 19.5 s on 2 (+3%" in ratio["note"]
    assert ratio["note"].endswith("1.80x") and "load average 1.5 before" in ratio["note"]
