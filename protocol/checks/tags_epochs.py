"""Group D: phase, QUERY_TAG and metrics epochs (invariants.md ids 23-29)."""
from __future__ import annotations

import re
from typing import Iterator

from protocol.events import STOP
from protocol.phases import MEASUREMENT, PHASE_RANK, PREPARING, WARMUP
from protocol.trace import Trace

from .base import (TOL, Violation, checker, epoch_at, ft, need, nums, queries_by_worker, tag_phase,
                   worker_started_in_measurement)

TAG = re.compile(r"^flakebench:test_id=([^:]+):phase=(WARMUP|RUNNING)$")


def _t_meas(trace: Trace) -> float | None:
    m = trace.measurement_write()
    return m["t"] if m else None


def _first_bad(qs: list[dict], pred) -> tuple[dict | None, int]:
    bad = [q for q in qs if pred(q)]
    return (bad[0] if bad else None), len(bad)


def _q(q: dict) -> str:
    return f"query at t={ft(q['start'])} (conn {q.get('conn')}, epoch {q.get('epoch')}) tagged {q.get('tag')}"


def _stopped(trace: Trace, k: str, t: float) -> bool:
    return any(r.get("worker") == k and r["t"] <= t + TOL and (
        (r["kind"] == "event_seen" and r.get("type") == STOP and r.get("outcome") == "applied")
        or (r["kind"] == "proc" and r.get("action") == "exit"))
        for r in trace.of("event_seen", "proc"))


@checker("PH-HOOK-ONCE")
def ph_hook_once(trace: Trace) -> Iterator[Violation]:
    """A worker that starts a query at or after the MEASUREMENT write runs its hook exactly once
    (a missing hook is excused only if the worker stopped, or the trace ended, before the
    deadline); the first hook ends by max(t_M, t_k) + E + R + L (t_k: main-loop entry, t_M if
    unknown); a worker that starts in MEASUREMENT ends its hook before its first query."""
    p = need(trace, "E", "R", "L")
    t_m = _t_meas(trace)
    if t_m is None:
        return
    hooks = trace.by_worker("hook")
    for k, qs in queries_by_worker(trace).items():
        late = [q for q in qs if q["start"] >= t_m - TOL]
        if not late:
            continue
        hs = hooks.get(k, [])
        dl = max(t_m, trace.main_loop_entry(k) or t_m) + sum(p)
        if not hs:
            if not _stopped(trace, k, dl) and trace.end_t() >= dl:
                yield Violation("PH-HOOK-ONCE", f"{k} never ran its measurement hook though it started "
                                f"{len(late)} queries after the MEASUREMENT write at t={ft(t_m)}, the first "
                                f"{_q(late[0])}", (late[0],))
            continue
        if len(hs) > 1:
            yield Violation("PH-HOOK-ONCE", f"{k} ran its measurement hook {len(hs)} times, ending at "
                            + ", ".join(f"t={ft(h['t'])}" for h in hs), tuple(hs[:3]))
        if hs[0]["t"] > dl + TOL:
            yield Violation("PH-HOOK-ONCE", f"{k}'s hook finished at t={ft(hs[0]['t'])}, after its deadline "
                            f"t={ft(dl)} = max(t_M={ft(t_m)}, t_k) + E + R + L", (hs[0],))
        if worker_started_in_measurement(trace, k, t_m) and qs[0]["start"] < hs[0]["t"] - TOL:
            yield Violation("PH-HOOK-ONCE", f"{k} started in MEASUREMENT but its first {_q(qs[0])} began "
                            f"before its hook finished at t={ft(hs[0]['t'])}", (qs[0], hs[0]))


_RANKED = (PREPARING, WARMUP, MEASUREMENT)


@checker("PH-NO-REGRESS")
def ph_no_regress(trace: Trace) -> Iterator[Violation]:
    """A worker's current_phase (worker_state) never moves back in PREPARING < WARMUP <
    MEASUREMENT, whatever the source (a replayed SET_PHASE(WARMUP) included). Other phase
    values are not ranked and ignored."""
    for k, states in trace.by_worker("worker_state").items():
        prev = None
        for s in states:
            ph = s.get("phase")
            if ph not in _RANKED:
                continue
            if prev is not None and PHASE_RANK[ph] < PHASE_RANK[prev.get("phase")]:
                yield Violation("PH-NO-REGRESS", f"{k}'s current_phase went back from {prev.get('phase')} "
                                f"(t={ft(prev['t'])}) to {ph} at t={ft(s['t'])} (source {s.get('source')})",
                                (prev, s))
            prev = s


