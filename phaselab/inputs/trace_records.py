"""A trace file, read and checked record by record against docs/trace.md.

The checkers (protocol/checks) trust what they read: a record without `t`, a `worker` that is
a list or a `start` that is a string would crash them. So every record is checked here first,
and a bad one is a UsageError naming the file, the line, the field, what was found and what
is allowed. A bad last line is a truncation (a crashed run), reported, not fatal. Unknown
kinds and unknown fields pass: checkers ignore what they do not know.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from phaselab.errors import UsageError
from phaselab.inputs.nesting import check_depth, loads_json
from phaselab.inputs.text import label, read_text

# Field types: num (finite number), int, str, bool, dict, list, id (int or str), any.
# Nulls where a world cannot know (a recorded upstream run has no epochs or event cursors).
# A trailing "?" also allows null; a leading "*" marks a field every record of the kind has.
_STATEMENT = {"*id": "int", "*op": "str", "value": "any"}
_QUERY = {"*worker": "str", "*conn": "id", "task": "id", "*finish": "num", "*tag": "str",
          "*epoch": "int?", "*counted": "bool?", "ok": "bool"}
SCHEMA: dict[str, dict[str, str]] = {
    "run": {"run_id": "str", "seed": "int?", "variant": "str", "switches": "dict",
            "world": "str", "params": "dict", "scenario": "dict", "live": "dict"},
    "invoke": {"*op": "str", "*id": "int", "args": "dict"},
    "ok": _STATEMENT, "fail": _STATEMENT, "info": _STATEMENT,
    "status_write": {"op_id": "int", "writer": "str", "guard": "dict", "set": "dict",
                     "matched": "bool?", "before": "dict?", "*after": "dict",
                     "db_time": "num?"},
    "event_emit": {"*seq": "int", "*type": "str", "*scope": "str", "payload": "dict",
                   "emitter": "str", "op_id": "int"},
    "heartbeat": {"*worker": "str", "*status": "str", "writer": "str", "stamp": "num",
                  "age": "num"},
    "conn": {"*worker": "str", "*conn": "id", "*action": "str", "*tag": "str"},
    "proc": {"*worker": "str", "*action": "str", "code": "int?", "pid": "int?"},
    "event_seen": {"*worker": "str", "*seq": "int?", "*type": "str", "*loop": "str",
                   "*outcome": "str", "cursor": "int"},
    "worker_state": {"*worker": "str", "*phase": "str?", "target": "int?", "source": "str"},
    "hook": {"*worker": "str", "*start": "num", "end": "num", "epoch": "int"},
    "query": {**_QUERY, "*start": "num"},
    "query_batch": {**_QUERY, "*n": "int", "*starts": "list", "think": "num",
                    "last_counted": "bool"},
    "notice": {"*worker": "str", "status": "str?", "phase": "str?", "event": "str?"},
    "marker": {"*worker": "str", "*name": "str"},
    "health": {k: "int" for k in ("registered", "active", "ready", "dead", "completed")},
    "stop_request": {"by": "str"},
    "run_end": {"*status": "str?", "*phase": "str?", "*reason": "str"},
    "ws_payload": {"*conn": "id", "phase": "str?", "status": "str?", "enrichment": "str?",
                   "elapsed": "num?", "phase_elapsed": "num?", "workers_active": "int",
                   "qps": "num", "ops": "bool"},
    "ui": {"*conn": "id", "push": "num?", "qps_avg_30s": "num", "history": "int",
           "*elapsed": "num", "status": "str?", "phase": "str?", "refetch": "bool",
           "enrichment": "str?"},
    "ws_close": {"*conn": "id", "closer": "str", "phase": "str?", "reason": "str"},
    # scaling (protocol/checks/scaling.py)
    "targets": {"requested": "int?", "total": "int?", "targets": "list?", "cap": "int?",
                "workers": "int?", "min_connections": "int?", "distribution": "str?",
                "target_qps": "num?", "reason": "str?"},
    "ctrl_eval": {"controller": "str?", "step": "int?", "target": "num?", "backoff": "bool?",
                  "outcome": "str?", "qps": "num?", "decision": "dict?", "best": "dict?",
                  "threads": "num?", "true_threads": "num?", "target_qps": "num?",
                  "lo": "num?", "hi": "num?"},
}
# Objects inside records that checkers compute with.
NESTED = {("ctrl_eval", "decision"): {"kind": "str?", "target": "num?"},
          ("ctrl_eval", "best"): {"concurrency": "num?", "qps": "num?"},
          ("event_emit", "payload"): {"reason": "str?", "phase": "str?",
                                      "ramp_seconds": "num?"},
          ("invoke", "args"): {"seq": "int?", "type": "str?"}}
COMMON = {"*t": "num", "*kind": "str", "actor": "str?"}
NOT_NULL = {("run", "params")}  # optional, but when there, not null (Trace reads it as a dict)
for _kind, _spec in SCHEMA.items():  # an optional field may be null: real traces write that
    for _name, _type in list(_spec.items()):
        if not _name.startswith("*") and not _type.endswith("?") \
                and (_kind, _name) not in NOT_NULL and _type != "any":
            _spec[_name] = _type + "?"
# Header params the checkers read (docs/trace.md): numbers (or null where a world lacks them)
# and names; a param not listed here passes, so a newer trace is not a false alarm.
PARAM_NUMBERS = {"P", "E", "R", "L", "Q", "D", "F", "warmup_s", "duration_s", "stale_s",
                 "dead_s", "heartbeat_s", "ready_timeout_s", "spawn_bound_s", "start_bound_s",
                 "enrichment_bound_s", "workers", "connections_per_worker", "kill_after_s",
                 "clock_eps_s", "health_refresh_s", "statement_timeout_s", "max_workers",
                 "findmax_step_limit", "qps_eval_period_s", "max_thread_increase"}
PARAM_STRINGS = {"backend", "test_id_prefix", "load_mode", "scaling_mode"}
# status_write before (both, when given: the chain reads them) and after (what changed)
ROW_STATE = {"before": {"*status": "str?", "*phase": "str?"},
             "after": {"status": "str?", "phase": "str?"}}

_WORDS = {"num": "a finite number", "int": "a whole number", "str": "a string",
          "bool": "true or false", "dict": "an object", "list": "a list",
          "id": "a whole number or a string", "any": "anything"}


def _fits(value: Any, kind: str) -> bool:
    if kind.endswith("?"):
        if value is None:
            return True
        kind = kind[:-1]
    if kind == "any":
        return True
    if kind == "num":
        return (isinstance(value, (int, float)) and not isinstance(value, bool)
                and math.isfinite(value))
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "id":
        return isinstance(value, str) or (isinstance(value, int)
                                          and not isinstance(value, bool))
    return isinstance(value, {"str": str, "bool": bool, "dict": dict, "list": list}[kind])


def _allowed(kind: str) -> str:
    words = _WORDS[kind.rstrip("?")]
    return words + (" or null" if kind.endswith("?") else "")


def _fields(rec: dict, spec: dict[str, str], where: str) -> None:
    for name, kind in spec.items():
        required = name.startswith("*")
        name = name.lstrip("*")
        if name not in rec:
            if required:
                raise UsageError(f"{where}: missing field {name!r} ({_allowed(kind)})")
            continue
        if not _fits(rec[name], kind):
            raise UsageError(f"{where}: field {name!r} must be {_allowed(kind)}, not "
                             f"{_short(rec[name])}")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_record(rec: Any, where: str, first: bool) -> None:
    """One record against the schema; `where` is `FILE:LINE`."""
    if not isinstance(rec, dict):
        raise UsageError(f"{where}: a trace record is a JSON object, not {_short(rec)}")
    if first and rec.get("kind") != "run":
        raise UsageError(f"{where}: the first record must be the 'run' header, not "
                         f"kind {_short(rec.get('kind'))}")
    _fields(rec, COMMON, where)
    kind = rec["kind"]
    _fields(rec, SCHEMA.get(kind, {}), where)
    for (k, name), spec in NESTED.items():
        if kind == k and isinstance(rec.get(name), dict):
            _fields(rec[name], spec, f"{where}: {name}")
    if kind == "run":
        _header(rec, where)
    elif kind == "status_write":
        for side in ("before", "after"):
            if rec.get(side):
                _fields(rec[side], ROW_STATE[side], f"{where}: {side}")
        guard = rec.get("guard") or {}
        for k, v in guard.items():
            if not isinstance(v, list) or not all(x is None or isinstance(x, str) for x in v):
                raise UsageError(f"{where}: guard.{k} must be a list of status or phase "
                                 f"names, not {_short(v)}")
    elif kind == "targets":
        if not all(_fits(x, "int") for x in rec.get("targets") or []):
            raise UsageError(f"{where}: field 'targets' must be a list of whole numbers")
    elif kind == "query_batch":
        if not all(_fits(s, "num") for s in rec["starts"]):
            raise UsageError(f"{where}: field 'starts' must be a list of finite numbers")
        if rec["n"] != len(rec["starts"]) or rec["n"] < 1:
            raise UsageError(f"{where}: field 'n' ({rec['n']}) must equal the number of "
                             f"'starts' ({len(rec['starts'])}) and be >= 1")


def _header(rec: dict, where: str) -> None:
    params = rec.get("params") or {}
    for k, v in params.items():
        if k == "worker_ids":
            if not isinstance(v, list) or not all(isinstance(w, str) for w in v):
                raise UsageError(f"{where}: params.worker_ids must be a list of worker "
                                 f"names, not {_short(v)}")
        elif k in PARAM_STRINGS:
            if not _fits(v, "str?"):
                raise UsageError(f"{where}: params.{k} must be a string, not {_short(v)}")
        elif k in PARAM_NUMBERS and not _fits(v, "num?"):
            raise UsageError(f"{where}: params.{k} must be a finite number or null, not "
                             f"{_short(v)}")


@dataclass
class TraceFile:
    records: list[dict]
    truncated_line: int | None = None  # 1-based number of an unreadable last line


def load_trace(path: str, option: str | None = None) -> TraceFile:
    """Read and check a JSON-lines trace; a bad line other than the last is a UsageError."""
    name = label(path, option)
    lines = read_text(path, "trace file (JSON lines, from phaselab run or smoke --trace)",
                      option).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    records: list[dict] = []
    truncated = None
    for i, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{name}:{i}"
        try:
            rec = loads_json(line, where)
        except ValueError as exc:
            if i == len(lines) and records:
                truncated = i
                break
            raise UsageError(f"{where}: not a JSON trace record ({exc})") from None
        check_record(rec, where, first=not records)
        records.append(rec)
    if not records:
        raise UsageError(f"{name}: holds no records; a trace starts with its 'run' header")
    check_depth(records[0], f"{name}:1")
    return TraceFile(records, truncated)
