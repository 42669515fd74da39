"""The SimPy interpreter of effects.

Every actor (and every task an actor spawns) is a SimPy process that feeds its generator the
results of the effects it yields. A statement waits half its sampled latency, takes effect on
the in-memory tables at that instant, then waits the other half. Every timeout gets a tiny
seeded jitter so that same-instant events are ordered by the seed, not first-in first-out.
A worker main loop's idle ticks draw theirs from a stream of their process's own, which is
what lets the driver skip the iterations with nothing due (idle_until) without changing a run.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from random import Random
from typing import Any, Callable

import simpy

from protocol import effects as fx
from protocol import faults as fm
from protocol.trace import TraceWriter
from sim.bulk import Bursts
from sim.fastevents import timeouts, timeouts_at
from sim.faults import FaultLayer
from sim.latency import LatencyModel, RandomSource
from sim.live import LiveWorld
from sim.notify import Channel
from sim.tables import Tables

TIE_JITTER_S = 1e-6
TICKS_MAX = 10_000  # whole idle ticks one Tick may skip; waking early is harmless, just slower
UNHANDLED = object()  # what an actor that died of an unhandled statement error returns
_SLEEP, _TICK, _NOW, _NOTE, _GUARD = fx.Sleep, fx.Tick, fx.Now, fx.Note, fx.Guard


@dataclass
class SimConnection:
    """A benchmark session: its id and current QUERY_TAG."""
    conn_id: str
    worker_id: str
    tag: str


@dataclass
class WorkerProc:
    worker_id: str
    process: simpy.Process | None = None
    tasks: list = field(default_factory=list)
    exited: bool = False


class SimDriver:
    skip_idle_ticks = True  # False: every Tick is one tick (the same trace, only slower)

    def __init__(self, env: simpy.Environment, tables: Tables, latency: LatencyModel,
                 src: RandomSource, trace: TraceWriter,
                 worker_program: Callable[[str, int, int], Any],
                 worker_clock_offset_s: Callable[[str], float] = lambda w: 0.0,
                 server: Any = None, faults: FaultLayer | None = None,
                 warehouse: Any = None, live: bool = False):
        self.env, self.tables, self.latency, self.src, self.trace = (
            env, tables, latency, src, trace)
        self.timeout = timeouts(env)  # env.timeout, minus SimPy's constructor overhead
        self.timeout_at = timeouts_at(env)  # the same, at an absolute time
        self._rnd = src.random
        self._write = trace.write
        self._handlers: dict[type, Callable] = {}  # effect type -> perform_* (see perform)
        self._meanings: dict[type, Callable] = {}  # statement type -> its rule (see apply)
        self.server = server  # sim.server_queue.ServerQueue: a shared backend's queue, or None
        self.worker_program = worker_program
        self.worker_clock_offset_s = worker_clock_offset_s
        self.next_op_id = 0
        self.procs: dict[str, WorkerProc] = {}
        self.counts: dict[str, int] = {}  # statements performed, by op (control-plane load)
        self.bursts = Bursts(env, latency, src, self.counts)  # bulk benchmark queries
        self.channel = Channel(env, latency, src, self.record)  # push notices
        self.faults = faults  # sim/faults.py, or None: no fault can fire
        self.actor_procs: dict[str, list] = {}  # every process an actor runs (for a kill)
        self.restarted: list = []  # the API process's programs after a restart
        self.restart_pending = False
        # Scaling modes only (issue 11): the metrics path and the warehouse's capacity.
        self.warehouse = warehouse  # sim.warehouse.WarehouseModel or None
        self.live = LiveWorld() if live else None
        if self.live is not None:
            self.bursts.log = self.live.log
        if warehouse is not None:
            self.bursts.warehouse = warehouse
            self.bursts.horizon_s = warehouse.burst_horizon_s

    # --- plumbing -------------------------------------------------------------------------

    def record(self, actor: str, kind: str, **fields) -> None:
        self._write({"t": self.env._now, "actor": actor, "kind": kind, **fields})

    def wait(self, seconds: float):
        # (`s if s > 0.0 else 0.0` is max(0.0, s), NaN and -0.0 included, without the call)
        return self.timeout((seconds if seconds > 0.0 else 0.0) + TIE_JITTER_S * self._rnd())

    def start(self, program, actor: str, owner: WorkerProc | None = None) -> simpy.Process:
        proc = self.env.process(self.drive(program, actor, owner))
        if owner is not None:
            owner.tasks.append(proc)
        if self.faults is not None:
            self.actor_procs.setdefault(actor, []).append(proc)
        return proc

    def drive(self, gen, actor: str, owner: WorkerProc | None):
        """Run one actor generator to its end; its return value is the process value.

        The hot loop of every run: Sleep, Now, Note and Tick are answered inline (no
        generator per effect), every other effect goes to its handler, found by its type."""
        value: Any = None
        error: BaseException | None = None
        env, timeout, rnd, send = self.env, self.timeout, self._rnd, gen.send
        sleep_t, now_t, jitter = _SLEEP, _NOW, TIE_JITTER_S  # (locals: the fastest lookup)
        tick = None  # this process's own jitter stream for Ticks (see idle_until)
        handlers, handler_for = self._handlers, self._handler_for
        while True:
            try:
                eff = send(value) if error is None else gen.throw(error)
            except StopIteration as stop:
                return stop.value
            except fx.StatementFailed as exc:  # not handled by the actor: it dies of it
                self.record(actor, "crash", error=str(exc), outcome=exc.outcome)
                return UNHANDLED
            error = value = None
            kind = type(eff)
            try:
                if kind is sleep_t:
                    s = eff.seconds
                    yield timeout((s if s > 0.0 else 0.0) + jitter * rnd())
                elif kind is now_t:  # once or more per main-loop iteration
                    value = env._now
                elif kind is _NOTE:  # a trace record: nothing to wait for
                    self.note(eff, actor)
                elif kind is _TICK:
                    if tick is None:  # the first Tick seeds it with a draw of the run's stream
                        tick = Random(int(rnd() * 2 ** 53)).random
                    yield self.timeout_at(self.idle_until(eff, tick))
                else:
                    handler = handlers.get(kind) or handler_for(kind)
                    value = yield from handler(eff, actor, owner)
            except fx.StatementFailed as exc:
                error = exc
            except simpy.Interrupt:  # killed or cancelled: no exit steps run
                gen.close()
                return None

    def idle_until(self, eff: fx.Tick, tick: Callable[[], float]) -> float:
        """When a Tick ends: the end of its first tick, or of the first later tick at which
        one of its (last, period) pairs is due, skipping the iterations in between that
        would find nothing to do. Each tick end is computed as SimPy would have scheduled
        it (the previous end plus the sleep plus a jitter), and the jitter comes from the
        process's own stream, drawn once per tick whether the tick is skipped or not: so a
        run's trace is the same, bit for bit, with skipping on or off."""
        s = eff.seconds if eff.seconds > 0.0 else 0.0
        t = self.env._now + (s + TIE_JITTER_S * tick())
        due = eff.due
        if not (due and self.skip_idle_ticks):
            return t
        # Below `near` no pair can be due, whatever the rounding of `t - last` (the margin
        # is far above it): those ticks cost one comparison each. Then the loop's own test.
        near = math.inf
        for last, period in due:
            edge = last + period - 1e-9 * (2 * abs(last) + abs(period) + 1)
            if edge != edge:  # NaN (an infinite pair): no shortcut, the loop's own test
                near = -math.inf
                break
            if edge < near:
                near = edge
        n = 0
        while t < near and n < TICKS_MAX:
            t += s + TIE_JITTER_S * tick()
            n += 1
        for _ in range(TICKS_MAX - n):
            for last, period in due:
                if t - last >= period:
                    return t
            t += s + TIE_JITTER_S * tick()
        return t

    # --- effects --------------------------------------------------------------------------

    def _handler_for(self, kind: type) -> Callable:
        """The handler of one effect type, decided once per type by perform's own rules:
        a statement's generator is driven directly (no perform frame between), a burst's
        without the statement frame either."""
        if issubclass(kind, fx.QueryBurst):
            handler = lambda eff, actor, owner: self.bursts.run(eff)  # noqa: E731
        elif issubclass(kind, fx.Statement):
            handler = lambda eff, actor, owner: self.statement(eff, actor)  # noqa: E731
        else:
            handler = self.perform
        self._handlers[kind] = handler
        return handler

    def perform(self, eff, actor: str, owner: WorkerProc | None):
        if isinstance(eff, fx.QueryBurst):
            return (yield from self.bursts.run(eff))
        if isinstance(eff, fx.Statement):
            return (yield from self.statement(eff, actor))
        if isinstance(eff, fx.Now):
            return self.env.now
        if isinstance(eff, fx.Sleep):
            yield self.wait(eff.seconds)
            return None
        if isinstance(eff, fx.Note):
            self.note(eff, actor)
            return None
        if isinstance(eff, fx.Parallel):
            procs = [self.env.process(self.one(e, actor, owner)) for e in eff.effects]
            yield self.env.all_of(procs)
            failed = [p.value for p in procs if isinstance(p.value, fx.StatementFailed)]
            if failed and not eff.settle:  # all parts ended; the first error is the Parallel's
                raise failed[0]
            return [p.value for p in procs]
        if isinstance(eff, fx.Spawn):
            return self.start(eff.program, actor, owner)
        if isinstance(eff, fx.Join):
            pending = [h for h in eff.handles if h.is_alive]
            if not pending:
                return True
            done = self.env.all_of(pending)
            if eff.timeout is None:
                yield done
            else:
                yield done | self.env.timeout(eff.timeout)
            return all(not h.is_alive for h in eff.handles)
        if isinstance(eff, fx.Cancel):
            for h in eff.handles:
                if h.is_alive:
                    h.interrupt("cancel")
            return None
        if isinstance(eff, fx.SpawnWorker):
            self.spawn_worker(eff, actor)
            return None
        if isinstance(eff, fx.LiveWorkers):
            return sum(not p.exited for p in self.procs.values())
        if isinstance(eff, fx.TerminateWorkers):
            for p in self.procs.values():
                if not p.exited:
                    p.process.interrupt("SIGTERM")
            return None
        if isinstance(eff, fx.Random):
            return self.src.random()
        if isinstance(eff, fx.Touch):
            self.bursts.touch(eff.worker_id)
            return None
        if isinstance(eff, fx.Notify):
            self.channel.publish(eff, [w for w, p in self.procs.items() if not p.exited])
            return None
        if isinstance(eff, fx.AwaitNotice):
            return (yield from self.channel.wait(eff, self.wait(eff.timeout)))
        if self.live is not None:
            if isinstance(eff, fx.WorkerCounters):
                return self.live.log.counters(eff.worker_id, eff.since, self.env.now,
                                              self.bursts.active.get(eff.worker_id, ()))
            if isinstance(eff, fx.PostMetrics):
                if self.live.post_lost(self.faults, self.env.now):  # sim/live.py
                    self.record(actor, "fault", fault="post_lost", op="post_metrics")
                else:
                    self.live.cache.post(self.env.now, eff.snapshot)
                return None
            if isinstance(eff, fx.ReadLiveCache):
                return self.live.aggregate(self.env.now, [w for w, p in self.procs.items()
                                                          if not p.exited])
        raise TypeError(f"{actor} yielded {eff!r}, which is not an effect")

    def note(self, eff: fx.Note, actor: str) -> None:
        self.record(actor, eff.kind, **eff.fields)
        if self.live is not None and eff.kind == "worker_state":
            self.live.targets[eff.fields["worker"]] = eff.fields["target"]

    def one(self, eff, actor, owner):
        try:
            return (yield from self.perform(eff, actor, owner))
        except fx.StatementFailed as exc:  # handed to the Parallel, not lost in SimPy
            return exc

    def statement(self, eff: fx.Statement, actor: str):
        op = eff.op
        self.counts[op] = self.counts.get(op, 0) + 1
        lat = self.latency.sample(op, self.src)
        if self.faults is not None:
            return (yield from self.faulty_statement(eff, actor, lat))
        if op == "benchmark":
            start, tag = self.env.now, eff.conn.tag
            if self.server is not None:
                yield from self.server.visit(op, self.src, self.wait)
            if self.live is not None:
                self.live.in_flight += 1
                if self.warehouse is not None:
                    lat *= self.warehouse.slowdown(self.live.in_flight
                                                   + self.bursts.in_flight())
            yield self.wait(lat)
            self.tables.query_finished(self.env.now)  # feeds the live-metrics read
            if self.live is not None:
                self.live.in_flight -= 1
                self.live.log.add(eff.worker_id, [start], [self.env.now])
            return fx.QueryResult(start, self.env.now, tag)
        self.next_op_id += 1
        op_id = self.next_op_id
        env, write, timeout, rnd = self.env, self._write, self.timeout, self._rnd
        write({"t": env._now, "actor": actor, "kind": "invoke", "op": op, "id": op_id,
               "args": _args(eff)})
        if self.server is not None:  # queued and served first; then the client/network part
            yield from self.server.visit(op, self.src, self.wait)
        half = lat / 2 if lat > 0.0 else 0.0  # (self.wait, inline: two per statement)
        yield timeout(half + TIE_JITTER_S * rnd())
        result, records = self.apply(eff, actor, op_id)
        for rec in records:
            write({"t": env._now, "actor": actor, **rec})
        yield timeout(half + TIE_JITTER_S * rnd())
        write({"t": env._now, "actor": actor, "kind": "ok", "op": op, "id": op_id,
               "value": _summary(result)})
        return result

    def faulty_statement(self, eff: fx.Statement, actor: str, lat: float):
        """A statement under the fault model: a crash before it, a backend stall or
        throttle, then ok, fail, info, slow or a dropped connection (protocol/faults.py)."""
        fl, op = self.faults, eff.op
        issued = self.env.now  # a query starts when issued, whatever delays it then
        conn = getattr(eff, "conn", None)
        session = (actor, getattr(conn, "conn_id", None))  # control or one benchmark session
        if actor in self.procs and self.env.now < fl.spec.heal_at_s:
            step = fl.crash_before(actor, eff)
            if step is not None:
                yield from self.crash(actor, step)
        until = fm.stalled_until(fl.spec, self.env.now)
        if until is not None:
            self.record(actor, "fault", fault="stall", op=op, until=until)
            yield self.wait(until - self.env.now)
        lat *= fm.latency_factor(fl.spec, self.env.now)
        if session in fl.dropped:  # the session dropped earlier: reopen it first
            fl.dropped.discard(session)
            self.record(actor, "fault", fault="reconnect", op=op)
            yield self.wait(self.latency.sample("connect", self.src))
        fault = fl.outcome(op, self.env.now)
        slow = fault == fm.SLOW
        if slow:  # slower than the statement timeout: the client calls it a timeout
            lat = fl.slow_latency(lat)
            fault = fm.INFO if lat > fl.spec.info_timeout_s else None
        if op == "benchmark":
            tag = eff.conn.tag
            if self.server is not None:
                yield from self.server.visit(op, self.src, self.wait)
            yield self.wait(lat)
            self.tables.query_finished(self.env.now)
            return fx.QueryResult(issued, self.env.now, tag)
        self.next_op_id += 1
        op_id = self.next_op_id
        self.record(actor, "invoke", op=op, id=op_id, args=_args(eff))
        if slow:
            self.record(actor, "fault", fault="slow", op=op, id=op_id, latency=lat)
        if self.server is not None:
            yield from self.server.visit(op, self.src, self.wait)
        if fault is None:
            yield self.wait(lat / 2)
            result = self.take_effect(eff, actor, op_id)
            yield self.wait(lat / 2)
            self.record(actor, "ok", op=op, id=op_id, value=_summary(result))
            step = fl.crash_after(actor, eff) if actor in self.procs else None
            if step is not None and self.env.now < fl.spec.heal_at_s:
                yield from self.crash(actor, step)
            return result
        if fault == fm.INFO:  # the client gives up at the timeout; the write may have landed
            applies = fl.info_applies()
            timeout = fl.spec.info_timeout_s
            if applies:
                yield self.wait(min(lat / 2, timeout))
                self.take_effect(eff, actor, op_id)
                yield self.wait(timeout - min(lat / 2, timeout))
            else:
                yield self.wait(timeout)
            self.record(actor, "info", op=op, id=op_id, error="timeout", applied=applies)
            raise fx.StatementFailed(op, "timeout, outcome unknown", fm.INFO)
        yield self.wait(lat)  # fail or drop: it never took effect
        if fault == fm.DROP:
            fl.dropped.add(session)
        error = "connection dropped" if fault == fm.DROP else "injected error"
        self.record(actor, "fail", op=op, id=op_id, error=error)
        raise fx.StatementFailed(op, error, fm.FAIL)

    def take_effect(self, eff: fx.Statement, actor: str, op_id: int):
        result, records = self.apply(eff, actor, op_id)
        for rec in records:
            self.trace.write({"t": self.env.now, "actor": actor, **rec})
        if isinstance(eff, fx.MergeHeartbeat):
            self.faults.heartbeat_written(eff.worker_id, eff.status)
        return result

    def crash(self, worker_id: str, step: str):
        """Kill a worker process at `step`: it dies here, without its exit steps."""
        wp = self.procs.get(worker_id)
        self.record("driver", "fault", fault="worker_crash", worker=worker_id, step=step)
        if wp is not None and not wp.exited:
            wp.process.interrupt("SIGKILL")
        yield self.env.event()  # never resumes: the kill interrupts this process

    def timed_crash(self, c):
        yield self.env.timeout(c.at_s)
        wp = self.procs.get(c.worker)
        if wp is not None and not wp.exited and self.env.now < self.faults.spec.heal_at_s:
            self.record("driver", "fault", fault="worker_crash", worker=c.worker,
                        step=c.step)
            wp.process.interrupt("SIGKILL")

    def app_restart(self, r, program):
        """The API process dies (its poll loop, stop requests and tasks with it; worker
        processes live on) and after `down_s` starts `program()`, its start-up recovery."""
        self.restart_pending = True
        yield self.env.timeout(r.at_s)
        self.record("driver", "fault", fault="app_restart", action="down", down_s=r.down_s)
        for actor in ("orchestrator", "user"):
            for p in self.actor_procs.get(actor, []):
                if p.is_alive:
                    p.interrupt("SIGKILL")
        yield self.env.timeout(r.down_s)
        self.record("driver", "fault", fault="app_restart", action="up")
        self.restarted.append(self.start(program(), "orchestrator"))
        self.restart_pending = False

    def apply(self, eff: fx.Statement, actor: str, op_id: int):
        """The statement's meaning at the instant it takes effect."""
        kind = type(eff)
        meaning = self._meanings.get(kind) or self._meaning_for(kind)
        return meaning(self.env._now, eff, actor, op_id)

    def _meaning_for(self, kind: type) -> Callable:
        """apply's rule for one statement type, chosen once per type."""
        t = self.tables
        if issubclass(kind, (fx.CreateRun, fx.WriteRunStatus, fx.InsertEvent)):
            meaning = getattr(t, kind.op)
        elif issubclass(kind, fx.MergeHeartbeat):
            meaning = self._merge_heartbeat
        elif issubclass(kind, fx.Connect):
            meaning = self._connect
        elif issubclass(kind, fx.SetQueryTag):
            meaning = self._set_query_tag
        elif issubclass(kind, (fx.Setup, fx.Enrich)):
            meaning = lambda now, eff, actor, op_id: (None, [])  # noqa: E731
        elif issubclass(kind, fx.ReadRunStatus):
            read = t.read_run_status
            meaning = lambda now, eff, actor, op_id: read(now, eff, actor)  # noqa: E731
        else:
            table_op = getattr(t, kind.op)
            meaning = lambda now, eff, actor, op_id: table_op(now, eff)  # noqa: E731
        self._meanings[kind] = meaning
        return meaning

    def _merge_heartbeat(self, now: float, eff: fx.MergeHeartbeat, actor: str, op_id: int):
        stamp = now + self.worker_clock_offset_s(eff.worker_id)
        if self.faults is not None:  # a lying clock: offset and drift (protocol/faults)
            stamp += fm.clock_offset(self.faults.spec, eff.worker_id, now)
        return self.tables.merge_heartbeat(now, eff, stamp)

    def _connect(self, now: float, eff: fx.Connect, actor: str, op_id: int):
        conn = SimConnection(eff.conn_id, eff.worker_id, eff.tag)
        return conn, [{"kind": "conn", "worker": eff.worker_id, "conn": eff.conn_id,
                       "action": "created", "tag": eff.tag}]

    def _set_query_tag(self, now: float, eff: fx.SetQueryTag, actor: str, op_id: int):
        eff.conn.tag = eff.tag
        self.bursts.altered(eff.worker_id, eff.conn)
        return None, [{"kind": "conn", "worker": eff.worker_id, "conn": eff.conn.conn_id,
                       "action": "altered", "tag": eff.tag}]

    # --- worker processes -----------------------------------------------------------------

    def spawn_worker(self, eff: fx.SpawnWorker, actor: str) -> None:
        wp = WorkerProc(eff.worker_id)
        self.procs[eff.worker_id] = wp
        self.record(actor, "proc", worker=eff.worker_id, action="spawn")
        wp.process = self.env.process(self.worker_life(wp, eff))

    def worker_life(self, wp: WorkerProc, eff: fx.SpawnWorker):
        code = None
        try:
            yield self.wait(self.latency.sample("proc_start", self.src))
            program = self.worker_program(eff.worker_id, eff.group_id, eff.group_count)
            main = self.start(program, eff.worker_id)
            try:
                code = yield main
                if code is UNHANDLED:  # an uncaught error ends a Python process with 1
                    code = 1
            except simpy.Interrupt as sig:
                main.interrupt("SIGTERM")
                code = fm.KILLED if sig.cause == "SIGKILL" else -15
                # the process's tasks die with it (tracked in fault runs only, so fault-free
                # traces stay as they were: there a SIGTERMed worker's tasks run on)
                self.kill_all(eff.worker_id, main)
        except simpy.Interrupt as sig:
            code = fm.KILLED if sig.cause == "SIGKILL" else -15
        for task in wp.tasks:
            if task.is_alive:
                task.interrupt("SIGTERM")
        wp.exited = True
        self.record("driver", "proc", worker=wp.worker_id, action="exit", code=code)

    def kill_all(self, worker_id: str, main) -> None:
        """SIGKILL: every task of the process ends with it (benchmark tasks included)."""
        for p in self.actor_procs.get(worker_id, []):
            if p is not main and p.is_alive:
                p.interrupt("SIGKILL")


