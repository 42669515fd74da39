"""Group B: control events and sequence ids (invariants.md ids 9-15)."""
from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from protocol.events import SET_PHASE, SET_WORKER_TARGET, START, STOP
from protocol.phases import HB_FINAL, RUNNING, TERMINAL
from protocol.trace import Trace

from .base import (TOL, Violation, as_json, checker, cols, concerns, effect_window, ft,
                   hb_writer, need, queries)


def _desc(e: dict) -> str:
    p = e.get("payload") or {}
    extra = {SET_PHASE: f" phase={p.get('phase')}", STOP: f" reason={p.get('reason')}",
             SET_WORKER_TARGET: f" {p.get('worker_id')} target={p.get('target_connections')}"}
    return f"{e.get('type')} seq {e.get('seq')}{extra.get(e.get('type'), '')}"


@checker("EV-SEQ-UNIQUE")
def ev_seq_unique(trace: Trace) -> Iterator[Violation]:
    """The emitted seqs are exactly {1..n}, each used by one event, and START has seq 1 (so a
    second START, e.g. a re-run start_run, is a violation). A missing seq is excused only by a
    maybe-applied insert_event (info), which may be the event nobody saw, or an allocation
    (alloc_seq) whose outcome is unknown: a NEXTVAL that timed out consumed a value. With
    params.seq_gaps (a Snowflake sequence: unique and ordered, gaps allowed) gaps are not
    judged, and START must have the lowest seq instead of 1."""
    gaps = bool(trace.param("seq_gaps"))
    emits = trace.of("event_emit")
    if not emits:
        return
    by_seq: dict = defaultdict(list)
    for e in emits:
        s = e.get("seq")
        if not isinstance(s, int) or isinstance(s, bool) or s < 1:
            yield Violation("EV-SEQ-UNIQUE", f"{_desc(e)} by {e.get('emitter')} at t={ft(e['t'])} "
                            "has no valid sequence id", (e,))
            continue
        by_seq[s].append(e)
    for s, es in sorted(by_seq.items()):
        if len(es) > 1:
            yield Violation("EV-SEQ-UNIQUE", f"seq {s} used {len(es)} times: " + "; ".join(
                f"{_desc(e)} by {e.get('emitter')} at t={ft(e['t'])}" for e in es), tuple(es))
    if by_seq and not gaps:
        unknown = trace.uncertain_ops("insert_event")
        missing = set(range(1, max(by_seq) + 1)) - set(by_seq)
        missing -= {(u.get("args") or {}).get("seq") for u in unknown}
        excused = sum(1 for u in unknown if (u.get("args") or {}).get("seq") is None)
        excused += len(trace.uncertain_ops("alloc_seq"))
        if len(missing) > excused:
            yield Violation("EV-SEQ-UNIQUE", f"sequence ids {sorted(missing)} of 1..{max(by_seq)} "
                            "were never used by any event", ())
    first = min(by_seq, default=1) if gaps else 1
    for e in emits:
        if e.get("type") == START and e.get("seq") != first:
            yield Violation("EV-SEQ-UNIQUE", f"START has seq {e.get('seq')} (emitted by "
                            f"{e.get('emitter')} at t={ft(e['t'])}), not {first}", (e,))
    if by_seq.get(first) and all(e.get("type") != START for e in by_seq[first]):
        e = by_seq[first][0]
        yield Violation("EV-SEQ-UNIQUE", f"seq {first} is {_desc(e)}, not START", (e,))


@checker("EV-SEQ-PREFIX")
def ev_seq_prefix(trace: Trace) -> Iterator[Violation]:
    """Whenever event s is visible (its event_emit t), every event with a lower seq already is
    (live: s's whole insert came before the lower one's began, the interval rule):
    one violation per late lower event, naming the higher event that became visible first."""
    emits = [e for e in trace.of("event_emit") if isinstance(e.get("seq"), int)]
    win = {id(e): effect_window(trace, e) for e in emits}  # live: invoke to completion
    for f in emits:
        early = [e for e in emits if e["seq"] > f["seq"] and win[id(e)][1] < win[id(f)][0] - TOL]
        if early:
            e = min(early, key=lambda e: e["t"])
            yield Violation("EV-SEQ-PREFIX",
                            f"{_desc(e)} was visible at t={ft(e['t'])} before the lower "
                            f"{_desc(f)}, visible only at t={ft(f['t'])}", (e, f))


