"""What a smoke run is and what its report adds to `phaselab run`'s: the smoke RunConfig,
each statement kind's latency as measured, the load the backend saw, and whether the
embedded server (one serialising process, docs/embedded-backend.md) was the bottleneck.

Everything but smoke_config() reads only the trace, so `calibrate` reuses it on any file.
"""
from __future__ import annotations

import math
import statistics

from protocol.config import RunConfig

# docs/embedded-backend.md: about 30-60 statements per second in total, whatever the clients.
EMBEDDED_CAPACITY_PER_S = (30.0, 60.0)
BUSY_FRACTION = 0.7  # a rate above this share of the low capacity figure is "near capacity"
SLOW_FACTOR = 3.0
SERVICE_QUANTILE = 0.1  # a median this many times the idle probe's means statements queued


def smoke_config(workers: int = 3, connections: int = 4, warmup_s: float = 3.0,
                 measure_s: float = 5.0, think_time_s: float = 2.0,
                 backend: str = "embedded") -> RunConfig:
    """Cadences slowed to fit fakesnow's capacity: 3 x 4 connections make about 15
    statements per second in total. Liveness limits are short so that a dead worker fails
    the run in about 10 s, and the deadline keeps anything from hanging. On Snowflake, where
    one statement may take up to its 10 s timeout (a warehouse resuming), the reference's
    STALE/DEAD limits (30 / 60 s) and a longer deadline apply instead."""
    if backend == "snowflake":
        return RunConfig(
            workers=workers, connections_per_worker=connections, warmup_s=warmup_s,
            duration_s=measure_s, think_time_s=think_time_s,
            orchestrator_poll_s=1.0, health_refresh_s=2.0, status_poll_s=1.0, event_poll_s=1.0,
            heartbeat_s=1.0, reconcile_s=5.0, main_loop_sleep_s=0.1,
            wait_timeout_s=120.0, drain_timeout_s=60.0, stale_s=30.0, dead_s=60.0,
            stop_grace_s=10.0, kill_after_s=5.0, enrichment_poll_s=2.0,
            enrichment_timeout_s=60.0,
            deadline_s=warmup_s + measure_s + 300.0 + 10.0 * workers)
    return RunConfig(
        workers=workers, connections_per_worker=connections, warmup_s=warmup_s,
        duration_s=measure_s, think_time_s=think_time_s,
        orchestrator_poll_s=0.5, health_refresh_s=2.0, status_poll_s=0.5, event_poll_s=0.5,
        heartbeat_s=1.0, reconcile_s=5.0, main_loop_sleep_s=0.1,
        wait_timeout_s=30.0, drain_timeout_s=10.0, stale_s=5.0, dead_s=8.0,
        stop_grace_s=5.0, kill_after_s=3.0, enrichment_poll_s=1.0, enrichment_timeout_s=10.0,
        deadline_s=warmup_s + measure_s + 60.0 + 2.0 * workers)


def statement_latencies(records: list[dict]) -> dict[str, list[float]]:
    """op -> seconds of each successful statement (invoke to ok); `benchmark` from the
    query records (start to finish, successful ones)."""
    invokes = {r["id"]: r for r in records if r.get("kind") == "invoke"}
    out: dict[str, list[float]] = {}
    for r in records:
        if r.get("kind") == "ok" and r.get("id") in invokes:
            out.setdefault(r["op"], []).append(r["t"] - invokes[r["id"]]["t"])
    bench = [q["finish"] - q["start"] for q in records
             if q.get("kind") == "query" and q.get("ok", True)]
    if bench:
        out["benchmark"] = bench
    return out


def failures(records: list[dict]) -> dict[str, dict[str, int]]:
    """op -> {"fail": n, "info": n} for statements that did not succeed."""
    out: dict[str, dict[str, int]] = {}
    for r in records:
        if r.get("kind") in ("fail", "info"):
            d = out.setdefault(r["op"], {"fail": 0, "info": 0})
            d[r["kind"]] += 1
    bad = sum(1 for q in records if q.get("kind") == "query" and not q.get("ok", True))
    if bad:
        out["benchmark"] = {"fail": bad, "info": 0}
    return out


