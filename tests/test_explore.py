"""`phaselab explore` (a Hypothesis search that shrinks each distinct failure), its coverage
report, and `phaselab run --replay`."""
import json
import time

import pytest

from phaselab import coverage, explore as ex
from phaselab.cli import main
from phaselab.explore import cause, explore, key_of, meaning, plan
from protocol.checks import Violation
from simhelp import BASELINE
from tests.trace_builder import clean_run

REG = "tests/regressions/user-stop-before-start.json"


def _findings(rep):
    """What a user compares between two runs: each finding's key, count, minimal case."""
    return [(f.key, f.examples, f.first.case, f.shrunk and f.shrunk.case) for f in rep.findings]


# --- reproducible for a seed, whatever the processes or the machine's speed ----------------

def test_same_findings_with_one_and_two_processes():
    kw = dict(max_examples=40, seed=7, database=None, shrink_calls=25)
    one = explore(BASELINE, "epoch-before-tag", jobs=1, **kw)
    two = explore(BASELINE, "epoch-before-tag", jobs=2, **kw)
    assert one.findings, "the preset's bug should be found in 40 examples"
    assert _findings(one) == _findings(two)
    assert one.examples == two.examples == 40
    assert one.tally.counts == two.tally.counts
    # where the search's time went, per process: every shard accounted for, in <= 2 processes
    procs = two.parallel["processes"]
    assert 1 <= len(procs) <= 2 and sum(p["tasks"] for p in procs.values()) == two.shards
    assert all(p["busy_s"] > 0 and p["before_first_s"] >= 0 for p in procs.values())
    assert sum(p["tasks"] for p in one.parallel["processes"].values()) == one.shards
    shrinks = two.parallel["shrinks"]  # one task per distinct failure, accounted apart
    assert sum(p["tasks"] for p in shrinks["processes"].values()) == len(two.findings)
    assert shrinks["runs_s"] >= max(p["busy_s"] for p in shrinks["processes"].values())


def test_same_findings_with_one_and_two_processes_from_tapering_shards(monkeypatch):
    """Shards of unequal sizes, smaller toward the end (as plan() cuts a large budget), merge
    to the same findings whichever process ran which."""
    monkeypatch.setattr(ex, "SHARD_MIN", 3)  # 30 examples in 9 shards of 4 down to 1
    assert plan(30) == [4, 4, 4, 4, 4, 3, 3, 3, 1]
    kw = dict(max_examples=30, seed=7, database=None, shrink_calls=10)
    one = explore(BASELINE, "epoch-before-tag", jobs=1, **kw)
    two = explore(BASELINE, "epoch-before-tag", jobs=2, **kw)
    assert one.findings and _findings(one) == _findings(two)
    assert one.tally.counts == two.tally.counts and two.examples == 30 and two.shards == 9
    assert len(two.parallel["processes"]) == 2


def test_same_findings_on_a_machine_a_thousand_times_slower(monkeypatch):
    """Every clock Hypothesis or explore could read moves 1 s per reading: any wall-clock
    rule (Hypothesis stops its multi-bug search 10 s after the first bug and its shrinking
    after 5 minutes) would change the findings."""
    kw = dict(max_examples=30, seed=3, database=None, shrink_calls=20, jobs=1)
    quiet = explore(BASELINE, "epoch-before-tag", **kw)
    clock = [time.monotonic()]

    def slow() -> float:
        clock[0] += 1.0
        return clock[0]
    monkeypatch.setattr(time, "monotonic", slow)
    monkeypatch.setattr(time, "perf_counter", slow)
    loaded = explore(BASELINE, "epoch-before-tag", **kw)
    assert quiet.findings and _findings(quiet) == _findings(loaded)


def test_time_budget_stops_starting_shards():
    rep = explore(BASELINE, "fixed", max_examples=100, seed=3, database=None,
                  time_budget_s=1e-9)
    assert rep.time_capped and rep.shards == 4 and rep.shards_run == 1 and rep.examples == 25


def test_shard_plan_depends_on_the_budget_only():
    # pinned: a different plan draws different examples for the same seed
    assert plan(2000) == [200] * 7 + [150, 113, 85, 63, 48, 36, 27, 25, 25, 25, 3]
    assert plan(50) == [25, 25] and plan(40) == [25, 15] and plan(200) == [25] * 8
    assert sum(plan(333)) == 333 and len(plan(333)) == 10
    assert ex.shard_seed(1, 0) != ex.shard_seed(1, 1) != ex.shard_seed(2, 0)