def _handled(r: dict) -> bool:
    """The worker took this row: it passed the cursor check and the cursor moved to it (a
    wait loop that only peeks and leaves the cursor below the row has not handled it)."""
    c = r.get("cursor")
    return r.get("outcome") != "skipped_cursor" and (c is None or c >= (r.get("seq") or 0))


@checker("EV-ORDER")
def ev_order(trace: Trace) -> Iterator[Violation]:
    """Per worker, the rows it handles (event_seen not skipped_cursor whose cursor moved to the
    row; a peek that leaves the cursor below it is not handling) have non-decreasing seqs, a seq repeated only for as many distinct rows as
    were emitted with it, and the recorded cursor never moves back."""
    n_rows = defaultdict(int)
    for e in trace.of("event_emit"):
        n_rows[e.get("seq")] += 1
    for k, recs in trace.by_worker("event_seen").items():
        last, count, cursor = None, defaultdict(int), None
        for r in recs:
            c = r.get("cursor")
            if c is not None and cursor is not None and c < cursor:
                yield Violation("EV-ORDER", f"{k}'s cursor moved back from {cursor} to {c} at "
                                f"t={ft(r['t'])} (seq {r.get('seq')}, {r.get('loop')} loop)", (r,))
            cursor = c if c is not None else cursor
            if not _handled(r):
                continue
            s = r.get("seq")
            count[s] += 1
            if last is not None and s < last["seq"]:
                yield Violation("EV-ORDER", f"{k} handled seq {s} ({r.get('type')}) at t={ft(r['t'])} "
                                f"after seq {last['seq']} at t={ft(last['t'])}", (last, r))
            elif count[s] > max(1, n_rows.get(s, 0)):
                yield Violation("EV-ORDER", f"{k} handled seq {s} ({r.get('type')}) again at "
                                f"t={ft(r['t'])} ({r.get('loop')} loop)", (last, r))
            last = r


def _acceptable(outcome: str | None, emit: dict, worker: str) -> bool:
    """Whether an event_seen outcome lets the cursor pass this event without losing it."""
    if outcome == "applied":
        return True
    if outcome == "skipped_scope":
        return not concerns(emit, worker)
    if outcome == "ignored":
        if emit.get("type") in (SET_PHASE, STOP):
            return False
        if emit.get("type") == SET_WORKER_TARGET:
            return not concerns(emit, worker)
        return True  # START and unknown types concern no worker
    return False


def _passes(r: dict) -> int | None:
    c = r.get("cursor")
    if c is None and _handled(r):
        c = r.get("seq")
    return c


def _stop_seq(recs: list[dict]) -> float:
    return min((r["seq"] for r in recs if r.get("type") == STOP and r.get("outcome") == "applied"),
               default=float("inf"))


