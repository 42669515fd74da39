"""The seeds' timing tables, checked: each figure the seed documents claim beside what the
simulation gives under the same assumptions (scenarios/seeds.toml), and why they differ.

Measured per worker, from the trace:
- end to end: the orchestrator's RUNNING UPDATE (its invoke) to the worker's first benchmark
  query finishing, the span of the seeds' "TOTAL END-TO-END" row;
- detection: the RUNNING write taking effect to the worker leaving its wait loop (the
  seeds' "polling alignment" plus the SELECT);
- after the wait: leaving the wait loop to the first query finishing (seeds 000/001);
- pool start: the worker's first connect to its pool being ready (seed 003).
"""
from __future__ import annotations

import numpy as np

from phaselab import scenario as scn
from phaselab.sweep import map_jobs, rep_seed
from protocol.trace import Trace
from sim.run import simulate

# name -> (--set overrides of scenarios/seeds.toml, what it mirrors)
CONFIGS = {
    "seed code": ([], "the reference code the seeds timed: 0.2 s wait-loop sleep"),
    "seed optimisations": (["status_poll_s=0.05", "parallel_startup=true",
                            "prespawn_tasks=true"],
                           "002's three proposals: 50 ms poll, heartbeat and test-row insert "
                           "in parallel, tasks pre-spawned"),
    "pool, 8 creates": (["connections_per_worker=100", "pool_parallel_creates=8", "workers=2"],
                        "003 before: 100 connections created 8 at a time"),
    "pool, 32 creates": (["connections_per_worker=100", "pool_parallel_creates=32", "workers=2"],
                         "003 after: 32 at a time"),
}


def measure(records: list[dict]) -> dict:
    tr = Trace(records)
    out = {"end_to_end_ms": [], "detection_ms": [], "after_wait_ms": [], "pool_s": []}
    running = tr.first_write(status="RUNNING")
    if running is not None:
        inv = next((r for r in tr.of("invoke") if r.get("id") == running.get("op_id")), running)
        marks: dict = {}
        for m in tr.of("marker"):
            marks.setdefault(m["worker"], {}).setdefault(m["name"], m["t"])
        for w in sorted(marks):
            mk = marks[w]
            if "first_query" in mk:
                out["end_to_end_ms"].append((mk["first_query"] - inv["t"]) * 1000)
            if "wait_returned" in mk:
                out["detection_ms"].append((mk["wait_returned"] - running["t"]) * 1000)
            if "first_query" in mk and "wait_returned" in mk:
                out["after_wait_ms"].append((mk["first_query"] - mk["wait_returned"]) * 1000)
    first_connect: dict = {}
    for r in tr.of("invoke"):
        if r.get("op") == "connect":
            first_connect.setdefault(r["actor"], r["t"])
    for m in tr.of("marker"):
        if m["name"] == "pool_ready" and m["worker"] in first_connect:
            out["pool_s"].append(m["t"] - first_connect[m["worker"]])
    return out


def _one(job):
    path, sets, seed = job
    sc = scn.load(path, list(sets))
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant, scenario=sc.raw)
    return measure(res.records)


def run(path: str, reps: int, seed: int, jobs: int, progress=None) -> dict:
    """Every configuration, `reps` seeded runs each -> name -> figure -> sorted samples."""
    todo = [(path, tuple(sets), rep_seed(seed, i, r))
            for i, (sets, _) in enumerate(CONFIGS.values()) for r in range(reps)]
    results = map_jobs(_one, todo, jobs, progress)
    out: dict = {}
    for i, name in enumerate(CONFIGS):
        mine = results[i * reps:(i + 1) * reps]
        out[name] = {k: sorted(x for m in mine for x in m[k]) for k in mine[0]}
    return out


def pct(xs, q):
    return float(np.percentile(xs, q)) if xs else float("nan")


def _span(xs, unit="ms", scale=1.0, digits=0):
    if not xs:
        return "—"
    f = lambda v: f"{v * scale:,.{digits}f}"  # noqa: E731
    return (f"{f(pct(xs, 50))} {unit} typical; {f(pct(xs, 5))}–{f(pct(xs, 95))} (p5–p95), "
            f"{f(min(xs))}–{f(max(xs))} (min–max)")


