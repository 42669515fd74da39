"""What a controller setting buys: FIND_MAX's found maximum against the warehouse model's true
capacity (with the number of steps and the time to converge), and the QPS controller's error
against its target — per setting, over seeded replications, with bootstrap 95% intervals.

The figures come from the traces alone (`ctrl_eval`, `targets`, the header's
`params.warehouse`), so the numbers are what the checkers see. Runs reuse `phaselab sweep`'s
combinations, seeds and process pool, so they do not depend on the number of processes.
"""
from __future__ import annotations

import numpy as np

from phaselab import scenario as scn
from phaselab import sweep as sw
from protocol.checks import check
from protocol.trace import Trace
from sim.run import simulate

BOOTSTRAP = 1000


def findmax_figures(tr: Trace) -> dict:
    """One FIND_MAX run: best concurrency and QPS, steps, seconds from step 1 to the finish,
    and the true capacity the header states."""
    steps = [e for e in tr.of("ctrl_eval") if e.get("controller") == "FIND_MAX"]
    fin = next((e for e in reversed(steps) if (e.get("decision") or {}).get("kind") == "finish"),
               None)
    first = next((b for b in tr.of("targets") if b.get("reason") == "step_start"), None)
    wh = tr.param("warehouse") or {}
    return {"best_concurrency": (fin.get("best") or {}).get("concurrency") if fin else None,
            "best_qps": (fin.get("best") or {}).get("qps") if fin else None,
            "steps": max((e.get("step", 0) for e in steps), default=0) or None,
            "converge_s": fin["t"] - first["t"] if fin and first else None,
            "finish_reason": fin.get("reason") if fin else None,
            "knee_concurrency": wh.get("knee_concurrency"), "max_qps": wh.get("max_qps"),
            "trajectory": [(e["t"], e.get("target"), e.get("qps"), e.get("outcome"))
                           for e in steps]}


def qps_figures(tr: Trace) -> dict:
    """One QPS run: mean |qps - target| / target over the evaluations of the second half of
    measurement (after the controller had time to act), and when it first was in the band."""
    evals = [e for e in tr.of("ctrl_eval") if e.get("controller") == "QPS"]
    if not evals:
        return {"error_pct": None, "in_band_s": None, "trajectory": []}
    target = evals[0]["target_qps"]
    t0, t1 = evals[0]["t"], evals[-1]["t"]
    late = [e for e in evals if e["t"] >= (t0 + t1) / 2]
    err = [100.0 * abs(e["qps"] - target) / target for e in late]
    band = max(2.0, 0.05 * target)
    inside = next((e["t"] - t0 for e in evals if abs(e["qps"] - target) <= band), None)
    return {"error_pct": float(np.mean(err)) if err else None, "in_band_s": inside,
            "target_qps": target,
            "trajectory": [(e["t"], e.get("threads"), e.get("qps"),
                            (e.get("decision") or {}).get("target")) for e in evals]}


def run_one(job: tuple) -> tuple[int, int, dict]:
    """One replication (in a pool process): simulate, take the controller's figures, check."""
    path, sets, combo, rep, seed = job
    sc = scn.with_overrides(scn.load(path), None, None, list(sets))
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant, scenario=sc.raw)
    tr = Trace(res.records)
    mode = tr.param("load_mode")
    m = findmax_figures(tr) if mode == "FIND_MAX" else qps_figures(tr)
    m.update(seed=seed, mode=mode, status=res.status,
             violations=sorted({v.property_id for v in check(tr)}))
    return combo, rep, m


def mean_ci(values: list, rng: np.random.Generator) -> dict:
    """Mean with a bootstrap 95% interval (None when there is no value)."""
    xs = np.array([v for v in values if v is not None], dtype=float)
    if not len(xs):
        return {"n": 0, "mean": None, "lo": None, "hi": None}
    boots = xs[rng.integers(0, len(xs), size=(BOOTSTRAP, len(xs)))].mean(axis=1)
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return {"n": int(len(xs)), "mean": float(xs.mean()), "lo": float(lo), "hi": float(hi)}


FINDMAX_FIGS = ("best_concurrency", "best_qps", "steps", "converge_s", "knee_concurrency",
                "max_qps")
QPS_FIGS = ("error_pct", "in_band_s")


def aggregate(combo: sw.Combination, runs: list[dict], seed: int) -> dict:
    rng = np.random.default_rng([seed, combo.index])
    mode = runs[0]["mode"] if runs else None
    figs = FINDMAX_FIGS if mode == "FIND_MAX" else QPS_FIGS
    row = {"index": combo.index, "label": combo.label, "mode": mode, "reps": len(runs),
           **{f: mean_ci([r.get(f) for r in runs], rng) for f in figs},
           "violations": sorted({v for r in runs for v in r["violations"]})}
    if mode == "FIND_MAX":  # how far the answer lies from the knee, run by run
        row["error_vs_knee"] = mean_ci([r["best_concurrency"] - r["knee_concurrency"]
                                        for r in runs if r["best_concurrency"] is not None
                                        and r["knee_concurrency"] is not None], rng)
    return row


def run_sweep(path: str, combos: list, reps: int, seed: int, jobs: int, progress=None):
    todo = [(path, c.sets, c.index, r, sw.rep_seed(seed, c.index, r))
            for c in combos for r in range(reps)]
    results = {(c, r): m for c, r, m in sw.map_jobs(run_one, todo, jobs, progress)}
    return {c.index: [results[(c.index, r)] for r in range(reps)] for c in combos}
