"""Group C: worker lifecycle and liveness (invariants.md ids 16-22)."""
from __future__ import annotations

from typing import Iterator

from protocol.events import STOP
from protocol.phases import (CANCELLING, COMPLETED, HB_COMPLETED, HB_DEAD, HB_FINAL,
                             HB_INITIALIZING, HB_READY, HB_STALE, HEARTBEAT_NEXT, P_COMPLETED,
                             PROCESSING, RUNNING, STARTING, STOPPING, TERMINAL, FAILED, CANCELLED)
from protocol.trace import Trace

from .base import (TOL, Violation, checker, effect_window, ft, hb_writer, maybe_heartbeats, need,
                   num, queries_by_worker)


def _own(hbs: list[dict]) -> list[dict]:
    return [h for h in hbs if hb_writer(h) == "worker"]


def _exit(trace: Trace, k: str) -> dict | None:
    return next((p for p in trace.of("proc") if p.get("worker") == k and p.get("action") == "exit"), None)


def _spawn(trace: Trace, k: str) -> dict | None:
    return next((p for p in trace.of("proc") if p.get("worker") == k and p.get("action") == "spawn"), None)


@checker("HB-GRAMMAR")
def hb_grammar(trace: Trace) -> Iterator[Violation]:
    """A worker's own heartbeat statuses follow phases.HEARTBEAT_NEXT (STARTING INITIALIZING?
    READY+ (RUNNING+ DRAINING?)? (COMPLETED|DEAD), DEAD after any prefix); orchestrator
    writes may only be STALE or DEAD. The word must be complete (end in COMPLETED/DEAD) for a
    worker whose process exited with code 0 (it ran its exit sequence); a killed or crashed
    worker may leave a prefix (LIVE-WORKER-EXIT judges those). The same status written again
    at once (a write retried after a timeout, issue 9) counts once."""
    maybe = maybe_heartbeats(trace)
    for k, hbs in trace.by_worker("heartbeat").items():
        states, word = {None}, []  # the statuses the row may have (maybe-applied writes)
        for h in sorted(hbs + maybe.get(k, []), key=lambda h: h["t"]):
            st = h.get("status")
            if hb_writer(h) == "worker" and word and not h.get("maybe") and states == {st}:
                continue  # a stutter: the same status written again (a retry after a timeout)
            if hb_writer(h) == "orchestrator":
                if st not in (HB_STALE, HB_DEAD):
                    yield Violation("HB-GRAMMAR", f"orchestrator wrote heartbeat status {st} for {k} "
                                    f"at t={ft(h['t'])}; only STALE or DEAD are its to write", (h,))
                continue
            allowed = set().union(*(HEARTBEAT_NEXT.get(x, frozenset()) for x in states))
            if h.get("maybe"):  # a heartbeat whose outcome is unknown: applied or not
                if st in allowed:
                    states = states | {st}
                continue
            if st not in allowed:
                yield Violation("HB-GRAMMAR", f"{k} wrote heartbeat {st} after "
                                f"{'/'.join(sorted(map(str, states)))} at t={ft(h['t'])} "
                                f"(its statuses so far: {' '.join(word) or 'none'})", (h,))
            word.append(st)
            states = {st}
        ex = _exit(trace, k)
        if ex is not None and ex.get("code") == 0 and word and not (states & HB_FINAL):
            # (a final heartbeat whose outcome is unknown may have applied: states has it)
            yield Violation("HB-GRAMMAR", f"{k} exited with code 0 at t={ft(ex['t'])} but its last own "
                            f"heartbeat is {word[-1]}, not COMPLETED or DEAD", (ex,))


