"""The simulator's speed section of benchmarks/bench.py: rows of (what, target, measured, met).

Ratios are taken within one run, the compared loops interleaved so a busy moment hurts both
alike. The big runs go to a process of their own (benchmarks/large_run.py) so that each peak
memory figure is that run's own. `measure(progress)` is the section interface bench.py calls;
`growth` is kept in the returned rows' `data` so bench.py can draw the growth curve.
"""
from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from rows import ratio_text, row  # noqa: E402

import simpy  # noqa: E402

from phaselab import scenario as scn  # noqa: E402
from protocol import effects as fx  # noqa: E402
from protocol.trace import TraceWriter  # noqa: E402
from sim.interpreter import SimDriver  # noqa: E402
from sim.latency import Fixed, LatencyModel, NumpySource  # noqa: E402
from sim.run import simulate  # noqa: E402
from sim.tables import Tables  # noqa: E402

BULK = ["warmup_s=10", "duration_s=60", "bulk_queries=true"]
LARGE = ["workers=100", "connections_per_worker=100", *BULK]
# The barrier-load question at 1,000 workers, with the warmup and measurement of the large run
# (tasks.py MAIN_JOB's own 1,000-worker case is shorter: 2 s + 3 s, 1 connection).
THOUSAND = ["workers=1000", "connections_per_worker=10", *BULK]
GROWTH_WORKERS = (10, 30, 100, 300, 1000)  # at 10 connections each; 1,000 is THOUSAND
GROWTH_CONNECTIONS = 10

INTERPRETER_MAX = 1.3  # interpreter cost per effect / bare SimPy timeout loop
BASELINE_MAX_S = 0.5
LARGE_MIN_SPEED = 100.0  # simulated seconds per wall second
THOUSAND_MIN_SPEED = 10.0
MEMORY_MAX_MB = 2048.0
GROWTH_MAX_SLOPE = 1.0  # d log(wall) / d log(workers x connections): linear or better

ACTORS, STEPS = 100, 2000


def bare_loop() -> float:
    env = simpy.Environment()

    def proc():
        for _ in range(STEPS):
            yield env.timeout(0.001)
    for _ in range(ACTORS):
        env.process(proc())
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def _driver(env):
    return SimDriver(env, Tables(), LatencyModel({}, Fixed(0.1)), NumpySource(1),
                     TraceWriter(keep=False), lambda *a: None)


def _timed_actors(actor) -> float:
    """Wall seconds for ACTORS copies of the generator function `actor` on one SimDriver."""
    env = simpy.Environment()
    d = _driver(env)
    for i in range(ACTORS):
        d.start(actor(), f"a{i}")
    t = time.perf_counter()
    env.run()
    return time.perf_counter() - t


def effect_loop() -> float:
    def actor():
        for _ in range(STEPS):
            yield fx.Sleep(0.001)
    return _timed_actors(actor)


def tick_loop() -> float:
    """A worker's idle main-loop iteration as protocol/actors/worker.py would run it if the
    driver did not skip it: a clock read, then the loop's Tick from a sub-generator
    (polling.main_pause), here with no due pairs so that every tick is one iteration."""
    def pause():
        yield fx.Tick(0.001)

    def actor():
        for _ in range(STEPS):
            yield fx.Now()
            yield from pause()
    return _timed_actors(actor)


def baseline_walls(bulk: bool) -> list[float]:
    sc = scn.load(str(ROOT / "scenarios" / "baseline.toml"),
                  ["bulk_queries=true"] if bulk else [])
    out = []
    for seed in range(1, 6):
        res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant,
                       scenario=sc.raw)
        out.append(res.wall_s)
    return out


BIG_RUNS = 2  # each big run is timed this often and the fastest kept (the others in `walls`)


def big_run(sets: list[str]) -> dict:
    """The fastest of BIG_RUNS timings of one run, each in a process of its own: this
    machine's speed was seen to vary by a third from one ten minutes to the next."""
    args = [a for s in sets for a in ("--set", s)]
    runs = [json.loads(subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "large_run.py"), *args],
        check=True, capture_output=True, text=True).stdout) for _ in range(BIG_RUNS)]
    best = min(runs, key=lambda r: r["wall_s"])
    return {**best, "walls": [r["wall_s"] for r in runs]}


def growth_sets(workers: int) -> list[str]:
    return [f"workers={workers}", f"connections_per_worker={GROWTH_CONNECTIONS}", *BULK]


def slope(points: list[dict]) -> float:
    """Least-squares slope of log(wall) against log(workers x connections)."""
    xs = [math.log(p["workers"] * p["connections"]) for p in points]
    ys = [math.log(p["wall_s"]) for p in points]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return (sum((x - mx) * (y - my) for x, y in zip(xs, ys))
            / sum((x - mx) ** 2 for x in xs))


