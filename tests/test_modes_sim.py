"""The scaling modes in the simulation (issue 11): each mode's scenario is clean on `fixed`
for 200 seeds, each reference defect the modes expose shows on `reference` and not on
`fixed`, and the controllers, spawns, ramps and rollups do what §9-10 say."""
import pytest

from protocol import phases as ph
from protocol.checks import check, judge
from protocol.trace import Trace
from simhelp import ROOT, run_scenario
from phaselab import scenario as scn

FINDMAX, QPS, BOUNDED = (str(ROOT / "scenarios" / f"{n}.toml") for n in
                         ("findmax", "qps", "bounded"))


def run(path, seed=1, variant="fixed", sets=None):
    res = run_scenario(scn.load(path), seed=seed, variant=variant, sets=sets)
    return res, Trace(res.records)


def ids(trace):
    return {v.property_id for v in check(trace)}


@pytest.mark.parametrize("path,chunk", [(p, c) for p in (FINDMAX, QPS, BOUNDED)
                                        for c in range(4)])
def test_each_mode_is_clean_on_fixed_for_200_seeds(path, chunk):
    failures = []
    for seed in range(chunk * 50, chunk * 50 + 50):
        res, tr = run(path, seed)
        bad = [j for j in judge(tr) if j.violations]
        if bad or res.phase != ph.P_COMPLETED:
            failures.append((seed, res.status, res.phase, [j.property_id for j in bad]))
    assert failures == []


def test_controller_properties_are_judged_not_skipped_on_mode_runs():
    for path, mine in ((FINDMAX, ("SC-FINDMAX-TERMINATES", "SC-FINDMAX-RESULT",
                                  "SC-FINDMAX-STEP")),
                       (QPS, ("SC-QPS-ENVELOPE", "SC-RAMP-MONOTONE"))):
        _, tr = run(path)
        outcomes = {j.property_id: j.outcome for j in judge(tr)}
        for pid in (*mine, "SC-TARGET-ARITH", "SC-WORKER-COUNT", "UI-ROLLUP-CONVERGE",
                    "SC-WORKER-CAP", "EPOCH-AGG-MONOTONE"):
            assert outcomes[pid] == "passed", (path, pid)


# --- FIND_MAX --------------------------------------------------------------------------------

def test_findmax_steps_up_backs_off_once_and_finishes_near_the_knee():
    _, tr = run(FINDMAX)
    steps = [e for e in tr.of("ctrl_eval") if e["controller"] == "FIND_MAX"]
    kinds = [e["decision"]["kind"] for e in steps]
    assert kinds.count("backoff") == 1 and kinds[-1] == "finish"
    stable = [e["target"] for e in steps if e["outcome"] == "STABLE" and not e["backoff"]]
    assert stable == list(range(2, 2 + 2 * len(stable), 2))  # start 2, +2 per STABLE step
    knee = tr.param("warehouse")["knee_concurrency"]
    best = steps[-1]["best"]["concurrency"]
    assert knee - 2 <= best <= knee + 4  # within the increment and the 20 % latency rule


def test_findmax_spawns_workers_mid_run_and_they_start_at_their_share():
    _, tr = run(FINDMAX)
    running = tr.first_write(status="RUNNING")
    late = [r for r in tr.of("proc") if r["action"] == "spawn" and r["t"] > running["t"]]
    assert [r["worker"] for r in late] == ["worker-1", "worker-2"]
    first = {r["worker"]: r["target"] for r in reversed(tr.of("worker_state"))
             if r.get("source") == "startup"}
    assert first["worker-1"] == 1  # even split of start_concurrency 2 over 2 workers


def test_findmax_has_no_duration_limit_and_fixed_announces_its_end():
    _, tr = run(FINDMAX, sets=["duration_s=5"])
    stops = [e["payload"]["reason"] for e in tr.of("event_emit") if e["type"] == "STOP"]
    assert stops == ["find_max_complete"]
    assert ids(tr) == set()