def _args(eff) -> dict:
    """The statement's fields for its `invoke` record (not run_id, not the connection)."""
    try:
        out = vars(eff).copy()
    except TypeError:  # no __dict__
        return {}
    out.pop("run_id", None)
    out.pop("conn", None)
    guards = _GUARDED.get(type(eff))
    if guards is None:
        guards = _GUARDED[type(eff)] = _guard_fields(type(eff))
    for k in guards:
        if isinstance(out.get(k), _GUARD):
            out[k] = out[k].as_dict()
    return out


_GUARDED: dict[type, tuple] = {}  # statement type -> its fields declared as a Guard (_args)


def _guard_fields(kind: type) -> tuple:
    return tuple(f.name for f in dataclasses.fields(kind) if f.type in ("Guard", _GUARD))


def _summary(result) -> Any:
    if result is None or isinstance(result, (bool, int, float, str)):
        return result
    if isinstance(result, fx.RunRow):
        return {"status": result.status, "phase": result.phase}
    if isinstance(result, fx.HeartbeatCounts):
        return {"ready": result.ready, "dead": result.dead, "registered": result.registered}
    if isinstance(result, tuple) and all(hasattr(e, "seq") for e in result):
        return [e.seq for e in result]
    if isinstance(result, SimConnection):
        return result.conn_id
    if isinstance(result, tuple):
        return list(result)
    return str(result)
