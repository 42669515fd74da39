"""Recorded statements and notes -> a phaselab trace (docs/trace.md), by a statement map.

Times: every process of the target runs on this host, so the recorder's wall-clock readings
share one clock; the trace's t = 0 is the start of the process that creates the run. A
statement takes effect, as in phaselab's own live runs, at its completion; CURRENT_TIMESTAMP()
in a write is that instant too.
"""
from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from protocol.bounds import bounds
from protocol.config import RunConfig

from . import sqltext
from .recording import ProcessLog
from .statement_map import StatementMap

SETUP_ACTOR = "setup"


class ConvertError(Exception):
    """The recording cannot be turned into a trace (the message says why)."""


@dataclass
class RunFacts:
    """What the driver reported about the run, beside the recording."""
    run_id: str
    workers: int
    connections: int
    warmup_s: float
    measure_s: float
    worker_exit_codes: list = field(default_factory=list)
    status: str | None = None
    phase: str | None = None
    reason: str = "finished"
    stop_request_wall: float | None = None
    db_times: dict = field(default_factory=dict)  # column -> the database's own timestamp


@dataclass
class Conversion:
    records: list[dict]
    t0: float
    stats: dict
    coverage: dict


def _wall(v: Any) -> Any:
    if v is sqltext.NOW:
        return None
    if isinstance(v, str):
        try:
            return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return v
    return v


def _shape(sql: str) -> str:
    s = re.sub(r"'[^']*'", "'…'", sql)
    return s[:90]


