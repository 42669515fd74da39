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

from dataclasses import dataclass, replace
from typing import Any

from protocol.effects import (AllocSeq, FetchEvents, ReadNextSeq, ReadRunStatus, Sleep,
                              StatementFailed)

RETRY_S = 0.5  # pause between two attempts
VERIFY_AFTER_S = 1.0  # before reading back a timed-out insert (cross-session visibility)


def retrying(sw) -> bool:
    return sw.statement_errors == "retry"


@dataclass(frozen=True)
class Landed:
    """A settle step's answer when the timed-out statement did take effect: its result."""
    value: Any = None


def retried(sw, effect, settle=None):
    """Perform `effect`; with retries on, again RETRY_S after each failure until it succeeds.
    After an `info` (it may have taken effect), `settle(effect)`, a generator, finds out: it
    returns Landed(result) when the statement took effect, else the effect to try next. The
    one retry loop behind every row of the table above."""
    while True:
        try:
            return (yield effect)
        except StatementFailed as exc:
            if not retrying(sw):
                raise
            if exc.outcome == "info" and settle is not None:
                got = yield from settle(effect)
                if isinstance(got, Landed):
                    return got.value
                effect = got
        yield Sleep(RETRY_S)


def until_ok(sw, effect):
    """Perform `effect`; with retries on, again after each failure until it succeeds."""
    return (yield from retried(sw, effect))


def create_once(sw, create):
    """The run's INSERT: after an `info`, reading the row tells whether it landed (an INSERT
    retried blindly would fail on the key, or in a model recreate the row)."""
    def settle(c):
        if (yield from until_ok(sw, ReadRunStatus(c.run_id))) is not None:
            return Landed(None)
        return c
    return (yield from retried(sw, create, settle))


def result_row(sw, write):
    """A TEST_RESULTS write (the parent row's status and enrichment status, which the
    dashboard waits for): retried; after an `info` an insert is retried as an update."""
    def settle(w):
        yield from ()  # nothing to read: an insert that may have landed becomes an update
        return replace(w, insert=False) if w.insert else w
    return (yield from retried(sw, write, settle))


def landed(row, set_: dict) -> bool:
    """Whether a RUN_STATUS row shows the STATUS/PHASE a write set (an `info` write that
    took effect); a write that sets neither cannot be recognised."""
    keys = [(k, v) for k, v in set_.items() if k in ("STATUS", "PHASE") and v is not None]
    got = {"STATUS": row.status, "PHASE": row.phase} if row is not None else {}
    return bool(keys) and all(got.get(k) == v for k, v in keys)


def verified_write(sw, run_id: str, write):
    """A RUN_STATUS write (`write` is the effect) -> matched; fixed resolves an `info` by
    reading the row back instead of writing again."""
    def settle(w):
        row = yield from until_ok(sw, ReadRunStatus(run_id))
        return Landed(True) if landed(row, w.set) else w
    return (yield from retried(sw, write, settle))


def allocate_seq(st):
    """Fixed allocation, one atomic statement; an `info` is resolved by reading the counter
    (emitters are serialised, so it either still says ours or one past it)."""
    def settle(alloc):
        n = yield from until_ok(st.sw, ReadNextSeq(st.run_id))
        if n == st.next_seq + 1:  # ours took effect
            return Landed(n - 1)
        st.next_seq = n
        return alloc
    seq = yield from retried(st.sw, AllocSeq(st.run_id), settle)
    st.next_seq = seq + 1
    return seq


def insert_once(st, insert):
    """An event insert that is neither lost nor duplicated by an `info`."""
    def settle(ins):
        yield Sleep(VERIFY_AFTER_S)
        rows = yield from until_ok(st.sw, FetchEvents(st.run_id, ins.seq - 1, 1))
        return Landed() if any(e.seq == ins.seq for e in rows) else ins
    yield from retried(st.sw, insert, settle)