def _walls(run: dict) -> str:
    return " and ".join(f"{w:.1f} s" for w in sorted(run.get("walls", [run["wall_s"]])))


def _speed_rows(name: str, run: dict, min_speed: float, bare_us: float) -> list[dict]:
    speed = run["sim_time_s"] / run["wall_s"]
    cpu_speed = run["sim_time_s"] / run["cpu_s"]
    floor = run["sim_time_s"] / (run["events"] * bare_us * 1e-6)
    return [
        row(f"{name}: simulated / wall time", f">= {min_speed:g}x", f"{speed:.1f}x",
            speed >= min_speed,
            f"{run['sim_time_s']:.1f} s simulated in {run['wall_s']:.1f} s wall "
            f"({cpu_speed:.1f}x by CPU time; fastest of {_walls(run)}); "
            f"{run['queries']:,} queries, "
            f"{run['events']:,} SimPy events; the bare event loop alone would allow "
            f"{floor:.0f}x", speed=speed, cpu_speed=cpu_speed, event_loop_limit=floor,
            run=run),
        row(f"{name}: peak memory (RSS)", f"< {MEMORY_MAX_MB:,.0f} MB",
            f"{run['peak_rss_mb']:,.0f} MB", run["peak_rss_mb"] < MEMORY_MAX_MB),
    ]


def measure(progress: Callable[[str], None]) -> list[dict]:
    progress("interpreter vs bare SimPy loop (5 interleaved rounds)")
    bare, ours, ticks = [], [], []
    for _ in range(5):  # interleaved, so a busy moment hurts all alike
        bare.append(bare_loop())
        ours.append(effect_loop())
        ticks.append(tick_loop())
    n = ACTORS * STEPS
    bare_us, effect_us, tick_us = min(bare) / n * 1e6, min(ours) / n * 1e6, min(ticks) / n * 1e6
    ratio = min(ours) / min(bare)
    rows = [
        row("interpreter cost per effect (Sleep) / bare SimPy timeout loop",
            f"<= {INTERPRETER_MAX}x", ratio_text(ratio, INTERPRETER_MAX),
            ratio <= INTERPRETER_MAX,
            f"{effect_us:.2f} µs vs {bare_us:.2f} µs per event", ratio=ratio),
        row("idle main-loop iteration, not skipped (Now + Tick from a sub-generator) / bare "
            "loop", "—",
            f"{min(ticks) / min(bare):.2f}x", None,
            f"{tick_us:.2f} µs per iteration; what each skipped idle tick saves "
            "(the driver sleeps through iterations with nothing due)"),
    ]
    progress("baseline run, 5 seeds per query and 5 with bulk queries")
    per_query, bulk = baseline_walls(False), baseline_walls(True)
    med = statistics.median(per_query)
    rows += [
        row("baseline run (4 x 10, 30 s), per query, median of 5 seeds",
            f"< {BASELINE_MAX_S} s", f"{med:.3f} s", med < BASELINE_MAX_S,
            f"fastest {min(per_query):.3f} s"),
        row("baseline run with bulk queries, median of 5 seeds", "—",
            f"{statistics.median(bulk):.3f} s", None),
    ]
    progress("large run: 100 workers x 100 connections, 10 s + 60 s, bulk (own process)")
    large = big_run(LARGE)
    rows += _speed_rows("large run (100 x 100, 10 s + 60 s, bulk)", large, LARGE_MIN_SPEED,
                        bare_us)
    points = []
    for w in GROWTH_WORKERS:
        progress(f"growth curve: {w} workers x {GROWTH_CONNECTIONS} connections")
        points.append(big_run(growth_sets(w)))
    thousand = points[-1]
    rows += _speed_rows("1,000 x 10 run (10 s + 60 s, bulk)", thousand, THOUSAND_MIN_SPEED,
                        bare_us)
    s = slope(points)
    per = ", ".join(f"{p['workers']:,}: {p['wall_s']:.2f} s, "
                    f"{p['cpu_s'] / p['events'] * 1e6:.1f} µs CPU per SimPy event"
                    for p in points)
    rows.append(row(f"cost growth: slope of log wall time vs log(workers x connections), "
                    f"{GROWTH_CONNECTIONS} connections each", f"<= {GROWTH_MAX_SLOPE:g} "
                    "(linear)", f"{s:.2f}", s <= GROWTH_MAX_SLOPE, f"wall by workers: {per}",
                    growth=points, large=large, slope=s))
    return rows
