"""RealDriver: runs actor generators against a real database with the wall clock.

The actor yields an effect, the driver performs it and sends the result back; a failed
statement is thrown into the actor as StatementFailed. Mapping:

  Now              run-clock seconds (clock.py: monotonic, anchored to the run's epoch)
  Sleep            a wait on the task's cancel flag (so Cancel interrupts a sleep)
  Statement        SQL (sql.py) on the task's control connection, opened lazily, one per
                   task; benchmark statements use the handle Connect returned
  Parallel         a thread pool; results in order once all end, or the first
                   StatementFailed thrown (as the simulation does)
  Spawn/Join       a thread running the sub-actor through this driver / waiting on them
  Cancel           cooperative: sets the tasks' flags, seen at their next effect boundary
  Note             a trace record {t, actor, kind: note.kind, **fields}
  SpawnWorker etc. real OS processes (processes.py)
  Random, Touch,   a draw from the driver's generator; no-ops; a cancellable sleep (no
  Notify/Await.    notification channel live: polling stays); one query per QueryBurst

Faults (a run with `--faults`): real_backend/faults.py decides per control statement,
through one hook in _statement, whether it fails, times out or drops its session, and
whether a worker dies at this step; heartbeat stamps carry a worker's clock skew.

Trace: invoke then ok/fail/info around each control statement, database-truth records
(status_write, event_emit, heartbeat, conn; proc from processes.py) at completion, which is
the nearest observable instant live. Op ids are unique per run across processes: each
process counts from its own base (orchestrator 0, worker k at (k+1) * 10**7).
"""
from __future__ import annotations

import datetime as dt
import json
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field, fields
from typing import Any

from protocol import effects as fx
from protocol import faults as fm
from protocol.events import Event
from protocol.trace import TraceWriter

from . import sql as S
from .clock import RunClock
from .connection import ConnectError, ConnSpec, TaggedConnection, open_connection, redact
from .faults import LiveFaults
from .processes import WorkerLauncher

# A failure of these is `fail` (nothing changed). alloc_seq is not one: a NEXTVAL that timed
# out may have consumed a value (a gap), so its failure is `info`.
READ_ONLY_OPS = {"read_run_status", "read_next_seq", "fetch_events", "count_heartbeats",
                 "read_enrichment_status", "enrich", "setup"}


from real_backend.live_metrics_files import LiveMetrics

class Cancelled(Exception):
    """Raised out of a task that was cancelled (its generator has been closed)."""


@dataclass
class BenchHandle:
    """What Connect resumes with: a benchmark connection and its client-side tag."""
    worker_id: str
    conn_id: str
    tc: TaggedConnection

    @property
    def tag(self) -> str | None:
        return self.tc.tag


@dataclass
class TaskHandle:
    name: str
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    thread: threading.Thread | None = None


@dataclass
class _Task:
    actor: str
    name: str
    cancel: threading.Event
    control: TaggedConnection | None = None
    dropped: bool = False  # an injected `drop` closed the control session


def _jsonable(x: Any) -> Any:
    if isinstance(x, BenchHandle):
        return x.conn_id
    if isinstance(x, Event):
        return x.seq
    if isinstance(x, fx.Guard):
        return x.as_dict()
    if isinstance(x, fx.StatementFailed):
        return {"failed": str(x), "outcome": x.outcome}
    if hasattr(x, "__dataclass_fields__"):
        return {f.name: _jsonable(getattr(x, f.name)) for f in fields(x)}
    if isinstance(x, dict) or hasattr(x, "items"):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    return x


def _maybe_write(e: fx.WriteRunStatus, actor: str, op_id: int) -> dict:
    """The status_write of a RUN_STATUS update whose outcome is unknown (`info`): matched is
    null, so the checkers' status chain treats it as maybe applied (a timed-out STOPPING
    write may have landed, and the next write's before-state is then uncertain)."""
    setv = {c.upper(): v for c, v in e.set.items()}
    after = {k.lower(): setv[k] for k in ("STATUS", "PHASE") if k in setv}
    return {"op_id": op_id, "writer": actor, "guard": e.guard.as_dict(),
            "set": {k: (None if v == fx.NOW else v) for k, v in setv.items()},
            "matched": None, "before": None, "after": after, "db_time": None}


def _args(e: fx.Statement) -> dict:
    return {f.name: _jsonable(getattr(e, f.name)) for f in fields(e) if f.name != "run_id"}