def quantile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank quantile (q in [0, 1]) of sorted values."""
    i = min(len(sorted_vals) - 1, max(0, math.ceil(q * len(sorted_vals)) - 1))
    return sorted_vals[i]


def latency_table(lat: dict[str, list[float]]) -> dict[str, dict]:
    """op -> n and p50/p90/p99/max in milliseconds."""
    out = {}
    for op in sorted(lat):
        v = sorted(lat[op])
        out[op] = {"n": len(v), **{f"p{int(q * 100)}": round(quantile(v, q) * 1000, 1)
                                   for q in (0.5, 0.9, 0.99)},
                   "max": round(v[-1] * 1000, 1)}
    return out


def load(records: list[dict]) -> dict:
    """Statements the backend served and their rate over the span it was busy (from the
    first statement to the last completion): control statements plus benchmark queries."""
    starts = [r["t"] for r in records if r.get("kind") == "invoke"]
    starts += [q["start"] for q in records if q.get("kind") == "query"]
    ends = [r["t"] for r in records if r.get("kind") in ("ok", "fail", "info", "query")]
    control = sum(1 for r in records if r.get("kind") == "invoke")
    bench = sum(1 for r in records if r.get("kind") == "query")
    span = (max(ends) - min(starts)) if starts and ends else 0.0
    rate = (control + bench) / span if span > 0 else 0.0
    # the busiest second: what the server had to sustain at peak
    per_s: dict[int, int] = {}
    for t in starts:
        per_s[int(t)] = per_s.get(int(t), 0) + 1
    return {"control": control, "benchmark": bench, "span_s": round(span, 3),
            "rate_per_s": round(rate, 2), "peak_per_s": max(per_s.values(), default=0)}


def service_times(lat: dict[str, list[float]]) -> dict[str, float]:
    """op -> its service time on the server, estimated as a low quantile of its measured
    latencies: the statements that found the server idle (no queue in front of them)."""
    return {op: quantile(sorted(v), SERVICE_QUANTILE) for op, v in lat.items() if v}


# Logins are not statements the (serialising) server works through one after another.
NOT_SERVER_WORK = frozenset({"connect"})


def utilisation(lat: dict[str, list[float]], svc: dict[str, float], span_s: float) -> float:
    """Share of the busy span the server spent serving statements, each at its service time."""
    work = sum(svc[op] * len(v) for op, v in lat.items() if op not in NOT_SERVER_WORK)
    return work / span_s if span_s > 0 else 0.0


def saturated_seconds(records: list[dict], svc: dict[str, float]) -> list[dict]:
    """Seconds whose statements needed more than a second of server time, so some queued
    (each at its service time `svc`; logins excluded, as in `utilisation`), with the
    kinds that filled them. Counting statements alone would weigh a burst of 8 ms no-op
    ALTERs at the tag switch like as many 200 ms MERGEs. Latencies measured in such a second
    include queueing even when the run as a whole was not server-bound."""
    need: dict[int, dict[str, float]] = {}
    for r in records:
        if r.get("kind") == "invoke" and r.get("op") in svc \
                and r["op"] not in NOT_SERVER_WORK:
            t, op = r["t"], r["op"]
        elif r.get("kind") == "query" and "benchmark" in svc:
            t, op = r["start"], "benchmark"
        else:
            continue
        kinds = need.setdefault(int(t), {})
        kinds[op] = kinds.get(op, 0.0) + svc[op]
    out = []
    for second, kinds in sorted(need.items()):
        busy = sum(kinds.values())
        if busy > 1.0:
            top = sorted(kinds, key=kinds.get, reverse=True)[:3]
            out.append({"second": second, "busy": round(busy, 3), "kinds": top})
    return out


def bottleneck(records: list[dict], header: dict) -> dict:
    """Whether the embedded server limited the run: a sustained statement rate near its
    capacity, or benchmark latencies far above the same lookup timed on the idle server
    before the run. Single saturated seconds are listed apart (`saturated`)."""
    live = header.get("live") or {}
    embedded = live.get("backend", "embedded") == "embedded"
    ld = load(records)
    lat = statement_latencies(records)
    svc = service_times(lat)
    reasons = []
    if embedded:
        low, high = EMBEDDED_CAPACITY_PER_S
        if ld["rate_per_s"] >= BUSY_FRACTION * low:
            reasons.append(f"{ld['rate_per_s']:.1f} statements/s on average is near the "
                           f"embedded server's capacity of about {low:.0f}-{high:.0f}/s")
    util = utilisation(lat, svc, ld["span_s"])
    if embedded and util >= BUSY_FRACTION:
        reasons.append(f"the server was busy about {util:.0%} of the run serving statements "
                       f"(each at its low-load time, p{int(SERVICE_QUANTILE * 100)}), "
                       f"so statements queued behind each other")
    idle = live.get("idle_probe_ms") or []
    bench = sorted(lat.get("benchmark", []))
    idle_ms = statistics.median(idle) if idle else None
    bench_ms = quantile(bench, 0.5) * 1000 if bench else None
    if idle_ms and bench_ms and bench_ms >= SLOW_FACTOR * idle_ms:
        reasons.append(f"benchmark median {bench_ms:.0f} ms is {bench_ms / idle_ms:.1f}x the "
                       f"idle server's {idle_ms:.0f} ms: statements queued")
    saturated = saturated_seconds(records, svc) if embedded else []
    return {"bottleneck": bool(reasons), "reasons": reasons, "load": ld,
            "saturated": saturated,
            "utilisation": round(util, 3),
            "idle_benchmark_ms": None if idle_ms is None else round(idle_ms, 1),
            "benchmark_median_ms": None if bench_ms is None else round(bench_ms, 1)}


def over_bound(records: list[dict], header: dict) -> list[dict]:
    """Statements that took longer than the declared bound L (a driver or backend defect:
    the connection settings should make that impossible)."""
    L = (header.get("params") or {}).get("L")
    if not isinstance(L, (int, float)):
        return []
    invokes = {r["id"]: r for r in records if r.get("kind") == "invoke"}
    return [{"op": r["op"], "id": r["id"], "s": round(r["t"] - invokes[r["id"]]["t"], 3)}
            for r in records if r.get("kind") in ("ok", "fail", "info")
            and r.get("id") in invokes and r["t"] - invokes[r["id"]]["t"] > L]


def server_comparison(trace_tags: dict[str, dict[str, int]], run_id: str,
                      server: dict | None) -> dict | None:
    """Benchmark queries per QUERY_TAG: the trace's count next to each server-side source,
    labelled for what it is (sampled, lagging, unavailable). No source is a complete count,
    so nothing is called a match: the one sound test is that a server count never exceeds
    the trace's (`over_trace`: the trace missed queries, or a tag leaked into other work)."""
    if server is None:
        return None
    sources = {k: v for k, v in server.items() if isinstance(v, dict) and "label" in v}
    rows = []
    for worker in sorted(trace_tags):
        for phase, n in sorted(trace_tags[worker].items()):
            tag = f"flakebench:test_id={run_id}-{worker}:phase={phase}"
            row = {"tag": tag, "trace": n}
            for name, src in sources.items():
                row[name] = None if src.get("counts") is None else src["counts"].get(tag, 0)
            row["over_trace"] = [name for name in sources
                                 if row[name] is not None and row[name] > n]
            rows.append(row)
    return {"rows": rows, "sources": {k: {"label": v["label"], "why": v["why"]}
                                      for k, v in sources.items()},
            "note": "server-side counts are samples or arrive late: they are shown beside the "
                    "trace, never taken as the total"}