def report(res: dict, path: str, reps: int, seed: int, command: str) -> str:
    """docs/seed-validation.md."""
    code, opt = res["seed code"], res["seed optimisations"]
    p8, p32 = res["pool, 8 creates"]["pool_s"], res["pool, 32 creates"]["pool_s"]
    e2e, det, aw = code["end_to_end_ms"], code["detection_ms"], code["after_wait_ms"]
    gain = pct(e2e, 50) - pct(opt["end_to_end_ms"], 50)
    rows = [
        ("End to end, seed code (002, PART 7 total)", "560–2652 ms, typical 1575 ms",
         _span(e2e),
         f"The seeds add the orchestrator's three statements (UPDATE RUN_STATUS, UPDATE "
         f"TEST_RESULTS, INSERT event: 250–500 ms) in front of the worker's path, but a worker "
         f"sees RUNNING as soon as the first UPDATE commits; the other two run while it polls. "
         f"They also take polling alignment as 0–1000 ms (avg 600) where the code sleeps "
         f"0.2 s (next row). What remains is UPDATE (to its commit) + alignment + SELECT + "
         f"heartbeat + insert + first query: typical {pct(e2e, 50):,.0f} ms."),
        ("End to end with the seeds' optimisations (002, conclusion)",
         "360–1200 ms, typical 825 ms", _span(opt["end_to_end_ms"]),
         f"Same double counting as above. Measured gain of the three proposals together: "
         f"{gain:,.0f} ms at the median (the seeds: ~750 ms). The 50 ms poll takes the "
         f"detection median from {pct(det, 50):,.0f} to {pct(opt['detection_ms'], 50):,.0f} "
         f"ms (the seeds expected up to 750 ms from it, reckoning from a 1 s poll); the rest, "
         f"{gain - pct(det, 50) + pct(opt['detection_ms'], 50):,.0f} ms, is the two writes in "
         f"parallel and the tasks starting at once. Task creation costs nothing in the "
         f"simulation (seed: 10–100 ms)."),
        ("Polling alignment variance (002, PART 4)", "0–1000 ms (average ~600 ms)",
         _span(det),
         "Measured from the RUNNING write to the wait loop's exit, SELECT included. A wait-loop "
         "iteration is the 0.2 s sleep plus one SELECT, and once a second the event poll and "
         "the READY heartbeat as well, so a read comes every 0.25–0.7 s, not every 1 s: the "
         "seeds' 0–1000 ms is the 1 s poll their own quick reference describes, not the "
         "0.2 s sleep their code shows."),
        ("Worker start-up after the wait (001/000; 002 PART 7 subtotal + first query)",
         "213–313 ms (001); 260–1002 ms (002: 210–502 + 50–500)", _span(aw),
         "Heartbeat MERGE + TEST_RESULTS INSERT + first query, as the seeds list them; the "
         "simulation gives task creation no cost and draws the first query from 50–500 ms "
         "(typical 150), so it lands between 001's optimistic sum and 002's worst case."),
        ("Pool start, 100 connections, 8 parallel creates (003)",
         "≈ 58.5 s (13 batches × ≈ 4.5 s)", _span(p8, "s", 1.0, 1),
         "Agrees by construction: a batch takes its slowest connection, calibrated at ≈ 4.5 s "
         "for 8; the spread comes from which batch draws a slow connection."),
        ("Pool start, 32 parallel creates (003)", "about 4 s", _span(p32, "s", 1.0, 1),
         f"Under the same per-connection cost, 100 connections take ceil(100/32) = 4 batches, "
         f"each waiting for its slowest of 32 connections (slower than a batch of 8), so "
         f"about {pct(p32, 50):,.0f} s, not 4 s. 4 s would need each connection to take "
         f"about 1 s instead of 4.5 s. The seeds' 4 s fits better the other half of that "
         f"fix: the pool is now built before READY and the orchestrator waits for READY, so "
         f"the time from RUNNING to the first metrics no longer contains it (end to end "
         f"above: ≈ {pct(e2e, 50) / 1000:.1f} s)."),
    ]
    lines = ["# The seeds' timing claims, checked", "",
             f"Generated by `{command}`; do not edit by hand. Scenario `{path}` mirrors the seed "
             f"documents' assumptions (its comments list them); {reps} seeded runs per row, "
             f"sweep seed {seed}, figures pooled over workers. Each row's configuration:", ""]
    for name, (sets, why) in CONFIGS.items():
        lines.append(f"- **{name}**: {why}" + (f" (`{' '.join(sets)}`)" if sets else ""))
    lines += ["", "| claim | the seeds say | the simulation gives | why they differ |",
              "|---|---|---|---|"]
    for claim, seed_fig, sim_fig, why in rows:
        lines.append(f"| {claim} | {seed_fig} | {sim_fig} | {why} |")
    lines += ["", "End to end is measured from the orchestrator issuing the RUNNING UPDATE to the "
              "worker's first benchmark query returning, the span of the seeds' total row; "
              "detection from that UPDATE taking effect to the wait loop's exit.", ""]
    return "\n".join(lines)