@checker("EV-NO-SWALLOW")
def ev_no_swallow(trace: Trace) -> Iterator[Violation]:
    """Every emitted row whose seq a worker's cursor reached must be matched by one event_seen
    of that worker for the same seq (and type) with an outcome that is not a loss: applied;
    skipped_scope or ignored only for an event that does not concern the worker (so a
    wait-loop 'ignored' SET_PHASE is a swallow, the R1 bug); never skipped_cursor. Rows the
    cursor jumped over (a duplicate seq, a lower seq committed late) are swallows too. Rows
    above a STOP the worker applied are exempt."""
    emits = sorted(trace.of("event_emit"), key=lambda e: (e.get("seq") or 0, e["t"]))
    if not emits:
        return
    vis = {id(e): effect_window(trace, e)[0] for e in emits}  # live: as early as its invoke
    for k, recs in trace.by_worker("event_seen").items():
        stop_at, used = _stop_seq(recs), set()
        groups: dict = defaultdict(list)
        for e in emits:
            groups[e.get("seq")].append(e)
        for s, rows in groups.items():
            if not isinstance(s, int) or s > stop_at:
                continue
            passer = next((r for r in recs if (_passes(r) or 0) >= s), None)
            if passer is None:
                continue
            for e in sorted(rows, key=lambda e: not concerns(e, k)):
                match = next((i for i, r in enumerate(recs) if i not in used
                              and r.get("seq") == s and r.get("type") in (None, e.get("type"))
                              and r["t"] >= vis[id(e)] - TOL and _acceptable(r.get("outcome"), e, k)),
                             None)
                if match is not None:
                    used.add(match)
                    continue
                bad = next((r for r in recs if r.get("seq") == s and r.get("type") in (None, e.get("type"))
                            and r["t"] >= vis[id(e)] - TOL), None)
                if bad is not None:
                    how = (f"its {bad.get('loop')} loop marked it {bad.get('outcome')!r} at "
                           f"t={ft(bad['t'])} and moved the cursor to {bad.get('cursor')}")
                    proof = (e, bad)
                else:
                    how = (f"its cursor reached {_passes(passer)} at t={ft(passer['t'])} "
                           f"({passer.get('loop')} loop) without handling it")
                    proof = (e, passer)
                yield Violation("EV-NO-SWALLOW", f"{k} swallowed {_desc(e)} (visible at "
                                f"t={ft(e['t'])}, {'concerns' if concerns(e, k) else 'not for'} "
                                f"{k}): {how}", proof)


@checker("EV-SCOPE")
def ev_scope(trace: Trace) -> Iterator[Violation]:
    """(a) A worker applies no event that is not for it by scope (WORKER: named worker, GROUP:
    its group). (b) Every RUN-scoped SET_PHASE and STOP is applied by every live worker: one
    that reached its main loop, whose cursor passed the event, and that had not applied an
    earlier STOP. Not checked: the worker_state change itself is attributed to the event."""
    emits = trace.of("event_emit")
    if not emits:
        return
    seen = trace.by_worker("event_seen")
    for k, recs in seen.items():
        for r in recs:
            if r.get("outcome") != "applied":
                continue
            rows = [e for e in emits if e.get("seq") == r.get("seq")
                    and r.get("type") in (None, e.get("type")) and e["t"] <= r["t"] + TOL]
            if rows and not any(concerns(e, k) for e in rows):
                yield Violation("EV-SCOPE", f"{k} applied {_desc(rows[0])} at t={ft(r['t'])}, "
                                f"which is scoped {rows[0].get('scope')} and not for {k}", (rows[0], r))
        if trace.main_loop_entry(k) is None:
            continue
        stop_at = _stop_seq(recs)
        reach = max((_passes(r) or 0 for r in recs), default=0)
        for e in emits:
            if e.get("type") not in (SET_PHASE, STOP) or e.get("scope", "RUN") != "RUN":
                continue
            s = e.get("seq")
            if not isinstance(s, int) or s > reach or s > stop_at:
                continue
            if s == stop_at and e.get("type") != STOP:
                continue  # shares the applied STOP's id: processing ended there (EV-SEQ-UNIQUE)
            if not any(r.get("seq") == s and r.get("type") in (None, e.get("type"))
                       and r.get("outcome") == "applied" for r in recs):
                same = [r for r in recs if r.get("seq") == s]
                r = next((r for r in same if r.get("type") == e.get("type")), None) or \
                    next(iter(same), None)
                got = f"its only record is {r.get('outcome')!r} ({r.get('loop')} loop, t={ft(r['t'])})" \
                    if r else "it has no record of it"
                yield Violation("EV-SCOPE", f"RUN-scoped {_desc(e)} (visible t={ft(e['t'])}) was not "
                                f"applied by live {k}: {got}", (e,) + ((r,) if r else ()))


def _value(e: dict):
    p = e.get("payload") or {}
    return p.get("phase") if e.get("type") == SET_PHASE else p.get("target_connections")


