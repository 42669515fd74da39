"""What an actor does when a statement fails or times out, per behaviour switch.

Reference (`statement_errors = "reference"`): each call site keeps the upstream handling
(ignore a failed heartbeat, treat a failed write as not matched, return an empty batch for a
failed poll) and anything else propagates: the asyncio task, or the process, dies of it.
Fixed (`"retry"`): control statements are retried until they succeed (faults heal), and an
`info` (a timeout: the statement may have taken effect) is resolved by reading before
retrying, so a write is never applied twice and never lost:

| statement                   | after `fail`  | after `info`                                      |
|-----------------------------|---------------|---------------------------------------------------|
| RUN_STATUS write            | retry         | read the row; its STATUS/PHASE as set: done       |
| sequence allocation         | retry         | read NEXT_SEQUENCE_ID: advanced past ours: done   |
| event insert                | retry         | wait VERIFY_AFTER_S, fetch that sequence id: done |
| run INSERT                  | retry         | read the row: it exists: done                     |
| TEST_RESULTS write          | retry         | retry (an insert as an update)                    |
| reads, heartbeats           | retry         | retry (idempotent)                                |
"""
from __future__ import annotations

from dataclasses import replace

from protocol.effects import (AllocSeq, FetchEvents, ReadNextSeq, ReadRunStatus, Sleep,
                              StatementFailed)

RETRY_S = 0.5  # pause between two attempts
VERIFY_AFTER_S = 1.0  # before reading back a timed-out insert (cross-session visibility)


def retrying(sw) -> bool:
    return sw.statement_errors == "retry"


def until_ok(sw, effect):
    """Perform `effect`; with retries on, again after each failure until it succeeds."""
    while True:
        try:
            return (yield effect)
        except StatementFailed:
            if not retrying(sw):
                raise
        yield Sleep(RETRY_S)


def create_once(sw, create):
    """The run's INSERT: after an `info`, reading the row tells whether it landed (an INSERT
    retried blindly would fail on the key, or in a model recreate the row)."""
    while True:
        try:
            return (yield create)
        except StatementFailed as exc:
            if not retrying(sw):
                raise
            if exc.outcome == "info":
                if (yield from until_ok(sw, ReadRunStatus(create.run_id))) is not None:
                    return None
        yield Sleep(RETRY_S)


def result_row(sw, write):
    """A TEST_RESULTS write (the parent row's status and enrichment status, which the
    dashboard waits for): retried; after an `info` an insert is retried as an update."""
    while True:
        try:
            return (yield write)
        except StatementFailed as exc:
            if not retrying(sw):
                raise
            if exc.outcome == "info" and write.insert:
                write = replace(write, insert=False)
        yield Sleep(RETRY_S)


def landed(row, set_: dict) -> bool:
    """Whether a RUN_STATUS row shows the STATUS/PHASE a write set (an `info` write that
    took effect); a write that sets neither cannot be recognised."""
    keys = [(k, v) for k, v in set_.items() if k in ("STATUS", "PHASE") and v is not None]
    got = {"STATUS": row.status, "PHASE": row.phase} if row is not None else {}
    return bool(keys) and all(got.get(k) == v for k, v in keys)


def verified_write(sw, run_id: str, write):
    """A RUN_STATUS write (`write` is the effect) -> matched; fixed resolves an `info` by
    reading the row back instead of writing again."""
    while True:
        try:
            return (yield write)
        except StatementFailed as exc:
            if not retrying(sw):
                raise
            if exc.outcome == "info":
                row = yield from until_ok(sw, ReadRunStatus(run_id))
                if landed(row, write.set):
                    return True
        yield Sleep(RETRY_S)


def allocate_seq(st):
    """Fixed allocation, one atomic statement; an `info` is resolved by reading the counter
    (emitters are serialised, so it either still says ours or one past it)."""
    while True:
        try:
            seq = yield AllocSeq(st.run_id)
            st.next_seq = seq + 1
            return seq
        except StatementFailed as exc:
            if not retrying(st.sw):
                raise
            if exc.outcome == "info":
                n = yield from until_ok(st.sw, ReadNextSeq(st.run_id))
                if n == st.next_seq + 1:  # ours took effect
                    st.next_seq = n
                    return n - 1
                st.next_seq = n
        yield Sleep(RETRY_S)


def insert_once(st, insert):
    """An event insert that is neither lost nor duplicated by an `info`."""
    while True:
        try:
            yield insert
            return
        except StatementFailed as exc:
            if not retrying(st.sw):
                raise
            if exc.outcome == "info":
                yield Sleep(VERIFY_AFTER_S)
                rows = yield from until_ok(st.sw, FetchEvents(st.run_id, insert.seq - 1, 1))
                if any(e.seq == insert.seq for e in rows):
                    return
        yield Sleep(RETRY_S)
