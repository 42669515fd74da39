"""A small fluent builder of synthetic traces for checker tests, and one realistic clean run.

    TraceBuilder(warmup_s=10, duration_s=20, workers=2).status(0.5, "PREPARED", "STARTING",
        phase="PREPARING").event(0.6, 1, "START", phase="WARMUP").build()

Records follow docs/trace.md. `build()` orders them by `t` (stable), header first.
"""
from __future__ import annotations

from typing import Any, Callable

from protocol.trace import Trace

DEFAULT_PARAMS = dict(P=1.2, E=1.5, R=5.0, L=0.3, Q=0.5, D=120.0, F=10.0, stale_s=30.0,
                      dead_s=60.0, heartbeat_s=1.0, ready_timeout_s=120.0, spawn_bound_s=5.0,
                      enrichment_bound_s=250.0, connections_per_worker=2, test_id_prefix="tid",
                      announce_bound_s=1.2, wait_period_s=1.4, wait_exit_bound_s=2.0)
DB0 = 1000.0  # database clock = run clock + DB0 in these traces


def tag(worker: str, phase: str) -> str:
    return f"flakebench:test_id=tid-{worker}:phase={phase}"


class TraceBuilder:
    def __init__(self, warmup_s: float = 10, duration_s: float = 20, workers: int = 2,
                 world: str = "sim", **params: Any):
        ids = [f"worker-{g}" for g in range(workers)]
        p = {**DEFAULT_PARAMS, "warmup_s": warmup_s, "duration_s": duration_s,
             "workers": workers, "worker_ids": ids, **params}
        self.header = {"t": 0.0, "actor": "driver", "kind": "run", "run_id": "run-1", "seed": 1,
                       "variant": "test", "switches": {}, "world": world, "params": p,
                       "scenario": {"load_mode": "CONCURRENCY"}}
        self.records: list[dict] = []
        self.status_now: str | None = None
        self.phase_now: str | None = None
        self._op = 0

    # --- generic -------------------------------------------------------------------------
    def add(self, t: float, kind: str, actor: str = "driver", **fields: Any) -> "TraceBuilder":
        self.records.append({"t": t, "actor": actor, "kind": kind, **fields})
        return self

    def op(self, t: float, actor: str, op: str, outcome: str = "ok", dt: float = 0.05,
           **args: Any) -> "TraceBuilder":
        """An invoke and its completion (`ok`, `fail` or `info`; None: no completion)."""
        self._op += 1
        self.add(t, "invoke", actor, op=op, id=self._op, args=args)
        if outcome:
            self.add(t + dt, outcome, actor, op=op, id=self._op)
        return self

    # --- database truth ------------------------------------------------------------------
    def status(self, t: float, frm: str | None, to: str, phase: str | None = None,
               matched: bool | None = True, live: bool = False, writer: str = "orchestrator",
               **set_cols: Any) -> "TraceBuilder":
        """A RUN_STATUS write frm -> to (PHASE unchanged unless given); `set_cols` are extra
        columns (START_TIME=..., END_TIME=...). live=True leaves `before` null."""
        before = {"status": frm, "phase": self.phase_now}
        after = {"status": to, "phase": self.phase_now if phase is None else phase}
        cols = {"STATUS": to, **({"PHASE": phase} if phase is not None else {}), **set_cols}
        self._op += 1
        self.add(t, "status_write", "driver", op_id=self._op, writer=writer,
                 guard={"status_in": [frm]}, set=cols, matched=matched,
                 before=None if live else before, after=after if matched is not False else before,
                 db_time=DB0 + t)
        if matched:
            self.status_now, self.phase_now = after["status"], after["phase"]
        return self

    def event(self, t: float, seq: int, type: str, emitter: str = "orchestrator",
              **payload: Any) -> "TraceBuilder":
        scope = payload.pop("scope", "WORKER" if "worker_id" in payload else "RUN")
        self._op += 1
        return self.add(t, "event_emit", "driver", seq=seq, type=type, scope=scope,
                        payload=payload, emitter=emitter, op_id=self._op)

    def hb(self, t: float, worker: str, status: str, writer: str = "worker",
           age: float | None = None) -> "TraceBuilder":
        extra = {"stamp": DB0 + t} if writer == "worker" else {"age": age}
        return self.add(t, "heartbeat", worker if writer == "worker" else "orchestrator",
                        worker=worker, status=status, writer=writer, **extra)

    def conn(self, t: float, worker: str, conn: str, action: str, tag: str) -> "TraceBuilder":
        return self.add(t, "conn", worker, worker=worker, conn=conn, action=action, tag=tag)

    def proc(self, t: float, worker: str, action: str, code: int | None = None) -> "TraceBuilder":
        return self.add(t, "proc", "orchestrator", worker=worker, action=action,
                        **({"code": code} if action == "exit" else {}))

    # --- actor notes ---------------------------------------------------------------------
    def seen(self, t: float, worker: str, seq: int, type: str, outcome: str = "applied",
             loop: str = "main", cursor: int | None = None) -> "TraceBuilder":
        return self.add(t, "event_seen", worker, worker=worker, seq=seq, type=type, loop=loop,
                        outcome=outcome, cursor=seq if cursor is None else cursor)

    def wstate(self, t: float, worker: str, phase: str | None = None, target: int | None = None,
               source: str = "event") -> "TraceBuilder":
        return self.add(t, "worker_state", worker, worker=worker, phase=phase, target=target,
                        source=source)

    def hook(self, start: float, end: float, worker: str, epoch: int = 1) -> "TraceBuilder":
        return self.add(end, "hook", worker, worker=worker, start=start, end=end, epoch=epoch)

    def query(self, start: float, finish: float, worker: str, phase: str = "WARMUP",
              epoch: int | None = None, conn: str = "c0", counted: bool = True,
              tag_: str | None = None) -> "TraceBuilder":
        epoch = (1 if phase == "RUNNING" else 0) if epoch is None else epoch
        return self.add(finish, "query", worker, worker=worker, conn=conn, task=0, start=start,
                        finish=finish, tag=tag_ or tag(worker, phase), epoch=epoch,
                        counted=counted, ok=True)

    def marker(self, t: float, worker: str, name: str) -> "TraceBuilder":
        return self.add(t, "marker", worker, worker=worker, name=name)

    def stop_request(self, t: float, by: str = "user") -> "TraceBuilder":
        return self.add(t, "stop_request", "user", by=by)

    def run_end(self, t: float, reason: str = "finished") -> "TraceBuilder":
        return self.add(t, "run_end", "driver", status=self.status_now, phase=self.phase_now,
                        reason=reason)

    # --- editing -------------------------------------------------------------------------
    def drop(self, pred: Callable[[dict], bool]) -> "TraceBuilder":
        self.records = [r for r in self.records if not pred(r)]
        return self

    def edit(self, pred: Callable[[dict], bool], **changes: Any) -> "TraceBuilder":
        self.records = [{**r, **changes} if pred(r) else r for r in self.records]
        return self

    def edit_set(self, pred: Callable[[dict], bool], **cols: Any) -> "TraceBuilder":
        """Change `set` columns of the status_writes matching `pred`."""
        self.records = [{**r, "set": {**r.get("set", {}), **cols}} if pred(r) else r
                        for r in self.records]
        return self

    def find(self, pred: Callable[[dict], bool]) -> list[dict]:
        return [r for r in self.records if pred(r)]

    def build(self) -> Trace:
        return Trace([self.header] + sorted(self.records, key=lambda r: r["t"]))