def _state_at(states: list[dict], field: str, t: float):
    v = None
    for r in states:
        if r["t"] > t + TOL:
            break
        if r.get(field) is not None:
            v = r[field]
    return v


def _first_stops(trace: Trace) -> dict[str, float]:
    """worker -> when it first stopped: an applied STOP, its exit, or a final heartbeat of its
    own (one pass over the trace, not one per worker and event)."""
    out: dict[str, float] = {}

    def note(k, t):
        if k not in out or t < out[k]:
            out[k] = t
    for r in trace.of("event_seen"):
        if r.get("type") == STOP and r.get("outcome") == "applied":
            note(r.get("worker"), r["t"])
    for r in trace.of("proc"):
        if r.get("action") == "exit":
            note(r.get("worker"), r["t"])
    for h in trace.of("heartbeat"):
        if hb_writer(h) == "worker" and h.get("status") in HB_FINAL:
            note(h.get("worker"), h["t"])
    return out


def _stopped_by(trace: Trace, first_stops: dict[str, float], k: str, t: float) -> bool:
    if first_stops.get(k, float("inf")) <= t + TOL:
        return True
    return bool(trace.statuses_at(t) & TERMINAL)


def _targets_entry(write: dict, k: str):
    wt = as_json(cols(write).get("WORKER_TARGETS"))
    if not isinstance(wt, dict) or k not in wt:
        return None
    v = wt[k]
    return v.get("target_connections") if isinstance(v, dict) else v


def _mid_ramp(mine: list, e: dict, dl: float, have, ok: set) -> bool:
    """A worker ramps linearly between two targets (QPS mode): a value between its target
    before e and the targets of the events emitted in [e, dl], one of which ramps, is on
    its way, not stuck."""
    window = [x for x in mine if x["type"] == SET_WORKER_TARGET and e["t"] <= x["t"] <= dl + TOL]
    ramps = any(float((x.get("payload") or {}).get("ramp_seconds") or 0) > 0 for x in window)
    vals = [v for v in ok if isinstance(v, (int, float))]
    return ramps and isinstance(have, (int, float)) and bool(vals) and min(vals) <= have <= max(vals)