@checker("TAG-WARMUP")
def tag_warmup(trace: Trace) -> Iterator[Violation]:
    """Every query tag is flakebench:test_id=<id>:phase=WARMUP|RUNNING with one <id> per worker
    (constant, and not shared with another worker); every query started before the MEASUREMENT
    write (all of them if there is none) has phase=WARMUP. Whether <id> is the worker's child
    row id is not checked (the trace does not record that id)."""
    t_m = _t_meas(trace)
    owner: dict[str, str] = {}
    for k, qs in queries_by_worker(trace).items():
        q, n = _first_bad(qs, lambda q: not TAG.match(str(q.get("tag"))))
        if q:
            yield Violation("TAG-WARMUP", f"{k} ran {n} queries with a malformed tag, the first {_q(q)}", (q,))
        ids = {}
        for q in qs:
            m = TAG.match(str(q.get("tag")))
            if m:
                ids.setdefault(m.group(1), q)
        if len(ids) > 1:
            yield Violation("TAG-WARMUP", f"{k}'s tags carry {len(ids)} test ids: {sorted(ids)}",
                            tuple(ids.values())[:2])
        for i, q in ids.items():
            if owner.setdefault(i, k) != k:
                yield Violation("TAG-WARMUP", f"{k} and {owner[i]} both tag queries with test_id={i}", (q,))
        q, n = _first_bad(qs, lambda q: (t_m is None or q["start"] < t_m - TOL)
                          and tag_phase(q.get("tag")) != WARMUP)
        if q:
            where = f"the MEASUREMENT write at t={ft(t_m)}" if t_m is not None else "any MEASUREMENT write"
            yield Violation("TAG-WARMUP", f"{k} started {n} non-WARMUP queries before {where}, the first "
                            f"{_q(q)}", (q,))


@checker("TAG-MEASUREMENT")
def tag_measurement(trace: Trace) -> Iterator[Violation]:
    """phase=RUNNING on every query a worker starts after its first hook finished; on every
    query started after t_M + E + R + L; and on every query of a worker that starts in
    MEASUREMENT. One violation per worker and rule (first offending query and count)."""
    t_m = _t_meas(trace)
    p = nums(trace, "E", "R", "L")
    hooks = trace.by_worker("hook")
    not_run = lambda q: tag_phase(q.get("tag")) != "RUNNING"  # noqa: E731
    for k, qs in queries_by_worker(trace).items():
        hs = hooks.get(k)
        if hs:
            h = hs[0]
            q, n = _first_bad(qs, lambda q: q["start"] > h["t"] + TOL and not_run(q))
            if q:
                yield Violation("TAG-MEASUREMENT", f"{k} started {n} queries without phase=RUNNING after "
                                f"its hook finished at t={ft(h['t'])}, the first {_q(q)}", (h, q))
        if t_m is not None and p is not None:
            dl = t_m + sum(p)
            q, n = _first_bad(qs, lambda q: q["start"] > dl + TOL and not_run(q))
            if q:
                yield Violation("TAG-MEASUREMENT", f"{k} started {n} queries without phase=RUNNING after "
                                f"t={ft(dl)} = t_M + E + R + L (t_M={ft(t_m)}), the first {_q(q)}", (q,))
        if worker_started_in_measurement(trace, k, t_m):
            q, n = _first_bad(qs, not_run)
            if q:
                yield Violation("TAG-MEASUREMENT", f"{k} started in MEASUREMENT but ran {n} queries without "
                                f"phase=RUNNING, the first {_q(q)}", (q,))


