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
    "run_end",
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
        for r in self.of("proc"):
            if r["worker"] not in ids:
                ids.append(r["worker"])
        return ids