class _Converter:
    def __init__(self, smap: StatementMap, facts: RunFacts):
        self.smap, self.facts = smap, facts
        self.out: list[tuple[float, int, dict]] = []
        self.n = 0
        self.op_id = 0
        self.db_times_used: set[str] = set()
        self.stats = {"statements": Counter(), "by_actor": Counter(), "errors": Counter(),
                      "unmapped": Counter(), "ops": Counter(), "setup_statements": 0,
                      "queries": 0, "harness_statements": 0, "marks_changed_rows": 0, "marks": 0, "bad_lines": 0,
                      "latency": defaultdict(list)}

    def add(self, wall: float, rec: dict) -> None:
        self.n += 1
        self.out.append((wall, self.n, rec))

    def process(self, log: ProcessLog, actor: str) -> None:
        conns: dict[Any, dict] = {}
        rows = {r.get("stmt"): r for r in log.records if r.get("k") == "rows"}
        last_read_phase = None
        hooks = 0
        for r in log.records:
            k = r.get("k")
            if k == "connect":
                tag = (r.get("session_parameters") or {}).get("QUERY_TAG")
                conns[r.get("conn")] = {"tag": tag, "role": self.smap.role_of(tag)}
            elif k == "connect_done" and not r.get("error"):
                c = conns.get(r.get("conn"), {"tag": None, "role": "control"})
                if c["role"] == "benchmark":
                    self.add(r["t"], {"actor": actor, "kind": "conn", "worker": actor,
                                      "conn": f"c{r.get('conn')}", "action": "created",
                                      "tag": c["tag"]})
            elif k == "stmt":
                c = conns.get(r.get("conn"), {"tag": None, "role": "control"})
                if c["role"] == "harness":
                    self.stats["harness_statements"] += 1
                    continue
                phase = self.statement(r, actor, c, rows.get(r.get("id")))
                if phase is not None:
                    last_read_phase = phase
            elif k == "log":
                self.log_line(r, actor, last_read_phase)
            elif k == "call":
                for n in self.smap.notes:
                    if n.call and n.call == r.get("note") and n.hook:
                        hooks += 1
                        self.add(r["t1"], {"actor": actor, "kind": "hook", "worker": actor,
                                           "start": r["t0"], "end": r["t1"], "epoch": hooks})

    def statement(self, r: dict, actor: str, conn: dict, rows: dict | None) -> str | None:
        """Emit the records of one statement; returns the phase it read, if a status read."""
        sql = sqltext.normalize(r.get("sql", ""))
        params = r.get("params")
        params = list(params) if isinstance(params, (list, tuple)) else None
        err = r.get("error")
        t0, t1 = r["t0"], r["t1"]
        self.stats["statements"][actor] += 1
        if err:
            self.stats["errors"][_shape(sql)] += 1
        found = self.smap.rule_for(sql, conn["role"])
        if found is None:
            self.stats["unmapped"][_shape(sql)] += 1
            return None
        rule, m = found
        if rule.emit == "query":
            self.stats["queries"] += 1
            self.stats["latency"]["benchmark"].append(t1 - t0)
            self.add(t1, {"actor": actor, "kind": "query", "worker": actor,
                          "conn": f"c{r.get('conn')}", "task": r.get("thread"), "start": t0,
                          "finish": t1, "tag": conn["tag"], "epoch": None, "counted": None,
                          "ok": not err})
            return None
        self.stats["ops"][rule.op or rule.name] += 1
        self.op_id += 1
        oid = self.op_id
        value = self._value(rule, rows)
        if rule.op:
            args = {k: params[i] for k, i in rule.args.items()
                    if params is not None and i < len(params)}
            self.add(t0, {"actor": actor, "kind": "invoke", "op": rule.op, "id": oid,
                          "args": args, "sql": rule.name})
            done = {"actor": actor, "kind": "fail" if err else "ok", "op": rule.op, "id": oid}
            if err:
                done["error"] = err.get("message")
            elif value is not None:
                done["value"] = value
            self.add(t1, done)
            if not err:
                self.stats["latency"][rule.op].append(t1 - t0)
        if err:
            return None
        emit = rule.emit
        if emit == "status_write":
            self._status_write(sql, params, r, actor, oid, rule.op == "create_run")
        elif emit == "event_emit":
            c = sqltext.insert_columns(sql, params)
            data = c.get("EVENT_DATA") if isinstance(c.get("EVENT_DATA"), dict) else {}
            data = dict(data)
            scope = data.pop("scope", "RUN")
            self.add(t1, {"actor": "driver", "kind": "event_emit", "seq": c.get("SEQUENCE_ID"),
                          "type": c.get("EVENT_TYPE"), "scope": scope, "payload": data,
                          "emitter": actor, "op_id": oid})
        elif emit == "heartbeat":
            c = sqltext.merge_source(sql, params)
            self.add(t1, {"actor": actor, "kind": "heartbeat", "worker": c.get("WORKER_ID", actor),
                          "status": c.get("STATUS"), "writer": "worker",
                          "stamp": _wall(c.get("LAST_HEARTBEAT"))})
        elif emit == "health" and isinstance(value, dict):
            self.add(t1, {"actor": actor, "kind": "health", **value})
        elif emit == "conn_altered":
            tag = m.groupdict().get("tag")
            if conn["role"] == "benchmark":
                conn["tag"] = tag
                self.add(t1, {"actor": actor, "kind": "conn", "worker": actor,
                              "conn": f"c{r.get('conn')}", "action": "altered", "tag": tag})
        if rule.op == "mark_heartbeats":
            self.stats["marks"] += 1
            self.stats["marks_changed_rows"] += int(r.get("rowcount") or 0)
        if rule.op == "read_run_status" and isinstance(value, dict):
            return value.get("phase")
        return None

    def _value(self, rule, rows: dict | None) -> Any:
        if not rule.value or rows is None:
            return None
        data = rows.get("rows") or []
        if set(rule.value) == {"seqs"}:
            i = rule.value["seqs"]
            return [row[i] for row in data if isinstance(row, list) and i < len(row)]
        if not data or not isinstance(data[0], list):
            return None
        row = data[0]
        return {k: row[i] for k, i in rule.value.items() if i < len(row)}

    def _status_write(self, sql, params, r, actor, oid, create: bool) -> None:
        if create:
            cols, guard, matched = sqltext.insert_columns(sql, params), {}, True
        else:
            cols, guard = sqltext.update_parts(sql, params)
            rc = r.get("rowcount")
            matched = None if rc is None else rc > 0
        keep = {}
        for k, v in cols.items():
            if k in ("SCENARIO_CONFIG", "RUN_ID", "TEST_ID", "TEMPLATE_ID"):
                continue
            if v is sqltext.NOW:
                # the first write of a once-written timestamp stored the value read back
                # after the run; otherwise the statement's completion stands in for it
                if k in self.facts.db_times and k not in self.db_times_used \
                        and (matched or matched is None):
                    self.db_times_used.add(k)
                    v = self.facts.db_times[k]
                else:
                    v = r["t1"]
            keep[k] = v
        after = {}
        if "STATUS" in keep:
            after["status"] = keep["STATUS"]
        if "PHASE" in keep:
            after["phase"] = keep["PHASE"]
        self.add(r["t1"], {"actor": "driver", "kind": "status_write", "op_id": oid,
                           "writer": actor, "guard": guard, "set": keep, "matched": matched,
                           "before": None, "after": after, "db_time": r["t1"]})

    def log_line(self, r: dict, actor: str, last_read_phase: str | None) -> None:
        for n in self.smap.notes:
            if n.match is None or (n.logger and n.logger != r.get("logger")):
                continue
            m = n.match.search(r.get("msg", ""))
            if not m:
                continue
            g = m.groupdict()
            if n.marker:
                self.add(r["t"], {"actor": actor, "kind": "marker", "worker": actor,
                                  "name": n.marker})
            if n.state:
                ph = n.state.get("phase")
                ph = last_read_phase if ph == "$last_read_phase" else (
                    ph.format(**g) if isinstance(ph, str) else ph)
                self.add(r["t"], {"actor": actor, "kind": "worker_state", "worker": actor,
                                  "phase": ph, "target": None,
                                  "source": n.state.get("source", "event")})
            if n.seen:
                self.add(r["t"], {"actor": actor, "kind": "event_seen", "worker": actor,
                                  "seq": None, "type": n.seen.get("type"), "loop": "main",
                                  "outcome": "applied", "cursor": None})


