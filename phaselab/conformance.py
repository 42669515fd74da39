"""How faithful the `reference` variant is to the upstream: the same measures taken from
recorded upstream runs and from seeded simulations of the same scenario, side by side.

A measure of the upstream differs "more than the intervals allow" when it lies outside the
range the simulation's seeds span (min to max over N seeds; with 20 seeds that range holds
about 90 % of the simulation's outcomes). A property differs when the upstream fails it and
no seed did, or every seed fails it and the upstream passed it; a property the upstream
recording cannot judge is not compared.
"""
from __future__ import annotations

import statistics

from phaselab import calibrate, scenario as scn
from phaselab.timeline import startup_markers
from protocol.checks import judge
from protocol.trace import Trace

PHASES = (("STARTING", "RUNNING"), ("WARMUP", "MEASUREMENT"), ("MEASUREMENT", "STOPPING"),
          ("STOPPING", "COMPLETED"))
STARTUP = ("wait_returned", "first_query")


def _first(trace: Trace, status=None, phase=None) -> float | None:
    w = trace.first_write(status=status, phase=phase)
    return w["t"] if w else None


def measures(trace: Trace) -> dict[str, float | None]:
    """One run's measures, by name. Durations in seconds, markers in ms after RUNNING."""
    m: dict[str, float | None] = {}
    t = {"STARTING": _first(trace, status="STARTING"), "RUNNING": _first(trace, status="RUNNING"),
         "MEASUREMENT": _first(trace, phase="MEASUREMENT"),
         "STOPPING": _first(trace, status="STOPPING"),
         "COMPLETED": _first(trace, status="COMPLETED")}
    t["WARMUP"] = t["RUNNING"]
    for a, b in PHASES:
        m[f"phase {a} s"] = (round(t[b] - t[a], 3) if t[a] is not None and t[b] is not None
                             else None)
    marks = startup_markers(trace)
    for name in STARTUP:
        vals = [v[name] for v in marks.values() if v.get(name) is not None]
        m[f"start-up {name} median ms"] = round(statistics.median(vals), 1) if vals else None
    t_end = t["STOPPING"] or trace.end_t()
    span = (t_end - t["RUNNING"]) if t["RUNNING"] is not None else None
    counts: dict[str, int] = {}
    for r in trace.of("invoke"):
        if t["RUNNING"] is not None and t["RUNNING"] <= r["t"] <= t_end:
            counts[r["op"]] = counts.get(r["op"], 0) + 1
    for op in ("read_run_status", "fetch_events", "merge_heartbeat", "count_heartbeats",
               "mark_heartbeats", "insert_event", "write_run_status"):
        m[f"{op} per s (RUNNING)"] = round(counts.get(op, 0) / span, 3) if span else None
    qs = [q for q in trace.of("query")]
    tags: dict[str, int] = {}
    for q in qs:
        suffix = str(q.get("tag")).rsplit(":phase=", 1)[-1]
        tags[suffix] = tags.get(suffix, 0) + 1
    workers = max(1, len(trace.workers()))
    for suffix in ("WARMUP", "RUNNING"):
        m[f"queries tagged {suffix} per worker"] = round(tags.get(suffix, 0) / workers, 1)
    lat = sorted(q["finish"] - q["start"] for q in qs if q.get("ok", True))
    m["benchmark query median ms"] = (round(1000 * statistics.median(lat), 1) if lat else None)
    return m


def simulation_scenario(upstream_trace: list[dict], config: dict, variant: str = "reference",
                        server: bool = False) -> dict:
    """A scenario for the simulation: the upstream run's size and cadences, and latencies
    fitted to the recorded statements (calibrate; with `server`, the embedded server as a
    queue instead)."""
    raw, _notes = calibrate.calibrate(upstream_trace, server=server)
    p = Trace(upstream_trace).params
    run = {k: v for k, v in config.items() if k in scn.RUN_KEYS}
    run.update(workers=p["workers"], connections_per_worker=p["connections_per_worker"],
               warmup_s=p["warmup_s"], duration_s=p["duration_s"])
    raw["run"] = run
    raw["variant"] = {"name": variant}
    return raw


def interval(values: list[float]) -> tuple[float, float] | None:
    v = [x for x in values if x is not None]
    return (min(v), max(v)) if v else None


def compare(upstream: list[dict], sim: list[dict]) -> list[dict]:
    """Per measure: the simulation's median and range over seeds, each upstream value, and
    whether any upstream value lies outside the range."""
    rows = []
    for name in upstream[0]:
        s_vals = [m.get(name) for m in sim]
        u_vals = [m.get(name) for m in upstream]
        iv = interval(s_vals)
        known = [x for x in s_vals if x is not None]
        outside = [u for u in u_vals if u is not None and iv is not None
                   and not (iv[0] <= u <= iv[1])]
        rows.append({"measure": name, "sim_median": round(statistics.median(known), 3)
                     if known else None, "sim_range": iv, "upstream": u_vals,
                     "differs": bool(outside) or (iv is None) != all(u is None for u in u_vals)})
    return rows


def property_rates(sim_traces: list[Trace]) -> dict[str, int]:
    """property -> in how many seeds it was violated."""
    out: dict[str, int] = {}
    for tr in sim_traces:
        for j in judge(tr):
            out.setdefault(j.property_id, 0)
            if j.violations:
                out[j.property_id] += 1
    return out


def compare_properties(upstream_verdicts: list[dict[str, str]], sim_failed: dict[str, int],
                       seeds: int) -> list[dict]:
    rows = []
    for pid, k in sim_failed.items():
        outs = [v.get(pid, "not judged") for v in upstream_verdicts]
        judged = [o for o in outs if o != "not judged"]
        differs = bool(judged) and ((any(o == "failed" for o in judged) and k == 0)
                                    or (k == seeds and any(o == "passed" for o in judged)))
        rows.append({"property": pid, "sim_violated": f"{k}/{seeds}", "upstream": outs,
                     "differs": differs})
    return rows