@checker("HB-READY-MEANS-READY")
def hb_ready_means_ready(trace: Trace) -> Iterator[Violation]:
    """At a worker's first READY: its pool holds at least its initial number of created
    connections (the start-up worker_state target, else params.connections_per_worker), and
    every `setup` it invoked succeeded. And no query started before the worker's first
    target change (its initial target) runs on a connection created after READY."""
    conns = trace.by_worker("conn")
    queries = queries_by_worker(trace)
    states = trace.by_worker("worker_state")
    ok_ids = {r.get("id"): r["t"] for r in trace.of("ok")}  # op id -> when it succeeded
    setups: dict = {}  # worker -> its setup invokes, gathered once (1,000-worker traces)
    for inv in trace.of("invoke"):
        if inv.get("op") == "setup":
            setups.setdefault(inv.get("actor"), []).append(inv)
    for k, hbs in trace.by_worker("heartbeat").items():
        ready = next((h for h in _own(hbs) if h.get("status") == HB_READY), None)
        if ready is None:
            continue
        st = states.get(k, [])
        start = next((s for s in st if s.get("source") == "startup"), None)
        need = start.get("target") if start and start.get("target") is not None else num(trace, "connections_per_worker")
        created = [c for c in conns.get(k, []) if c.get("action") == "created"]
        before = {c.get("conn") for c in created if c["t"] <= ready["t"] + TOL}
        if need is not None and (conns or queries) and len(before) < need:
            yield Violation("HB-READY-MEANS-READY", f"{k} wrote READY at t={ft(ready['t'])} with "
                            f"{len(before)} open connections, its initial number is {need:g}", (ready,))
        for inv in setups.get(k, []):
            # a setup still running or not yet begun at READY is as bad as a failed one
            if ok_ids.get(inv.get("id"), float("inf")) > ready["t"] + TOL:
                yield Violation("HB-READY-MEANS-READY", f"{k} wrote READY at t={ft(ready['t'])} but its "
                                f"setup (op {inv.get('id')}, t={ft(inv['t'])}) had not succeeded", (inv, ready))
        change = next((s["t"] for s in st if s.get("source") not in ("startup", "wait", "main_entry")
                       and s.get("target") is not None
                       and start is not None and s.get("target") != start.get("target")), float("inf"))
        late = {c.get("conn"): c for c in created if c["t"] > ready["t"] + TOL and c.get("conn") not in before}
        for q in queries.get(k, []):
            if q["start"] < change and q.get("conn") in late:
                c = late[q.get("conn")]
                yield Violation("HB-READY-MEANS-READY", f"{k}'s query at t={ft(q['start'])} for its initial "
                                f"target ran on connection {q.get('conn')} created at t={ft(c['t'])}, after "
                                f"READY at t={ft(ready['t'])}", (ready, c, q))
                break


@checker("HB-GAP")
def hb_gap(trace: Trace) -> Iterator[Violation]:
    """Consecutive own heartbeats of a worker are less than stale_s apart (run clock), from its
    first to its final one, whatever it is doing in between."""
    (stale,) = need(trace, "stale_s")
    maybe = maybe_heartbeats(trace)
    for k, hbs in trace.by_worker("heartbeat").items():
        own = _own(hbs)
        if not own:
            continue
        # each heartbeat applied within its window (live: invoke to completion; one whose
        # outcome is unknown may have applied there too); a gap is certain only between
        # the latest a previous one can have applied and the earliest the next one can
        wins = [(*effect_window(trace, h), h) for h in own]
        wins += [(m["lo"], m["hi"], m) for m in maybe.get(k, [])
                 if own[0]["t"] <= m["lo"] <= own[-1]["t"]]
        wins.sort(key=lambda w: w[0])
        hi, prev = wins[0][1], wins[0][2]
        for lo, h_hi, h in wins[1:]:
            if lo - hi >= stale - TOL and not h.get("maybe"):
                yield Violation("HB-GAP", f"{k} wrote no heartbeat for {h['t'] - prev['t']:.3f} s, from "
                                f"{prev.get('status')} at t={ft(prev['t'])} to {h.get('status')} at "
                                f"t={ft(h['t'])} (STALE limit {stale:g} s)", (prev, h))
            if h_hi >= hi:
                hi, prev = h_hi, h


@checker("HB-NO-FALSE-DEAD")
def hb_no_false_dead(trace: Trace) -> Iterator[Violation]:
    """An orchestrator STALE/DEAD mark is false if the worker's true heartbeat age at the mark
    (run clock, from its last own heartbeat's commit) is below the limit (stale_s / dead_s)
    by more than L + clock_eps_s (0 unless stated), or if the worker had already written its
    final COMPLETED. This is stronger than the 1 s-cadence premise of the property: any mark of
    a fresher row means the computed age mixed clocks or time zones. One violation per worker
    and mark status (the first, with the count)."""
    stale, dead, L = need(trace, "stale_s", "dead_s", "L")
    eps = num(trace, "clock_eps_s") or 0.0
    for k, hbs in trace.by_worker("heartbeat").items():
        false: dict[str, list[tuple[dict, dict, str]]] = {}
        for m in hbs:
            if hb_writer(m) != "orchestrator" or m.get("status") not in (HB_STALE, HB_DEAD):
                continue
            prev = [h for h in _own(hbs) if h["t"] <= m["t"] + TOL]
            if not prev:
                continue
            last = prev[-1]
            limit = stale if m.get("status") == HB_STALE else dead
            age = m["t"] - last["t"]
            if last.get("status") == HB_COMPLETED:
                why = f"after it completed (COMPLETED at t={ft(last['t'])})"
            elif age < limit - L - eps - TOL:
                why = (f"(computed age {m.get('age')}) but its last heartbeat was at t={ft(last['t'])}, "
                       f"true age {age:.3f} s < limit {limit:g} s")
            else:
                continue
            false.setdefault(m.get("status"), []).append((last, m, why))
        for st, lst in false.items():
            last, m, why = lst[0]
            more = f" ({len(lst)} such {st} marks)" if len(lst) > 1 else ""
            yield Violation("HB-NO-FALSE-DEAD", f"orchestrator marked {k} {st} at t={ft(m['t'])} {why}{more}",
                            (last, m))


