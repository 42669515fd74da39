"""Group F: dashboard and stream (invariants.md ids 39-43), over ws_payload / ws_close / ui.

A `ui` record is the browser handling the `ws_payload` just before it on the same connection
(or, with `refetch`, an HTTP re-fetch after the socket closed).
"""
from __future__ import annotations

from typing import Iterator

from protocol.trace import Trace

from .base import TOL, Violation, checker, cols, ft, num

PUSH_PHASES = ("", "WARMUP", "RUNNING", "MEASUREMENT")
FINAL_UI = ("FAILED", "CANCELLED")
UI_RANK = {"PREPARING": 0, "WARMUP": 1, "MEASUREMENT": 2, "PROCESSING": 3, "COMPLETED": 4}
STATUS_RANK = {"PREPARED": 1, "RUNNING": 2, "STOPPING": 3, "CANCELLING": 3, "COMPLETED": 4,
               "FAILED": 4, "CANCELLED": 4}
ENRICHMENT_DONE = ("COMPLETED", "FAILED", "SKIPPED")
CACHE_S, TICK_S = 5.0, 1.0  # enrichment read cache and server tick (invariants.md 41)


def _conns(trace: Trace) -> dict[str, list[dict]]:
    """ws_payload, ui and ws_close records per connection, in trace order."""
    out: dict[str, list[dict]] = {}
    for r in trace.records:
        if r["kind"] in ("ws_payload", "ui", "ws_close"):
            out.setdefault(r.get("conn") or r.get("actor"), []).append(r)
    return out


def _payload_of(recs: list[dict]) -> Iterator[tuple[dict | None, dict]]:
    """Each non-refetch ui record with the payload it handled."""
    last = None
    for r in recs:
        if r["kind"] == "ws_payload":
            last = r
        elif r["kind"] == "ui" and not r.get("refetch"):
            yield last, r


@checker("UI-QPS-HISTORY-GATE")
def ui_qps_history_gate(trace: Trace) -> Iterator[Violation]:
    """A qpsHistory push only for a payload in an active load phase with workers active (or
    unknown); from the first PROCESSING or terminal payload on, qps_avg_30s stays constant."""
    for conn, recs in _conns(trace).items():
        frozen = None  # (avg, the payload that froze it)
        for p, u in _payload_of(recs):
            if p is None:
                continue
            if u.get("push") is not None:
                wa = p.get("workers_active")
                if p.get("phase") not in PUSH_PHASES or (wa is not None and wa <= 0):
                    yield Violation("UI-QPS-HISTORY-GATE", f"{conn} pushed {u.get('push')} to "
                                    f"qpsHistory at t={ft(u['t'])} for a payload with phase "
                                    f"{p.get('phase')!r} and workers_active {wa}", (p, u))
            if frozen is None and (p.get("phase") == "PROCESSING"
                                   or p.get("status") in ("COMPLETED", "FAILED", "CANCELLED")):
                frozen = (u.get("qps_avg_30s"), p)
            elif frozen is not None and u.get("qps_avg_30s") != frozen[0]:
                yield Violation("UI-QPS-HISTORY-GATE", f"{conn}'s qps_avg_30s moved from "
                                f"{frozen[0]} to {u.get('qps_avg_30s')} at t={ft(u['t'])}, after "
                                f"the {frozen[1].get('phase')} payload at t={ft(frozen[1]['t'])}",
                                (frozen[1], u))
                frozen = (u.get("qps_avg_30s"), frozen[1])


@checker("WS-END-RULE")
def ws_end_rule(trace: Trace) -> Iterator[Violation]:
    """A COMPLETED payload needs STATUS COMPLETED, parent enrichment done and an earlier
    PROCESSING payload on the connection; the server closes only right after a COMPLETED
    payload; the client never closes a COMPLETED run's stream before a COMPLETED payload."""
    for conn, recs in _conns(trace).items():
        seen_processing, seen_completed, last_status = False, False, None
        last_payload = None
        for r in recs:
            if r["kind"] == "ws_payload":
                last_payload, last_status = r, r.get("status")
                if r.get("phase") == "COMPLETED":
                    if (r.get("status") != "COMPLETED" or r.get("enrichment") not in ENRICHMENT_DONE
                            or not seen_processing):
                        yield Violation("WS-END-RULE", f"{conn} sent COMPLETED at t={ft(r['t'])} with "
                                        f"STATUS {r.get('status')}, enrichment {r.get('enrichment')}"
                                        f"{'' if seen_processing else ', before any PROCESSING payload'}",
                                        (r,))
                    seen_completed = True
                if r.get("phase") == "PROCESSING":
                    seen_processing = True
            elif r["kind"] == "ws_close":
                if r.get("closer") == "server" and (last_payload is None
                                                    or last_payload.get("phase") != "COMPLETED"):
                    yield Violation("WS-END-RULE", f"the server closed {conn} at t={ft(r['t'])} "
                                    f"after a {(last_payload or {}).get('phase')} payload, not "
                                    f"COMPLETED", tuple(x for x in (last_payload, r) if x))
                if r.get("closer") == "client" and last_status == "COMPLETED" and not seen_completed:
                    yield Violation("WS-END-RULE", f"the browser closed {conn} at t={ft(r['t'])} "
                                    f"while the run was COMPLETED but before a COMPLETED payload "
                                    f"(last phase {(last_payload or {}).get('phase')})",
                                    tuple(x for x in (last_payload, r) if x))