def convert(logs: list[ProcessLog], smap: StatementMap, facts: RunFacts,
            scenario: dict | None = None) -> Conversion:
    cv = _Converter(smap, facts)
    actors = {}
    for log in logs:
        cv.stats["bad_lines"] += log.bad_lines
        actor = smap.actor_of(log.argv) or SETUP_ACTOR
        actors[log.pid] = actor
        if actor == SETUP_ACTOR:
            cv.stats["setup_statements"] += sum(1 for r in log.records if r.get("k") == "stmt")
            continue
        cv.process(log, actor)
    run_logs = [lg for lg in logs if actors[lg.pid] == "orchestrator"]
    if not run_logs:
        raise ConvertError("the recording has no process of the run (no [[process]] rule of "
                           f"{smap.path.name} gave `orchestrator`)")
    t0 = run_logs[0].start
    workers = [lg for lg in logs if re.fullmatch(r"worker-\d+", actors[lg.pid])]
    codes = facts.worker_exit_codes or []
    for lg in workers:
        w = actors[lg.pid]
        g = int(w.split("-")[1])
        cv.add(lg.start, {"actor": "orchestrator", "kind": "proc", "worker": w,
                          "action": "spawn"})
        code = codes[g] if g < len(codes) else None
        if code is not None or facts.reason != "finished":
            cv.add(lg.end, {"actor": "orchestrator", "kind": "proc", "worker": w,
                            "action": "exit", "code": code})
    if facts.stop_request_wall is not None:
        cv.add(facts.stop_request_wall, {"actor": "user", "kind": "stop_request", "by": "user"})
    cv.out.sort(key=lambda x: (x[0], x[1]))
    records = []
    for wall, _n, rec in cv.out:
        rec = {"t": round(wall - t0, 6), **rec}
        for key in ("start", "finish", "end"):
            if isinstance(rec.get(key), float):
                rec[key] = round(rec[key] - t0, 6)
        records.append(rec)
    _fill_event_seen(records)
    _first_queries(records)
    end_t = max((r["t"] for r in records), default=0.0)
    records.append({"t": end_t, "actor": "driver", "kind": "run_end", "status": facts.status,
                    "phase": facts.phase, "reason": facts.reason})
    header = _header(cv, facts, records, workers, actors, t0, scenario)
    stats = {**{k: dict(v) if isinstance(v, Counter) else v for k, v in cv.stats.items()
                if k != "latency"},
             "latency_s": {k: sorted(v) for k, v in cv.stats["latency"].items()}}
    coverage = _coverage(smap, cv.stats)
    header["upstream"]["coverage"] = coverage  # so a saved trace is judged as honestly later
    return Conversion([header] + records, t0, stats, coverage)