@checker("HB-DEAD-DETECTION")
def hb_dead_detection(trace: Trace) -> Iterator[Violation]:
    """A worker whose own heartbeats stop at t without a final COMPLETED/DEAD is marked DEAD by
    the orchestrator by t + dead_s + health_refresh_s (2 s unless stated) + P + L, unless the run
    was terminal by then or the trace ends first. After an orchestrator DEAD mark made while
    STATUS was (for sure) STARTING or RUNNING, FAILED is written within P, unless a CANCELLING /
    CANCELLED write got there first. (A worker's own DEAD leading to FAILED is not checked.)
    And a worker process that died unasked is detected within the same bound from its death
    (_silent_deaths), even when the run would otherwise have ended first."""
    dead, P, L = need(trace, "dead_s", "P", "L")
    refresh = num(trace, "health_refresh_s")
    refresh = 2.0 if refresh is None else refresh
    end = trace.end_t()
    chain = [w for w in trace.status_chain() if w["certain"]]
    for k, hbs in trace.by_worker("heartbeat").items():
        own = _own(hbs)
        marks = [h for h in hbs if hb_writer(h) == "orchestrator" and h.get("status") == HB_DEAD]
        if own and own[-1].get("status") not in HB_FINAL:
            later = [m["hi"] for m in maybe_heartbeats(trace).get(k, []) if m["lo"] >= own[-1]["t"]]
            dl = max([own[-1]["t"], *later]) + dead + refresh + P + L  # a maybe-applied one counts
            if dl <= end and not (trace.statuses_at(dl) <= TERMINAL) and \
                    not any(m["t"] <= dl + TOL for m in marks if m["t"] >= own[-1]["t"]):
                yield Violation("HB-DEAD-DETECTION", f"{k}'s last heartbeat was at t={ft(own[-1]['t'])} "
                                f"({own[-1].get('status')}) and it was not marked DEAD by t={ft(dl)}", (own[-1],))
        for m in marks[:1]:
            if not trace.statuses_at(m["t"]) <= {STARTING, RUNNING} or m["t"] + P > end:
                continue
            after = [w for w in chain if m["t"] - TOL <= w["t"] <= m["t"] + P + TOL]
            if not any(w["after"]["status"] in (FAILED, CANCELLING, CANCELLED) for w in after):
                yield Violation("HB-DEAD-DETECTION", f"{k} was marked DEAD at t={ft(m['t'])} while the run "
                                f"was {'/'.join(map(str, trace.statuses_at(m['t'])))}, but FAILED was not "
                                f"written by t={ft(m['t'] + P)}", (m,))
    yield from _silent_deaths(trace, dead + refresh + P + L, chain)


def _how_died(ex: dict) -> str:
    if ex.get("signal"):
        return f"killed by {ex['signal']}"
    return f"exit code {ex.get('code')}"


