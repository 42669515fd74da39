"""The checker API: a Violation, a registry decorator and small helpers shared by checkers.

A checker is a function `(trace) -> Iterable[Violation]` registered under a property id of
invariants.md. Checkers are pure: they read the trace and nothing else.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable

from protocol.events import Event
from protocol.trace import Trace

TOL = 1e-6  # float tolerance on every time comparison

CheckFn = Callable[[Trace], Iterable["Violation"]]
REGISTRY: dict[str, CheckFn] = {}


@dataclass(frozen=True)
class Violation:
    property_id: str
    message: str
    records: tuple = ()  # the few trace records that prove it

    def __str__(self) -> str:
        return f"[{self.property_id}] {self.message}"


class NotJudged(Exception):
    """Raised by a checker that lacks the data to judge its property in this trace.

    The verdict then lists the property as not judged, with `reason`, instead of counting
    silence as a pass (a live or recorded trace may lack what a simulated one always has).
    """

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def checker(property_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register `fn` as the checker of `property_id` (one checker per id)."""
    def register(fn: CheckFn) -> CheckFn:
        if property_id in REGISTRY:
            raise ValueError(f"two checkers for {property_id}")
        fn.property_id = property_id  # type: ignore[attr-defined]
        REGISTRY[property_id] = fn
        return fn
    return register


def ft(t: Any) -> str:
    """A time for a message: t=12.300."""
    return f"{t:.3f}" if isinstance(t, (int, float)) else str(t)


def num(trace: Trace, name: str) -> float | None:
    """A numeric header param, or None when the trace does not state it."""
    v = trace.param(name)
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None


def nums(trace: Trace, *names: str) -> list[float] | None:
    """Several numeric params, or None if any is missing (the checker then stays silent)."""
    vals = [num(trace, n) for n in names]
    return None if any(v is None for v in vals) else vals  # type: ignore[return-value]


def is_live(trace: Trace) -> bool:
    """A trace from a live run: its database-truth records carry the completion instant of
    their statement, not the instant it took effect (docs/trace.md, the interval rule)."""
    return trace.header.get("world") == "live"


_EFFECT_OPS = {"status_write": ("write_run_status", "create_run"),
               "event_emit": ("insert_event",),
               "heartbeat": ("merge_heartbeat", "mark_heartbeats")}


def effect_window(trace: Trace, rec: dict) -> tuple[float, float]:
    """When a database-truth record (status_write, event_emit) took effect, on the run clock.

    The simulation records the exact instant: (t, t). A live driver records the completion of
    the statement, so the effect lies somewhere between the statement's invoke and `t`; the
    window is widened by the header's clock_eps_s (processes' clocks, the database's
    millisecond DATEDIFF). A checker fails a timing property only when it fails for every
    instant of the windows involved."""
    t = rec["t"]
    if not is_live(trace):
        return t, t
    cache = getattr(trace, "_invokes", None)
    if cache is None:
        cache = {r.get("id"): r for r in trace.of("invoke")}
        trace._invokes = cache  # type: ignore[attr-defined]
    inv = cache.get(rec.get("op_id"))
    ops = _EFFECT_OPS.get(rec.get("kind"), ())
    lo = inv["t"] if inv is not None and inv.get("op") in ops and inv["t"] <= t else t
    eps = num(trace, "clock_eps_s") or 0.0
    return lo - eps, t + eps


def maybe_heartbeats(trace: Trace) -> dict[str, list[dict]]:
    """Own heartbeats whose merge_heartbeat outcome is unknown (`info`, or no completion in a
    cut-off trace), per worker: they may have applied anywhere from `lo` (the invoke) to `hi`
    (the completion, else the trace's end). Under load a 1 s timeout makes these common, and
    the orchestrator may well have read them, so checkers must allow for them."""
    cached = getattr(trace, "_maybe_hb", None)
    if cached is not None:
        return cached
    done = {r.get("id"): r["t"] for r in trace.of("info", "fail", "ok")}
    out: dict[str, list[dict]] = {}
    for inv in trace.uncertain_ops("merge_heartbeat"):
        a = inv.get("args") or {}
        k = a.get("worker_id")
        out.setdefault(k, []).append({
            "t": inv["t"], "lo": inv["t"], "hi": done.get(inv.get("id"), trace.end_t()),
            "kind": "heartbeat", "worker": k, "status": a.get("status"), "writer": "worker",
            "maybe": True, "op_id": inv.get("id")})
    trace._maybe_hb = out  # type: ignore[attr-defined]
    return out


def need(trace: Trace, *names: str) -> list[float]:
    """Numeric params a checker cannot judge without: their values, or NotJudged naming the
    missing ones (a live or recorded trace may not state every bound a simulation does)."""
    vals = [num(trace, n) for n in names]
    missing = [n for n, v in zip(names, vals) if v is None]
    if missing:
        raise NotJudged(f"the header states no {', '.join(missing)}")
    return vals  # type: ignore[return-value]