@checker("WS-NO-STUCK-PROCESSING")
def ws_no_stuck_processing(trace: Trace) -> Iterator[Violation]:
    """Once STATUS is COMPLETED, every connection open at that moment gets a COMPLETED payload
    within enrichment_bound_s + 5 s cache + 1 s tick (silent if the trace ends sooner)."""
    first = trace.first_write(status="COMPLETED")
    eb = num(trace, "enrichment_bound_s")
    if first is None or eb is None:
        return
    deadline = first["t"] + eb + CACHE_S + TICK_S
    for conn, recs in _conns(trace).items():
        payloads = [r for r in recs if r["kind"] == "ws_payload"]
        close = next((r for r in recs if r["kind"] == "ws_close"), None)
        if not payloads or (close is not None and close["t"] < first["t"] - TOL):
            continue
        done = next((r for r in payloads if r.get("phase") == "COMPLETED"), None)
        if done is not None and done["t"] <= deadline + TOL:
            continue
        if done is None and trace.end_t() < deadline and close is None:
            continue
        last = payloads[-1]
        yield Violation("WS-NO-STUCK-PROCESSING", f"{conn} got no COMPLETED payload by "
                        f"t={ft(deadline)} (STATUS COMPLETED at t={ft(first['t'])}); last payload "
                        f"{last.get('phase')} at t={ft(last['t'])} with enrichment "
                        f"{last.get('enrichment')}" + (f"; closed by the {close.get('closer')} at "
                                                      f"t={ft(close['t'])}" if close else ""),
                        tuple(x for x in (first, last, close) if x))


@checker("UI-MONOTONE")
def ui_monotone(trace: Trace) -> Iterator[Violation]:
    """Per connection: derived phases never go back (FAILED/CANCELLED final), the accepted
    status rank and the displayed elapsed never decrease, 0 <= phase elapsed <= elapsed."""
    for conn, recs in _conns(trace).items():
        prev = None
        for r in (x for x in recs if x["kind"] == "ws_payload"):
            p = r.get("phase")
            if prev is not None:
                pp = prev.get("phase")
                back = (pp in FINAL_UI and p != pp) or (
                    p in UI_RANK and pp in UI_RANK and UI_RANK[p] < UI_RANK[pp])
                if back:
                    yield Violation("UI-MONOTONE", f"{conn}'s phase went from {pp} "
                                    f"(t={ft(prev['t'])}) to {p} (t={ft(r['t'])})", (prev, r))
            prev = r
            pe, el = r.get("phase_elapsed"), r.get("elapsed")
            if pe is not None and el is not None and not (-TOL <= pe <= el + TOL):
                yield Violation("UI-MONOTONE", f"{conn}'s payload at t={ft(r['t'])} has phase "
                                f"elapsed {pe:.3f} outside [0, elapsed {el:.3f}]", (r,))
        prev_ui = None
        for u in (x for x in recs if x["kind"] == "ui"):
            if prev_ui is not None:
                a, b = STATUS_RANK.get(prev_ui.get("status"), 0), STATUS_RANK.get(u.get("status"), 0)
                if b < a:
                    yield Violation("UI-MONOTONE", f"{conn}'s accepted status went from "
                                    f"{prev_ui.get('status')} to {u.get('status')} at t={ft(u['t'])}",
                                    (prev_ui, u))
                if (u.get("elapsed") or 0) < (prev_ui.get("elapsed") or 0) - TOL:
                    yield Violation("UI-MONOTONE", f"{conn}'s displayed elapsed went from "
                                    f"{prev_ui.get('elapsed'):.3f} to {u.get('elapsed'):.3f} at "
                                    f"t={ft(u['t'])}", (prev_ui, u))
            prev_ui = u


@checker("UI-ROLLUP-CONVERGE")
def ui_rollup_converge(trace: Trace) -> Iterator[Violation]:
    """Within 4 s + P of the last worker exit, the RUN_STATUS rollup says WORKERS_ACTIVE = 0
    and WORKERS_COMPLETED = WORKERS_REGISTERED. Silent for traces without rollup writes."""
    P = num(trace, "P")
    exits = [r for r in trace.of("proc") if r.get("action") == "exit"]
    rollups = [r for r in trace.matched_status_writes() if "WORKERS_ACTIVE" in cols(r)]
    if P is None or not exits or not rollups:
        return
    if any(not any(e.get("worker") == s.get("worker") for e in exits)
           for s in trace.of("proc") if s.get("action") == "spawn"):
        return  # some worker never exited: nothing to converge to
    last_exit = max(e["t"] for e in exits)
    deadline = last_exit + 4.0 + P
    if trace.end_t() < deadline:
        return
    state: dict = {}
    for r in rollups:
        if r["t"] > deadline + TOL:
            break
        state.update(cols(r))
    active, done, reg = (state.get("WORKERS_ACTIVE"), state.get("WORKERS_COMPLETED"),
                         state.get("WORKERS_REGISTERED"))
    if active != 0 or done != reg:
        yield Violation("UI-ROLLUP-CONVERGE", f"at t={ft(deadline)} ({4.0 + P:.2f} s after the last "
                        f"worker exit at t={ft(last_exit)}) the rollup says WORKERS_ACTIVE={active}, "
                        f"WORKERS_COMPLETED={done}, WORKERS_REGISTERED={reg}", tuple(rollups[-1:]))