def test_reference_findmax_defects_show_and_fixed_has_none():
    """§3.6: T7 writes COMPLETED with no STOP; §5.5: a worker spawned mid-run starts with
    cursor 0, re-reads SET_PHASE(WARMUP) (back to WARMUP) and SET_PHASE(MEASUREMENT) (a
    second hook)."""
    _, ref = run(FINDMAX, variant="reference")
    assert {"RUN-STOP-ANNOUNCED", "PH-HOOK-ONCE", "PH-NO-REGRESS"} <= ids(ref)
    _, fix = run(FINDMAX)
    assert ids(fix) == set()


def test_reference_keeps_stepping_at_a_clamped_target():
    """§9.4: with max_workers reached, each advance re-applies the clamped total."""
    sets = ["scaling.max_workers=2"]
    _, ref = run(FINDMAX, variant="reference", sets=sets)
    assert "SC-FINDMAX-TERMINATES" in ids(ref)
    _, fix = run(FINDMAX, sets=sets)
    assert ids(fix) == set()
    assert fix.of("ctrl_eval")[-1]["reason"] == "target_cannot_grow"


def test_reference_floor_after_the_cap_breaks_target_arithmetic():
    """§9.3: min_connections x n is applied after the cap, so the total exceeds cap x n."""
    sets = ["scaling.min_connections=6"]
    _, ref = run(FINDMAX, variant="reference", sets=sets)
    assert "SC-TARGET-ARITH" in ids(ref)
    _, fix = run(FINDMAX, sets=sets)
    assert "SC-TARGET-ARITH" not in ids(fix)


# --- QPS and BOUNDED -------------------------------------------------------------------------

def test_qps_climbs_towards_the_target_with_ramped_targets():
    _, tr = run(QPS)
    evals = [e for e in tr.of("ctrl_eval") if e["controller"] == "QPS"]
    assert evals[0]["threads"] == 2 and evals[-1]["qps"] > 0.7 * evals[0]["target_qps"]
    gaps = [b["t"] - a["t"] for a, b in zip(evals, evals[1:])]
    assert min(gaps) >= tr.param("qps_eval_period_s")
    assert any(r.get("source") == "ramp" for r in tr.of("worker_state"))


def test_bounded_stops_at_the_ceiling_with_bounds_limit_reached():
    res, tr = run(BOUNDED)
    stops = [e["payload"]["reason"] for e in tr.of("event_emit") if e["type"] == "STOP"]
    assert stops == ["bounds_limit_reached"]
    assert res.status == ph.COMPLETED and ids(tr) == set()


def test_reference_writes_no_rollup_after_the_loop():
    """§10.2: WORKERS_ACTIVE keeps its last value (seed issue 3's cause); the QPS
    scenario's seed 12 has its last rollup while workers were still active."""
    _, ref = run(QPS, seed=12, variant="reference")
    assert "UI-ROLLUP-CONVERGE" in ids(ref)
    _, fix = run(QPS, seed=12)
    last = [w for w in fix.matched_status_writes() if "WORKERS_ACTIVE" in (w.get("set") or {})]
    assert last[-1]["set"]["WORKERS_ACTIVE"] == 0


def test_mode_runs_state_their_settings_in_the_header():
    _, tr = run(QPS)
    assert tr.param("load_mode") == "QPS" and tr.param("scaling_mode") == "BOUNDED"
    assert tr.param("max_workers") == 4 and tr.param("warehouse")["max_qps"] == pytest.approx(320)


# --- live aggregate, ramps, steps (invariants.md 30, 33, 35) ----------------------------------