@pytest.mark.parametrize("budget", [1, 24, 201, 333, 999, 1600, 2000, 2001, 20000])
def test_shards_shrink_toward_the_end_of_the_search(budget):
    sizes = plan(budget)
    assert sum(sizes) == budget and min(sizes) >= 1
    largest = min(ex.SHARD_MAX, max(ex.SHARD_MIN, -(-budget // 8)))
    assert max(sizes) <= largest
    assert sizes[:-1] == sorted(sizes[:-1], reverse=True)  # the large ones first
    for i, size in enumerate(sizes):  # each a quarter at most of what is left, or the minimum
        left = budget - sum(sizes[:i])
        assert size <= max(ex.SHARD_MIN, -(-left // ex.SHARD_TAPER))


def _finish_times(sizes: list[int], processes: int, seed: int) -> list[float]:
    """When each process ends if each takes the next shard as it frees up and an example
    costs 0.7 to 1.3 units, the same within a shard (measured: 200-example shards of the
    baseline took 2.1 to 3.6 s, sd 16%)."""
    import heapq
    import random
    rng = random.Random(seed)
    free = [0.0] * processes
    for size in sizes:
        heapq.heappush(free, heapq.heappop(free) + size * rng.uniform(0.7, 1.3))
    return free


@pytest.mark.parametrize("processes", [2, 3, 4])
def test_processes_finish_the_search_within_a_small_shard_of_each_other(processes):
    """The end imbalance that cut 2 processes to 1.69x on 2,000 examples: equal shards of 200
    left one process idle while the other ran its last shard alone."""
    for seed in range(20):
        ends = _finish_times(plan(2000), processes, seed)
        assert max(ends) - min(ends) <= 1.3 * 2 * ex.SHARD_MIN, (processes, seed)
    equal = [max(_finish_times([200] * 10, processes, s)) - min(_finish_times(
        [200] * 10, processes, s)) for s in range(20)]
    assert max(equal) > 1.3 * 2 * ex.SHARD_MIN  # the same yardstick fails the old plan


# --- shrinking, one per property and cause ---------------------------------------------------

def test_each_failure_is_shrunk_and_replays(tmp_path, capsys):
    rep = explore(BASELINE, "epoch-before-tag", max_examples=40, seed=7, database=None,
                  shrink_calls=40)
    f = next(f for f in rep.findings if f.property_id == "EPOCH-TAG-AGREE")
    assert f.shrunk is not None and f.shrink_calls > 0
    first, small = f.first.case["scenario"]["run"], f.shrunk.case["scenario"]["run"]
    assert (small["workers"], small["connections_per_worker"]) <= \
        (first["workers"], first["connections_per_worker"])
    assert small["workers"] == 1  # the bug needs one worker: the shrinker finds that
    path = tmp_path / "case.json"
    from phaselab import replay
    replay.save(str(path), f.shrunk.case)
    assert main(["run", "--replay", str(path), "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    assert "EPOCH-TAG-AGREE" in [g["property"] for g in out["verdict"]["violated"]]


def test_failure_keys_separate_causes_not_numbers():
    a = Violation("RUN-MEASUREMENT-LENGTH", "duration STOP seq 3 at t=10.479 but measurement "
                  "never started")
    b = Violation("RUN-MEASUREMENT-LENGTH", "duration STOP seq 4 at t=1.5 but measurement "
                  "never started")
    c = Violation("RUN-MEASUREMENT-LENGTH", "duration STOP seq 3 at t=11.140 is 4.053 s after "
                  "the MEASUREMENT write at t=7.087, outside [d, d+P] = [5, 23.7]")
    assert key_of(a) == key_of(b) != key_of(c)
    assert cause("worker-12 swallowed") == "worker-N swallowed"


def test_meaning_is_the_checkers_first_sentence():
    assert meaning("RUN-PHASE-ANNOUNCED").startswith("Every PHASE change workers must follow")
    assert meaning("RUN-PHASE-ANNOUNCED").endswith(".")


def test_past_failures_come_back_first(tmp_path):
    db, zoo = str(tmp_path / "db"), "wait-loop-swallows-set-phase"  # a rare bug
    first = explore(BASELINE, zoo, max_examples=100, seed=1, database=db, shrink_calls=5)
    keys = {f.key for f in first.findings}
    assert keys and not any(f.from_database for f in first.findings)
    # one example finds nothing by itself (Hypothesis's first example is the simplest) ...
    alone = explore(BASELINE, zoo, max_examples=1, seed=1, database=None, shrink_calls=0)
    assert not alone.time_capped
    again = explore(BASELINE, zoo, max_examples=1, seed=1, database=db, shrink_calls=0)
    assert alone.findings == []
    assert keys <= {f.key for f in again.findings}  # ... but the database brings them back
    assert again.replayed >= 1 and all(f.from_database for f in again.findings)


def test_fixed_finds_nothing_and_reports_coverage():
    rep = explore(BASELINE, "fixed", max_examples=30, seed=3, database=None)
    assert rep.findings == [] and rep.examples == 30 and not rep.time_capped
    assert rep.parallel["shrinks"] is None  # nothing to shrink, no accounting to show
    cov = rep.tally.report()
    reached = {r["item"] for r in cov["status/phase"]["reached"]}
    assert "RUNNING MEASUREMENT" in reached and "COMPLETED COMPLETED" in reached
    assert sum(rep.features.values()) > 0  # swarm: features were switched on


# --- coverage ---------------------------------------------------------------------------------

def test_coverage_items_of_a_trace():
    its = coverage.items(clean_run().build())
    assert ("status/phase", "RUNNING", "MEASUREMENT") in its
    assert ("status edge", "RUNNING", "STOPPING") in its
    assert ("worker phase", "event", "MEASUREMENT") in its
    assert ("event handling", "wait", "START", "ignored") in its
    assert ("interleaving", "STOP reason", "duration_elapsed") in its
    assert not any(i[0] == "error path" for i in its)


def test_coverage_error_paths_and_report():
    b = clean_run().op(3.0, "worker-0", "read_run_status", outcome="fail")
    b.edit(lambda r: r["kind"] == "proc" and r.get("action") == "exit"
           and r["worker"] == "worker-1", code=3)
    its = coverage.items(b.build())
    assert ("error path", "fail statement", "read_run_status") in its
    assert ("error path", "worker exit code", 3) in its
    t = coverage.Tally()
    assert t.add(its) == len(its) and t.add(its) == 0  # the second time nothing is new
    rep = t.report()
    assert {"item": "RUNNING MEASUREMENT", "examples": 2} in rep["status/phase"]["reached"]
    why = {u["item"]: u["why"] for u in rep["status/phase"]["unreachable"]}
    assert "RUN-PHASE-ORDER" in why["RUNNING PROCESSING"]
    assert "CANCELLING MEASUREMENT" in rep["status/phase"]["missed"]


# --- the command ------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["--max-examples", "0"], ["--jobs", "0"], ["--seed", "-1"], ["--time-budget", "0"],
    ["--budget", "0"], ["--shrink-calls", "-1"], ["--variant", "nope"],
    ["--save", "README.md"], ["--database", "README.md"], ["--time-budget", "nan"],
    ["--plot", "no-such-folder/c.png"]])
def test_explore_bad_input_exits_2(args, capsys):
    assert main(["explore", BASELINE, *args]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and args[0].lstrip("-") in err and "Traceback" not in err


def test_explore_command_saves_short_replays(capsys, tmp_path):
    assert main(["explore", BASELINE, "--variant", "epoch-before-tag", "--max-examples", "30",
                 "--seed", "7", "--no-database", "--shrink-calls", "10", "--save",
                 str(tmp_path), "--json"]) == 1
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert "explore: search" in captured.err  # progress on stderr
    f = out["findings"][0]
    assert f["meaning"] and f["minimal"]["scenario"]["workers"] >= 1
    assert f["replay"] == f"phaselab run --replay {f['replay_file']}"
    assert "status/phase" in out["coverage"]
    assert main(["run", "--replay", f["replay_file"], "--json"]) == 1
    png = tmp_path / "coverage.png"
    assert main(["explore", BASELINE, "--variant", "fixed", "--max-examples", "5",
                 "--no-database", "--plot", str(png)]) == 0
    assert "No property violated" in capsys.readouterr().out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_explore_command_exit_codes(capsys, tmp_path):
    assert main(["explore", BASELINE, "--budget", "0"]) == 2
    assert main(["explore", BASELINE, "--budget", "nan"]) == 2
    assert main(["explore", BASELINE, "--variant", "nope", "--max-examples", "1"]) == 2
    (tmp_path / "a-file").write_text("x")  # a missing --save folder is created; a file is not one
    assert main(["explore", BASELINE, "--save", str(tmp_path / "a-file"),
                 "--max-examples", "1"]) == 2
    capsys.readouterr()
    assert main(["explore", BASELINE, "--variant", "epoch-before-tag", "--max-examples", "20",
                 "--shrink-calls", "5", "--no-database", "--save", str(tmp_path / "new"),
                 "--json"]) == 1
    out = json.loads(capsys.readouterr().out)
    saved = out["findings"][0]["replay_file"]
    assert main(["run", "--replay", saved, "--json"]) == 1


def test_run_replay(capsys):
    assert main(["run", "--replay", REG, "--json"]) == 3  # stopped before it started
    out = json.loads(capsys.readouterr().out)
    assert out["replay"] == f"phaselab run --replay {REG}"
    assert main(["run", "--replay", REG, "--seed", "3"]) == 2
    assert main(["run", "--replay", "tests/regressions/nope.json"]) == 2
    assert main(["run"]) == 2
