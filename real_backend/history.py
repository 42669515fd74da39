"""Snowflake's own count of benchmark queries per QUERY_TAG, to compare with the trace.

Two sources, because short queries on HYBRID tables may not be listed one by one:
INFORMATION_SCHEMA.QUERY_HISTORY (per query, near real time, this user's queries) and
SNOWFLAKE.ACCOUNT_USAGE.AGGREGATE_QUERY_HISTORY (hybrid-table queries aggregated per minute,
available only after a delay of up to hours and with ACCOUNT_USAGE access). Either may be
unavailable; the answer says which counted what. Not exercised here without an account.
"""
from __future__ import annotations

from .connection import TaggedConnection, redact
from .sql import SqlText


def _rows(tc: TaggedConnection, text: str, params: tuple) -> list[tuple]:
    cur = tc.execute(text, params)
    try:
        return cur.fetchall()
    finally:
        cur.close()


def benchmark_counts_by_tag(tc: TaggedConnection, sql: SqlText, run_id: str,
                            since_unix: float) -> dict:
    """{"query_history": {tag: n} | None, "aggregate": {tag: n} | None, "errors": [...]}"""
    prefix = f"flakebench:test_id={run_id}"
    like = f"SELECT V FROM {sql.t('BENCHMARK')}%"
    out: dict = {"query_history": None, "aggregate": None, "errors": []}
    try:
        rows = _rows(tc, f"SELECT QUERY_TAG, COUNT(*) FROM TABLE({sql.database}."
                         "INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_START => "
                         "TO_TIMESTAMP_LTZ(?), RESULT_LIMIT => 10000)) "
                         "WHERE STARTSWITH(QUERY_TAG, ?) AND QUERY_TEXT ILIKE ? "
                         "AND EXECUTION_STATUS = 'SUCCESS' GROUP BY QUERY_TAG",
                     (int(since_unix) - 60, prefix, like))
        out["query_history"] = {t: int(n) for t, n in rows}
    except Exception as exc:
        out["errors"].append(f"QUERY_HISTORY: {redact(exc)}")
    try:
        rows = _rows(tc, "SELECT QUERY_TAG, SUM(CALLS) FROM "
                         "SNOWFLAKE.ACCOUNT_USAGE.AGGREGATE_QUERY_HISTORY "
                         "WHERE INTERVAL_START_TIME >= DATEADD(MINUTE, -1, TO_TIMESTAMP_LTZ(?)) "
                         "AND STARTSWITH(QUERY_TAG, ?) GROUP BY QUERY_TAG",
                     (int(since_unix), prefix))
        out["aggregate"] = {t: int(n) for t, n in rows}
    except Exception as exc:
        out["errors"].append(f"AGGREGATE_QUERY_HISTORY: {redact(exc)}")
    return out
