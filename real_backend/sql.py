"""The SQL text of every statement effect (Snowflake dialect, `?` bound values).

One place owns the SQL so that the real driver stays a dispatcher and reviewers can compare
each statement with the reference (docs/reference-protocol.md §2, §4.2, §7). Every value is a
bound `?` parameter; object names are validated identifiers (identifiers.py). The one
exception is ALTER SESSION SET QUERY_TAG, where Snowflake does not accept a bind variable
(a `?` becomes the literal tag "?"), so the tag is a strictly escaped string literal.

Choices worth knowing:
- Elapsed values are computed by the database as DATEDIFF(MILLISECOND, col,
  CURRENT_TIMESTAMP()) / 1000: fractional seconds, one clock (measured to work on fakesnow).
- AllocSeq uses a SEQUENCE object per run (`SELECT <seq>.NEXTVAL`). Snowflake has no
  UPDATE ... RETURNING, and "UPDATE NEXT_SEQUENCE_ID + 1, then SELECT" is two statements that
  another emitter can interleave; NEXTVAL is one statement and never hands out a value twice.
  On Snowflake the sequence is created ORDER (new sequences default to NOORDER, whose values
  need not increase across sessions) and may still leave gaps, which the protocol tolerates
  (workers only need increasing ids; the trace header says `seq_gaps`); a NEXTVAL whose
  outcome is unknown is recorded `info`: it may have consumed a value. The embedded server's
  parser rejects ORDER; its sequences are gap-free and ordered anyway.
  The reference three-statement path keeps using RUN_STATUS.NEXT_SEQUENCE_ID.
- HYBRID tables (row locks, enforced keys) on Snowflake; standard tables on the embedded
  backend, whose parser rejects CREATE HYBRID TABLE. Same columns and keys either way.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

from protocol import effects as fx

from .identifiers import validate_identifier


class Q(NamedTuple):
    text: str
    params: tuple = ()


def age_sql(column: str) -> str:
    """Seconds (fractional) from `column` to the database's CURRENT_TIMESTAMP()."""
    return f"DATEDIFF(MILLISECOND, {column}, CURRENT_TIMESTAMP()) / 1000"


# Columns an actor may set on RUN_STATUS, and how a value is bound.
RUN_STATUS_SETTABLE = {
    "STATUS": "text", "PHASE": "text", "CANCELLATION_REASON": "text",
    "START_TIME": "ts", "WARMUP_START_TIME": "ts", "WARMUP_END_TIME": "ts",
    "MEASUREMENT_START_TIME": "ts", "END_TIME": "ts",
    "WORKER_TARGETS": "json",
    # the rollup (§10.2; written in the load modes)
    "WORKERS_REGISTERED": "num", "WORKERS_ACTIVE": "num", "WORKERS_COMPLETED": "num",
    "TOTAL_OPS": "num", "CURRENT_QPS": "num",
}
HB_ACTIVE = ("STARTING", "WAITING", "RUNNING", "DRAINING", "STALE", "READY", "INITIALIZING")
HB_COMPLETED = ("COMPLETED", "DEAD")
BENCHMARK_ROWS = 100


def _in_list(column: str, values: tuple, negate: bool = False) -> tuple[str, tuple]:
    marks = ", ".join("?" for _ in values)
    return f"{column} {'NOT IN' if negate else 'IN'} ({marks})", tuple(values)


def guard_where(guard: fx.Guard) -> tuple[str, tuple]:
    """The AND-ed conditions of a Guard with bound params ('' when the guard is empty)."""
    parts, params = [], []
    for column, values, negate in (("STATUS", guard.status_in, False),
                                   ("STATUS", guard.status_not_in, True),
                                   ("PHASE", guard.phase_in, False)):
        if values is None:
            continue
        if not values:  # IN () is not SQL; an empty allow-list admits nothing
            parts.append("1 = 0" if not negate else "1 = 1")
            continue
        cond, p = _in_list(column, tuple(values), negate)
        parts.append(cond)
        params.extend(p)
    return " AND ".join(parts), tuple(params)


