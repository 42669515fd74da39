"""Trace records: writing them line by line, reading them back, and an index for checkers.

The schema is docs/trace.md. Records are plain dicts so that a simulated and a live run write
the same thing and a checker never needs a driver's classes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import IO, Any, Iterable, Iterator

RECORD_KINDS = (
    "run", "invoke", "ok", "fail", "info", "status_write", "event_emit", "heartbeat", "conn",
    "proc", "event_seen", "worker_state", "hook", "query", "marker", "health", "stop_request",
    "run_end", "targets", "ctrl_eval", "fault", "crash",
)


def _round(x: Any) -> Any:
    if isinstance(x, float):
        return round(x, 9)
    if isinstance(x, dict):
        return {k: _round(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_round(v) for v in x]
    return x


def dumps(record: dict) -> str:
    """One canonical line: stable key order and rounded floats, so equal runs are equal bytes."""
    return json.dumps(_round(record), sort_keys=True, separators=(",", ":"), default=str)


class TraceWriter:
    """Collects records in memory and, if given a file, appends and flushes each line."""

    def __init__(self, sink: IO[str] | None = None, keep: bool = True):
        self.sink = sink
        self.keep = keep
        self.records: list[dict] = []

    def write(self, record: dict) -> None:
        if self.keep:
            self.records.append(record)
        if self.sink is not None:
            self.sink.write(dumps(record) + "\n")
            self.sink.flush()

    def lines(self) -> Iterator[str]:
        return (dumps(r) for r in self.records)


@dataclass
class ReadResult:
    records: list[dict]
    truncated_line: int | None = None  # 1-based number of an unreadable last line
    errors: list[str] = field(default_factory=list)


class TraceFormatError(ValueError):
    pass


def read_trace(path: str) -> ReadResult:
    """Read a JSON-lines trace. A bad last line is a truncation (reported); a bad line in the
    middle is an error naming the file and line."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    out: list[dict] = []
    truncated = None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
            if not isinstance(rec, dict) or "kind" not in rec:
                raise ValueError("not a trace record")
        except ValueError as exc:
            if i == len(lines):
                truncated = i
                break
            raise TraceFormatError(f"{path}:{i}: not a trace record ({exc})") from None
        out.append(rec)
    if not out or out[0].get("kind") != "run":
        raise TraceFormatError(f"{path}: the first record must be the 'run' header")
    return ReadResult(out, truncated)


class Trace:
    """Read-only view over a run's records with the look-ups every checker needs."""

    def __init__(self, records: Iterable[dict]):
        self.records = list(records)
        if not self.records or self.records[0].get("kind") != "run":
            raise TraceFormatError("a trace starts with its 'run' header")
        self.header = self.records[0]
        self.params: dict = self.header.get("params", {})
        self._by_kind: dict[str, list[dict]] = {}
        for r in self.records:
            self._by_kind.setdefault(r["kind"], []).append(r)

    def of(self, *kinds: str) -> list[dict]:
        if len(kinds) == 1:
            return self._by_kind.get(kinds[0], [])
        return [r for r in self.records if r["kind"] in kinds]

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def matched_status_writes(self) -> list[dict]:
        """Applied RUN_STATUS writes in commit order, with `before` filled from the chain when
        the driver could not know it (live traces)."""
        out = []
        status, phase = None, None
        for r in self.of("status_write"):
            if not r.get("matched"):
                continue
            before = r.get("before") or {"status": status, "phase": phase}
            after = r.get("after") or {}
            status, phase = after.get("status", status), after.get("phase", phase)
            out.append({**r, "before": before, "after": {"status": status, "phase": phase}})
        return out

    def first_write(self, status: str | None = None, phase: str | None = None) -> dict | None:
        """The first applied write that made STATUS (and/or PHASE) the given value."""
        for r in self.matched_status_writes():
            b, a = r["before"], r["after"]
            if status is not None and not (a["status"] == status and b["status"] != status):
                continue
            if phase is not None and not (a["phase"] == phase and b["phase"] != phase):
                continue
            return r
        return None

    def workers(self) -> list[str]:
        ids = list(self.param("worker_ids", []))
        known = set(ids)  # a set: a 1,000-worker trace has thousands of proc records
        for r in self.of("proc"):
            if r["worker"] not in known:
                known.add(r["worker"])
                ids.append(r["worker"])
        return ids

    # --- helpers for checkers (added with protocol/checks) -------------------------------

    def by_worker(self, kind: str) -> dict[str, list[dict]]:
        """Records of one kind grouped by their `worker` field (actor when absent), in order."""
        out: dict[str, list[dict]] = {}
        for r in self.of(kind):
            out.setdefault(r.get("worker") or r.get("actor"), []).append(r)
        return out

    def end_t(self) -> float:
        """The run-clock time of the last record (how far the trace reaches)."""
        return max((r.get("t", 0.0) for r in self.records), default=0.0)

    def status_chain(self) -> list[dict]:
        """Every status_write that applied or may have applied, in commit order.

        Like matched_status_writes() but aware of unknown outcomes: a write whose `matched` is
        null (an `info` statement) may or may not have applied. Each returned record gets
        `befores` (every (status, phase) dict the row may have had just before), `before`
        (the one given by the driver, else the chain of certain writes), `after` and
        `certain` (False for a maybe-applied write). Computed once (a Trace is read-only)."""
        cached = getattr(self, "_status_chain", None)
        if cached is not None:
            return cached
        out = []
        states: set[tuple] = {(None, None)}
        sure = (None, None)
        for r in self.of("status_write"):
            m = r.get("matched")
            if m is False:
                continue
            given = r.get("before")
            if given is not None:
                cands = [(given.get("status"), given.get("phase"))]
            else:
                cands = sorted(states, key=repr)
            a = r.get("after") or {}
            afters = {(a.get("status", b[0]), a.get("phase", b[1])) for b in cands}
            before = (given.get("status"), given.get("phase")) if given is not None else sure
            after = (a.get("status", before[0]), a.get("phase", before[1]))
            certain = m is not None
            if certain:
                states, sure = afters, after
            else:
                states = states | afters
            out.append({**r, "before": {"status": before[0], "phase": before[1]},
                        "after": {"status": after[0], "phase": after[1]},
                        "befores": [{"status": s, "phase": p} for s, p in cands],
                        "certain": certain})
        self._status_chain = out
        return out

    def statuses_at(self, t: float) -> set:
        """The STATUS values the run row may have had at run-clock `t` (after writes at <= t)."""
        states: set = {None}
        for r in self.status_chain():
            if r["t"] > t:
                break
            s = r["after"]["status"]
            states = {s} if r["certain"] else states | {s}
        return states

    def measurement_write(self) -> dict | None:
        """The first applied write whose PHASE becomes MEASUREMENT (measurement starts)."""
        return self.first_write(phase="MEASUREMENT")

    def main_loop_entry(self, worker: str) -> float | None:
        """t_k: when `worker` entered its main loop (its first `main_loop` marker)."""
        for r in self.of("marker"):
            if r.get("worker") == worker and r.get("name") == "main_loop":
                return r["t"]
        return None

    def uncertain_ops(self, op: str) -> list[dict]:
        """`invoke` records of statement kind `op` whose outcome is `info` or never came."""
        done = {r.get("id"): r["kind"] for r in self.of("ok", "fail", "info")}
        return [r for r in self.of("invoke")
                if r.get("op") == op and done.get(r.get("id"), "info") == "info"]
