"""Group G: clocks (invariants.md ids 44-45), judged on one trace."""
from __future__ import annotations

from typing import Iterator

from protocol.phases import HB_DEAD, HB_STALE, STARTING, TERMINAL
from protocol.trace import Trace

from .base import TOL, NotJudged, Violation, checker, ft, hb_writer, num


@checker("CLK-ONE-CLOCK")
def clk_one_clock(trace: Trace) -> Iterator[Violation]:
    """Every heartbeat age the orchestrator acted on (the computed age of a STALE/DEAD mark)
    is the row's true age, from its last worker write to the mark, within L + clock_eps_s.

    The single-trace form of invariants.md 44: a decision that compares a worker's clock stamp
    with the database clock in the session time zone shows here as an age off by the zone's
    offset or the clock skew (the two-trace metamorphic form is a test: rerun a seed with
    another time zone or worker clock offset and compare every decision)."""
    L = num(trace, "L")
    if L is None:
        raise NotJudged("the trace does not state L")
    eps = num(trace, "clock_eps_s") or 0.0
    marks = 0
    for k, hbs in trace.by_worker("heartbeat").items():
        last = None
        for h in hbs:
            if hb_writer(h) == "worker":
                last = h
                continue
            if h.get("status") not in (HB_STALE, HB_DEAD) or last is None:
                continue
            age = h.get("age")
            if not isinstance(age, (int, float)):
                continue
            marks += 1
            true = h["t"] - last["t"]
            if abs(age - true) > L + eps + TOL:
                yield Violation("CLK-ONE-CLOCK", f"orchestrator marked {k} {h.get('status')} at "
                                f"t={ft(h['t'])} with computed age {age:.3f} s, but its row was "
                                f"written {true:.3f} s before (t={ft(last['t'])}): two clocks",
                                (last, h))
                break
    if marks == 0:
        raise NotJudged("no STALE/DEAD mark with a computed age in the trace")


@checker("CLK-ELAPSED-SANE")
def clk_elapsed_sane(trace: Trace) -> Iterator[Violation]:
    """While the run is not terminal, every elapsed value sent to the UI lies in
    [0, true time since the STARTING write + L], and a phase's elapsed never exceeds it.

    (invariants.md 45's second clause, elapsed equal to the stored duration after completion,
    needs a stored duration the drivers do not record: not judged.)"""
    payloads = trace.of("ws_payload")
    if not payloads:
        raise NotJudged("no ws_payload records (no dashboard followed the run)")
    L = num(trace, "L") or 0.0
    start = next((w for w in trace.status_chain() if w["certain"]
                  and w["after"]["status"] == STARTING), None)
    if start is None:
        raise NotJudged("the run never entered STARTING")
    for p in payloads:
        el, pel = p.get("elapsed"), p.get("phase_elapsed")
        if not isinstance(el, (int, float)) or p["t"] < start["t"]:
            continue
        if trace.statuses_at(p["t"]) & TERMINAL:
            continue
        true = p["t"] - start["t"]
        if el < -TOL or el > true + L + TOL:
            yield Violation("CLK-ELAPSED-SANE", f"payload on {p.get('conn')} at t={ft(p['t'])} "
                            f"shows elapsed {el:.3f} s; true elapsed since STARTING is "
                            f"{true:.3f} s", (start, p))
            return
        if isinstance(pel, (int, float)) and (pel < -TOL or pel > el + TOL):
            yield Violation("CLK-ELAPSED-SANE", f"payload on {p.get('conn')} at t={ft(p['t'])} "
                            f"shows phase elapsed {pel:.3f} s outside [0, elapsed {el:.3f}]",
                            (p,))
            return
