"""From a live trace to a scenario: fit each statement kind's latency, and (for a shared
server like the embedded one) a queue model, so a simulation reproduces what was measured.

Why a queue: latencies measured under load include time spent waiting behind other
statements. Copied as they are, they would not change when the simulated load changes. So
with `server` on, a kind's service time is its low-load latency (a low quantile of what was
measured: the statements that found the server idle), the server gets as many slots as the
measured statement rate needs, and the sim adds the queueing itself.
"""
from __future__ import annotations

import math
import statistics

from phaselab import scenario as scn
from phaselab.smoke import (SERVICE_QUANTILE, load, quantile, service_times,
                            statement_latencies)
from phaselab.timeline import MARKERS, startup_markers
from protocol.trace import Trace

Z90 = 1.2816  # standard normal quantile at 0.9
TARGET_UTILISATION = 0.9  # more measured work per second than this per slot needs a slot more
CLIENT_S = 0.001  # with a server model: the client and loopback part of a statement


def proc_starts(records: list[dict]) -> list[float]:
    """Seconds from each worker's spawn to its process's first trace record."""
    spawn = {r["worker"]: r["t"] for r in records
             if r.get("kind") == "proc" and r.get("action") == "spawn"}
    first: dict[str, float] = {}
    for r in records:
        a = r.get("actor")
        if a in spawn and a not in first:
            first[a] = r["t"]
    return [first[w] - spawn[w] for w in spawn if w in first]


def fit(values: list[float]) -> dict:
    """A lognormal through the median and p90 (capped a little above the largest value
    seen, so the bound L a simulation derives stays close to what was measured)."""
    v = sorted(values)
    if len(v) < 3:
        return {"dist": "fixed", "value": _r(statistics.mean(v))}
    med, p90 = quantile(v, 0.5), quantile(v, 0.9)
    sigma = max(0.05, math.log(max(p90, med) / med) / Z90) if med > 0 else 0.05
    return {"dist": "lognormal", "median": _r(med), "sigma": _r(sigma),
            "cap": _r(max(v[-1] * 1.25, med * 1.01))}


def _r(x: float) -> float:
    return round(float(x), 6)


def calibrate(records: list[dict], server: bool) -> tuple[dict, dict]:
    """-> (scenario dict, notes about the fit)."""
    trace = Trace(records)
    h = trace.header
    live = h.get("live") or {}
    lat = statement_latencies(records)
    raw: dict = {"seed": 1}
    run_cfg = live.get("run_config") or {}
    raw["run"] = {k: v for k, v in run_cfg.items() if k in scn.RUN_KEYS}
    raw["variant"] = {"name": h.get("variant") if h.get("variant") in scn.PRESETS else "fixed"}
    latency = {op: fit(v) for op, v in sorted(lat.items()) if op in scn.LATENCY_OPS}
    ps = proc_starts(records)
    if ps:
        latency["proc_start"] = {"dist": "uniform", "low": _r(min(ps) * 0.9),
                                 "high": _r(max(ps) * 1.1)}
    ld = load(records)
    notes = {"load": ld, "server": None, "kinds": sorted(latency)}
    if server and lat:
        svc = service_times(lat)
        work = sum(svc[op] * len(v) for op, v in lat.items())
        util = work / ld["span_s"] if ld["span_s"] > 0 else 0.0
        slots = max(1, math.ceil(util / TARGET_UTILISATION))
        n = sum(len(v) for v in lat.values())
        mean_s = work / n if n else 0.0
        raw["server"] = {"slots": slots, "service": {
            op: {"dist": "lognormal", "median": _r(s), "sigma": 0.3, "cap": _r(s * 4)}
            for op, s in sorted(svc.items()) if op in scn.LATENCY_OPS}}
        for op in list(latency):
            if op in svc:
                latency[op] = {"dist": "fixed", "value": CLIENT_S}
        notes["server"] = {"slots": slots, "utilisation": round(util, 3),
                           "mean_service_ms": round(mean_s * 1000, 2),
                           "capacity_per_s": round(slots / mean_s, 1) if mean_s else None,
                           "service_quantile": SERVICE_QUANTILE}
    raw["latency"] = latency
    return raw, notes


def to_toml(raw: dict, comments: list[str]) -> list[str]:
    """The small TOML subset a scenario needs: tables of numbers, strings, inline tables."""
    def val(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v) if isinstance(v, int) or math.isfinite(v) else "0.0"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + " }"
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(val(x) for x in v) + "]"
        raise TypeError(f"cannot write {v!r} as TOML")

    lines = [f"# {c}" for c in comments]
    lines += [f"seed = {raw['seed']}", ""]
    for table in ("run", "variant", "latency"):
        lines.append(f"[{table}]")
        lines += [f"{k} = {val(v)}" for k, v in raw.get(table, {}).items()]
        lines.append("")
    if "server" in raw:
        lines += ["[server]", f"slots = {raw['server']['slots']}", "", "[server.service]"]
        lines += [f"{k} = {val(v)}" for k, v in raw["server"]["service"].items()]
        lines.append("")
    return lines


def _factor(a: float | None, b: float | None) -> float | None:
    if a is None or b is None:
        return None
    lo, hi = sorted((max(a, 1.0), max(b, 1.0)))
    return round(hi / lo, 2)


def startup_comparison(measured: list[dict], simulated: list[list[dict]]) -> dict:
    """marker -> medians over workers (and seeds), in ms after the RUNNING write, measured
    and simulated, with the factor between them (>= 1); and the same for the time after
    the worker's own wait_returned (`since_wait`). When a worker notices RUNNING depends on
    where its status poll falls (uniform over one poll period), which a few workers sample
    poorly; what follows is the start-up chain itself."""
    def medians(runs: list[list[dict]]) -> tuple[dict, dict]:
        vals: dict[str, list[float]] = {m: [] for m in MARKERS}
        since: dict[str, list[float]] = {m: [] for m in MARKERS}
        for recs in runs:
            for marks in startup_markers(Trace(recs)).values():
                w0 = marks.get("wait_returned")
                for m in MARKERS:
                    if marks.get(m) is not None:
                        vals[m].append(marks[m])
                        if w0 is not None and m != "wait_returned":
                            since[m].append(marks[m] - w0)
        med = lambda v: statistics.median(v) if v else None  # noqa: E731
        return {m: med(v) for m, v in vals.items()}, {m: med(v) for m, v in since.items()}
    (a, a_s), (b, b_s) = medians([measured]), medians(simulated)
    r = lambda x: None if x is None else round(x, 1)  # noqa: E731
    return {m: {"measured_ms": r(a[m]), "simulated_ms": r(b[m]), "factor": _factor(a[m], b[m]),
                "since_wait": None if m == "wait_returned" else {
                    "measured_ms": r(a_s[m]), "simulated_ms": r(b_s[m]),
                    "factor": _factor(a_s[m], b_s[m])}}
            for m in MARKERS}
