"""The latency and load figures of one run, computed from its trace alone (sim or live).

- detection: from the orchestrator's RUNNING write to each worker leaving its wait loop;
- start: from the RUNNING write to each worker's first benchmark query (its start), and the
  skew between the first and the last worker;
- measurement tag: from the MEASUREMENT write until every connection of every worker has
  started a query tagged for measurement, and how many queries started meanwhile with the
  warmup tag;
- control-plane load: control-table statements per second over the run (invoke to run end),
  by kind, per worker and in total, and their busy time, which the cost model prices (per
  run hour and per run);
- barrier load: what the workers' wait loops cost while they wait for RUNNING, per worker
  and for all workers waiting at once (see `barrier_rate`), and the steady-state load
  (control statements per second during measurement), which the wait loop does not touch;
- the READY gap: from the last worker's READY to the RUNNING write. When the wait-loop
  interval is as long as this gap, detection latency depends on start-up timing too.

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
                 "wait_load_per_worker_per_s": None, "barrier_load_per_worker_per_s": None,
                 "barrier_load_per_s": None, "steady_load_per_s": None,
                 "cost_usd_per_run": None, "ready_gap_ms": None, "span_s": None,
                 "workers": len(trace.workers())}
    running = trace.first_write(status="RUNNING")
    t_run = running["t"] if running else None
    if t_run is not None:
        waits: dict[str, float] = {}
        for m in trace.of("marker"):
            if m.get("name") == "wait_returned" and m.get("worker") not in waits:
                waits[m["worker"]] = m["t"]
        out["detection_ms"] = [round((t - t_run) * 1000.0, 3) for _, t in sorted(waits.items())]
        readies = [m["t"] for m in trace.of("marker") if m.get("name") == "ready"
                   and m["t"] <= t_run + TOL]
        if readies:
            out["ready_gap_ms"] = round((t_run - max(readies)) * 1000.0, 3)

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
        per_worker = barrier_rate(trace)
        out["barrier_load_per_worker_per_s"] = per_worker
        if per_worker is not None:
            out["barrier_load_per_s"] = per_worker * len(trace.workers())
        out["steady_load_per_s"] = _steady_load(trace, t_m)
        out["span_s"] = span
        total = sum(counts.values())
        workers = len(trace.workers()) or 1
        out["load_per_s"] = total / span
        out["load_per_worker_per_s"] = sum(by_worker.values()) / workers / span
        out["load_by_kind_per_s"] = {op: counts[op] / span for op in CONTROL_OPS if op in counts}
        out["busy_s_per_s"] = busy / span
        if cost:
            out["cost_usd_per_hour"] = cost_per_hour(busy / span, cost)
            out["cost_usd_per_run"] = cost_per_hour(busy / span, cost) * span / 3600.0
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


def _completions(trace: Trace) -> dict:
    """op id -> when it completed (ok, fail or info)."""
    return {r.get("id"): r["t"] for r in trace.of("ok", "fail", "info")}


def barrier_rate(trace: Trace) -> float | None:
    """Control statements per second one worker issues while it waits for RUNNING, in the
    wait loop's steady state, pooled over workers: None when no worker waited past one pass.

    The first pass after READY always reads the status, fetches events and heartbeats, which
    inflates a short wait's rate; so each worker's window starts when that pass ends (its
    first heartbeat completed). It ends when the last statement before the exit completed:
    the window then holds whole cycles of (pause, statements), and the read that saw RUNNING,
    which begins the next cycle, is left out."""
    marks: dict[str, dict[str, float]] = {}
    for m in trace.of("marker"):
        if m.get("name") in ("ready", "wait_returned"):
            marks.setdefault(m.get("worker"), {}).setdefault(m["name"], m["t"])
    done = _completions(trace)
    mine: dict[str, list] = {}
    for r in trace.of("invoke"):
        w = marks.get(r.get("actor"))
        if w and r.get("op") in _CONTROL and "wait_returned" in w and "ready" in w \
                and w["ready"] - TOL <= r["t"] <= w["wait_returned"] + TOL:
            mine.setdefault(r["actor"], []).append(r)
    count, span = 0, 0.0
    for worker, invokes in mine.items():
        hb = next((i for i, r in enumerate(invokes) if r["op"] == "merge_heartbeat"), None)
        if hb is None or invokes[hb].get("id") not in done:
            continue
        start = done[invokes[hb]["id"]]
        steady = [r for r in invokes[hb + 1:] if r["t"] >= start - TOL]
        last = steady[-1] if steady else None
        if last is not None and last["op"] == "read_run_status" and \
                abs(done.get(last.get("id"), -1.0) - marks[worker]["wait_returned"]) < 1e-3:
            steady = steady[:-1]  # the read that saw RUNNING opens a cycle it does not finish
        if not steady or steady[-1].get("id") not in done:
            continue
        end = done[steady[-1]["id"]]
        if end > start:
            count += len(steady)
            span += end - start
    return count / span if span > 0 else None


def _steady_load(trace: Trace, t_meas: float | None) -> float | None:
    """Control statements per second (all actors) from the MEASUREMENT write to the next
    change of STATUS or PHASE: the load while the benchmark runs."""
    if t_meas is None:
        return None
    t_end = next((r["t"] for r in trace.matched_status_writes()
                  if r["t"] > t_meas + TOL and r["before"] != r["after"]), None)
    if t_end is None or t_end <= t_meas:
        return None
    n = sum(1 for r in trace.of("invoke") if r.get("op") in _CONTROL
            and t_meas - TOL <= r["t"] < t_end)
    return n / (t_end - t_meas)


def cost_per_hour(busy_s_per_s: float, cost: dict) -> float:
    """USD per run hour: statement-seconds per second keep a share of a warehouse busy
    (docs/scenarios.md, [cost])."""
    return (busy_s_per_s * cost["warehouse_credits_per_hour"] / cost["statements_in_parallel"]
            * cost["usd_per_credit"])
