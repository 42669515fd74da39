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


# What each server-side source is, for a report that must not read it as a full count.
SOURCE_LABELS = {
    "query_history": ("sampled", "INFORMATION_SCHEMA.QUERY_HISTORY: short queries on hybrid "
                      "tables are not all recorded (only ~500 ms or longer, or sampled), and "
                      "at most 10,000 rows come back"),
    "aggregate": ("lagging", "ACCOUNT_USAGE.AGGREGATE_QUERY_HISTORY: complete per minute, but "
                  "up to 3 hours late; right after a run it usually has nothing yet"),
}


def benchmark_counts_by_tag(tc: TaggedConnection, sql: SqlText, run_id: str,
                            since_unix: float) -> dict:
    """{source: {"label": sampled | lagging | unavailable, "why": text, "counts": {tag: n}
    or None}} for query_history and aggregate; "unavailable" (with the error) when the
    source could not be read (privileges, no ACCOUNT_USAGE access)."""
    prefix = f"flakebench:test_id={run_id}"
    like = f"SELECT V FROM {sql.t('BENCHMARK')}%"
    out: dict = {}
    queries = {
        "query_history": (f"SELECT QUERY_TAG, COUNT(*) FROM TABLE({sql.database}."
                          "INFORMATION_SCHEMA.QUERY_HISTORY(END_TIME_RANGE_START => "
                          "TO_TIMESTAMP_LTZ(?), RESULT_LIMIT => 10000)) "
                          "WHERE STARTSWITH(QUERY_TAG, ?) AND QUERY_TEXT ILIKE ? "
                          "AND EXECUTION_STATUS = 'SUCCESS' GROUP BY QUERY_TAG",
                          (int(since_unix) - 60, prefix, like)),
        "aggregate": ("SELECT QUERY_TAG, SUM(CALLS) FROM "
                      "SNOWFLAKE.ACCOUNT_USAGE.AGGREGATE_QUERY_HISTORY "
                      "WHERE INTERVAL_START_TIME >= DATEADD(MINUTE, -1, TO_TIMESTAMP_LTZ(?)) "
                      "AND STARTSWITH(QUERY_TAG, ?) GROUP BY QUERY_TAG",
                      (int(since_unix), prefix)),
    }
    for source, (text, params) in queries.items():
        label, why = SOURCE_LABELS[source]
        try:
            rows = _rows(tc, text, params)
            out[source] = {"label": label, "why": why, "counts": {t: int(n) for t, n in rows}}
        except Exception as exc:
            out[source] = {"label": "unavailable", "why": redact(exc)[:300], "counts": None}
    return out