def _silent_deaths(trace: Trace, bound: float, chain: list[dict]) -> Iterator[Violation]:
    """A worker process that exits unasked (proc exit without `requested`) and without a final
    own heartbeat while the run is for sure STARTING or RUNNING and no STOP is visible, has
    died: within `bound` (the heartbeat rule's dead_s + refresh + P + L, counted from the
    death itself, so start-up deaths get the same bound) the orchestrator marks it DEAD or
    the run is failed or cancelled. A run that ends otherwise (COMPLETED) without either has
    missed the death, whatever the heartbeat rule's 'terminal by then' allows."""
    hbs = trace.by_worker("heartbeat")
    stops = [e["t"] for e in trace.of("event_emit") if e.get("type") == STOP]
    end = trace.end_t()
    run_end = next(iter(trace.of("run_end")), None)
    for ex in trace.of("proc"):
        if ex.get("action") != "exit" or ex.get("requested"):
            continue
        k, t = ex.get("worker"), ex["t"]
        own = [h for h in _own(hbs.get(k, [])) if h["t"] <= t + TOL]
        if own and own[-1].get("status") in HB_FINAL:
            continue
        if not trace.statuses_at(t) <= {STARTING, RUNNING} or any(s <= t + TOL for s in stops):
            continue
        dl = t + bound
        marked = [h["t"] for h in hbs.get(k, []) if hb_writer(h) == "orchestrator"
                  and h.get("status") == HB_DEAD and h["t"] >= t - TOL]
        failed = [e["t"] for e in trace.of("event_emit") if e.get("type") == STOP
                  and (e.get("payload") or {}).get("reason") == "worker_failure" and e["t"] >= t - TOL]
        ended = [w["t"] for w in chain if w["t"] >= t - TOL
                 and w["after"]["status"] in (FAILED, CANCELLING, CANCELLED)]
        seen = min(marked + failed + ended, default=None)
        if seen is not None and seen <= dl + TOL:
            continue
        done = [w for w in chain if w["t"] >= t - TOL and w["after"]["status"] in TERMINAL]
        if seen is None and not done and dl > end and not (run_end and run_end.get("reason") == "finished"):
            continue  # the trace stops before the bound: nothing to say yet
        how = (f"the run went on to {done[0]['after']['status']} at t={ft(done[0]['t'])} without "
               f"detecting it" if done and (seen is None or done[0]['t'] < seen)
               else f"it was not detected by t={ft(dl)}" if seen is None
               else f"it was detected only at t={ft(seen)}, after t={ft(dl)}")
        yield Violation("HB-DEAD-DETECTION", f"{k}'s process died ({_how_died(ex)}) at t={ft(t)} while the "
                        f"run was {'/'.join(map(str, trace.statuses_at(t)))}, with no final heartbeat; "
                        f"{how} (bound {bound:g} s: dead_s + refresh + P + L)", (ex,) + tuple(done[:1]))


@checker("LIVE-WORKER-EXIT")
def live_worker_exit(trace: Trace) -> Iterator[Violation]:
    """Every worker process (spawned, or known from params/heartbeats) has an exit record, and
    it exits within D + F + kill_after_s (0 unless stated) after the first of: a visible STOP, a
    terminal STATUS, its own DEAD heartbeat (or its spawn, if later). A missing exit is a
    violation when the driver finished the run normally or the bound has passed."""
    p = need(trace, "D", "F")
    bound = p[0] + p[1] + (num(trace, "kill_after_s") or 0.0)
    end = trace.end_t()
    run_end = next(iter(trace.of("run_end")), None)
    stops = [e["t"] for e in trace.of("event_emit") if e.get("type") == STOP]
    term = [w["t"] for w in trace.status_chain() if w["certain"] and w["after"]["status"] in TERMINAL]
    hbs = trace.by_worker("heartbeat")
    known = trace.workers()
    known_set = set(known)
    workers = known + [k for k in hbs if k not in known_set]
    first: dict = {}  # (worker, action) -> first proc record, in one pass (1,000 workers)
    for r in trace.of("proc"):
        first.setdefault((r.get("worker"), r.get("action")), r)
    for k in workers:
        sp, ex = first.get((k, "spawn")), first.get((k, "exit"))
        if sp is None and k not in hbs:
            continue  # never started
        own_dead = [h["t"] for h in _own(hbs.get(k, [])) if h.get("status") == HB_DEAD]
        trig = min(stops[:1] + term[:1] + own_dead[:1], default=None)
        if trig is not None and sp is not None:
            trig = max(trig, sp["t"])
        if ex is None:
            if (run_end is not None and run_end.get("reason") == "finished") or \
                    (trig is not None and end > trig + bound + TOL):
                yield Violation("LIVE-WORKER-EXIT", f"{k}'s process never exited (trace ends t={ft(end)}"
                                + (f", exit due by t={ft(trig + bound)})" if trig is not None else ")"),
                                tuple(r for r in (sp, run_end) if r))
            continue
        if trig is not None and ex["t"] > trig + bound + TOL:
            yield Violation("LIVE-WORKER-EXIT", f"{k} exited at t={ft(ex['t'])}, more than D+F="
                            f"{bound:g} s after its stop trigger at t={ft(trig)}", (ex,))