def cols(write: dict) -> dict:
    """A status_write's `set` columns with upper-case names."""
    s = write.get("set") or {}
    return {str(k).upper(): v for k, v in s.items()} if isinstance(s, dict) else {}


def as_time(v: Any) -> float | None:
    """A database timestamp (number of seconds or ISO text) as seconds, else None."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def queries(trace: Trace) -> list[dict]:
    """Every benchmark query as a `query` record, in finish order. A `query_batch` (queries
    back to back on one connection with one tag and one epoch, docs/trace.md) stands in as
    its boundary queries: the first, the last, and one spanning the counted ones. Every
    checker's rule is "some query started before / after an instant has the wrong tag or
    epoch", which the boundary queries decide exactly; counts in messages count them."""
    cached = getattr(trace, "_queries", None)
    if cached is not None:
        return cached
    out = list(trace.of("query"))
    for b in trace.of("query_batch"):
        starts, n = b.get("starts") or [], b.get("n", 0)
        if not starts:
            continue
        think = b.get("think") or 0.0
        base = {k: v for k, v in b.items() if k not in ("starts", "n", "finish", "think",
                                                         "last_counted", "kind")}
        base["kind"], base["batch"] = "query", n
        last = {**base, "start": starts[-1], "t": b["finish"], "finish": b["finish"],
                "counted": b.get("last_counted", b.get("counted"))}
        if len(starts) > 1:
            f0 = starts[1] - think
            out.append({**base, "start": starts[0], "t": f0, "finish": f0})
            if len(starts) > 2:  # the counted span: from the first start to the last
                fc = starts[-1] - think  # counted query's finish
                out.append({**base, "start": starts[0], "t": fc, "finish": fc})
        out.append(last)
    if trace.of("query_batch"):
        out.sort(key=lambda q: q["t"])
    trace._queries = out  # type: ignore[attr-defined]
    return out


def queries_by_worker(trace: Trace) -> dict[str, list[dict]]:
    """queries() grouped by worker, in finish order (like trace.by_worker("query"))."""
    out: dict[str, list[dict]] = {}
    for q in queries(trace):
        out.setdefault(q.get("worker") or q.get("actor"), []).append(q)
    return out


def as_json(v: Any) -> Any:
    """A JSON column that a driver may have recorded as text."""
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return None
    return v


_GROUP = re.compile(r"worker-(\d+)$")


def group_of(worker: str) -> int | None:
    m = _GROUP.search(worker or "")
    return int(m.group(1)) if m else None


def event_of(emit: dict) -> Event:
    """An event_emit record as an Event (scope inside the data, as the actors read it)."""
    data = dict(emit.get("payload") or {})
    if emit.get("scope") is not None:
        data["scope"] = emit["scope"]
    return Event(emit.get("seq"), emit.get("type"), data)


def concerns(emit: dict, worker: str) -> bool:
    """Whether an emitted event is for `worker` by its scope (Event.concerns)."""
    return event_of(emit).concerns(worker, group_of(worker))


def stop_reason(emit: dict) -> str | None:
    return (emit.get("payload") or {}).get("reason")


def hb_writer(hb: dict) -> str:
    """`worker` or `orchestrator` (inferred from the actor when the field is missing)."""
    w = hb.get("writer")
    if w:
        return w
    return "orchestrator" if hb.get("actor") == "orchestrator" else "worker"


def tag_phase(tag: Any) -> str | None:
    """The X of a `...:phase=X` tag, or None."""
    if not isinstance(tag, str) or ":phase=" not in tag:
        return None
    return tag.rsplit(":phase=", 1)[1]


def epoch_at(hooks: list[dict], t: float) -> set[int]:
    """The metrics epochs a worker may have at `t`, from its hooks (epoch 0 before any).
    Within a hook's [start, end] both the old and new epoch are possible."""
    cur = 0
    for h in sorted(hooks, key=lambda h: h["t"]):
        start = h.get("start", h["t"])
        if t < start - TOL:
            break
        if t <= h["t"] + TOL:
            return {cur, h.get("epoch", cur + 1)}
        cur = h.get("epoch", cur + 1)
    return {cur}


def worker_started_in_measurement(trace: Trace, worker: str, t_meas: float | None) -> bool:
    """A worker 'starts in MEASUREMENT' if its start-up state says MEASUREMENT, or its process
    was spawned after the MEASUREMENT write was visible."""
    for r in trace.of("worker_state"):
        if r.get("worker") == worker and r.get("source") == "startup":
            if r.get("phase") == "MEASUREMENT":
                return True
            break
    if t_meas is None:
        return False
    for r in trace.of("proc"):
        if r.get("worker") == worker and r.get("action") == "spawn":
            return r["t"] >= t_meas - TOL
    return False