@checker("TAG-PROPAGATION")
def tag_propagation(trace: Trace) -> Iterator[Violation]:
    """After a worker's hook (update_query_tag returns before the hook ends), every conn record
    of its pool (created, altered, recycled: a creation that started earlier included) carries
    the RUNNING tag, and so does every query any of its connections starts. Idle vs in-use
    connections are not told apart: all are covered."""
    conns = trace.by_worker("conn")
    queries = queries_by_worker(trace)
    for k, hs in trace.by_worker("hook").items():
        h = hs[0]
        c = next((c for c in conns.get(k, []) if c["t"] > h["t"] + TOL and c.get("tag") is not None
                  and tag_phase(c.get("tag")) != "RUNNING"), None)
        if c:
            yield Violation("TAG-PROPAGATION", f"{k}'s connection {c.get('conn')} was {c.get('action')} at "
                            f"t={ft(c['t'])} with tag {c.get('tag')}, after update_query_tag returned "
                            f"(hook done t={ft(h['t'])})", (h, c))
        q, n = _first_bad(queries.get(k, []), lambda q: q["start"] > h["t"] + TOL
                          and tag_phase(q.get("tag")) != "RUNNING")
        if q:
            hist = [x for x in conns.get(k, []) if x.get("conn") == q.get("conn") and x["t"] <= q["start"] + TOL]
            how = f"; that connection was last {hist[-1].get('action')} at t={ft(hist[-1]['t'])}" if hist else ""
            yield Violation("TAG-PROPAGATION", f"{k} connection {q.get('conn')} started a query at "
                            f"t={ft(q['start'])} tagged {q.get('tag')} after update_query_tag returned "
                            f"(hook done t={ft(h['t'])}){how} ({n} such queries)",
                            (h, q) + ((hist[-1],) if hist else ()))


@checker("EPOCH-ISOLATION")
def epoch_isolation(trace: Trace) -> Iterator[Violation]:
    """Each hook opens a new epoch (its epoch exceeds the previous one); a query's recorded epoch
    is the worker's epoch when it started (either one if it started during a hook); a query
    counted=true saw no hook change its epoch before it finished. Not checked: that counters
    read 0 just after each hook (the trace has live_agg's sum over workers in load-mode runs,
    not each worker's snapshot right after its hook)."""
    hooks = trace.by_worker("hook")
    for k, hs in hooks.items():
        prev = 0
        for h in hs:
            if h.get("epoch") is not None and h["epoch"] <= prev:
                yield Violation("EPOCH-ISOLATION", f"{k}'s hook ending t={ft(h['t'])} left the epoch at "
                                f"{h['epoch']} (was {prev}): ops on both sides share one epoch", (h,))
            prev = h.get("epoch", prev)
    for k, qs in queries_by_worker(trace).items():
        hs = hooks.get(k, [])
        reported = set()
        for q in qs:
            e = q.get("epoch")
            if e is None:
                continue
            ok = epoch_at(hs, q["start"])
            if e not in ok and "start" not in reported:
                reported.add("start")
                yield Violation("EPOCH-ISOLATION", f"{k}'s {_q(q)} records epoch {e} but the worker was "
                                f"in epoch {sorted(ok)} when it started", (q,))
            if q.get("counted"):
                h = next((h for h in hs if q["start"] + TOL < h["t"] < q["t"] - TOL
                          and h.get("epoch") != e), None)
                if h and "counted" not in reported:
                    reported.add("counted")
                    yield Violation("EPOCH-ISOLATION", f"{k}'s {_q(q)} finished at t={ft(q['t'])} in epoch "
                                    f"{h.get('epoch')} (hook done t={ft(h['t'])}) and was still counted", (h, q))


@checker("EPOCH-TAG-AGREE")
def epoch_tag_agree(trace: Trace) -> Iterator[Violation]:
    """For every query: tag phase=RUNNING exactly when its start epoch is >= 1 (so no query
    sees one switch without the other). One violation per worker (first and count)."""
    for k, qs in queries_by_worker(trace).items():
        q, n = _first_bad(qs, lambda q: q.get("epoch") is not None and tag_phase(q.get("tag")) is not None
                          and (tag_phase(q.get("tag")) == "RUNNING") != (q["epoch"] >= 1))
        if q:
            yield Violation("EPOCH-TAG-AGREE", f"{k} has {n} queries whose tag and epoch disagree, the "
                            f"first {_q(q)}", (q,))
