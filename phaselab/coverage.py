"""What of the protocol a search reached: coverage items of one trace, and the universe to
report the never-reached against.

An item is a tuple whose first element names its group:

| group            | item                                   | from                      |
|------------------|----------------------------------------|---------------------------|
| `status/phase`   | (STATUS, PHASE) the run row held       | status_write              |
| `status edge`    | STATUS a -> b                          | status_write              |
| `worker state`   | worker heartbeat status (own / marked) | heartbeat                 |
| `worker phase`   | (source, PHASE) a worker adopted       | worker_state              |
| `event handling` | (loop, event type, outcome)            | event_seen                |
| `interleaving`   | the order of two things that race      | several (see `_races`)    |
| `error path`     | a failed statement, an exit code != 0, | fail/info, proc, run_end  |
|                  | a deadline, a FAILED run, a DEAD mark  |                           |

`universe()` lists what the protocol tables allow, each unreachable item with the reason,
so a report can say what was never reached and why.
"""
from __future__ import annotations

from collections import Counter
from typing import Iterable

from protocol import events as ev
from protocol import phases as ph
from protocol.trace import Trace

GROUPS = ("status/phase", "status edge", "worker state", "worker phase", "event handling",
          "interleaving", "error path")

NO_FAULTS = "needs an injected fault (a failed statement or a dead worker); the search " \
    "space draws none yet"
NOT_MODELLED_CONTROLLERS = "FIND_MAX/QPS controllers (SET_WORKER_TARGET, T7/T8) are not " \
    "modelled by the simulation"
RECOVERY = "T13 is the recovery edge after an API restart, which is not modelled"
STATEMENT_OPS = ("read_run_status", "write_run_status", "alloc_seq", "insert_event",
                 "fetch_events", "merge_heartbeat", "mark_heartbeats", "count_heartbeats",
                 "write_test_result", "enrich", "setup", "connect", "alter_tag")


def _status_edges(trace: Trace):
    for w in trace.status_chain():
        b, a = w["before"], w["after"]
        yield ("status/phase", a["status"], a["phase"])
        if a["status"] != b["status"]:
            yield ("status edge", b["status"], a["status"])


def _races(trace: Trace):
    """Interleavings of things that race: when a user stop lands, which path delivers a phase
    to a worker, whether a STOP or the terminal STATUS reaches a waiting worker first."""
    for r in trace.of("stop_request"):
        yield ("interleaving", "user stop while", "/".join(sorted(
            str(s) for s in trace.statuses_at(r["t"]))))
    for e in trace.of("event_emit"):
        if e.get("type") == ev.STOP:
            yield ("interleaving", "STOP reason", (e.get("payload") or {}).get("reason"))
    for k in trace.workers():
        yield from _wait_exit(trace, k)
    for r in trace.of("marker"):
        if r.get("name") == "ready":
            start = trace.first_write(status=ph.RUNNING)
            if start is not None and r["t"] > start["t"]:
                yield ("interleaving", "a worker became READY", "after RUNNING")


def _wait_exit(trace: Trace, k: str):
    """How worker k left its wait loop: RUNNING, a STOP event or a terminal STATUS."""
    mine = [r for r in trace.records if r.get("worker") == k or r.get("actor") == k]
    if not any(r["kind"] == "marker" and r.get("name") == "ready" for r in mine):
        return
    for r in mine:
        if r["kind"] == "marker" and r.get("name") == "wait_returned":
            yield ("interleaving", "a waiting worker left on", "RUNNING")
            return
        if (r["kind"] == "event_seen" and r.get("loop") == "wait" and r.get("type") == ev.STOP
                and r.get("outcome") == "applied"):
            yield ("interleaving", "a waiting worker left on", "a STOP event")
            return
        if r["kind"] == "heartbeat" and r.get("writer", "worker") == "worker" \
                and r.get("status") in ph.HB_FINAL:
            yield ("interleaving", "a waiting worker left on", "a terminal STATUS")
            return


def _errors(trace: Trace):
    for r in trace.of("fail", "info"):
        yield ("error path", f"{r['kind']} statement", r.get("op"))
    for r in trace.of("proc"):
        if r.get("action") == "exit" and r.get("code") not in (0, None):
            yield ("error path", "worker exit code", r.get("code"))
    for r in trace.of("run_end"):
        if r.get("reason") != "finished":
            yield ("error path", "run ended by", r.get("reason"))
    for h in trace.of("heartbeat"):
        if h.get("writer") == "orchestrator":
            yield ("error path", "orchestrator marked a worker", h.get("status"))