@checker("LIVE-RUN-TERMINATES")
def live_run_terminates(trace: Trace) -> Iterator[Violation]:
    """A run that entered STARTING ends terminal, and a COMPLETED one with PHASE COMPLETED, if the
    driver finished it (run_end reason 'finished'). Each stay is bounded, measured to the
    leaving write or to the end of the trace: STARTING <= spawn_bound_s + pool init
    (pool_init_bound_s, else the slowest INITIALIZING->next heartbeat seen) + ready_timeout_s + P;
    RUNNING <= w + d + 2P when w > 0, else d + P (not checked in FIND_MAX: its bound needs ctrl_eval);
    STOPPING/CANCELLING <= D + F + kill_after_s; PROCESSING <= enrichment_bound_s (240 s + one poll) + L.
    API restarts are not visible in the trace and not treated apart."""
    chain = [w for w in trace.status_chain() if w["certain"]]
    if not any(w["after"]["status"] == STARTING for w in chain):
        return
    end = trace.end_t()
    P, L, D, F = (num(trace, n) for n in ("P", "L", "D", "F"))
    kill = num(trace, "kill_after_s") or 0.0
    pool = num(trace, "pool_init_bound_s")
    if pool is None:
        pool = 0.0
        for hbs in trace.by_worker("heartbeat").values():
            own = _own(hbs)
            for a, b in zip(own, own[1:]):
                if a.get("status") == HB_INITIALIZING:
                    pool = max(pool, b["t"] - a["t"])
    bounds: dict[str, float | None] = {}
    sp, rt = num(trace, "spawn_bound_s"), num(trace, "ready_timeout_s")
    if None not in (sp, rt, P):
        bounds[STARTING] = sp + pool + rt + P
    mode = str(trace.param("load_mode")  # the header's params (issue 11), else the scenario
               or (trace.header.get("scenario") or {}).get("load_mode", "")).upper()
    w_s, d_s = num(trace, "warmup_s"), num(trace, "duration_s")
    if None not in (w_s, d_s, P) and mode != "FIND_MAX":
        # the warmup may end up to P late (RUN-WARMUP-LENGTH) and measurement then lasts up to
        # d + P (RUN-MEASUREMENT-LENGTH): invariants.md's w + d + P would contradict the two
        bounds[RUNNING] = w_s + d_s + (2 * P if w_s > 0 else P)
    if None not in (D, F):
        bounds[STOPPING] = bounds[CANCELLING] = D + F + kill
    eb = num(trace, "enrichment_bound_s")
    if None not in (eb, L):
        bounds[PROCESSING] = eb + L
    stays: list[tuple[str, dict, dict | None]] = []
    cur: tuple[str, dict] | None = None
    for w in chain:
        s = w["after"]["status"]
        if cur is None or s != cur[0]:
            if cur is not None:
                stays.append((cur[0], cur[1], w))
            cur = (s, w)
    if cur is not None:
        stays.append((cur[0], cur[1], None))
    proc = next((w for w in chain if w["after"]["phase"] == PROCESSING), None)
    if proc is not None:
        done = next((w for w in chain if w["t"] >= proc["t"] and w["after"]["phase"] == P_COMPLETED), None)
        stays.append((PROCESSING, proc, done))
    for name, a, b in stays:
        lim = bounds.get(name)
        if lim is None:
            continue
        t_out = b["t"] if b else end
        if t_out - a["t"] > lim + TOL:
            left = f"left at t={ft(b['t'])}" if b else f"still there when the trace ends at t={ft(end)}"
            yield Violation("LIVE-RUN-TERMINATES", f"run stayed in {name} for {t_out - a['t']:.3f} s "
                            f"(entered t={ft(a['t'])}, {left}); bound {lim:g} s",
                            tuple(r for r in (a, b) if r))
    run_end = next(iter(trace.of("run_end")), None)
    last = chain[-1]["after"]
    if run_end is not None and run_end.get("reason") == "finished":
        if last["status"] not in TERMINAL:
            yield Violation("LIVE-RUN-TERMINATES", f"run finished at t={ft(run_end['t'])} in STATUS "
                            f"{last['status']}, not terminal", (chain[-1], run_end))
        elif last["status"] == COMPLETED and last["phase"] != P_COMPLETED:
            yield Violation("LIVE-RUN-TERMINATES", f"run finished at t={ft(run_end['t'])} COMPLETED but "
                            f"with PHASE {last['phase']!r}, not COMPLETED", (chain[-1], run_end))
