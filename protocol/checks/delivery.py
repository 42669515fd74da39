"""Group H: delivery (invariants.md ids 46-48), the holes a mutation campaign against `fixed`
found: a phase change nobody announced, a waiting worker that ignores a finished run, and a
cursor that runs ahead of the events it handled. Bounds come from the trace header
(`announce_bound_s`, `wait_exit_bound_s`, `wait_period_s`: protocol/bounds.py).
"""
from __future__ import annotations

from typing import Iterator

from protocol.events import SET_PHASE, STOP
from protocol.phases import HB_FINAL, MEASUREMENT, TERMINAL, WARMUP
from protocol.trace import Trace

from .base import TOL, NotJudged, Violation, checker, concerns, ft, hb_writer, num
from .control_events import _acceptable, _desc

# The PHASE values a worker follows (it starts in PREPARING; PROCESSING and COMPLETED come
# after its main loop has ended).
FOLLOWED_PHASES = (WARMUP, MEASUREMENT)


@checker("RUN-PHASE-ANNOUNCED")
def run_phase_announced(trace: Trace) -> Iterator[Violation]:
    """Every PHASE change workers must follow (to WARMUP or MEASUREMENT) is announced by a
    SET_PHASE of that phase emitted no later than announce_bound_s (P) after the write."""
    bound = num(trace, "announce_bound_s")
    if bound is None:
        bound = num(trace, "P")
    if bound is None:
        raise NotJudged("the header states neither announce_bound_s nor P")
    changes = [w for w in trace.status_chain() if w["certain"]
               and w["after"]["phase"] in FOLLOWED_PHASES
               and w["after"]["phase"] != w["before"]["phase"]]
    if not changes:
        raise NotJudged("no PHASE change to WARMUP or MEASUREMENT was written")
    sets = [e for e in trace.of("event_emit") if e.get("type") == SET_PHASE]
    maybe = trace.uncertain_ops("insert_event")
    end, judged = trace.end_t(), 0
    for w in changes:
        phase, deadline = w["after"]["phase"], w["t"] + bound
        if any((e.get("payload") or {}).get("phase") == phase and e["t"] <= deadline + TOL
               for e in sets):
            judged += 1
            continue
        # the insert began in time and the backend was slow (a stall): announced in time
        if any((e.get("payload") or {}).get("phase") == phase and e["t"] > w["t"]
               for e in sets) and any(
                r.get("op") == "insert_event" and w["t"] - TOL <= r["t"] <= deadline + TOL
                for r in trace.of("invoke")):
            judged += 1
            continue
        if end < deadline - TOL or any(w["t"] - TOL <= u["t"] <= deadline + TOL for u in maybe):
            continue  # the trace stops first, or an insert of unknown outcome may be it
        if any(e.get("type") == STOP and e["t"] <= deadline + TOL for e in trace.of("event_emit")):
            continue  # a STOP ends the run by then: the workers need no phase any more
        judged += 1
        yield Violation("RUN-PHASE-ANNOUNCED",
                        f"PHASE {w['before']['phase'] or 'none'} -> {phase} was written at "
                        f"t={ft(w['t'])} (STATUS {w['after']['status']}) but no SET_PHASE "
                        f"{phase} was emitted by t={ft(deadline)} ({bound:.3f} s later): "
                        "workers learn it only from the periodic reconcile", (w,))
    if not judged:
        raise NotJudged("the trace ends before any announcement was due")


def _wait_entry(trace: Trace, k: str) -> float | None:
    """When `k` entered its wait loop: its `ready` marker, else its first own READY."""
    for r in trace.of("marker"):
        if r.get("worker") == k and r.get("name") == "ready":
            return r["t"]
    for h in trace.of("heartbeat"):
        if h.get("worker") == k and hb_writer(h) == "worker" and h.get("status") == "READY":
            return h["t"]
    return None


def _wait_exit(trace: Trace, k: str, after: float) -> tuple[float, str] | None:
    """The first sign at or after `after` that `k` left its wait loop, and what it was."""
    signs = []
    for r in trace.of("marker"):
        if r.get("worker") == k and r.get("name") == "wait_returned":
            signs.append((r["t"], "its wait loop returned (RUNNING)"))
    for r in trace.of("event_seen"):
        if r.get("worker") == k and r.get("type") == STOP and r.get("outcome") == "applied":
            signs.append((r["t"], f"it applied STOP seq {r.get('seq')}"))
    for h in trace.of("heartbeat"):
        if h.get("worker") == k and hb_writer(h) == "worker" and h.get("status") in HB_FINAL:
            signs.append((h["t"], f"its final heartbeat {h.get('status')}"))
    for r in trace.of("proc"):
        if r.get("worker") == k and r.get("action") == "exit":
            signs.append((r["t"], "its process exited"))
    later = [s for s in signs if s[0] >= after - TOL]
    earlier = [s for s in signs if s[0] < after - TOL]
    if earlier:
        return min(earlier)  # it had left before; nothing to judge
    return min(later) if later else None