def items(trace: Trace) -> set[tuple]:
    """The coverage items one trace reaches."""
    out: set[tuple] = set(_status_edges(trace))
    for h in trace.of("heartbeat"):
        out.add(("worker state", h.get("writer") or "worker", h.get("status")))
    for r in trace.of("worker_state"):
        if r.get("phase"):
            out.add(("worker phase", r.get("source"), r["phase"]))
    for r in trace.of("event_seen"):
        out.add(("event handling", r.get("loop"), r.get("type"), r.get("outcome")))
    out.update(_races(trace))
    out.update(_errors(trace))
    return out


# --- the universe: what could be reached, and why some of it cannot ------------------------

def _pair_reason(status: str, phase: str) -> str | None:
    """Why the run row can never hold (status, phase), or None if it can."""
    if phase in (ph.PROCESSING, ph.P_COMPLETED) and status != ph.COMPLETED:
        return "RUN-PHASE-ORDER: PROCESSING and COMPLETED come only with STATUS COMPLETED"
    if status == ph.PREPARED and phase != ph.P_NONE:
        return "T1 creates the row with PHASE ''; the first write that changes it leaves PREPARED"
    if status == ph.STARTING and phase != ph.PREPARING:
        return "T2 writes STARTING with PREPARING, and T3 sets the start phase as it leaves STARTING"
    if status in (ph.RUNNING, ph.STOPPING) and phase in (ph.P_NONE, ph.PREPARING):
        return "T3 writes RUNNING together with WARMUP or MEASUREMENT"
    if status == ph.STOPPING and phase == ph.WARMUP:
        return ("T5 (duration over) fires only after T4 ended the warmup in the same or an "
                "earlier poll iteration (w_el >= w + d implies w_el >= w); only a failed T4 "
                "write (a fault) leaves WARMUP for T5")
    if status == ph.COMPLETED and phase not in (ph.PROCESSING, ph.P_COMPLETED):
        return "T6 writes COMPLETED with PROCESSING; " + NOT_MODELLED_CONTROLLERS
    if status == ph.FAILED:
        if phase == ph.P_NONE:
            return "FAILED is written only from STARTING or RUNNING"
        return NO_FAULTS
    return None


def universe() -> dict[tuple, str | None]:
    """Every item the report accounts for -> why it is unreachable (None: reachable)."""
    u: dict[tuple, str | None] = {}
    for s in ph.RUN_STATUSES:
        for p in ph.PHASE_ORDER:
            u[("status/phase", s, p)] = _pair_reason(s, p)
    for (a, b) in sorted(ph.STATUS_CHANGES, key=repr):
        why = None
        if b == ph.FAILED:
            why = NO_FAULTS
        elif (a, b) == (ph.RUNNING, ph.COMPLETED):
            why = ("T6 from RUNNING needs every worker gone while RUNNING (" + NO_FAULTS
                   + "); " + NOT_MODELLED_CONTROLLERS)
        elif b == ph.CANCELLED and a != ph.CANCELLING:
            why = RECOVERY
        u[("status edge", a, b)] = why
    for s in ph.HEARTBEAT_NEXT:
        if s is not None:
            u[("worker state", "worker", s)] = (NO_FAULTS if s == ph.HB_DEAD else None)
    for s in (ph.HB_STALE, ph.HB_DEAD):
        u[("worker state", "orchestrator", s)] = (
            "a worker must miss heartbeats for stale_s (30 s): " + NO_FAULTS)
    for src in ("startup", "wait", "event", "reconcile", "main_entry", "notify"):
        for p in (ph.PREPARING, ph.WARMUP, ph.MEASUREMENT):
            u[("worker phase", src, p)] = _adoption_reason(src, p)
    for loop in ("wait", "main"):
        for typ in (ev.START, ev.SET_PHASE, ev.SET_WORKER_TARGET, ev.STOP):
            for outcome in ("applied", "ignored", "skipped_scope", "skipped_cursor"):
                u[("event handling", loop, typ, outcome)] = _event_reason(loop, typ, outcome)
    for r in (ev.DURATION_ELAPSED, ev.USER_REQUESTED, ev.WORKER_FAILURE):
        u[("interleaving", "STOP reason", r)] = NO_FAULTS if r == ev.WORKER_FAILURE else None
    for s in ph.RUN_STATUSES:
        why = None
        if s == ph.CANCELLING:
            why = "a scenario has one user stop, and CANCELLING is written only by a stop"
        elif s == ph.FAILED:
            why = NO_FAULTS
        elif s == ph.CANCELLED:
            why = "CANCELLED is written only after a stop, and a scenario has one"
        u[("interleaving", "user stop while", s)] = why
    for how in ("RUNNING", "a STOP event", "a terminal STATUS"):
        u[("interleaving", "a waiting worker left on", how)] = None
    u[("interleaving", "a worker became READY", "after RUNNING")] = (
        "the READY gate waits for every initial worker and the simulation spawns none later "
        "(no FIND_MAX/QPS scale-out)")
    for op in STATEMENT_OPS:
        for kind in ("fail", "info"):
            u[("error path", f"{kind} statement", op)] = NO_FAULTS
    for code in (1, 2, 3):
        u[("error path", "worker exit code", code)] = NO_FAULTS
    u[("error path", "run ended by", "deadline")] = (
        "the derived deadline bounds every phase; only a stuck run (a fault) reaches it")
    for s in (ph.HB_STALE, ph.HB_DEAD):
        u[("error path", "orchestrator marked a worker", s)] = (
            "a worker must miss heartbeats for stale_s (30 s): " + NO_FAULTS)
    return u