def quote_tag(tag: str) -> str:
    """A QUERY_TAG as a single-quoted literal; refuses control characters and over-long tags."""
    if not isinstance(tag, str) or len(tag) > 2000 or any(ord(c) < 32 for c in tag):
        raise ValueError("QUERY_TAG must be a string of at most 2000 printable characters")
    return "'" + tag.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class SqlText:
    database: str
    schema: str
    hybrid: bool = False
    snowflake: bool = False  # Snowflake's dialect where the embedded server's differs

    def __post_init__(self):
        object.__setattr__(self, "database", validate_identifier(self.database, "database"))
        object.__setattr__(self, "schema", validate_identifier(self.schema, "schema"))

    # --- names ----------------------------------------------------------------------------
    @property
    def qschema(self) -> str:
        return f"{self.database}.{self.schema}"

    def t(self, table: str) -> str:
        return f"{self.qschema}.{table}"

    def seq_name(self, run_id: str) -> str:
        """A run's event sequence: a hash of the run id, so any run id gives a valid name."""
        return self.t("EVENT_SEQ_" + hashlib.sha1(run_id.encode()).hexdigest()[:16].upper())

    # --- schema lifecycle -----------------------------------------------------------------
    def create_schema(self) -> Q:
        return Q(f"CREATE SCHEMA IF NOT EXISTS {self.qschema}")

    def use_schema(self) -> Q:
        return Q(f"USE SCHEMA {self.qschema}")

    def drop_schema(self) -> Q:
        return Q(f"DROP SCHEMA IF EXISTS {self.qschema} CASCADE")

    def ddl(self) -> list[Q]:
        kind = "HYBRID TABLE" if self.hybrid else "TABLE"
        return [Q(f"CREATE {kind} IF NOT EXISTS {self.t(name)} ({cols})") for name, cols in (
            ("RUN_STATUS", """RUN_ID VARCHAR NOT NULL PRIMARY KEY, TEST_ID VARCHAR,
                SCENARIO_CONFIG VARIANT, STATUS VARCHAR NOT NULL, PHASE VARCHAR NOT NULL,
                START_TIME TIMESTAMP_NTZ, WARMUP_START_TIME TIMESTAMP_NTZ,
                WARMUP_END_TIME TIMESTAMP_NTZ, MEASUREMENT_START_TIME TIMESTAMP_NTZ,
                END_TIME TIMESTAMP_NTZ, TOTAL_WORKERS_EXPECTED INTEGER,
                WORKERS_REGISTERED INTEGER, WORKERS_ACTIVE INTEGER, WORKERS_COMPLETED INTEGER,
                TOTAL_OPS INTEGER, CURRENT_QPS FLOAT, WORKER_TARGETS VARIANT, NEXT_SEQUENCE_ID INTEGER DEFAULT 1,
                CANCELLATION_REASON VARCHAR, CREATED_AT TIMESTAMP_NTZ,
                UPDATED_AT TIMESTAMP_NTZ"""),
            ("RUN_CONTROL_EVENTS", """EVENT_ID VARCHAR NOT NULL PRIMARY KEY,
                RUN_ID VARCHAR NOT NULL, EVENT_TYPE VARCHAR NOT NULL, EVENT_DATA VARIANT,
                SEQUENCE_ID INTEGER NOT NULL, CREATED_AT TIMESTAMP_NTZ"""),
            ("WORKER_HEARTBEATS", """RUN_ID VARCHAR NOT NULL, WORKER_ID VARCHAR NOT NULL,
                WORKER_GROUP_ID INTEGER, STATUS VARCHAR, PHASE VARCHAR,
                LAST_HEARTBEAT TIMESTAMP_NTZ, HEARTBEAT_COUNT INTEGER,
                ACTIVE_CONNECTIONS INTEGER, TARGET_CONNECTIONS INTEGER, LAST_ERROR VARCHAR,
                UPDATED_AT TIMESTAMP_NTZ, PRIMARY KEY (RUN_ID, WORKER_ID)"""),
            ("TEST_RESULTS", """TEST_ID VARCHAR NOT NULL PRIMARY KEY, RUN_ID VARCHAR NOT NULL,
                STATUS VARCHAR, ENRICHMENT_STATUS VARCHAR, END_TIME TIMESTAMP_NTZ,
                CREATED_AT TIMESTAMP_NTZ, UPDATED_AT TIMESTAMP_NTZ"""),
            ("BENCHMARK", "K INTEGER NOT NULL PRIMARY KEY, V VARCHAR"),
        )]

    def fill_benchmark(self, rows: int = BENCHMARK_ROWS) -> Q:
        values = ", ".join("(?, ?)" for _ in range(rows))
        params = tuple(x for k in range(1, rows + 1) for x in (k, f"value-{k}"))
        return Q(f"INSERT INTO {self.t('BENCHMARK')} (K, V) VALUES {values}", params)

    # --- statements -----------------------------------------------------------------------
    def create_run(self, e: fx.CreateRun) -> list[Q]:
        return [
            Q(f"CREATE SEQUENCE IF NOT EXISTS {self.seq_name(e.run_id)} START = 1 INCREMENT = 1"
              + (" ORDER" if self.snowflake else "")),
            Q(f"INSERT INTO {self.t('RUN_STATUS')} (RUN_ID, TEST_ID, SCENARIO_CONFIG, STATUS, "
              "PHASE, TOTAL_WORKERS_EXPECTED, CREATED_AT, UPDATED_AT) SELECT ?, ?, PARSE_JSON(?), "
              "?, ?, ?, CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP()",
              (e.run_id, e.run_id, json.dumps(dict(e.scenario), default=str), "PREPARED", "",
               int(e.workers_expected))),
        ]

    def read_run_status(self, e: fx.ReadRunStatus) -> Q:
        return Q(f"SELECT STATUS, PHASE, {age_sql('START_TIME')}, {age_sql('WARMUP_START_TIME')}, "
                 f"{age_sql('MEASUREMENT_START_TIME')}, WORKER_TARGETS "
                 f"FROM {self.t('RUN_STATUS')} WHERE RUN_ID = ?", (e.run_id,))

    def write_run_status(self, e: fx.WriteRunStatus) -> Q:
        sets, params = [], []
        for col, value in e.set.items():
            col = col.upper()
            kind = RUN_STATUS_SETTABLE.get(col)
            if kind is None:
                raise ValueError(f"RUN_STATUS column {col!r} is not settable; "
                                 f"allowed: {sorted(RUN_STATUS_SETTABLE)}")
            if value == fx.NOW:
                expr = "CURRENT_TIMESTAMP()"
            elif kind == "json":
                expr, value = "PARSE_JSON(?)", json.dumps(value, default=str)
            elif kind == "ts":
                expr = "TO_TIMESTAMP_NTZ(?)"
            else:
                expr = "?"
            if col in {c.upper() for c in e.coalesce}:
                expr = f"COALESCE({col}, {expr})"
            sets.append(f"{col} = {expr}")
            if "?" in expr:
                params.append(value)
        sets.append("UPDATED_AT = CURRENT_TIMESTAMP()")
        where, gparams = guard_where(e.guard)
        text = (f"UPDATE {self.t('RUN_STATUS')} SET {', '.join(sets)} WHERE RUN_ID = ?"
                + (f" AND {where}" if where else ""))
        return Q(text, (*params, e.run_id, *gparams))

    def read_back_times(self, run_id: str, columns: list[str]) -> Q:
        """Database times of timestamp columns just written, as Unix seconds. Computed as
        now - age rather than the column's own epoch: a TIMESTAMP_NTZ filled from
        CURRENT_TIMESTAMP() holds session-time-zone wall time, which EPOCH would misread as
        UTC on Snowflake (the embedded backend is always UTC)."""
        cols = [c for c in columns if RUN_STATUS_SETTABLE.get(c) == "ts"]
        now = "DATE_PART(EPOCH_MILLISECOND, CURRENT_TIMESTAMP()) / 1000"
        exprs = ", ".join(f"{now} - {age_sql(c)}" for c in [*cols, "UPDATED_AT"])
        return Q(f"SELECT {exprs} FROM {self.t('RUN_STATUS')} WHERE RUN_ID = ?", (run_id,))

    def read_next_seq(self, e: fx.ReadNextSeq) -> Q:
        return Q(f"SELECT NEXT_SEQUENCE_ID FROM {self.t('RUN_STATUS')} WHERE RUN_ID = ?",
                 (e.run_id,))

    def bump_next_seq(self, e: fx.BumpNextSeq) -> Q:
        return Q(f"UPDATE {self.t('RUN_STATUS')} SET NEXT_SEQUENCE_ID = NEXT_SEQUENCE_ID + 1, "
                 "UPDATED_AT = CURRENT_TIMESTAMP() WHERE RUN_ID = ?", (e.run_id,))

    def alloc_seq(self, e: fx.AllocSeq) -> Q:
        return Q(f"SELECT {self.seq_name(e.run_id)}.NEXTVAL")

    def insert_event(self, e: fx.InsertEvent, event_id: str) -> Q:
        return Q(f"INSERT INTO {self.t('RUN_CONTROL_EVENTS')} (EVENT_ID, RUN_ID, EVENT_TYPE, "
                 "EVENT_DATA, SEQUENCE_ID, CREATED_AT) SELECT ?, ?, ?, PARSE_JSON(?), ?, "
                 "CURRENT_TIMESTAMP()",
                 (event_id, e.run_id, e.type, json.dumps(dict(e.data), default=str), int(e.seq)))

    def fetch_events(self, e: fx.FetchEvents) -> Q:
        # LIMIT is an int we format ourselves: not every Snowflake client path binds LIMIT.
        return Q(f"SELECT SEQUENCE_ID, EVENT_TYPE, EVENT_DATA FROM {self.t('RUN_CONTROL_EVENTS')} "
                 f"WHERE RUN_ID = ? AND SEQUENCE_ID > ? ORDER BY SEQUENCE_ID LIMIT {int(e.limit)}",
                 (e.run_id, int(e.after)))

    def merge_heartbeat(self, e: fx.MergeHeartbeat, stamp_utc: str) -> Q:
        """Upsert; overwrites STATUS unconditionally (an orchestrator STALE/DEAD is replaced)."""
        return Q(
            f"MERGE INTO {self.t('WORKER_HEARTBEATS')} AS t USING (SELECT ? AS RUN_ID, "
            "? AS WORKER_ID, ? AS WORKER_GROUP_ID, ? AS STATUS, ? AS PHASE, "
            "TO_TIMESTAMP_NTZ(?) AS LAST_HEARTBEAT, ? AS ACTIVE_CONNECTIONS, "
            "? AS TARGET_CONNECTIONS) AS s "
            "ON t.RUN_ID = s.RUN_ID AND t.WORKER_ID = s.WORKER_ID "
            "WHEN MATCHED THEN UPDATE SET STATUS = s.STATUS, PHASE = s.PHASE, "
            "WORKER_GROUP_ID = s.WORKER_GROUP_ID, LAST_HEARTBEAT = s.LAST_HEARTBEAT, "
            "HEARTBEAT_COUNT = t.HEARTBEAT_COUNT + 1, ACTIVE_CONNECTIONS = s.ACTIVE_CONNECTIONS, "
            "TARGET_CONNECTIONS = s.TARGET_CONNECTIONS, UPDATED_AT = CURRENT_TIMESTAMP() "
            "WHEN NOT MATCHED THEN INSERT (RUN_ID, WORKER_ID, WORKER_GROUP_ID, STATUS, PHASE, "
            "LAST_HEARTBEAT, HEARTBEAT_COUNT, ACTIVE_CONNECTIONS, TARGET_CONNECTIONS, UPDATED_AT) "
            "VALUES (s.RUN_ID, s.WORKER_ID, s.WORKER_GROUP_ID, s.STATUS, s.PHASE, "
            "s.LAST_HEARTBEAT, 1, s.ACTIVE_CONNECTIONS, s.TARGET_CONNECTIONS, CURRENT_TIMESTAMP())",
            (e.run_id, e.worker_id, int(e.group_id), e.status, e.phase, stamp_utc,
             int(e.active_connections), int(e.target_connections)))

    def _mark_where(self, e: fx.MarkHeartbeats) -> tuple[str, tuple]:
        if e.basis not in ("last_heartbeat", "updated_at"):
            raise ValueError(f"unknown heartbeat age basis {e.basis!r}")
        age = age_sql("LAST_HEARTBEAT" if e.basis == "last_heartbeat" else "UPDATED_AT")
        where, params = "RUN_ID = ?", [e.run_id]
        if e.unless:
            cond, p = _in_list("STATUS", tuple(e.unless), negate=True)
            where += f" AND {cond}"
            params += p
        return f"{where} AND {age} > ?", (*params, float(e.age_s))

    def mark_candidates(self, e: fx.MarkHeartbeats) -> Q:
        where, params = self._mark_where(e)
        age = age_sql("LAST_HEARTBEAT" if e.basis == "last_heartbeat" else "UPDATED_AT")
        return Q(f"SELECT WORKER_ID, {age} FROM {self.t('WORKER_HEARTBEATS')} WHERE {where} "
                 "ORDER BY WORKER_ID", params)

    def mark_one(self, e: fx.MarkHeartbeats, worker_id: str) -> Q:
        """Re-checks the condition, so a heartbeat that landed since the SELECT is not marked.
        UPDATED_AT is left alone: it stays the last worker write, the basis of "updated_at"."""
        where, params = self._mark_where(e)
        return Q(f"UPDATE {self.t('WORKER_HEARTBEATS')} SET STATUS = ? WHERE WORKER_ID = ? "
                 f"AND {where}", (e.status, worker_id, *params))

    def count_heartbeats(self, e: fx.CountHeartbeats) -> Q:
        return Q(f"SELECT WORKER_ID, STATUS FROM {self.t('WORKER_HEARTBEATS')} WHERE RUN_ID = ? "
                 "ORDER BY WORKER_ID", (e.run_id,))

    def write_test_result(self, e: fx.WriteTestResult) -> Q:
        if e.insert:
            return Q(f"INSERT INTO {self.t('TEST_RESULTS')} (TEST_ID, RUN_ID, STATUS, "
                     "ENRICHMENT_STATUS, CREATED_AT, UPDATED_AT) SELECT ?, ?, ?, ?, "
                     "CURRENT_TIMESTAMP(), CURRENT_TIMESTAMP()",
                     (e.test_id, e.run_id, e.status, e.enrichment_status))
        sets, params = ["STATUS = ?"], [e.status]
        if e.enrichment_status is not None:
            sets.append("ENRICHMENT_STATUS = ?")
            params.append(e.enrichment_status)
        sets.append("UPDATED_AT = CURRENT_TIMESTAMP()")
        return Q(f"UPDATE {self.t('TEST_RESULTS')} SET {', '.join(sets)} "
                 "WHERE TEST_ID = ? AND RUN_ID = ?", (*params, e.test_id, e.run_id))

    def read_enrichment(self, e: fx.ReadEnrichmentStatus) -> Q:
        return Q(f"SELECT TEST_ID, ENRICHMENT_STATUS FROM {self.t('TEST_RESULTS')} "
                 "WHERE RUN_ID = ? ORDER BY TEST_ID", (e.run_id,))

    def enrich(self, e: fx.Enrich) -> Q:
        # The embedded backend has no query history to merge; this stands for the step's cost.
        return Q(f"SELECT COUNT(*) FROM {self.t('TEST_RESULTS')} WHERE RUN_ID = ?", (e.run_id,))

    def setup(self, e: fx.Setup) -> Q:
        return Q(f"SELECT COUNT(*), MIN(K), MAX(K) FROM {self.t('BENCHMARK')}")

    def benchmark(self, key: int) -> Q:
        return Q(f"SELECT V FROM {self.t('BENCHMARK')} WHERE K = ?", (int(key),))

    @staticmethod
    def alter_tag(tag: str) -> Q:
        return Q(f"ALTER SESSION SET QUERY_TAG = {quote_tag(tag)}")


