"""A sweep: every combination of some scenario settings, N seeded replications each.

A replication's seed comes from the sweep seed, the combination's index and the replication
index only, and results are put back in (combination, replication) order before any
statistic is taken, so the numbers do not depend on how many processes ran them or in which
order they finished.
"""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field

import numpy as np

from phaselab import metrics, parallel, scenario as scn, stats
from phaselab.errors import UsageError
from phaselab.inputs import budget
from protocol.checks import check
from protocol.trace import Trace
from sim.run import simulate

# The figures a sweep reports: name -> (per-run field, pooled over workers or one per run)
FIGURES = {
    "detection_ms": "detection_ms",
    "start_ms": "start_ms",
    "skew_ms": "skew_ms",
    "tag_ms": "tag_ms",
    "mistagged": "mistagged",
    "load_per_s": "load_per_s",
    "load_per_worker_per_s": "load_per_worker_per_s",
    "wait_load_per_worker_per_s": "wait_load_per_worker_per_s",
    "cost_usd_per_hour": "cost_usd_per_hour",
    "barrier_load_per_s": "barrier_load_per_s",
    "barrier_load_per_worker_per_s": "barrier_load_per_worker_per_s",
    "steady_load_per_s": "steady_load_per_s",
    "cost_usd_per_run": "cost_usd_per_run",
    "ready_gap_ms": "ready_gap_ms",
}


@dataclass(frozen=True)
class Combination:
    index: int
    label: str
    sets: tuple[str, ...]  # key=value, applied to the scenario in this order
    values: dict = field(default_factory=dict)  # swept key -> value text
    reps: int | None = None  # replications, when an --at rule sets them (else the sweep's)


def split_values(text: str) -> list[str]:
    """v1,v2,... split at top-level commas (not inside {...}, [...] or quotes)."""
    out, depth, quote, cur = [], 0, "", ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
            continue
        cur += ch
    out.append(cur.strip())
    return out


def parse_axes(sets: list[str], flag: str = "--set") -> list[tuple[str, list[str]]]:
    """--set key=v1,v2 arguments as (key, values); errors name the argument."""
    axes = []
    for item in sets:
        if "=" not in item:
            raise UsageError(f"{flag} {item!r}: expected key=v1,v2,..., e.g. "
                             f"{flag} status_poll_s=0.1,0.2")
        key, text = item.split("=", 1)
        values = split_values(text)
        if not key.strip() or any(v == "" for v in values):
            raise UsageError(f"{flag} {item!r}: a key and non-empty values are needed")
        axes.append((key.strip(), values))
    return axes


def parse_case(item: str) -> tuple[str, list[str]]:
    """--case 'label: key=value; key=value' -> (label, sets)."""
    if ":" not in item:
        raise UsageError(f"--case {item!r}: expected 'label: key=value[; key=value]', e.g. "
                         f"--case 'push: scheme=push'")
    label, rest = item.split(":", 1)
    sets = [s.strip() for s in rest.split(";") if s.strip()]
    if not label.strip() or not sets or any("=" not in s for s in sets):
        raise UsageError(f"--case {item!r}: expected 'label: key=value[; key=value]'")
    return label.strip(), sets