@checker("EV-CONVERGE")
def ev_converge(trace: Trace) -> Iterator[Violation]:
    """For each SET_PHASE / SET_WORKER_TARGET concerning worker k emitted at t: at
    D = max(t, t_k) + E + R + L, k's current_phase / current_target equals the value of this
    event or of a later one of the same kind for k emitted by D (k may be converging on that),
    or, for a phase, a PHASE written to RUN_STATUS by D (the reconcile may read it first).
    After a quiet period (no newer target event for k, no WORKER_TARGETS change for k, until
    D + the event's ramp_seconds): current_target = the event's target = WORKER_TARGETS[k].
    Skipped for workers that stopped (applied STOP, exited, final heartbeat, terminal run) by
    then, workers without a main_loop marker, and deadlines beyond the end of the trace."""
    p = need(trace, "E", "R", "L")
    emits = [e for e in trace.of("event_emit") if e.get("type") in (SET_PHASE, SET_WORKER_TARGET)
             and _value(e) not in (None, "")]
    if not emits:
        return
    bound, end = sum(p), trace.end_t()
    states = trace.by_worker("worker_state")
    tw = [w for w in trace.status_chain() if w["certain"] and cols(w).get("WORKER_TARGETS") is not None]
    first_stops = _first_stops(trace)
    phase_writes = [w for w in trace.status_chain() if w["certain"]
                    and w["after"]["phase"] != w["before"]["phase"]]
    entries: dict = {}  # worker -> first main_loop marker, in one pass
    for r in trace.of("marker"):
        if r.get("name") == "main_loop":
            entries.setdefault(r.get("worker"), r["t"])
    for k in trace.workers():
        t_k = entries.get(k)
        if t_k is None:
            continue
        mine = [e for e in emits if concerns(e, k)]
        for e in mine:
            field = "phase" if e["type"] == SET_PHASE else "target"
            dl = max(e["t"], t_k) + bound
            if dl > end or _stopped_by(trace, first_stops, k, dl):
                continue
            ok = {_value(x) for x in mine if x["type"] == e["type"] and e["t"] <= x["t"] <= dl + TOL}
            if field == "phase":  # the 5 s reconcile may adopt a PHASE written before its
                # SET_PHASE is visible (the event's insert lags the write by two statements)
                ok |= {w["after"]["phase"] for w in phase_writes if e["t"] <= w["t"] <= dl + TOL}
            else:  # likewise a WORKER_TARGETS entry written before its event (§9.3)
                ok |= {_targets_entry(w, k) for w in tw if e["t"] <= w["t"] <= dl + TOL
                       and _targets_entry(w, k) is not None}
            have = _state_at(states.get(k, []), field, dl)
            before = _state_at(states.get(k, []), "target", e["t"])
            if field == "target" and have not in ok and _mid_ramp(mine, e, dl, have,
                                                                  ok | {before}):
                continue  # a later target's ramp (QPS, §9.3) is still moving it there
            if have not in ok:
                yield Violation("EV-CONVERGE", f"{k}'s current_{field} is {have!r} at t={ft(dl)}, "
                                f"E+R+L after {_desc(e)} (t={ft(e['t'])}, main loop t_k={ft(t_k)}); "
                                f"expected {sorted(map(str, ok))}", (e,))
                continue
            if e["type"] != SET_WORKER_TARGET:
                continue
            q = dl + float((e.get("payload") or {}).get("ramp_seconds") or 0)
            newer = [x for x in mine if x["type"] == SET_WORKER_TARGET and e["t"] < x["t"] <= q + TOL]
            changes = [w for w in tw if e["t"] < w["t"] <= q + TOL and _targets_entry(w, k) is not None]
            if newer or changes or q > end or _stopped_by(trace, first_stops, k, q):
                continue
            want = _value(e)
            have = _state_at(states.get(k, []), "target", q)
            last_tw = [w for w in tw if w["t"] <= q + TOL and _targets_entry(w, k) is not None]
            stored = _targets_entry(last_tw[-1], k) if last_tw else want
            if have != want or stored != want:
                yield Violation("EV-CONVERGE", f"after a quiet period ending t={ft(q)}, {k} has "
                                f"current_target={have!r} and WORKER_TARGETS[{k}]={stored!r}, but its "
                                f"last target event {_desc(e)} (t={ft(e['t'])}) says {want}",
                                (e,) + ((last_tw[-1],) if last_tw else ()))


@checker("EV-STOP-DELIVERY")
def ev_stop_delivery(trace: Trace) -> Iterator[Violation]:
    """No worker starts a query later than min(first STOP visible + E + L, first certain write
    taking STATUS out of RUNNING + R + L). One violation per worker (its first late query)."""
    p = need(trace, "E", "R", "L")
    qs = queries(trace)
    if not qs:
        return
    E, R, L = p
    stops = [e for e in trace.of("event_emit") if e.get("type") == STOP]
    stop = min(stops, key=lambda e: e["t"]) if stops else None
    leave = next((w for w in trace.status_chain() if w["certain"]
                  and w["before"]["status"] == RUNNING and w["after"]["status"] != RUNNING), None)
    cands = []
    if stop:
        cands.append((stop["t"] + E + L, stop, f"{_desc(stop)} visible at t={ft(stop['t'])} + E + L"))
    if leave:
        cands.append((leave["t"] + R + L, leave,
                      f"STATUS left RUNNING for {leave['after']['status']} at t={ft(leave['t'])} + R + L"))
    if not cands:
        return
    limit, why_rec, why = min(cands, key=lambda c: c[0])
    done = set()
    for q in qs:
        k = q.get("worker")
        if k in done or q["start"] <= limit + TOL:
            continue
        done.add(k)
        yield Violation("EV-STOP-DELIVERY", f"{k} started a query at t={ft(q['start'])} (conn "
                        f"{q.get('conn')}), after t={ft(limit)} = {why}", (why_rec, q))
