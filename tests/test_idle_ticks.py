"""Skipping a worker's idle main-loop ticks (issue 15): fewer SimPy events, the same run.

The main loop wakes every main_loop_sleep_s; most wake-ups find nothing due and go back to
sleep. A `Tick` tells the driver what the next iteration would act on, so the driver sleeps
through the idle ones at once. Each tick's jitter comes from the process's own stream and is
drawn whether the tick is skipped or not, so skipping must not move a single byte of a trace.
"""
import hashlib

import pytest
import simpy

from protocol import effects as fx
from protocol.trace import TraceWriter, dumps
from sim.interpreter import TICKS_MAX, SimDriver
from sim.latency import Fixed, LatencyModel, NumpySource
from sim.tables import Tables
from simhelp import ROOT, baseline, run_scenario
from phaselab import scenario as scn


def digest(res) -> str:
    return hashlib.sha256("\n".join(dumps(r) for r in res.records).encode()).hexdigest()


def both_ways(monkeypatch, make):
    """(skipping off, skipping on): each a run made by `make()`."""
    monkeypatch.setattr(SimDriver, "skip_idle_ticks", False)
    every = make()
    monkeypatch.setattr(SimDriver, "skip_idle_ticks", True)
    return every, make()


CASES = [
    ("fixed", 1, []),
    ("reference", 3, []),
    ("fixed", 2, ["bulk_queries=true", "workers=8"]),
    ("reference", 5, ["scheme=jittered", "warmup_s=0"]),
    ("fixed", 6, ["scheme=adaptive"]),
    ("fixed", 4, ["scheme=push", "dashboards=1", "user_stop_at_s=12"]),
    ("fixed", 9, ["faults.heal_at_s=20", "faults.crash={worker-0=16.63}",
                  "faults.statements={default={fail=0.05, info=0.05, drop=0.03}}",
                  "faults.stall={start_s=3, length_s=2}"]),
]


@pytest.mark.parametrize("variant,seed,sets", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_a_baseline_run_is_byte_identical_with_idle_ticks_skipped(monkeypatch, variant, seed,
                                                                   sets):
    every, skipped = both_ways(monkeypatch,
                               lambda: run_scenario(baseline(), seed, variant, sets))
    assert digest(skipped) == digest(every)
    assert (skipped.status, skipped.phase) == (every.status, every.phase)


@pytest.mark.parametrize("mode,seed", [("qps", 0), ("findmax", 1)])
def test_a_load_mode_run_with_ramps_is_byte_identical_with_idle_ticks_skipped(monkeypatch,
                                                                              mode, seed):
    """A ramp steps every iteration (its Tick skips nothing); the rest of the run skips."""
    sc = scn.load(str(ROOT / "scenarios" / f"{mode}.toml"))
    every, skipped = both_ways(monkeypatch, lambda: run_scenario(sc, seed, "reference"))
    assert digest(skipped) == digest(every)


def test_skipping_removes_most_of_a_runs_events(monkeypatch):
    every, skipped = both_ways(monkeypatch, lambda: run_scenario(baseline(), 1, "fixed"))
    assert skipped.events < every.events
    # 4 workers, ~40 s of main loop: 20 ticks a second, of which about 2 act on something
    assert every.events - skipped.events > 4 * 20 * 0.5 * (skipped.sim_time_s - 15)


# --- the driver's rule, one actor at a time ---------------------------------------------------

def wake_times(tick: fx.Tick, skip: bool, n: int = 1) -> list[float]:
    """When an actor yielding `tick` n times wakes, on a fresh driver."""
    env = simpy.Environment()
    d = SimDriver(env, Tables(), LatencyModel({}, Fixed(0.1)), NumpySource(7),
                  TraceWriter(keep=False), lambda *a: None)
    d.skip_idle_ticks = skip
    woke: list[float] = []

    def actor():
        for _ in range(n):
            yield tick
            woke.append((yield fx.Now()))
    d.start(actor(), "worker-0")
    env.run()
    return woke


def test_a_tick_with_nothing_due_soon_wakes_at_the_first_tick_end_where_something_is():
    every = wake_times(fx.Tick(0.05, ((0.0, 1.0),)), skip=False, n=25)
    due = next(t for t in every if t - 0.0 >= 1.0)  # what the loop would first act on
    assert wake_times(fx.Tick(0.05, ((0.0, 1.0),)), skip=True) == [due]
    assert 1.0 <= due < 1.0 + 0.05 + 1e-5


def test_a_tick_wakes_for_the_earliest_of_its_due_pairs():
    every = wake_times(fx.Tick(0.05, ((0.0, 5.0), (0.2, 0.3))), skip=False, n=12)
    due = next(t for t in every if t - 0.2 >= 0.3)
    assert wake_times(fx.Tick(0.05, ((0.0, 5.0), (0.2, 0.3))), skip=True) == [due]


def test_a_tick_without_due_pairs_is_one_tick_even_when_skipping():
    """A ramp's iterations each step the target: nothing may be skipped."""
    one = wake_times(fx.Tick(0.05, ()), skip=True)
    assert one == wake_times(fx.Tick(0.05, ()), skip=False) and 0.05 <= one[0] < 0.05 + 1e-5


def test_a_tick_that_is_never_due_skips_at_most_ticks_max():
    (t,) = wake_times(fx.Tick(0.05, ((0.0, float("inf")),)), skip=True)
    n = TICKS_MAX + 1  # its own tick, then the skipped ones
    assert n * 0.05 <= t < n * (0.05 + 1e-6) + 1e-6


@pytest.mark.parametrize("due", [((-float("inf"), float("inf")),),
                                 ((0.0, float("nan")), (0.0, 0.3)),
                                 ((float("nan"), 1.0), (0.0, 0.3))])
def test_infinite_and_nan_pairs_wake_where_the_loop_would(due):
    every = wake_times(fx.Tick(0.05, due), skip=False, n=12)
    first = next((t for t in every if any(t - last >= p for last, p in due)), None)
    assert first is not None and wake_times(fx.Tick(0.05, due), skip=True) == [first]