def combinations(axes: list[tuple[str, list[str]]], cases: list[str],
                 per: list[tuple[str, list[str]]] = (), at: list = ()) -> list[Combination]:
    """The cross product of the axes (the first varies slowest), then each --case; all of it
    once per combination of the --per axes (a second setting every setting is compared at,
    e.g. the worker count); then each --at rule adds its settings to the matching ones."""
    swept = [(k, vs) for k, vs in axes if len(vs) > 1]
    fixed = [f"{k}={vs[0]}" for k, vs in axes if len(vs) == 1]
    inner = []
    for values in itertools.product(*(vs for _, vs in swept)):
        pairs = [(k, v) for (k, _), v in zip(swept, values)]
        label = (pairs[0][1] if len(pairs) == 1
                 else ", ".join(f"{k}={v}" for k, v in pairs) or "scenario")
        inner.append((label, fixed + [f"{k}={v}" for k, v in pairs], dict(pairs)))
    for item in cases:
        label, sets = parse_case(item)
        inner.append((label, fixed + sets, {"case": label}))
    out: list[Combination] = []
    for outer in itertools.product(*(vs for _, vs in per)):
        opairs = [(k, v) for (k, _), v in zip(per, outer)]
        for label, sets, values in inner:
            full = label + "".join(f", {k}={v}" for k, v in opairs)
            vals = {**values, **dict(opairs)}
            extra, reps = [], None
            for cond, rule_sets, rule_reps in at:
                if all(_same(vals.get(k), v) for k, v in cond.items()):
                    extra += rule_sets
                    reps = rule_reps if rule_reps is not None else reps
            out.append(Combination(len(out), full, tuple(sets + [f"{k}={v}" for k, v in opairs]
                                                         + extra), vals, reps))
    return out


def _same(a: str | None, b: str) -> bool:
    """Setting values are text; 1000 and 1000.0 are the same number."""
    if a is None:
        return False
    try:
        return float(a) == float(b)
    except ValueError:
        return a.strip() == b.strip()


def parse_at(item: str) -> tuple[dict, list[str], int | None]:
    """--at 'key=value[, key=value]: reps=N; key=value; ...' -> (condition, sets, reps)."""
    example = "e.g. --at 'workers=1000: reps=3; duration_s=5'"
    if ":" not in item:
        raise UsageError(f"--at {item!r}: expected 'key=value: setting=value[; ...]', {example}")
    head, rest = item.split(":", 1)
    cond = {}
    for part in head.split(","):
        if "=" not in part or not part.split("=", 1)[0].strip():
            raise UsageError(f"--at {item!r}: the condition {head.strip()!r} must be "
                             f"key=value[, key=value], {example}")
        k, v = part.split("=", 1)
        cond[k.strip()] = v.strip()
    sets, reps = [], None
    for part in (p.strip() for p in rest.split(";") if p.strip()):
        if "=" not in part:
            raise UsageError(f"--at {item!r}: {part!r} is not key=value, {example}")
        k, v = (x.strip() for x in part.split("=", 1))
        if k == "reps":
            if not v.isdigit() or int(v) < 1:
                raise UsageError(f"--at {item!r}: reps must be a whole number >= 1, not {v!r}")
            reps = int(v)
        else:
            sets.append(f"{k}={v}")
    if not sets and reps is None:
        raise UsageError(f"--at {item!r}: give reps=N or settings after the colon, {example}")
    return cond, sets, reps


def validate(path: str, combos: list[Combination],
             variant: str | None = None) -> dict[int, scn.Scenario]:
    """Load every combination's scenario before anything runs (exit 2 on the first bad one)."""
    base = scn.load(path)
    out = {}
    for c in combos:
        try:
            out[c.index] = scn.with_overrides(base, None, variant, list(c.sets))
        except scn.ScenarioError as exc:
            raise UsageError(f"{c.label}: {exc}") from None
    return out


def rep_seed(seed: int, combo: int, rep: int) -> int:
    """The seed of one replication: from the sweep seed and the two indices only."""
    return int(np.random.SeedSequence([seed, combo, rep]).generate_state(1)[0])


_CACHE: dict = {}


def run_one(job: tuple) -> tuple[int, int, dict]:
    """One replication (runs in a pool process or a Dask worker): simulate, measure, check.
    The job carries its combination's resolved scenario (not a file name), so a worker on
    another machine needs no copy of the scenario file."""
    raw, path, combo, rep, seed, do_check = job
    t0, cpu0 = time.perf_counter(), time.process_time()
    key = json.dumps(raw, sort_keys=True, default=str)
    if key not in _CACHE:
        _CACHE.clear()  # one combination at a time is the common case; keep memory flat
        _CACHE[key] = scn.from_dict(raw, path)
    sc = _CACHE[key]
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant, scenario=sc.raw)
    trace = Trace(res.records)
    m = metrics.run_metrics(trace, sc.cost)
    m["seed"] = seed
    m["violations"] = sorted({v.property_id for v in check(trace)}) if do_check else None
    m["sim_wall_s"] = res.wall_s  # the simulation alone
    m["wall_s"] = time.perf_counter() - t0  # with loading, metrics and the checkers
    m["cpu_s"] = time.process_time() - cpu0  # the same in CPU time: what a busy machine
    # does not inflate
    return combo, rep, m


