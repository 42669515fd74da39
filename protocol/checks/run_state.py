"""Group A: the run state machine (invariants.md ids 1-8), judged from status_write records."""
from __future__ import annotations

from typing import Iterator

from protocol.events import STOP, STOP_REASON_ANNOUNCES, USER_REQUESTED
from protocol.phases import (CANCELLED, CANCELLING, COMPLETED, FAILED, HB_READY, P_COMPLETED,
                             PHASE_RANK, PROCESSING, RUNNING, STARTING, STATUS_CHANGES,
                             STOPPING, TERMINAL, WARMUP)
from protocol.trace import Trace

from .faults import lost_with_app
from .base import (TOL, NotJudged, Violation, as_time, checker, cols, effect_window, ft,
                   hb_writer, is_live, maybe_heartbeats, num, nums, queries, stop_reason)


def _edge(w: dict) -> str:
    return (f"{w['before']['status']}/{w['before']['phase']!r} -> "
            f"{w['after']['status']}/{w['after']['phase']!r}")


@checker("RUN-STATUS-EDGES")
def run_status_edges(trace: Trace) -> Iterator[Violation]:
    """Each applied STATUS change is an edge of phases.STATUS_CHANGES (none a way out of a
    terminal status); STARTING is entered once. A maybe-applied (info) write, or a write whose
    before-state is uncertain, is flagged only if every possible before-state makes it illegal.
    'Entering STARTING' counts every applied write that sets STATUS = STARTING, including an
    unguarded re-run of start_run on a STARTING row (it rewrites START_TIME and the START event)."""
    starts: list[dict] = []
    for w in trace.status_chain():
        to = w["after"]["status"]
        changes = [b["status"] for b in w["befores"] if b["status"] != to]
        if changes and len(changes) == len(w["befores"]) and \
                all((frm, to) not in STATUS_CHANGES for frm in changes):
            yield Violation("RUN-STATUS-EDGES",
                            f"{w.get('writer')} changed STATUS {'/'.join(map(str, changes))} -> {to} "
                            f"at t={ft(w['t'])} (op {w.get('op_id')}): not an allowed edge", (w,))
        if w["certain"] and to == STARTING and (
                w["before"]["status"] != STARTING or cols(w).get("STATUS") == STARTING):
            starts.append(w)
    for w in starts[1:]:
        yield Violation("RUN-STATUS-EDGES",
                        f"STATUS STARTING entered again by {w.get('writer')} at t={ft(w['t'])} "
                        f"(first at t={ft(starts[0]['t'])})", (starts[0], w))


@checker("RUN-PHASE-ORDER")
def run_phase_order(trace: Trace) -> Iterator[Violation]:
    """PHASE never moves backward (skips forward are allowed, except that WARMUP must be
    written iff w > 0 once the run reaches RUNNING); PROCESSING/COMPLETED only with STATUS
    COMPLETED; no FAILED/CANCELLED run ever had PROCESSING; END_TIME is written once (a
    rewrite with the same value, e.g. a COALESCE, is not a second write), only together with
    FAILED, CANCELLED or PHASE COMPLETED, and is >= the START_TIME stored before it."""
    w_s = num(trace, "warmup_s")
    chain = [w for w in trace.status_chain() if w["certain"]]
    for w in chain:
        b, a = w["before"]["phase"], w["after"]["phase"]
        if a not in PHASE_RANK or (b in PHASE_RANK and PHASE_RANK[a] < PHASE_RANK[b]):
            yield Violation("RUN-PHASE-ORDER",
                            f"PHASE moved {b!r} -> {a!r} at t={ft(w['t'])} by {w.get('writer')}", (w,))
        if a in (PROCESSING, P_COMPLETED) and w["after"]["status"] != COMPLETED:
            yield Violation("RUN-PHASE-ORDER",
                            f"PHASE {a} with STATUS {w['after']['status']} at t={ft(w['t'])}", (w,))
    warm = [w for w in chain if w["after"]["phase"] == WARMUP]
    ran = [w for w in chain if w["after"]["status"] == RUNNING]
    if w_s is not None and w_s <= 0 and warm:
        yield Violation("RUN-PHASE-ORDER",
                        f"PHASE WARMUP written at t={ft(warm[0]['t'])} although warmup_s={w_s:g}", (warm[0],))
    if w_s is not None and w_s > 0 and ran and not warm:
        yield Violation("RUN-PHASE-ORDER",
                        f"run reached RUNNING at t={ft(ran[0]['t'])} but PHASE WARMUP was never "
                        f"written although warmup_s={w_s:g}", (ran[0],))
    bad_end = [w for w in chain if w["after"]["status"] in (FAILED, CANCELLED)]
    late = [w for w in chain if w["after"]["phase"] in (PROCESSING, P_COMPLETED)]
    if bad_end and late:
        yield Violation("RUN-PHASE-ORDER",
                        f"run became {bad_end[0]['after']['status']} at t={ft(bad_end[0]['t'])} and "
                        f"also had PHASE {late[0]['after']['phase']} at t={ft(late[0]['t'])}",
                        (bad_end[0], late[0]))
    start_time, end_writes, last_end = None, [], None
    for w in chain:
        c = cols(w)
        if c.get("START_TIME") is not None:
            start_time = c["START_TIME"]
        if c.get("END_TIME") is None:
            continue
        if c["END_TIME"] != last_end:
            end_writes.append(w)
        last_end = c["END_TIME"]
        a = w["after"]
        if not (a["status"] in (FAILED, CANCELLED) or a["phase"] == P_COMPLETED):
            yield Violation("RUN-PHASE-ORDER",
                            f"END_TIME written at t={ft(w['t'])} with {a['status']}/{a['phase']!r}", (w,))
        st, et = as_time(start_time), as_time(c["END_TIME"])
        if st is not None and et is not None and et < st - TOL:
            yield Violation("RUN-PHASE-ORDER",
                            f"END_TIME {c['END_TIME']} < START_TIME {start_time} (t={ft(w['t'])})", (w,))
    for w in end_writes[1:]:
        yield Violation("RUN-PHASE-ORDER",
                        f"END_TIME written again at t={ft(w['t'])} by {w.get('writer')} "
                        f"(first at t={ft(end_writes[0]['t'])})", (end_writes[0], w))


