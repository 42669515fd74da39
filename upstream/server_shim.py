"""Server-side shims: the few statements of a recorded target the embedded server cannot run.

Loaded into the embedded server process (`ServerProcess(shim="upstream.server_shim")`), never
into the target: the target stays unmodified and its statements are recorded as sent. Each
rule is a regular expression and what it becomes, with the reason; every use of a rule and
every statement the server could not run is appended to `shim.jsonl` in the server's folder,
and `phaselab upstream` lists them in its report (docs/upstream.md).

Two things happen here:
- rewrites (REWRITES below), each the smallest change that lets the server run the statement;
- an unexpected server error (fakesnow answers HTTP 500, and the connector then retries for
  about a minute) is answered as an ordinary SQL error instead, so the client fails fast, as
  it would on a statement Snowflake rejects. The statement is listed as refused.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time

# (name, pattern, replacement, why). Patterns are matched case-insensitively.
REWRITES: list[tuple[str, str, str, str]] = [
    ("hybrid-table", r"\bCREATE\s+(OR\s+REPLACE\s+)?HYBRID\s+TABLE\b", r"CREATE \1TABLE",
     "fakesnow cannot parse CREATE HYBRID TABLE; a standard table holds the same rows"),
    ("create-or-alter", r"\bCREATE\s+OR\s+ALTER\s+(TABLE|SCHEMA|DATABASE)\b",
     r"CREATE \1 IF NOT EXISTS",
     "fakesnow has no CREATE OR ALTER; the objects are new on a fresh server"),
    ("foreign-key", r",\s*(CONSTRAINT\s+\w+\s+)?FOREIGN\s+KEY\s*\([^)]*\)\s*REFERENCES\s+[\w.]+"
     r"\s*\([^)]*\)", "",
     "fakesnow/DuckDB reject or enforce foreign keys differently; Snowflake does not enforce "
     "them on standard tables"),
    ("query-tag", r"^\s*ALTER\s+SESSION\s+SET\s+QUERY_TAG\s*=\s*'[^']*'\s*;?\s*$",
     "SELECT 'Statement executed successfully.' AS \"status\"",
     "fakesnow does not implement ALTER SESSION SET QUERY_TAG; the recorder tracks each "
     "session's tag on the client"),
    ("comment", r"^\s*COMMENT\s+(IF\s+EXISTS\s+)?ON\s.*$",
     "SELECT 'Statement executed successfully.' AS \"status\"",
     "fakesnow cannot parse COMMENT ON; comments change no data"),
    ("copy-on-error", r"\s+ON_ERROR\s*=\s*'?CONTINUE'?", "",
     "fakesnow does not implement ON_ERROR = CONTINUE; the files the workers stage are "
     "well-formed, so the default (abort on error) loads the same rows"),
    ("remove-stage", r"^\s*REMOVE\s+@\S+\s*$",
     "SELECT 'Statement executed successfully.' AS \"status\"",
     "fakesnow cannot parse REMOVE; the staged files live in the server's temporary folder, "
     "removed with it"),
    ("dynamic-table", r"^\s*CREATE\s+(OR\s+(ALTER|REPLACE)\s+)?DYNAMIC\s+TABLE\s.*$",
     "SELECT 'Statement executed successfully.' AS \"status\"",
     "fakesnow has no dynamic tables; they feed the history dashboard, which a run never "
     "reads"),
]
# Statements answered as successful no-ops when the server fails on them: (name, pattern, why).
TOLERATED: list[tuple[str, str, str]] = [
    ("view", r"^\s*CREATE\s+(OR\s+REPLACE\s+)?VIEW\b",
     "reporting views the run never reads; fakesnow cannot describe some of them"),
]
_NOP = "SELECT 'Statement executed successfully.' AS \"status\""
_TOLERATED = [(n, re.compile(p, re.IGNORECASE)) for n, p, _ in TOLERATED]
_COMPILED = [(n, re.compile(p, re.IGNORECASE | re.DOTALL), r, why) for n, p, r, why in REWRITES]
_LOCK = threading.Lock()
_LOG_PATH: str | None = None


def rewrite(sql: str) -> tuple[str, list[str]]:
    """The statement as the server runs it, and the names of the rules that changed it."""
    used = []
    for name, rx, repl, _why in _COMPILED:
        new = rx.sub(repl, sql)
        if new != sql:
            used.append(name)
            sql = new
    return sql, used


def _note(rec: dict) -> None:
    if not _LOG_PATH:
        return
    with _LOCK, open(_LOG_PATH, "a", encoding="utf-8") as f:
        f.write(json.dumps({"t": time.time(), **rec}) + "\n")


def install(folder: str) -> None:
    """Patch the fakesnow server in this process; notes go to folder/shim.jsonl."""
    global _LOG_PATH
    _LOG_PATH = os.path.join(folder, "shim.jsonl")
    import importlib

    import snowflake.connector.errors as sferr
    from fakesnow.cursor import FakeSnowflakeCursor

    server = importlib.import_module("fakesnow.server")
    seen_parse: dict[str, list[str]] = {}
    original_parse = server.parse_one

    def parse_one(sql, *args, **kwargs):
        new, used = rewrite(sql)
        if used:
            seen_parse[sql[:200]] = used
        return original_parse(new, *args, **kwargs)
    server.parse_one = parse_one

    original_execute = FakeSnowflakeCursor.execute

    def execute(self, command, *args, **kwargs):
        new, used = rewrite(command) if isinstance(command, str) else (command, [])
        if used:
            _note({"what": "rewrite", "rules": used, "sql": command[:300]})
        self._phaselab_sql = new
        try:
            return original_execute(self, new, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            tolerated = next((n for n, rx in _TOLERATED if rx.match(new)), None)
            if tolerated:
                _note({"what": "tolerated", "rule": tolerated, "sql": str(command)[:300],
                       "error": f"{type(exc).__name__}: {str(exc)[:300]}"})
                return original_execute(self, _NOP)
            if isinstance(exc, (sferr.ProgrammingError, sferr.OperationalError)):
                raise
            # the server would answer HTTP 500 and the connector retry for about a minute
            _note({"what": "refused", "error": f"{type(exc).__name__}: {str(exc)[:300]}",
                   "sql": str(command)[:300]})
            raise sferr.ProgrammingError(
                msg=f"embedded server could not run this statement: {type(exc).__name__}: "
                    f"{str(exc)[:300]}", errno=100000, sqlstate="XX000") from None
    FakeSnowflakeCursor.execute = execute

    original_describe_last = FakeSnowflakeCursor._describe_last_sql

    def describe_last_sql(self):
        try:
            return original_describe_last(self)
        except Exception as exc:  # noqa: BLE001 - the result columns of a tolerated statement
            sql = getattr(self, "_phaselab_sql", None)
            tolerated = next((n for n, rx in _TOLERATED if isinstance(sql, str) and rx.match(sql)),
                             None)
            if not tolerated:
                raise
            _note({"what": "tolerated", "rule": tolerated, "sql": sql[:300],
                   "error": f"describing the result: {type(exc).__name__}: {str(exc)[:200]}"})
            original_execute(self, _NOP)
            return original_describe_last(self)
    FakeSnowflakeCursor._describe_last_sql = describe_last_sql

    original_describe = getattr(FakeSnowflakeCursor, "_describe_only", None)
    if original_describe is not None:  # the describe-only path sees the statement as sent
        def describe_only(self, command, *args, **kwargs):
            new, _used = rewrite(command) if isinstance(command, str) else (command, [])
            if isinstance(new, str) and any(rx.match(new) for _n, rx in _TOLERATED):
                new = _NOP  # described by executing it, where a failure is tolerated
            return original_describe(self, new, *args, **kwargs)
        FakeSnowflakeCursor._describe_only = describe_only


def rules() -> list[dict]:
    """The rewrite and tolerance rules for a report."""
    return ([{"name": n, "kind": "rewrite", "pattern": p, "replacement": r, "why": why}
             for n, p, r, why in REWRITES]
            + [{"name": n, "kind": "tolerated", "pattern": p, "replacement": "(no-op on failure)",
                "why": why} for n, p, why in TOLERATED])