def map_jobs(fn, todo: list, jobs: int, progress=None) -> list:
    """fn over todo in J local processes (or here when J is 1), results in todo's order
    (seed-validation and controllers use it)."""
    return parallel.run_tasks(fn, todo, jobs=jobs,
                              on_done=(lambda _: progress()) if progress else None)


def run_jobs(scenarios: dict, combos: list[Combination], reps: int, seed: int, jobs: int,
             do_check: bool, progress=None, scheduler: str | None = None,
             timings: list | None = None, on_combination=None) -> dict[int, list[dict]]:
    """Every replication of every combination (`scenarios`: from validate()); results in
    (combination, rep) order, whatever ran them. `on_combination(combo, runs)` as soon as
    all of one combination's runs are in (runs in rep order): the caller's statistics then
    use the parent's idle time while the pool still runs the rest."""
    todo = [(scenarios[c.index].raw, scenarios[c.index].path, c.index, r,
             rep_seed(seed, c.index, r), do_check)
            for c in combos for r in range(c.reps or reps)]
    # the costliest runs first (by the budget's estimate of their wake-ups), so that no
    # process ends the sweep alone on a 1,000-worker run
    cost = {c.index: budget.estimate_scenario(scenarios[c.index]).events for c in combos}
    order = sorted(range(len(todo)), key=lambda i: (-cost[todo[i][2]], i))
    by_index = {c.index: c for c in combos}
    results: dict = {}
    missing = {c.index: c.reps or reps for c in combos}

    def arrived(item) -> None:
        c, r, m = item
        results[(c, r)] = m
        missing[c] -= 1
        if progress:
            progress()
        if on_combination and not missing[c]:
            on_combination(by_index[c], [results[(c, i)] for i in range(by_index[c].reps or reps)])

    parallel.run_tasks(run_one, todo, jobs=jobs, scheduler=scheduler, order=order,
                       on_done=arrived, timings=timings)
    return {c.index: [results[(c.index, r)] for r in range(c.reps or reps)] for c in combos}


def aggregate(combo: Combination, runs: list[dict], seed: int) -> dict:
    """A combination's statistics, from its replications in order."""
    rng = np.random.default_rng([seed, combo.index, 2 ** 31])
    out: dict = {"index": combo.index, "label": combo.label, "values": combo.values,
                 "sets": list(combo.sets), "reps": len(runs)}
    for name, fld in FIGURES.items():
        groups = [r[fld] if isinstance(r[fld], list) else [r[fld]] for r in runs]
        out[name] = stats.summarize(groups, rng)
    kinds = sorted({k for r in runs for k in r["load_by_kind_per_s"]})
    out["load_by_kind_per_s"] = {k: stats.mean_of([r["load_by_kind_per_s"].get(k, 0.0)
                                                    for r in runs]) for k in kinds}
    viol = sorted({v for r in runs for v in (r["violations"] or [])})
    out["violations"] = viol
    out["runs_with_violations"] = sum(bool(r["violations"]) for r in runs)
    out["judged"] = all(r["violations"] is not None for r in runs)
    out["workers"] = max((r.get("workers") or 0 for r in runs), default=0)
    return out


def timing(runs: list[dict]) -> dict:
    """What a combination's runs took (kept apart from its statistics, which must not
    depend on the machine or on --jobs): wall seconds simulating, wall seconds in all, CPU
    seconds, summed over its runs."""
    return {k: float(sum(r.get(k) or 0.0 for r in runs)) for k in ("sim_wall_s", "wall_s", "cpu_s")}