def _adoption_reason(src: str, phase: str) -> str | None:
    """Why no worker ever takes `phase` by `src`, or None."""
    if src == "startup":
        return None if phase == ph.PREPARING else (
            "a worker reads PREPARING at W4 unless it is spawned after RUNNING, and the "
            "simulation spawns none later (no scale-out)")
    if phase == ph.PREPARING:
        return "PREPARING is every worker's start-up phase; nothing moves a worker to it"
    if src == "main_entry":
        return ("W21 enters MEASUREMENT only" if phase == ph.WARMUP else
                "fixed decides 'start in measurement' from the wait loop's last read, which "
                "already adopted MEASUREMENT; only the reference (W4 snapshot) needs W21 to set it")
    if phase == ph.WARMUP and src != "wait":
        return ("the wait loop copies WARMUP as it returns on RUNNING, so a later SET_PHASE, "
                "reconcile or notice finds it adopted; only a regression (reference `copy` "
                "adoption after MEASUREMENT) could take WARMUP again")
    return None


def _event_reason(loop: str, typ: str, outcome: str) -> str | None:
    if typ == ev.SET_WORKER_TARGET:
        return NOT_MODELLED_CONTROLLERS
    if outcome == "skipped_cursor":
        return ("a fetch returns only rows above the cursor; only a duplicate seq (the "
                "reference's three-statement allocation) comes back at or below it")
    if loop == "wait":
        if outcome == "skipped_scope":
            return "the wait loop does not look at scopes (every event it gets is RUN-scoped)"
        if typ == ev.STOP:
            return None if outcome == "applied" else "the wait loop applies every STOP"
        if outcome == "applied":
            return "the wait loop acts on STOP only"
        return None  # ignored; skipped_cursor with the reference's moving cursor
    if outcome == "skipped_scope":
        return "START, SET_PHASE and STOP are RUN-scoped: they concern every worker"
    if typ == ev.START and outcome == "applied":
        return "START has no effect in the main loop"
    if typ != ev.START and outcome == "ignored":
        return "the main loop acts on SET_PHASE and STOP"
    return None


class Tally:
    """Coverage over many examples: how many examples reached each item."""

    def __init__(self, counts: Counter | None = None):
        self.counts: Counter = counts if counts is not None else Counter()
        self.examples = 0

    def add(self, its: Iterable[tuple]) -> int:
        """Count one example's items; returns how many were new to this tally."""
        self.examples += 1
        new = 0
        for i in its:
            new += self.counts[i] == 0
            self.counts[i] += 1
        return new

    def merge(self, other: "Tally") -> None:
        self.counts.update(other.counts)
        self.examples += other.examples

    def report(self) -> dict:
        """Per group: items reached with counts; never reached, split into unreachable (with
        the reason) and reachable-but-missed."""
        u = universe()
        out = {}
        for g in GROUPS:
            reached = sorted(((i, n) for i, n in self.counts.items() if i[0] == g),
                             key=lambda x: repr(x[0]))
            never = [i for i in u if i[0] == g and self.counts[i] == 0]
            out[g] = {
                "reached": [{"item": _label(i), "examples": n} for i, n in reached],
                "unreachable": [{"item": _label(i), "why": u[i]} for i in never if u[i]],
                "missed": [_label(i) for i in never if not u[i]],
                "beyond_universe": [_label(i) for i, _ in reached if i not in u],
            }
        return out


def _label(item: tuple) -> str:
    return " ".join("''" if x == "" else str(x) for x in item[1:])


def tally_of(counts: dict[tuple, int], examples: int) -> Tally:
    t = Tally(Counter(counts))
    t.examples = examples
    return t