# --- result shaping (pure; unit-testable without a database) -------------------------------

def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _json(x: Any) -> Any:
    if isinstance(x, str):
        try:
            return json.loads(x)
        except ValueError:
            return x
    return x


def run_row(row: tuple | None) -> fx.RunRow | None:
    if row is None:
        return None
    status, phase, el, wel, mel, targets = row
    targets = _json(targets) or {}
    flat = {str(k): int(v.get("target_connections", 0) if isinstance(v, Mapping) else v)
            for k, v in targets.items()} if isinstance(targets, Mapping) else {}
    return fx.RunRow(status=status, phase=phase or "", elapsed=_f(el), warmup_elapsed=_f(wel),
                     measurement_elapsed=_f(mel), worker_targets=flat)


def heartbeat_counts(rows: list[tuple]) -> fx.HeartbeatCounts:
    """The reference's stmt 3 (§7.2), computed from the rows so the result also has them."""
    statuses = {w: s for w, s in rows}
    vals = list(statuses.values())
    return fx.HeartbeatCounts(
        registered=len(vals), active=sum(s in HB_ACTIVE for s in vals),
        completed=sum(s in HB_COMPLETED for s in vals), dead=sum(s == "DEAD" for s in vals),
        ready=sum(s == "READY" for s in vals), rows=statuses)


def enrichment_status(rows: list[tuple], run_id: str, parent_first: bool) -> str | None:
    parent = [s for t, s in rows if t == run_id]
    children = [s for t, s in rows if t != run_id]
    for s in (parent + children if parent_first else children + parent):
        if s is not None:
            return s
    return None