def test_reference_live_total_falls_after_the_last_hook_and_fixed_counts_reset_snapshots():
    """§10.1-10.2: the cache keeps a worker's pre-hook (warmup) snapshot until its next post,
    so a read just after the last hook sees warmup ops that the next read has reset."""
    _, ref = run(QPS, seed=7, variant="reference")
    assert "EPOCH-AGG-MONOTONE" in ids(ref)
    fell = [v for v in check(ref) if v.property_id == "EPOCH-AGG-MONOTONE"][0]
    assert all(r["kind"] == "live_agg" for r in fell.records)
    _, only = run(QPS, seed=7, variant="reference",
                  sets=["variant.switches.live_agg_counts=measured"])
    assert "EPOCH-AGG-MONOTONE" not in ids(only)
    _, fix = run(QPS, seed=7)
    assert {j.property_id: j.outcome for j in judge(fix)}["EPOCH-AGG-MONOTONE"] == "passed"


def test_reference_ramp_read_after_a_reconcile_jump_is_not_monotone():
    """§9.3: a reconcile mid-ramp jumps to the final target and the next ramp read sets the
    interpolated value back."""
    _, ref = run(QPS, seed=0, variant="reference")
    assert "SC-RAMP-MONOTONE" in ids(ref)
    _, only = run(QPS, seed=0, variant="reference", sets=["variant.switches.ramp_settles=true"])
    assert "SC-RAMP-MONOTONE" not in ids(only)


def test_reference_findmax_step_one_counts_against_a_warmup_baseline():
    """§9.4: step 1's ops0 is read in the T4 iteration from warmup-cumulative counters that
    the workers then reset, so step 1 counts far fewer ops than it ran."""
    _, ref = run(FINDMAX, variant="reference")
    v = [v for v in check(ref) if v.property_id == "SC-FINDMAX-STEP"]
    assert v and "step 1 " in v[0].message
    _, only = run(FINDMAX, variant="reference",
                  sets=["variant.switches.findmax_baseline=after_reset"])
    assert "SC-FINDMAX-STEP" not in ids(only)


def test_mode_runs_record_task_counts_within_the_cap():
    _, tr = run(QPS)
    counts = tr.of("task_count")
    assert counts and max(c["live"] for c in counts) <= tr.param("max_connections")
    assert any(c["live"] > c["running"] for c in counts)  # a shrink's tasks end later


# --- lost metrics POSTs (faults.statements.post_metrics) --------------------------------------

LOST_POSTS = ["faults.heal_at_s=18", "faults.statements.post_metrics.fail=0.97"]


def test_lost_posts_empty_the_cache_and_the_reference_resets_the_qps_total():
    """§9.5: an empty live cache reads as 0 threads and sets every worker back to the
    starting level; the sim shows it once POSTs are lost (the cache never empties while
    workers post)."""
    _, ref = run(QPS, seed=1, variant="reference", sets=LOST_POSTS)
    assert [r for r in ref.of("fault") if r.get("fault") == "post_lost"]
    v = [v for v in check(ref) if v.property_id == "SC-QPS-ENVELOPE"]
    assert v and "read 0 threads while workers ran" in v[0].message
    _, held = run(QPS, seed=1, variant="reference",
                  sets=LOST_POSTS + ["variant.switches.qps_empty_cache=hold"])
    assert "SC-QPS-ENVELOPE" not in ids(held)
    _, fix = run(QPS, seed=1, sets=LOST_POSTS)
    assert {"SC-QPS-ENVELOPE", "EPOCH-AGG-MONOTONE"}.isdisjoint(ids(fix))


def test_fixed_keeps_a_workers_count_when_its_snapshot_expires():
    """A lost POST lets a worker's snapshot expire: summed as the cache holds them the total
    falls (live_agg_counts = all); fixed keeps each worker's last measured count."""
    _, all_ = run(QPS, seed=5, sets=LOST_POSTS + ["variant.switches.live_agg_counts=all"])
    assert "EPOCH-AGG-MONOTONE" in ids(all_)
    _, fix = run(QPS, seed=5, sets=LOST_POSTS)
    assert {j.property_id: j.outcome for j in judge(fix)}["EPOCH-AGG-MONOTONE"] == "passed"