def _fill_event_seen(records: list[dict]) -> None:
    """A logged event (`STOP received`) names its type, not its sequence id: it is the latest
    event of that type committed before the log line."""
    emits = [r for r in records if r["kind"] == "event_emit"]
    for r in records:
        if r["kind"] == "event_seen" and r.get("seq") is None:
            e = [x for x in emits if x.get("type") == r.get("type") and x["t"] <= r["t"]]
            if e:
                r["seq"] = e[-1].get("seq")
                r["cursor"] = e[-1].get("seq")


def _first_queries(records: list[dict]) -> None:
    seen = set()
    for r in list(records):
        if r["kind"] == "query" and r["worker"] not in seen:
            seen.add(r["worker"])
            records.append({"t": r["start"], "actor": r["worker"], "kind": "marker",
                            "worker": r["worker"], "name": "first_query"})
    records.sort(key=lambda r: r["t"])


def _header(cv, facts, records, workers, actors, t0, scenario) -> dict:
    lat = cv.stats["latency"]
    control = [x for k, v in lat.items() if k != "benchmark" for x in v]
    L = round(max(control, default=1.0), 3)
    Q = round(max(lat.get("benchmark", []), default=L), 3)
    hooks = [r["end"] - r["start"] for r in records if r["kind"] == "hook"]
    spawn = []
    for lg in workers:
        w = actors[lg.pid]
        ready = next((r["t"] for r in records if r["kind"] == "heartbeat"
                      and r.get("worker") == w and r.get("status") == "READY"), None)
        if ready is not None:
            spawn.append(ready - (lg.start - t0))
    cfg = RunConfig(**{**cv.smap.config, "workers": facts.workers,
                       "connections_per_worker": facts.connections,
                       "warmup_s": facts.warmup_s, "duration_s": facts.measure_s})
    params = bounds(cfg, L, Q, round(max(hooks, default=0.0), 3),
                    round(max(spawn, default=0.0), 3))
    params["test_id_prefix"] = facts.run_id
    # the driver's template: FIXED scaling, CONCURRENCY load (upstream/drivers/flakebench.py)
    params.update(load_mode="CONCURRENCY", scaling_mode="FIXED", max_workers=facts.workers)
    params["health_refresh_s"] = cfg.health_refresh_s
    params["clock_eps_s"] = 0.01
    params["bounds_from"] = ("L, Q, hook and spawn times are the largest measured in this run "
                             "(the upstream's own timeouts are 60-600 s and would bound nothing)")
    return {"t": 0.0, "actor": "phaselab", "kind": "run", "run_id": facts.run_id, "seed": None,
            "variant": "upstream", "switches": {}, "world": "upstream", "params": params,
            "scenario": {"load_mode": "CONCURRENCY", **(scenario or {})},
            "upstream": {"tool": cv.smap.tool["name"], "version": cv.smap.tool["version"],
                         "map": cv.smap.path.name}}


def _coverage(smap: StatementMap, stats: dict) -> dict:
    """The map's declared coverage, sharpened by this run: marks that changed no row mean no
    worker was marked, which the recording then shows completely."""
    cov = {k: dict(v) for k, v in smap.coverage.items()}
    hm = cov.get("heartbeat_marks")
    if hm and hm["level"] == "partial" and stats["marks"] and stats["marks_changed_rows"] == 0:
        cov["heartbeat_marks"] = {"level": "complete",
                                  "why": f"all {stats['marks']} STALE/DEAD mark statements "
                                         "changed no row: no worker was marked"}
    return cov