def _running_write(trace: Trace) -> dict | None:
    for w in trace.status_chain():
        if w["after"]["status"] == RUNNING and any(b["status"] == STARTING for b in w["befores"]):
            return w
    return None


@checker("RUN-READY-GATE")
def run_ready_gate(trace: Trace) -> Iterator[Violation]:
    """At the STARTING->RUNNING write, every initial worker (params.worker_ids) has a
    heartbeat row whose latest status (any writer: an orchestrator STALE mark counts) is READY,
    at least params.workers of them, and each one's first READY came before that write, which
    is where WARMUP_START_TIME (or measurement with w = 0) is taken."""
    w = _running_write(trace)
    hbs = trace.of("heartbeat")
    if w is None:
        return  # never RUNNING: no gate to judge
    if not hbs:
        raise NotJudged("the trace has no heartbeat records")
    initial = list(trace.param("worker_ids") or [])
    expected = num(trace, "workers")
    ready = 0
    w_lo, w_hi = effect_window(trace, w)  # live: the write applied between invoke and t
    maybe = maybe_heartbeats(trace)
    by_worker: dict = {}  # grouped once: a 1,000-worker trace has ~10^5 heartbeats
    for h in hbs:
        by_worker.setdefault(h.get("worker"), []).append(h)
    for k in initial:
        mine = by_worker.get(k, [])
        sure = [h for h in mine if h["t"] <= w_lo + TOL]  # applied before the write for sure
        possible = [h for h in mine if effect_window(trace, h)[0] <= w_hi + TOL]
        possible += [m for m in maybe.get(k, []) if m["lo"] <= w_hi + TOL]
        if not possible:
            yield Violation("RUN-READY-GATE",
                            f"RUNNING written at t={ft(w['t'])} but {k} had no heartbeat yet", (w,))
            continue
        floor = sure[-1]["t"] if sure else float("-inf")
        # READY may have been the row's status at the write: the last sure heartbeat, or one
        # that may have applied after it and before the write (unknown outcome included)
        latest_ok = any(h.get("status") == HB_READY and (h["t"] >= floor - TOL)
                        for h in possible)
        firsts = [h for h in possible if h.get("status") == HB_READY and hb_writer(h) == "worker"]
        last = sure[-1] if sure else possible[-1]
        if not latest_ok:
            yield Violation("RUN-READY-GATE",
                            f"RUNNING written at t={ft(w['t'])} while {k}'s latest heartbeat is "
                            f"{last.get('status')} (t={ft(last['t'])})", (w, last))
        elif not firsts:
            yield Violation("RUN-READY-GATE",
                            f"{k} wrote no READY before the RUNNING write at t={ft(w['t'])}", (w, last))
        else:
            ready += 1
    if expected is not None and initial and ready < expected:
        yield Violation("RUN-READY-GATE",
                        f"RUNNING written at t={ft(w['t'])} with {ready} READY workers, "
                        f"expected {expected:g}", (w,))


