"""RUN-START-LATENCY: load starts promptly once the run is RUNNING (seed issue 2, the 60 s
start).

Not an id of invariants.md but what RUN-READY-GATE and HB-READY-MEANS-READY exist for: a
worker is READY only with its pool open, so once RUNNING is visible its first benchmark query
needs one wait-loop turn and a few statements, not connection batches. The bound comes from
the configuration (`start_bound_s` in the header: status_poll_s + 8 L + hook_s), never a
hard-coded number.
"""
from __future__ import annotations

from typing import Iterator

from protocol.trace import Trace

from .base import TOL, NotJudged, Violation, checker, ft, num, queries


@checker("RUN-START-LATENCY")
def run_start_latency(trace: Trace) -> Iterator[Violation]:
    """Each initial worker's first benchmark query starts within start_bound_s of the RUNNING
    write; a worker with no query at all is late too unless a STOP came before the bound. A
    worker whose start-up target is 0 (QPS with no starting threads) has nothing to start."""
    bound = num(trace, "start_bound_s")
    running = trace.first_write(status="RUNNING")
    if bound is None:
        raise NotJudged("the header states no start_bound_s")
    if running is None:
        raise NotJudged("the run never became RUNNING")
    deadline = running["t"] + bound
    stop = min((e["t"] for e in trace.of("event_emit") if e.get("type") == "STOP"),
               default=float("inf"))
    first: dict[str, dict] = {}
    for q in queries(trace):  # bulk query_batch records included
        k = q.get("worker")
        if k not in first or q["start"] < first[k]["start"]:
            first[k] = q
    states = trace.by_worker("worker_state")
    for k in trace.param("worker_ids", []):
        own = states.get(k, [])
        if own and own[0].get("target") == 0:
            continue  # started with no connection to run (a QPS mode with 0 threads)
        q = first.get(k)
        if q is not None and q["start"] > deadline + TOL:
            yield Violation("RUN-START-LATENCY", f"{k}'s first query started at t={ft(q['start'])}, "
                            f"{q['start'] - running['t']:.3f} s after the RUNNING write at "
                            f"t={ft(running['t'])}; the bound is {bound:.3f} s", (running, q))
        elif q is None and stop > deadline and trace.end_t() > deadline:
            yield Violation("RUN-START-LATENCY", f"{k} started no query by t={ft(deadline)}, "
                            f"{bound:.3f} s after the RUNNING write at t={ft(running['t'])}",
                            (running,))