def is_(kind: str, **fields: Any) -> Callable[[dict], bool]:
    """A record predicate: is_("query", worker="worker-0"); a callable value is a test."""
    def pred(r: dict) -> bool:
        return r["kind"] == kind and all(v(r.get(k)) if callable(v) else r.get(k) == v
                                         for k, v in fields.items())
    return pred


def violations(b: "TraceBuilder | Trace", pid: str) -> list:
    from protocol.checks import check
    return check(b.build() if isinstance(b, TraceBuilder) else b, only=[pid])


def assert_violation(vs: list, pid: str, *words: str) -> None:
    """At least one violation of `pid` whose message names every word."""
    assert vs, f"expected a {pid} violation, got none"
    assert all(v.property_id == pid for v in vs)
    assert any(all(w in v.message for w in words) for v in vs), \
        f"no {pid} message names {words}: {[v.message for v in vs]}"
    assert all(isinstance(v.records, tuple) for v in vs)


WORKERS = ("worker-0", "worker-1")
T_RUNNING, T_MEAS, T_STOP, T_STOPPING = 5.5, 15.6, 36.0, 36.1


def clean_run(**params: Any) -> TraceBuilder:
    """A realistic small CONCURRENCY run, w=10 s, d=20 s, 2 workers, that passes every checker:
    create, STARTING, pool init and READY, RUNNING/WARMUP, SET_PHASE(WARMUP), the WARMUP ->
    MEASUREMENT switch with each worker's hook, the duration STOP, draining, COMPLETED/PROCESSING,
    enrichment, COMPLETED/COMPLETED. Tests mutate one aspect of it."""
    b = TraceBuilder(**{"warmup_s": 10, "duration_s": 20, "workers": 2, **params})
    b.status(0.0, None, "PREPARED", phase="")
    b.status(0.5, "PREPARED", "STARTING", phase="PREPARING", START_TIME=DB0 + 0.5)
    b.event(0.6, 1, "START", phase="WARMUP", workers_expected=2)
    for g, k in enumerate(WORKERS):
        d = 0.1 * g
        b.proc(1.0 + d, k, "spawn")
        b.wstate(1.9 + d, k, phase="PREPARING", target=2, source="startup")
        b.hb(2.0 + d, k, "STARTING").hb(2.1 + d, k, "INITIALIZING")
        b.conn(2.5 + d, k, "c0", "created", tag(k, "WARMUP"))
        b.conn(2.6 + d, k, "c1", "created", tag(k, "WARMUP"))
        b.op(2.8 + d, k, "setup")
        for t in (3.1, 4.1, 5.1):
            b.hb(t + d, k, "READY")
        b.seen(3.2 + d, k, 1, "START", outcome="ignored", loop="wait")
        # the wait loop ends on RUNNING (t=5.5) and copies PHASE WARMUP
        b.wstate(5.8 + d, k, phase="WARMUP", target=2, source="wait")
        b.marker(5.8 + d, k, "wait_returned")
        b.marker(6.2 + d, k, "main_loop")
        b.seen(6.3 + d, k, 2, "SET_PHASE")  # SET_PHASE(WARMUP): already WARMUP, nothing to do
        t = 6.1
        while t < 36.2:
            b.hb(t + d, k, "RUNNING")
            t += 1.0
        for s in (6.5, 8.0, 10.0, 12.0, 14.0, 16.0):
            b.query(s + d, s + d + 0.4, k, "WARMUP", conn="c0")
        b.query(16.25 + d, 16.9 + d, k, "WARMUP", conn="c1", counted=False)  # spans the hook
        b.seen(16.2 + d, k, 3, "SET_PHASE")
        b.conn(16.3 + d, k, "c0", "altered", tag(k, "RUNNING"))
        b.conn(16.4 + d, k, "c1", "altered", tag(k, "RUNNING"))
        b.hook(16.2 + d, 16.5 + d, k, epoch=1)
        b.wstate(16.5 + d, k, phase="MEASUREMENT", source="event")
        s = 17.0
        while s < 36.0:
            b.query(s + d, s + d + 0.4, k, "RUNNING", conn="c0" if int(s) % 4 else "c1")
            s += 2.0
        b.seen(36.5 + d, k, 4, "STOP")
        b.hb(36.6 + d, k, "DRAINING").hb(37.5 + d, k, "COMPLETED")
        b.proc(38.0 + d, k, "exit", code=0)
    b.status(T_RUNNING, "STARTING", "RUNNING", phase="WARMUP", WARMUP_START_TIME=DB0 + T_RUNNING)
    b.event(5.6, 2, "SET_PHASE", phase="WARMUP", workers_ready=2)
    b.status(T_MEAS, "RUNNING", "RUNNING", phase="MEASUREMENT", WARMUP_END_TIME=DB0 + T_MEAS)
    b.event(15.7, 3, "SET_PHASE", phase="MEASUREMENT")
    b.event(T_STOP, 4, "STOP", reason="duration_elapsed", detail="", initiated_by="orchestrator")
    b.status(T_STOPPING, "RUNNING", "STOPPING")
    b.status(38.5, "STOPPING", "COMPLETED", phase="PROCESSING")
    b.status(50.0, "COMPLETED", "COMPLETED", phase="COMPLETED", END_TIME=DB0 + 50.0)
    b.run_end(50.1)
    return b