@checker("RUN-NO-EARLY-LOAD")
def run_no_early_load(trace: Trace) -> Iterator[Violation]:
    """No query starts before the first write that (maybe) made STATUS RUNNING took effect
    (live: before that write's invoke, the earliest instant it may have taken effect);
    with queries but no RUNNING write at all, every query is early. One violation per worker
    (its first early query, and the count)."""
    qs = queries(trace)
    if not qs:
        return
    w = next((w for w in trace.status_chain() if w["after"]["status"] == RUNNING), None)
    t_run = effect_window(trace, w)[0] if w else float("inf")  # live: as early as its invoke
    early: dict[str, list[dict]] = {}
    for q in qs:
        if q["start"] < t_run - TOL:
            early.setdefault(q.get("worker"), []).append(q)
    for k, lst in early.items():
        q = lst[0]
        when = f"the RUNNING write at t={ft(t_run)}" if w else "any RUNNING write"
        yield Violation("RUN-NO-EARLY-LOAD",
                        f"{k} started {len(lst)} queries before {when}, the first at "
                        f"t={ft(q['start'])} tagged {q.get('tag')}", (q,) + ((w,) if w else ()))


@checker("RUN-WARMUP-LENGTH")
def run_warmup_length(trace: Trace) -> Iterator[Violation]:
    """With w > 0: WARMUP_END_TIME - WARMUP_START_TIME (database timestamps from the `set`
    columns, first value written of each: one clock, the one the orchestrator counts on) lies
    in [w, w + P], give or take clock_eps_s live (the database's millisecond DATEDIFF). Falls
    back to the db_time of the writes that entered WARMUP and MEASUREMENT, then to their
    effect windows (interval rule), when the columns are not recorded."""
    p = nums(trace, "warmup_s", "P")
    if p is None:
        raise NotJudged("the header states no warmup_s or P")
    if p[0] <= 0:
        return  # no warmup in this run: nothing to time
    w_s, P = p
    eps = (num(trace, "clock_eps_s") or 0.0) if is_live(trace) else 0.0
    chain = [w for w in trace.status_chain() if w["certain"]]
    ws = next((w for w in chain if cols(w).get("WARMUP_START_TIME") is not None), None)
    we = next((w for w in chain if cols(w).get("WARMUP_END_TIME") is not None), None)
    if ws and we:
        a, b = as_time(cols(ws)["WARMUP_START_TIME"]), as_time(cols(we)["WARMUP_END_TIME"])
        short = long_ = None if a is None or b is None else b - a
    else:
        ws = trace.first_write(phase=WARMUP)
        we = trace.measurement_write()
        if not ws or not we:
            return  # warmup never both started and ended (RUN-PHASE-ORDER judges that)
        a, b = (as_time(ws.get("db_time")), as_time(we.get("db_time")))
        if a is not None and b is not None:
            short = long_ = b - a
        else:
            (a_lo, a_hi), (b_lo, b_hi) = effect_window(trace, ws), effect_window(trace, we)
            short, long_ = b_lo - a_hi, b_hi - a_lo
    if short is None:
        raise NotJudged("the warmup's timestamps are not readable as times")
    if long_ < w_s - eps - TOL or short > w_s + P + eps + TOL:
        got = f"{short:.3f} s" if short == long_ else f"{short:.3f}-{long_:.3f} s"
        yield Violation("RUN-WARMUP-LENGTH",
                        f"warmup lasted {got} (start write t={ft(ws['t'])}, end write "
                        f"t={ft(we['t'])}), outside [w, w+P] = [{w_s:g}, {w_s + P:g}]", (ws, we))