def _abandoned(exc: BaseException) -> bool:
    """The client gave up on the statement (a timeout, a lost link, a busy session), not the
    server refusing it: its session is in an unknown state."""
    from snowflake.connector import errors
    if isinstance(exc, (ValueError, ConnectError)):
        return False
    if isinstance(exc, errors.ProgrammingError):
        return "busy" in str(exc).lower()
    return True


def _outcome(exc: BaseException, op: str) -> str:
    """fail: certainly not applied; info: may have applied (timeouts, HTTP 5xx, lost link)."""
    from snowflake.connector import errors
    if isinstance(exc, (ValueError, ConnectError)):
        return "fail"  # never sent
    if op == "alloc_seq":
        return "info"  # a NEXTVAL cancelled by a timeout may still have consumed its value
    if op in READ_ONLY_OPS or isinstance(exc, errors.ProgrammingError):
        return "fail"
    return "info"


class RealDriver:
    def __init__(self, spec: ConnSpec, sql: S.SqlText, trace: TraceWriter,
                 clock: RunClock | None = None, *, id_base: int = 0, control_tag: str = "phaselab",
                 read_back: bool = True, run_dir: str | None = None,
                 worker_config: dict | None = None, metrics_dir: str | None = None,
                 faults: "LiveFaults | None" = None):
        self.spec, self.sql, self.trace = spec, sql, trace
        self.faults = faults  # real_backend/faults.py, or None: nothing is injected
        self.clock = clock or RunClock.start()
        self.control_tag, self.read_back = control_tag, read_back
        self._trace_lock = threading.Lock()
        self._id_lock = threading.Lock()
        self._next_id = id_base
        self._conns: list[TaggedConnection] = []
        self._conns_lock = threading.Lock()
        self._tasks: list[TaskHandle] = []
        self._rng = random.Random()
        self._workers: WorkerLauncher | None = None
        self._metrics = LiveMetrics(metrics_dir)  # the scaling modes' metrics path
        if run_dir is not None:
            base = {"epoch_wall": self.clock.epoch_wall, "conn": spec.to_json(),
                    "database": sql.database, "schema": sql.schema, "hybrid": sql.hybrid,
                    "snowflake": sql.snowflake,
                    **(worker_config or {})}
            self._workers = WorkerLauncher(run_dir, base, self._record_driver)

    # --- trace ----------------------------------------------------------------------------
    def record(self, actor: str, kind: str, **fields_: Any) -> None:
        with self._trace_lock:
            self.trace.write({"t": self.clock.now(), "actor": actor, "kind": kind, **fields_})

    def _record_driver(self, kind: str, actor: str = "driver", **fields_: Any) -> None:
        self.record(actor, kind, **fields_)

    def _op_id(self) -> int:
        with self._id_lock:
            self._next_id += 1
            return self._next_id

    # --- running actors -------------------------------------------------------------------
    def run(self, program, actor: str, name: str = "main",
            cancel: threading.Event | None = None) -> Any:
        """Run an actor generator to its end on this thread; returns its return value.
        Setting `cancel` stops it at its next effect boundary (raises Cancelled): how a live
        run's overall deadline or Ctrl-C stops the orchestrator without waiting for it."""
        task = _Task(actor, name, cancel or threading.Event())
        try:
            return self._drive(program, task)
        finally:
            self._close_conn(task.control)

    def _drive(self, gen, task: _Task) -> Any:
        send, throw = None, None
        while True:
            try:
                eff = gen.throw(throw) if throw is not None else gen.send(send)
            except StopIteration as stop:
                return stop.value
            except fx.StatementFailed as exc:  # not handled by the actor: it dies of it,
                # recorded as the simulation records it (docs/trace.md, `crash`)
                self.record(task.actor, "crash", error=redact(str(exc)), outcome=exc.outcome)
                raise
            send, throw = None, None
            if task.cancel.is_set():  # boundary before the effect
                gen.close()
                raise Cancelled(task.name)
            try:
                send = self._perform(eff, task)
            except fx.StatementFailed as exc:
                throw = exc
            except BaseException:
                gen.close()
                raise
            if task.cancel.is_set():  # and after it: a cancelled task never resumes
                gen.close()
                raise Cancelled(task.name)

    def _perform(self, e: Any, task: _Task) -> Any:
        if isinstance(e, fx.Statement):
            return self._statement(e, task)
        if isinstance(e, fx.Now):
            return self.clock.now()
        if isinstance(e, fx.Sleep):
            task.cancel.wait(max(0.0, float(e.seconds)))
            return None
        if isinstance(e, fx.Note):
            self.record(task.actor, e.kind, **dict(e.fields))
            return None
        if isinstance(e, fx.Parallel):
            return self._parallel(e, task)
        if isinstance(e, fx.Spawn):
            return self._spawn(e, task)
        if isinstance(e, fx.Join):
            return self._join(e)
        if isinstance(e, fx.Cancel):
            for h in e.handles:
                h.cancel.set()
            return None
        if isinstance(e, fx.SpawnWorker):
            return self._launcher().spawn(e.worker_id, e.group_id, e.group_count, e.group_id,
                                          task.actor)
        if isinstance(e, fx.LiveWorkers):
            return self._launcher().live()
        if isinstance(e, fx.TerminateWorkers):
            return self._launcher().terminate(e.kill_after_s)
        # Effects for the simulation's polling schemes and bulk queries, by name so that this
        # driver does not depend on which of them a given protocol version has.
        kind = type(e).__name__
        if kind == "Random":
            return self._rng.random()
        if kind in ("Touch", "Notify"):
            return None  # no bursts to cut; no notification channel live (polling stays)
        if kind == "AwaitNotice":
            task.cancel.wait(max(0.0, float(e.timeout)))
            return None
        if kind in ("WorkerCounters", "PostMetrics", "ReadLiveCache"):
            return self._metrics.perform(e, self.clock.now())
        raise TypeError(f"RealDriver cannot perform {e!r}")

    def _launcher(self) -> WorkerLauncher:
        if self._workers is None:
            raise RuntimeError("this driver has no run_dir, so it cannot start worker processes")
        return self._workers

    def _parallel(self, e: fx.Parallel, task: _Task) -> list:
        """All effects run to their end; then the first StatementFailed, if any, is thrown
        (as in the simulation), else the results in order; with `settle`, failures are
        returned in their places."""
        def one(eff):
            try:
                return self._perform(eff, task)
            except fx.StatementFailed as exc:
                return exc
        if not e.effects:
            return []
        with ThreadPoolExecutor(max_workers=min(16, len(e.effects))) as pool:
            results = list(pool.map(one, e.effects))
        if e.settle:  # the caller retries just the parts that failed (tasks.py _connect)
            return results
        for r in results:
            if isinstance(r, fx.StatementFailed):
                raise r
        return results

    def _spawn(self, e: fx.Spawn, parent: _Task) -> TaskHandle:
        h = TaskHandle(e.name)
        sub = _Task(parent.actor, e.name, h.cancel)

        def body():
            try:
                h.result = self._drive(e.program, sub)
            except Cancelled:
                pass
            except BaseException as exc:  # kept on the handle; the actor decides
                h.error = exc
            finally:
                self._close_conn(sub.control)
                h.done.set()
        h.thread = threading.Thread(target=body, name=f"{parent.actor}:{e.name}", daemon=True)
        self._tasks.append(h)
        h.thread.start()
        return h

    def _join(self, e: fx.Join) -> bool:
        deadline = None if e.timeout is None else self.clock.now() + e.timeout
        for h in e.handles:
            left = None if deadline is None else max(0.0, deadline - self.clock.now())
            if not h.done.wait(left):
                return False
        return True

    # --- connections ----------------------------------------------------------------------
    def _open(self, tag: str) -> TaggedConnection:
        tc = open_connection(self.spec, query_tag=tag, schema=self.sql.schema)
        with self._conns_lock:
            self._conns.append(tc)
        return tc

    def _close_conn(self, tc: TaggedConnection | None) -> None:
        if tc is not None:
            with self._conns_lock:
                if tc in self._conns:
                    self._conns.remove(tc)
            tc.close()

    def _control(self, task: _Task) -> TaggedConnection:
        if task.control is None:
            task.control = self._open(self.control_tag)
        return task.control

    # --- statements -----------------------------------------------------------------------
    def _statement(self, e: fx.Statement, task: _Task) -> Any:
        if isinstance(e, fx.BenchmarkQuery):
            return self._benchmark(e)
        if type(e).__name__ == "QueryBurst":
            return self._burst(e)
        fl = self.faults
        if fl is not None:
            fl.before(e)  # a worker killed at this step dies here
            if task.dropped and not isinstance(e, fx.Connect):
                task.dropped = False
                self.record(task.actor, "fault", fault="reconnect", op=e.op)
        if task.control is None and not isinstance(e, fx.Connect):
            try:  # log in before the invoke: a statement's latency is the statement's alone
                self._control(task)
            except Exception:
                pass  # the handler tries again and the failure is recorded as the statement's
        op_id = self._op_id()
        self.record(task.actor, "invoke", op=e.op, id=op_id, args=_args(e))
        handler = getattr(self, "_do_" + e.op, None)
        fault = fl.outcome(task.actor, task.name, e.op) if fl is not None else None
        if fault is not None:
            return self._injected(fault, e, task, op_id, handler)
        try:
            if handler is None:
                raise ValueError(f"no SQL for statement {type(e).__name__}")
            value, truth = handler(e, task, op_id)
        except Exception as exc:
            outcome = _outcome(exc, e.op)
            msg = redact(f"{type(exc).__name__}: {exc}")
            if outcome == "info" and isinstance(e, fx.WriteRunStatus):
                self.record(task.actor, "status_write", **_maybe_write(e, task.actor, op_id))
            self.record(task.actor, outcome, op=e.op, id=op_id, error=msg)
            if _abandoned(exc) and not isinstance(e, fx.Connect):
                # the server may still be running that statement in this session (the
                # embedded server then refuses the next one: "connection is busy"), so the
                # next statement gets a fresh control connection, as a careful client would
                stale, task.control = task.control, None
                if stale is not None:  # its logout may wait on the busy server: not here
                    with self._conns_lock:
                        if stale in self._conns:
                            self._conns.remove(stale)
                    threading.Thread(target=stale.close, daemon=True,
                                     name="close-abandoned").start()
            raise fx.StatementFailed(e.op, msg, outcome) from None
        for kind, rec in truth:
            self.record(task.actor, kind, **rec)
        self.record(task.actor, "ok", op=e.op, id=op_id, value=_jsonable(value))
        if fl is not None:
            fl.after(e)  # heartbeat memory; a worker killed right after DRAINING dies here
        return value

    def _injected(self, fault: str, e: fx.Statement, task: _Task, op_id: int, handler) -> Any:
        """A statement hit by an injected fault (real_backend/faults.py), recorded as the
        simulation records it (docs/trace.md, Faults). `fail`/`drop`: never sent. `info`:
        sent (its effect and database truth kept, its result thrown away) or not, as the
        draw says, and reported as a timeout once the statement timeout has passed."""
        t0 = self.clock.now()
        if fault == fm.INFO:
            applied = self.faults.info_applies(task.actor, task.name, e.op)
            if applied:
                try:
                    _, truth = handler(e, task, op_id)
                except Exception:  # it failed for real: so it did not take effect
                    applied = False
                else:
                    for kind, rec in truth:
                        self.record(task.actor, kind, **rec)
                    self.faults.after_effect(e)
            task.cancel.wait(max(0.0, t0 + self.faults.spec.info_timeout_s - self.clock.now()))
            self.record(task.actor, "info", op=e.op, id=op_id, error="timeout",
                        applied=applied)
            raise fx.StatementFailed(e.op, "timeout, outcome unknown", fm.INFO)
        error = "connection dropped" if fault == fm.DROP else "injected error"
        if fault == fm.DROP and not isinstance(e, (fx.Connect, fx.SetQueryTag)):
            # (a benchmark session's statements: it stays open, the statement just fails)
            stale, task.control = task.control, None
            task.dropped = True
            if stale is not None:
                self._close_conn(stale)
        self.record(task.actor, "fail", op=e.op, id=op_id, error=error)
        raise fx.StatementFailed(e.op, error, fm.FAIL)

    def _q(self, task: _Task, q: S.Q) -> Any:
        return self._control(task).execute(q.text, q.params)

    def _fetchone(self, task: _Task, q: S.Q) -> tuple | None:
        with closing(self._q(task, q)) as cur:
            return cur.fetchone()

    def _fetchall(self, task: _Task, q: S.Q) -> list:
        with closing(self._q(task, q)) as cur:
            return cur.fetchall()

    def _rowcount(self, task: _Task, q: S.Q) -> int:
        with closing(self._q(task, q)) as cur:
            return cur.rowcount or 0

    def _db_times(self, task: _Task, run_id: str, cols: list[str]) -> tuple[dict, float | None]:
        """Run-clock times the database gave `cols` (and UPDATED_AT as db_time)."""
        if not self.read_back:
            return {}, None
        row = self._fetchone(task, self.sql.read_back_times(run_id, cols))
        if row is None:
            return {}, None
        ts_cols = [c for c in cols if S.RUN_STATUS_SETTABLE.get(c) == "ts"]
        conv = [None if v is None else self.clock.from_wall(float(v)) for v in row]
        return dict(zip(ts_cols, conv)), conv[-1]

    def _do_create_run(self, e: fx.CreateRun, task, op_id):
        for q in self.sql.create_run(e):
            self._rowcount(task, q)
        _, db_time = self._db_times(task, e.run_id, [])
        after = {"status": "PREPARED", "phase": ""}
        return True, [("status_write", {"op_id": op_id, "writer": task.actor, "guard": {},
                                        "set": {"STATUS": "PREPARED", "PHASE": ""},
                                        "matched": True, "before": None, "after": after,
                                        "db_time": db_time})]

    def _do_read_run_status(self, e, task, op_id):
        return S.run_row(self._fetchone(task, self.sql.read_run_status(e))), []

    def _do_write_run_status(self, e: fx.WriteRunStatus, task, op_id):
        matched = self._rowcount(task, self.sql.write_run_status(e)) > 0
        cols = [c.upper() for c in e.set]
        setv = {c.upper(): v for c, v in e.set.items()}
        db_time = None
        if matched:
            times, db_time = self._db_times(task, e.run_id, cols)
            setv.update({c: times[c] for c in times if c in setv})
        after = {k.lower(): setv[k] for k in ("STATUS", "PHASE") if k in setv} if matched else None
        return matched, [("status_write", {"op_id": op_id, "writer": task.actor,
                                           "guard": e.guard.as_dict(), "set": setv,
                                           "matched": matched, "before": None, "after": after,
                                           "db_time": db_time})]

    def _do_read_next_seq(self, e, task, op_id):
        row = self._fetchone(task, self.sql.read_next_seq(e))
        return (None if row is None or row[0] is None else int(row[0])), []

    def _do_bump_next_seq(self, e, task, op_id):
        return self._rowcount(task, self.sql.bump_next_seq(e)) > 0, []

    def _do_alloc_seq(self, e, task, op_id):
        return int(self._fetchone(task, self.sql.alloc_seq(e))[0]), []

    def _do_insert_event(self, e: fx.InsertEvent, task, op_id):
        self._rowcount(task, self.sql.insert_event(e, str(uuid.uuid4())))
        data = dict(e.data)
        return True, [("event_emit", {"seq": e.seq, "type": e.type,
                                      "scope": str(data.get("scope", "RUN")), "payload": data,
                                      "emitter": task.actor, "op_id": op_id})]

    def _do_fetch_events(self, e, task, op_id):
        rows = self._fetchall(task, self.sql.fetch_events(e))
        return tuple(Event(int(s), t, S._json(d) or {}) for s, t, d in rows), []

    def _do_merge_heartbeat(self, e: fx.MergeHeartbeat, task, op_id):
        wall = dt.datetime.now(dt.timezone.utc)
        if self.faults is not None:  # a lying clock: this worker's offset and drift
            wall += dt.timedelta(seconds=self.faults.clock_offset())
        stamp = wall.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        self._rowcount(task, self.sql.merge_heartbeat(e, stamp))
        return True, [("heartbeat", {"worker": e.worker_id, "status": e.status,
                                     "writer": "worker", "op_id": op_id,
                                     "stamp": self.clock.from_wall(wall.timestamp())})]

    def _do_mark_heartbeats(self, e: fx.MarkHeartbeats, task, op_id):
        """SELECT the candidates with their ages, then one guarded UPDATE each: exact about
        which rows changed (Snowflake has no UPDATE ... RETURNING)."""
        marked, truth = [], []
        for worker_id, age in self._fetchall(task, self.sql.mark_candidates(e)):
            if self._rowcount(task, self.sql.mark_one(e, worker_id)) > 0:
                marked.append(worker_id)
                truth.append(("heartbeat", {"worker": worker_id, "status": e.status,
                                            "writer": "orchestrator", "age": float(age),
                                            "op_id": op_id}))
        return tuple(marked), truth

    def _do_count_heartbeats(self, e, task, op_id):
        return S.heartbeat_counts(self._fetchall(task, self.sql.count_heartbeats(e))), []

    def _do_read_live_metrics(self, e, task, op_id):
        """The dashboard's read. Workers here post no metrics snapshots, so the cache is
        empty (ops absent, 0 QPS); WORKERS_ACTIVE is the heartbeat rollup, as upstream."""
        rows = self._fetchall(task, self.sql.count_heartbeats(fx.CountHeartbeats(e.run_id)))
        return fx.LiveMetrics(False, 0.0, S.heartbeat_counts(rows).active), []

    def _do_write_test_result(self, e, task, op_id):
        return self._rowcount(task, self.sql.write_test_result(e)) > 0, []

    def _do_read_enrichment_status(self, e, task, op_id):
        rows = self._fetchall(task, self.sql.read_enrichment(e))
        return S.enrichment_status(rows, e.run_id, e.parent_first), []

    def _do_enrich(self, e, task, op_id):
        self._fetchall(task, self.sql.enrich(e))
        return None, []

    def _do_setup(self, e, task, op_id):
        row = self._fetchone(task, self.sql.setup(e))
        return {"rows": int(row[0]), "min_key": row[1], "max_key": row[2]}, []

    def _do_connect(self, e: fx.Connect, task, op_id):
        h = BenchHandle(e.worker_id, e.conn_id, self._open(e.tag))
        return h, [("conn", {"worker": e.worker_id, "conn": e.conn_id, "action": "created",
                             "tag": e.tag})]

    def _do_alter_tag(self, e: fx.SetQueryTag, task, op_id):
        h: BenchHandle = e.conn
        h.tc.set_tag(e.tag)
        return True, [("conn", {"worker": e.worker_id, "conn": h.conn_id, "action": "altered",
                                "tag": e.tag})]

    def _benchmark(self, e: fx.BenchmarkQuery) -> fx.QueryResult:
        """No invoke/ok records (too many): the actor writes one `query` note per query.
        A failure is ok=False, not thrown: benchmark errors are counted, not protocol events."""
        h: BenchHandle = e.conn
        tag = h.tc.tag
        start = self.clock.now()
        ok = True
        try:
            q = self.sql.benchmark(self._rng.randint(1, S.BENCHMARK_ROWS))
            cur = h.tc.execute(q.text, q.params)
            cur.fetchall()
            cur.close()
        except Exception:
            ok = False
        finish = self.clock.now()
        self._metrics.query(start, finish, ok)
        return fx.QueryResult(start=start, finish=finish, tag=tag, ok=ok)

    def _burst(self, e) -> Any:
        """A QueryBurst live is one query: the wall clock has no horizon to batch up to, and
        the next control decision may come at any instant."""
        r = self._benchmark(fx.BenchmarkQuery(e.worker_id, e.conn))
        return fx.BurstResult(starts=[r.start], finish=r.finish, tag=r.tag, ok=r.ok)

    # --- end of run -----------------------------------------------------------------------
    def worker_parts(self) -> list[str]:
        return list(self._workers.parts) if self._workers else []

    def close(self, kill_after_s: float = 2.0) -> None:
        """Cancel tasks, stop workers, close every connection this driver opened."""
        for h in self._tasks:
            h.cancel.set()
        if self._workers is not None:
            self._workers.terminate(kill_after_s)
            self._workers.kill_all()
        for h in self._tasks:
            if h.thread is not None:
                h.thread.join(2.0)
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for tc in conns:
            tc.close()

    def __enter__(self) -> "RealDriver":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def merge_trace_files(out_path: str, inputs: list[str]) -> int:
    """Merge trace files (the orchestrator's, with the `run` header, and worker parts) into
    one, ordered by t with the header first; a truncated last line of a part is dropped.
    Returns the number of records written."""
    from protocol.trace import dumps
    recs: list[tuple[int, float, int, dict]] = []
    n = 0
    for path in inputs:
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            continue
        for line in lines:
            if not line.strip():
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue  # only a crashed writer's last line can be partial
            recs.append((0 if r.get("kind") == "run" else 1, float(r.get("t", 0.0)), n, r))
            n += 1
    recs.sort(key=lambda x: x[:3])
    with open(out_path, "w", encoding="utf-8") as f:
        for *_, r in recs:
            f.write(dumps(r) + "\n")
    return len(recs)

