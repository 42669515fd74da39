"""The orchestrator's and dashboard's aggregate counters (invariants.md id 30)."""
from __future__ import annotations

from typing import Iterator

from protocol.phases import RUNNING
from protocol.trace import Trace

from .base import TOL, NotJudged, Violation, checker, ft


def _total(rec: dict):
    v = rec.get("ops_total")
    if v is None and isinstance(rec.get("ops"), dict):
        v = rec["ops"].get("total")
    return v if isinstance(v, (int, float)) and not isinstance(v, bool) else None


@checker("EPOCH-AGG-MONOTONE")
def epoch_agg_monotone(trace: Trace) -> Iterator[Violation]:
    """Once every live worker has run its measurement hook, the aggregate ops total seen by
    the orchestrator or the dashboard (`live_agg` records) does not decrease while STATUS is
    RUNNING."""
    aggs = [a for a in trace.of("live_agg") if _total(a) is not None]
    if not aggs:
        raise NotJudged("no live_agg records (only a run with a load mode records the live "
                        "aggregate)")
    spawned: dict = {}  # a worker counts as live from its spawn (mid-run spawns, §5.5)
    for p in trace.of("proc"):
        if p.get("action") == "spawn":
            spawned.setdefault(p.get("worker"), p["t"])
    exits = {p.get("worker"): p["t"] for p in trace.of("proc") if p.get("action") == "exit"}
    hooked = {}
    for h in trace.of("hook"):
        hooked.setdefault(h.get("worker"), h["t"])
    prev: dict[str, dict] = {}
    for a in aggs:
        live = {w for w, t in spawned.items() if t <= a["t"] < exits.get(w, float("inf"))}
        if not live or any(hooked.get(w, float("inf")) > a["t"] for w in live):
            continue
        if trace.statuses_at(a["t"]) != {RUNNING}:
            continue
        who = a.get("actor", "")
        p = prev.get(who)
        if p is not None and _total(a) < _total(p) - TOL:
            yield Violation("EPOCH-AGG-MONOTONE", f"{who}'s aggregate ops total fell from "
                            f"{_total(p):g} (t={ft(p['t'])}) to {_total(a):g} (t={ft(a['t'])}) "
                            f"while RUNNING with every live worker past its hook", (p, a))
            return
        prev[who] = a
