"""The latency and load figures of one run, computed from its trace alone (sim or live).

- detection: from the orchestrator's RUNNING write to each worker leaving its wait loop;
- start: from the RUNNING write to each worker's first benchmark query (its start), and the
  skew between the first and the last worker;
- measurement tag: from the MEASUREMENT write until every connection of every worker has
  started a query tagged for measurement, and how many queries started meanwhile with the
  warmup tag;
- control-plane load: control-table statements per second over the run (invoke to run end),
  by kind, per worker and in total, and their busy time, which the cost model prices.

Times are in milliseconds; a figure the run never reached is None.
"""
from __future__ import annotations

from protocol.trace import Trace

# Statements on the control tables (RUN_STATUS, RUN_CONTROL_EVENTS, WORKER_HEARTBEATS,
# TEST_RESULTS); benchmark queries, connects, setup, ALTERs and enrichment are not.
CONTROL_OPS = ("create_run", "read_run_status", "write_run_status", "read_next_seq",
               "bump_next_seq", "alloc_seq", "insert_event", "fetch_events", "merge_heartbeat",
               "mark_heartbeats", "count_heartbeats", "write_test_result",
               "read_enrichment_status")
_CONTROL = frozenset(CONTROL_OPS)
TOL = 1e-6


def _first_starts(trace: Trace):
    """worker -> first query start; (worker, conn) -> first start of a RUNNING-tagged query
    at or after t_M is computed by the caller. Yields (worker, conn, start, tag)."""
    for q in trace.of("query"):
        yield q.get("worker"), q.get("conn"), q["start"], q.get("tag") or ""
    for b in trace.of("query_batch"):
        starts = b.get("starts") or []
        for s in starts:
            yield b.get("worker"), b.get("conn"), s, b.get("tag") or ""


def run_metrics(trace: Trace, cost: dict | None = None) -> dict:
    """One run's figures (see the module docstring)."""
    out: dict = {"detection_ms": [], "start_ms": [], "skew_ms": None, "tag_ms": None,
                 "mistagged": None, "load_per_s": None, "load_per_worker_per_s": None,
                 "load_by_kind_per_s": {}, "busy_s_per_s": None, "cost_usd_per_hour": None,
                 "wait_load_per_worker_per_s": None}
    running = trace.first_write(status="RUNNING")
    t_run = running["t"] if running else None
    if t_run is not None:
        waits: dict[str, float] = {}
        for m in trace.of("marker"):
            if m.get("name") == "wait_returned" and m.get("worker") not in waits:
                waits[m["worker"]] = m["t"]
        out["detection_ms"] = [round((t - t_run) * 1000.0, 3) for _, t in sorted(waits.items())]

    t_meas = trace.measurement_write()
    t_m = t_meas["t"] if t_meas else None
    first: dict[str, float] = {}
    conns_seen: set = set()
    tagged: dict = {}
    mistagged = 0
    for worker, conn, start, tag in _first_starts(trace):
        if worker not in first or start < first[worker]:
            first[worker] = start
        if t_m is None:
            continue
        conns_seen.add((worker, conn))
        if start >= t_m - TOL:
            if tag.endswith(":phase=RUNNING"):
                key = (worker, conn)
                if key not in tagged or start < tagged[key]:
                    tagged[key] = start
            else:
                mistagged += 1
    if t_run is not None and first:
        starts = [first[w] for w in sorted(first)]
        out["start_ms"] = [round((s - t_run) * 1000.0, 3) for s in starts]
        out["skew_ms"] = round((max(starts) - min(starts)) * 1000.0, 3)
    if t_m is not None and conns_seen:
        out["mistagged"] = mistagged
        if all(c in tagged for c in conns_seen):
            out["tag_ms"] = round(max(0.0, max(tagged.values()) - t_m) * 1000.0, 3)

    end = trace.of("run_end")
    span = (end[-1]["t"] if end else trace.end_t())
    if span > 0:
        invokes: dict = {}
        counts: dict[str, int] = {}
        by_worker: dict[str, int] = {}
        busy = 0.0
        for r in trace.of("invoke"):
            op = r.get("op")
            if op in _CONTROL:
                invokes[r.get("id")] = r["t"]
                counts[op] = counts.get(op, 0) + 1
                a = r.get("actor") or ""
                if a.startswith("worker-"):
                    by_worker[a] = by_worker.get(a, 0) + 1
        for r in trace.of("ok", "fail", "info"):
            t0 = invokes.get(r.get("id"))
            if t0 is not None:
                busy += r["t"] - t0
        out["wait_load_per_worker_per_s"] = _wait_load(trace)
        total = sum(counts.values())
        workers = len(trace.workers()) or 1
        out["load_per_s"] = total / span
        out["load_per_worker_per_s"] = sum(by_worker.values()) / workers / span
        out["load_by_kind_per_s"] = {op: counts[op] / span for op in CONTROL_OPS if op in counts}
        out["busy_s_per_s"] = busy / span
        if cost:
            out["cost_usd_per_hour"] = cost_per_hour(busy / span, cost)
    return out


def _wait_load(trace: Trace) -> float | None:
    """Control statements per second a worker issues while it waits for RUNNING (from its
    READY marker to leaving the wait loop), over all workers' waiting time."""
    spans: dict[str, list] = {}
    for m in trace.of("marker"):
        name = m.get("name")
        if name in ("ready", "wait_returned"):
            spans.setdefault(m.get("worker"), [None, None])[name == "wait_returned"] = m["t"]
    spans = {w: s for w, s in spans.items() if None not in s and s[1] > s[0]}
    if not spans:
        return None
    n = 0
    for r in trace.of("invoke"):
        s = spans.get(r.get("actor"))
        if s is not None and s[0] <= r["t"] < s[1] and r.get("op") in _CONTROL:
            n += 1
    return n / sum(b - a for a, b in spans.values())


def cost_per_hour(busy_s_per_s: float, cost: dict) -> float:
    """USD per run hour: statement-seconds per second keep a share of a warehouse busy
    (docs/scenarios.md, [cost])."""
    return (busy_s_per_s * cost["warehouse_credits_per_hour"] / cost["statements_in_parallel"]
            * cost["usd_per_credit"])
