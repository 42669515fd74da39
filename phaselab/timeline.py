"""What a person wants to see of one run, computed from its trace alone (sim or live).

- the phase timeline: when the orchestrator wrote each phase, and when each worker adopted it;
- start-up markers per worker in milliseconds after the RUNNING write, like the seeds'
  instrumentation (wait returned, heartbeat RUNNING, test row inserted, tasks spawned, first
  query, first query tagged for measurement).
"""
from __future__ import annotations

from protocol.trace import Trace

MARKERS = ("wait_returned", "heartbeat_running", "test_row_inserted", "tasks_spawned",
           "first_query", "first_measurement_query")


def phase_writes(trace: Trace) -> list[dict]:
    """Each applied STATUS/PHASE change: t, status, phase."""
    out = []
    for r in trace.matched_status_writes():
        if r["before"] != r["after"]:
            out.append({"t": r["t"], "status": r["after"]["status"], "phase": r["after"]["phase"]})
    return out


def worker_adoptions(trace: Trace) -> dict[str, dict[str, float]]:
    """worker -> phase -> first time its current_phase became that phase."""
    out: dict[str, dict[str, float]] = {}
    for r in trace.of("worker_state"):
        out.setdefault(r["worker"], {}).setdefault(r["phase"], r["t"])
    return out


def startup_markers(trace: Trace) -> dict[str, dict[str, float | None]]:
    """worker -> marker -> ms after the RUNNING write (None when it never happened)."""
    running = trace.first_write(status="RUNNING")
    t0 = running["t"] if running else None
    out: dict[str, dict[str, float | None]] = {}
    for w in trace.workers():
        out[w] = {m: None for m in MARKERS}
    for r in trace.of("marker"):
        if r["name"] in MARKERS and t0 is not None and r["worker"] in out:
            cur = out[r["worker"]][r["name"]]
            if cur is None:
                out[r["worker"]][r["name"]] = round((r["t"] - t0) * 1000.0, 1)
    return out


def query_tags(trace: Trace) -> dict[str, dict[str, int]]:
    """worker -> tag phase suffix -> number of benchmark queries."""
    out: dict[str, dict[str, int]] = {}
    for q in trace.of("query"):
        suffix = q["tag"].rsplit(":phase=", 1)[-1]
        d = out.setdefault(q["worker"], {})
        d[suffix] = d.get(suffix, 0) + 1
    return out


def final_state(trace: Trace) -> dict:
    end = trace.of("run_end")
    writes = phase_writes(trace)
    last = writes[-1] if writes else {"status": None, "phase": None}
    return {"status": end[-1]["status"] if end else last["status"],
            "phase": end[-1]["phase"] if end else last["phase"],
            "ended": end[-1]["reason"] if end else "no run_end record",
            "t_end": end[-1]["t"] if end else trace.records[-1]["t"]}


def summarize(trace: Trace) -> dict:
    return {"phases": phase_writes(trace), "adopted": worker_adoptions(trace),
            "markers_ms": startup_markers(trace), "tags": query_tags(trace),
            "final": final_state(trace)}