@checker("LIVE-WAIT-EXIT")
def live_wait_exit(trace: Trace) -> Iterator[Violation]:
    """A worker in its wait loop leaves it within wait_exit_bound_s (one wait-loop period +
    2L) after a terminal STATUS is visible, whether or not a STOP event reaches it; each
    failed RUN_STATUS read of that worker meanwhile adds one wait-loop period."""
    bound, period = num(trace, "wait_exit_bound_s"), num(trace, "wait_period_s")
    if bound is None or period is None:
        raise NotJudged("the header states no wait_exit_bound_s / wait_period_s")
    term = next((w for w in trace.status_chain() if w["certain"]
                 and w["after"]["status"] in TERMINAL
                 and w["before"]["status"] not in TERMINAL), None)
    if term is None:
        raise NotJudged("the run never reached a terminal STATUS")
    failed = [r for r in trace.of("fail", "info") if r.get("op") == "read_run_status"]
    end = trace.end_t()
    for k in trace.workers():
        entry = _wait_entry(trace, k)
        if entry is None:
            continue  # never reached its wait loop
        t0 = max(term["t"], entry)
        left = _wait_exit(trace, k, t0)
        if left is not None and left[0] < t0 - TOL:
            continue  # it had left the wait loop before the run ended
        misses = sum(1 for r in failed if r.get("actor") == k and t0 - TOL <= r["t"])
        deadline = t0 + bound + misses * period
        if left is not None and left[0] <= deadline + TOL:
            continue
        if left is None and end < deadline:
            continue  # the trace stops first
        how = (f"it left only at t={ft(left[0])} ({left[1]})" if left
               else f"it had not left by the end of the trace (t={ft(end)})")
        yield Violation("LIVE-WAIT-EXIT",
                        f"{k} was in its wait loop when STATUS {term['after']['status']} was "
                        f"written at t={ft(term['t'])}; {how}, later than the bound "
                        f"{bound + misses * period:.3f} s after t={ft(t0)}", (term,))


@checker("EV-CURSOR-HANDLED")
def ev_cursor_handled(trace: Trace) -> Iterator[Violation]:
    """A worker's event cursor never passes an event it has not yet handled (applied, found
    not to concern it, or left after a STOP it applied): at every event_seen record, each
    emitted event at or below the cursor has an acceptable record of that worker no later."""
    emits = trace.of("event_emit")
    if not emits:
        raise NotJudged("no control event was emitted")
    seen = trace.by_worker("event_seen")
    if not seen:
        raise NotJudged("the trace has no event_seen notes")
    for k, recs in seen.items():
        done: set[int] = set()  # indices into emits of the rows k has handled so far
        last: dict = {}  # (seq, type) -> k's latest record of it (for the message)
        stop_at, reported = float("inf"), set()
        for r in recs:
            s_r = r.get("seq")
            if r.get("outcome") != "skipped_cursor":
                last[(s_r, r.get("type"))] = r
                done.update(i for i, e in enumerate(emits) if e.get("seq") == s_r
                            and r.get("type") in (None, e.get("type"))
                            and _acceptable(r.get("outcome"), e, k))
            c = r.get("cursor")
            if isinstance(c, int) and not isinstance(c, bool):
                for i, e in enumerate(emits):
                    s = e.get("seq")
                    if (i in done or not isinstance(s, int) or s > c or s > stop_at
                            or s in reported):
                        continue
                    reported.add(s)
                    prior = last.get((s, e.get("type"))) or last.get((s, None))
                    how = (f"its record marks it {prior.get('outcome')!r} "
                           f"({prior.get('loop')} loop)" if prior else "it had no record of it")
                    yield Violation("EV-CURSOR-HANDLED",
                                    f"{k}'s cursor reached {c} at t={ft(r['t'])} ({r.get('loop')} "
                                    f"loop) past {_desc(e)} ({'concerns' if concerns(e, k) else 'not for'} "
                                    f"{k}), which it had not handled: {how}", (e, r))
            if r.get("type") == STOP and r.get("outcome") == "applied":
                stop_at = min(stop_at, s_r or 0)
