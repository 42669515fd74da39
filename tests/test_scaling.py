"""protocol/scaling.py against the worked examples and rules of reference-protocol.md §9."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from protocol import scaling as sc
from protocol.scaling import FindMaxInputs, ScalingConfig


# --- sizes, caps, targets ------------------------------------------------------------------

def test_worker_count_by_mode():
    assert sc.initial_worker_count(ScalingConfig("FIXED", min_workers=3)) == 3
    auto = ScalingConfig("AUTO", concurrent_connections=450, max_connections=200)
    assert sc.initial_worker_count(auto) == 3  # ceil(450 / 200)
    assert sc.initial_worker_count(ScalingConfig("AUTO", concurrent_connections=450,
                                                 max_workers=2)) == 2
    fm = ScalingConfig("BOUNDED", "FIND_MAX", start_concurrency=5, min_workers=2)
    assert sc.initial_worker_count(fm) == 2  # sizing by start_concurrency, floor min_workers


def test_reference_examples_of_the_pack_split():
    b = sc.build_worker_targets(250, 2, cap=200, min_connections=1)
    assert (b.total, b.targets) == (250, (200, 50))
    b = sc.build_worker_targets(5, 2, cap=200, min_connections=1)
    assert (b.total, b.targets) == (5, (5, 0))  # the floor is on the total only


def test_even_split_and_clamps():
    b = sc.build_worker_targets(7, 3, cap=200, min_connections=1, distribution="even")
    assert b.targets == (3, 2, 2)
    assert sc.build_worker_targets(1000, 2, cap=200, min_connections=1).total == 400
    assert sc.build_worker_targets(0, 4, cap=200, min_connections=1).total == 4
    with pytest.raises(ValueError, match="distribution"):
        sc.build_worker_targets(1, 1, 1, 1, distribution="round-robin")


def test_reference_floor_above_cap_breaks_the_arithmetic_and_the_switch_keeps_it():
    # min_connections 5 > cap 3: the reference's floor after the cap asks for 10 on 2 workers
    # that can carry 6; packing assigns 6 and the sum no longer equals the total.
    ref = sc.build_worker_targets(1, 2, cap=3, min_connections=5)
    assert ref.total == 10 and sum(ref.targets) == 6
    fixed = sc.build_worker_targets(1, 2, cap=3, min_connections=5, floor_within_cap=True)
    assert fixed.total == 6 == sum(fixed.targets)


@given(req=st.integers(-5, 5000), n=st.integers(1, 40), cap=st.integers(1, 300),
       floor=st.integers(0, 300), dist=st.sampled_from(["pack", "even"]))
def test_fixed_arithmetic_always_sums_to_the_clamped_total(req, n, cap, floor, dist):
    b = sc.build_worker_targets(req, n, cap, floor, distribution=dist, floor_within_cap=True)
    assert sum(b.targets) == b.total == min(max(max(req, 0), floor * n), cap * n) \
        if floor <= cap else sum(b.targets) == b.total == cap * n
    assert all(0 <= t <= cap for t in b.targets)


def test_initial_targets_per_mode():
    assert [sc.initial_target(ScalingConfig(concurrent_connections=7), g, 3)
            for g in range(3)] == [3, 2, 2]
    q = ScalingConfig(load_mode="QPS", starting_threads=0, min_connections=2)
    assert sc.initial_target(q, 0, 4) == 2
    fm = ScalingConfig(load_mode="FIND_MAX", start_concurrency=3)
    assert [sc.initial_target(fm, g, 4) for g in range(4)] == [1, 1, 1, 1]  # at least 1


def test_workers_needed_and_ramp():
    assert sc.workers_needed(450, 200, 1, None) == 3
    assert sc.workers_needed(450, 200, 1, 2) == 2
    assert sc.workers_needed(10, 200, 4, None) == 4
    assert [sc.ramp_target(10, 20, t, 5.0) for t in (0, 2.5, 4.99, 5, 9)] == [10, 15, 19, 20, 20]


def test_mode_table():
    assert sc.MODE_RULES["FIND_MAX"].duration_limit is False
    assert sc.MODE_RULES["QPS"].spawns_mid_run == {"BOUNDED"}
    with pytest.raises(ValueError, match="load_mode"):
        ScalingConfig(load_mode="FASTEST")


# --- FIND_MAX -----------------------------------------------------------------------------

FM = ScalingConfig(load_mode="FIND_MAX", start_concurrency=5, concurrency_increment=10,
                   step_duration_s=30)


def _drive(qps_of_target, p95_of_target=lambda t: 10.0, steps=20, cfg=FM, clamp=None,
           stop_when_clamped=False):
    """Run the controller against a system whose QPS and p95 depend on the target only."""
    now, ops = 0.0, 0.0
    st, d = sc.findmax_begin(cfg, now, FindMaxInputs(ops, 0))
    st, _ = sc.findmax_applied(st, d, clamp(d.target) if clamp else d.target)
    seen = []
    for _ in range(steps):
        now += cfg.step_duration_s
        ops += qps_of_target(st.target) * cfg.step_duration_s
        st, d = sc.findmax_evaluate(cfg, st, now, FindMaxInputs(ops, 0, p95_of_target(st.target)))
        seen.append((d.kind, d.target, d.outcome))
        if d.kind == "finish":
            return st, seen
        st, fin = sc.findmax_applied(st, d, clamp(d.target) if clamp else d.target,
                                     stop_when_clamped)
        if fin:
            seen.append((fin.kind, fin.target, fin.reason))
            return st, seen
    return st, seen


def test_findmax_waits_until_the_step_is_long_enough():
    st, d = sc.findmax_begin(FM, 0.0, FindMaxInputs(0, 0))
    st, _ = sc.findmax_applied(st, d, d.target)
    st2, d2 = sc.findmax_evaluate(FM, st, 29.9, FindMaxInputs(1000, 0))
    assert d2.kind == "wait" and st2 == st


def test_findmax_steps_up_backs_off_once_then_finishes():
    # throughput grows to 35 connections, then falls off: 5, 15, 25, 35 STABLE, 45 DEGRADED
    qps = lambda t: 10.0 * min(t, 35) - (200.0 if t > 35 else 0.0)  # noqa: E731
    st, seen = _drive(qps)
    kinds = [k for k, _, _ in seen]
    assert seen[:4] == [("advance", 15, "STABLE"), ("advance", 25, "STABLE"),
                        ("advance", 35, "STABLE"), ("advance", 45, "STABLE")]
    assert seen[4] == ("backoff", 35, "DEGRADED")  # back to the best level, once
    assert kinds.count("backoff") == 1 and kinds[-1] == "finish"
    assert st.best_c == 35 and st.finished


def test_findmax_latency_rise_is_degraded_but_not_on_the_backoff_step():
    # throughput flat from 15 on; p95 five times the base from 25 on
    st, seen = _drive(lambda t: 10.0 * min(t, 15), p95_of_target=lambda t: 10.0 if t <= 15
                      else 50.0)
    assert seen[:3] == [("advance", 15, "STABLE"), ("advance", 25, "STABLE"),
                        ("backoff", 15, "DEGRADED")]  # 25's p95 is 400 % over the base
    assert seen[3] == ("advance", 25, "STABLE")  # the backoff step ignores p95: STABLE
    assert seen[4][0] == "finish" and st.best_c == 15


def test_findmax_error_rate_and_queue_outcomes():
    st = sc.FindMaxState(step=1, target=5)
    assert sc.findmax_outcome(FM, st, 100, 1.5, None, False) == sc.ERROR_THRESHOLD
    assert sc.findmax_outcome(FM, st, 100, 0.0, None, True) == sc.QUEUE_DETECTED
    assert sc.findmax_outcome(FM, replace_prev(st, 100), 94, 0.0, None, False) == sc.DEGRADED
    assert sc.findmax_outcome(FM, replace_prev(st, 100), 96, 0.0, None, False) == sc.STABLE


def replace_prev(st, prev_qps):
    from dataclasses import replace
    return replace(st, prev_qps=prev_qps)


def test_findmax_clamped_advance_stays_in_reference_and_finishes_when_fixed():
    clamp = lambda t: min(t, 20)  # noqa: E731  (two workers at cap 10, no more may spawn)
    _, ref = _drive(lambda t: 10.0 * t, clamp=clamp, steps=6)
    # the cap holds it at 20; the reference asks for 20 + 10 again and again
    assert [t for _, t, _ in ref] == [15, 25, 30, 30, 30, 30]
    st, fixed = _drive(lambda t: 10.0 * t, clamp=clamp, steps=6, stop_when_clamped=True)
    assert fixed[-1] == ("finish", 20, "target_cannot_grow") and st.best_c == 20


def test_findmax_step_limit():
    assert sc.findmax_step_limit(FM) == -(-(10000 - 5) // 10) + 2


# --- QPS ----------------------------------------------------------------------------------

Q = ScalingConfig("FIXED", "QPS", min_workers=2, min_connections=1, max_connections=50,
                  per_worker_connections=50, target_qps=100.0, starting_threads=4)


def _qstate():
    lo, hi = sc.qps_bounds(Q, 2)
    return sc.QpsState(lo, hi)


def test_qps_bounds_fixed():
    assert sc.qps_bounds(Q, 2) == (2, 100)


def test_qps_inside_the_band_changes_nothing():
    st, d = sc.qps_evaluate(Q, _qstate(), 0.0, 96.0, 10)
    assert d is None and st.up == st.down == 0


def test_qps_below_target_grows_at_once_within_the_increase_limit():
    st, d = sc.qps_evaluate(Q, _qstate(), 0.0, 20.0, 4)  # 5 qps/thread: gap 16, e 0.8 -> 25%
    assert d == 8  # round(4 + 16 * 0.25)
    st, d = sc.qps_evaluate(Q, _qstate(), 0.0, 1.0, 4)  # gap 396 -> capped at +15
    assert d == 19


def test_qps_decrease_needs_two_evaluations_and_ten_seconds():
    st, d = sc.qps_evaluate(Q, _qstate(), 0.0, 200.0, 20)
    assert d is None and st.down == 1
    st, d = sc.qps_evaluate(Q, st, 5.0, 200.0, 20)  # too soon: not an evaluation
    assert d is None and st.down == 1
    st, d = sc.qps_evaluate(Q, st, 10.0, 200.0, 20)
    assert d == 18  # 10 qps/thread: gap -10, e 1.0 -> 25%: round(17.5) = 18 (ties to even)


def test_qps_big_decrease_is_limited_to_eight():
    st, _ = sc.qps_evaluate(Q, _qstate(), 0.0, 1000.0, 40)
    _, d = sc.qps_evaluate(Q, st, 10.0, 1000.0, 40)
    assert d == 32


def test_qps_empty_live_cache_resets_to_the_starting_level():
    # the reference's bug that SC-QPS-ENVELOPE exists for: threads read as 0
    st, d = sc.qps_evaluate(Q, _qstate(), 0.0, 50.0, 0)
    assert d == 4 and st.decided


def test_bounded_stop_rule_needs_patience():
    b = ScalingConfig("BOUNDED", "QPS", max_workers=2, max_connections=10,
                      concurrent_connections=10, target_qps=100.0, bounds_patience=3)
    count, stops = 0, []
    for qps in (50, 50, 50):
        count, stop = sc.bounded_tick(b, count, qps, target_total=20, worker_group_count=2)
        stops.append(stop)
    assert stops == [False, False, True]
    assert sc.bounded_tick(b, 2, 99.0, 20, 2) == (0, False)  # not under 98 %: reset
    assert sc.bounded_tick(b, 2, 50.0, 19, 2) == (0, False)  # not at the ceiling


def test_qps_step_that_rounds_to_zero_stalls_unless_min_step():
    """17 threads at 170 QPS for 200: +3 gap x 0.10 = +0.3 rounds away (reference §9.5)."""
    from protocol import scaling as sc
    c = sc.ScalingConfig(load_mode="QPS", target_qps=200.0, concurrent_connections=40)
    st = sc.QpsState(1, 400)
    assert sc.qps_evaluate(c, st, 0.0, 170.0, 17)[1] is None
    assert sc.qps_evaluate(c, st, 0.0, 170.0, 17, min_step=True)[1] == 18
    # inside the band nothing moves either way
    assert sc.qps_evaluate(c, st, 0.0, 195.0, 19, min_step=True)[1] is None