def deaths(records: list[dict]) -> list[dict]:
    """Worker processes that exited unasked with a non-zero code or a signal (a SIGKILL, a
    crash), each with what noticed it first: the orchestrator's DEAD mark of that worker or a
    STOP{worker_failure} after the death, or nothing. The report lists them whatever the
    verdict says, so that no death goes unmentioned."""
    out = []
    for r in records:
        if r.get("kind") != "proc" or r.get("action") != "exit" or r.get("requested") \
                or not r.get("code"):
            continue
        k, t = r.get("worker"), r["t"]
        seen = [(h["t"], "marked DEAD by the orchestrator") for h in records
                if h.get("kind") == "heartbeat" and h.get("worker") == k and h["t"] >= t
                and h.get("status") == "DEAD" and h.get("writer") == "orchestrator"]
        seen += [(e["t"], "STOP worker_failure") for e in records
                 if e.get("kind") == "event_emit" and e.get("type") == "STOP" and e["t"] >= t
                 and (e.get("payload") or {}).get("reason") == "worker_failure"]
        first = min(seen, default=None)
        out.append({"worker": k, "t": round(t, 3), "code": r.get("code"),
                    "signal": r.get("signal"),
                    "detected_t": None if first is None else round(first[0], 3),
                    "detected_by": None if first is None else first[1],
                    "after_s": None if first is None else round(first[0] - t, 3)})
    return out
