"""Liveness after faults heal (the second phase of a fault run, as in TigerBeetle's liveness
mode): faults fire until `heal_at_s`, then the run must finish on its own."""
from __future__ import annotations

from typing import Iterator

from protocol.phases import COMPLETED, P_COMPLETED, TERMINAL
from protocol.trace import Trace

from .base import TOL, NotJudged, Violation, checker, ft, num


def _fault_run(trace: Trace) -> tuple[float, float]:
    """(heal_at_s, the deadline) of a trace with faults that fired, else NotJudged."""
    if not isinstance(trace.header.get("faults"), dict):
        raise NotJudged("the run had no fault model")
    heal, deadline = num(trace, "heal_at_s"), num(trace, "heal_deadline_s")
    if heal is None or deadline is None:
        raise NotJudged("the trace does not state heal_at_s / heal_deadline_s")
    if not any(r["t"] < heal + TOL for r in trace.of("fault", "fail", "info")):
        raise NotJudged("no fault fired before healing")
    return heal, deadline


@checker("LIVE-AFTER-HEAL")
def live_after_heal(trace: Trace) -> Iterator[Violation]:
    """After the faults heal, the run reaches a terminal STATUS (PHASE COMPLETED if COMPLETED)
    and every worker process exits, by params.heal_deadline_s (protocol/bounds.py)."""
    heal, deadline = _fault_run(trace)
    end = trace.end_t()
    chain = [w for w in trace.status_chain() if w["certain"]]
    if not chain:
        raise NotJudged("the run was never created (its creator died first)")
    done_at = None
    for w in chain:
        a = w["after"]
        if a["status"] in TERMINAL and (a["status"] != COMPLETED or a["phase"] == P_COMPLETED):
            done_at = w["t"]
            break
    run_end = next(iter(trace.of("run_end")), None)
    finished = run_end is not None and run_end.get("reason") == "finished"
    if done_at is None or done_at > deadline + TOL:
        if done_at is None and not finished and end < deadline - TOL:
            raise NotJudged(f"the trace ends at t={ft(end)}, before the bound "
                            f"t={ft(deadline)}, with the run not finished")
        last = chain[-1]["after"] if chain else {"status": None, "phase": None}
        when = f"only at t={ft(done_at)}" if done_at is not None else \
            f"never (last {last['status']}/{last['phase']!r}, trace ends t={ft(end)})"
        yield Violation("LIVE-AFTER-HEAL", f"faults healed at t={ft(heal)} but the run finished "
                        f"{when}; bound t={ft(deadline)}", tuple(chain[-1:]))
    exits = {p.get("worker"): p for p in trace.of("proc") if p.get("action") == "exit"}
    for p in trace.of("proc"):
        if p.get("action") != "spawn":
            continue
        ex = exits.get(p.get("worker"))
        if ex is None and (finished or end >= deadline - TOL):
            yield Violation("LIVE-AFTER-HEAL", f"{p.get('worker')}'s process never exited "
                            f"(faults healed at t={ft(heal)}, bound t={ft(deadline)})", (p,))
        elif ex is not None and ex["t"] > deadline + TOL:
            yield Violation("LIVE-AFTER-HEAL", f"{p.get('worker')} exited at t={ft(ex['t'])}, "
                            f"after the bound t={ft(deadline)} (healed t={ft(heal)})", (ex,))


def lost_with_app(trace: Trace, t: float) -> bool:
    """Whether a user stop accepted at `t` died with the API process before it was durable:
    the process went down (app_restart) before any STOP{user_requested} was emitted after
    `t`. The request then failed; nobody was told it was accepted."""
    downs = [r["t"] for r in trace.of("fault")
             if r.get("fault") == "app_restart" and r.get("action") == "down" and r["t"] >= t]
    if not downs:
        return False
    stops = [e["t"] for e in trace.of("event_emit") if e.get("type") == "STOP"
             and (e.get("payload") or {}).get("reason") == "user_requested" and e["t"] >= t]
    return not stops or min(stops) > min(downs)


# Properties whose bound assumes every statement succeeds within L: during faults a statement
# may time out (info_timeout_s), stall or be retried, so on a trace where faults fired they
# are not judged, and LIVE-AFTER-HEAL judges the run's liveness instead. Safety properties
# (orders, guards, grammars, tags, epochs, sequence ids) are judged on every trace. A run
# whose only faults were killed worker processes keeps every statement within L, and a
# death is what HB-DEAD-DETECTION and the exit properties are written for, so such a run is
# judged on its timed properties too (crash_only).
TIMED = frozenset({
    "RUN-WARMUP-LENGTH", "RUN-MEASUREMENT-LENGTH", "EV-CONVERGE", "EV-STOP-DELIVERY",
    "HB-GAP", "HB-DEAD-DETECTION", "LIVE-WORKER-EXIT", "LIVE-RUN-TERMINATES", "PH-HOOK-ONCE",
    "TAG-MEASUREMENT", "WS-NO-STUCK-PROCESSING", "UI-ROLLUP-CONVERGE", "RUN-START-LATENCY",
})


def faults_fired(trace: Trace) -> bool:
    cached = getattr(trace, "_faults_fired", None)
    if cached is None:
        spec = trace.header.get("faults")
        cached = isinstance(spec, dict) and bool(  # a throttle or a lying clock is always on
            trace.of("fault") or trace.of("fail") or trace.of("info") or spec.get("throttle")
            or spec.get("clock_offset_s") or spec.get("clock_drift"))
        trace._faults_fired = cached  # type: ignore[attr-defined]
    return cached


def crash_only(trace: Trace) -> bool:
    """Whether every fault that fired killed a worker process: no statement failed, timed out,
    slowed, dropped or stalled, no throttle, no lying clock, no API restart."""
    spec = trace.header.get("faults")
    if not isinstance(spec, dict) or spec.get("throttle") or spec.get("clock_offset_s") \
            or spec.get("clock_drift") or trace.of("fail") or trace.of("info"):
        return False
    fired = trace.of("fault")
    return bool(fired) and all(r.get("fault") == "worker_crash" for r in fired)


def require_fault_free(trace: Trace, property_id: str) -> None:
    """Raise NotJudged for a timed property on a trace where faults other than killed worker
    processes fired."""
    if property_id in TIMED and faults_fired(trace) and not crash_only(trace):
        raise NotJudged("a fault-free bound; faults fired (LIVE-AFTER-HEAL judges liveness)")