@checker("RUN-MEASUREMENT-LENGTH")
def run_measurement_length(trace: Trace) -> Iterator[Violation]:
    """In a run with a duration STOP, the first STOP{duration_elapsed} becomes visible between
    d and d + P after the MEASUREMENT write, for w > 0 and w = 0 alike. Each instant is the
    window in which its statement took effect (base.effect_window: exact in a simulation,
    invoke to completion live); it fails only if no instants of the two windows satisfy it."""
    p = nums(trace, "duration_s", "P")
    if p is None:
        raise NotJudged("the header states no duration_s or P")
    stops = [e for e in trace.of("event_emit")
             if e.get("type") == STOP and stop_reason(e) == "duration_elapsed"]
    if not stops:
        return  # no duration STOP: the run ended otherwise, nothing to time
    d, P = p
    s = min(stops, key=lambda e: e["t"])
    m = trace.measurement_write()
    if m is None:
        yield Violation("RUN-MEASUREMENT-LENGTH",
                        f"duration STOP seq {s.get('seq')} at t={ft(s['t'])} but measurement never started", (s,))
        return
    (s_lo, s_hi), (m_lo, m_hi) = effect_window(trace, s), effect_window(trace, m)
    shortest, longest = s_lo - m_hi, s_hi - m_lo
    if longest < d - TOL or shortest > d + P + TOL:
        dt = longest if longest < d - TOL else shortest
        where = (f"{dt:.3f} s" if s_lo == s_hi and m_lo == m_hi else
                 f"{shortest:.3f}-{longest:.3f} s (each statement's invoke to completion)")
        yield Violation("RUN-MEASUREMENT-LENGTH",
                        f"duration STOP seq {s.get('seq')} at t={ft(s['t'])} is {where} after the "
                        f"MEASUREMENT write at t={ft(m['t'])}, outside [d, d+P] = [{d:g}, {d + P:g}]",
                        (m, s))


def _reasons_for(status: str) -> set[str]:
    return {r for r, s in STOP_REASON_ANNOUNCES.items() if s == status}


@checker("RUN-STOP-ANNOUNCED")
def run_stop_announced(trace: Trace) -> Iterator[Violation]:
    """Every applied write from STARTING/RUNNING to STOPPING, FAILED, CANCELLING or COMPLETED
    comes after a visible STOP whose reason announces that status (events.STOP_REASON_ANNOUNCES;
    for COMPLETED the controller-completion reasons). Accepted instead: a maybe-applied
    insert_event (info) invoked before the write; a write whose before-state may also have been
    another status."""
    stops = [e for e in trace.of("event_emit") if e.get("type") == STOP]
    maybe = [i for i in trace.uncertain_ops("insert_event")
             if (i.get("args") or {}).get("type") in (None, STOP)]
    for w in trace.status_chain():
        to = w["after"]["status"]
        if not w["certain"] or to not in (STOPPING, FAILED, CANCELLING, COMPLETED):
            continue
        if any(b["status"] not in (STARTING, RUNNING) for b in w["befores"]):
            continue
        want = _reasons_for(to)
        if any(stop_reason(e) in want and e["t"] <= w["t"] + TOL for e in stops):
            continue
        if any(i["t"] <= w["t"] + TOL for i in maybe):
            continue
        prior = [e for e in stops if e["t"] <= w["t"] + TOL]
        seen = ", ".join(f"seq {e.get('seq')} {stop_reason(e)}" for e in prior) or "none"
        yield Violation("RUN-STOP-ANNOUNCED",
                        f"{w.get('writer')} wrote {w['before']['status']} -> {to} at t={ft(w['t'])} "
                        f"without a visible STOP with reason in {sorted(want)} (earlier STOPs: {seen})",
                        (w, *prior[:2]))


@checker("RUN-USER-STOP-WINS")
def run_user_stop_wins(trace: Trace) -> Iterator[Violation]:
    """A user stop accepted while STATUS was (for sure) STARTING or RUNNING, with no other STOP
    visible before the acceptance, ends the run CANCELLED. Checked when the final status is
    terminal; a run stuck before that is LIVE-RUN-TERMINATES' business. A stop whose API process
    died before its STOP was emitted (an app_restart fault) was never accepted."""
    chain = [w for w in trace.status_chain() if w["certain"]]
    if not chain:
        return
    final = chain[-1]
    if final["after"]["status"] not in TERMINAL:
        return
    for u in trace.of("stop_request"):
        if not trace.statuses_at(u["t"]) <= {STARTING, RUNNING}:
            continue
        if lost_with_app(trace, u["t"]):  # the API died before the stop was durable
            continue
        other = [e for e in trace.of("event_emit") if e.get("type") == STOP
                 and stop_reason(e) != USER_REQUESTED and e["t"] < u["t"] - TOL]
        if other:
            continue
        if final["after"]["status"] != CANCELLED:
            yield Violation("RUN-USER-STOP-WINS",
                            f"user stop by {u.get('by')} accepted at t={ft(u['t'])} while "
                            f"{'/'.join(sorted(trace.statuses_at(u['t'])))} with no earlier STOP, "
                            f"but the run ended {final['after']['status']} (t={ft(final['t'])})",
                            (u, final))
            return
