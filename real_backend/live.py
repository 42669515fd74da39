"""One live run: the protocol's actors against a real backend, on the wall clock.

Mirrors sim/run.py: the same `run` header (world "live", seed null), the orchestrator and the
user stop in this process, each worker a separate OS process, one merged trace. It also owns
isolation: a fresh run id and schema per run, dropped on every way out (normal end, deadline,
dead worker, Ctrl-C), an overall deadline so nothing can hang, and no server, process or
temporary file left behind.

The bound L in the header is the declared statement timeout: every connection of the run is
opened so that a statement either completes within it or fails (`info` when it may have
applied), so the timing properties derived from L (P, E, R, F) are real bounds live.
"""
from __future__ import annotations

import dataclasses
import math
import os
import shutil
import signal
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable

from protocol import effects as fx
from protocol.actors.common import OrchestratorState
from protocol.actors.orchestrator import orchestrator
from protocol.actors.tasks import ALTER_PARALLELISM
from protocol.actors.user_stop import user_stop
from protocol.bounds import bounds, fault_bounds
from protocol.config import RunConfig
from protocol.faults import FaultSpec
from protocol.scaling import header_params
from protocol.trace import TraceWriter
from protocol.variants import Switches, as_dict

from . import sql as S
from .clock import RunClock
from .connection import (DEFAULT_TIMEOUTS, ConnectError, ConnSpec, TaggedConnection,
                         create_run_schema,
                         drop_run_schema, embedded_spec, open_connection, redact,
                         snowflake_spec, statement_bound_s)
from .driver import RealDriver, merge_trace_files
from .embedded_server import ServerProcess
from .faults import LiveFaults, ServerStall
from . import watchdog

BACKENDS = ("embedded", "snowflake")


class LiveSetupError(Exception):
    """The backend could not be reached or set up (exit 2); the message has no secret."""


@dataclass(frozen=True)
class LiveSettings:
    backend: str = "embedded"
    # None: the backend's default (connection.DEFAULT_TIMEOUTS: 1 / 10 / 60 s embedded,
    # 10 / 60 / 300 s Snowflake); resolved() fills them in.
    statement_timeout_s: float | None = None  # connector timeouts; L = statement_bound_s(this)
    login_timeout_s: float | None = None  # a connection is open within this or the run stops
    proc_start_bound_s: float = 10.0  # a worker process is importing and running by then
    connection_name: str | None = None  # a connections.toml entry (snowflake)
    control_tag: str = "phaselab"  # QUERY_TAG of control connections (reference: flakebench)
    idle_probe: int = 12  # benchmark lookups timed on an idle server before the run
    setup_timeout_s: float | None = None  # DDL and the benchmark fill on the admin connection
    login_timeout_given: bool = False  # --login-timeout was given (else a named entry's wins)
    faults: FaultSpec | None = None  # `smoke --faults`: injected by real_backend/faults.py
    fault_seed: int = 0  # every process's fault draws derive from it (per worker, per task)

    def resolved(self) -> "LiveSettings":
        st, lo, se = DEFAULT_TIMEOUTS.get(self.backend, DEFAULT_TIMEOUTS["embedded"])
        faults = self.faults
        if faults is not None:  # an injected `info` is reported when a real timeout would be
            faults = dataclasses.replace(faults, info_timeout_s=self.statement_timeout_s or st)
        return dataclasses.replace(
            self, faults=faults, statement_timeout_s=self.statement_timeout_s or st,
            login_timeout_given=self.login_timeout_given or self.login_timeout_s is not None,
            login_timeout_s=self.login_timeout_s or lo, setup_timeout_s=self.setup_timeout_s or se)


@dataclass
class LiveResult:
    run_id: str
    schema: str
    backend: str
    records: list[dict]
    status: str | None
    phase: str | None
    reason: str  # finished | deadline | crash | interrupted | server_lost
    wall_s: float
    setup_s: float
    server_start_s: float | None
    idle_probe_ms: list[float] = field(default_factory=list)
    schema_dropped: bool = False
    schema_created: bool = False  # CREATE SCHEMA was sent (so the drop is ours to do)
    schema_fate: str = "NOT confirmed dropped"  # what became of it, for the report
    tables: str | None = None  # hybrid | standard | standard (hybrid tables refused: ...)
    settings: "LiveSettings | None" = None
    error: str | None = None
    server_counts: dict | None = None  # Snowflake: benchmark queries per QUERY_TAG
    worker_logs: dict = field(default_factory=dict)  # worker -> tail of its stderr, if any


def new_ids() -> tuple[str, str]:
    h = uuid.uuid4().hex[:12]
    return f"smoke-{h}", f"PHASELAB_RUN_{h.upper()}"


def header(cfg: RunConfig, sw: Switches, variant: str, settings: LiveSettings, run_id: str,
           scenario: dict | None, live: dict | None = None) -> dict:
    """The `run` record, as sim/run.py builds it, with the live backend's own bounds."""
    settings = settings.resolved()
    L = statement_bound_s(settings.statement_timeout_s)
    Q = L + cfg.think_time_s
    hook_s = math.ceil(cfg.connections_per_worker / ALTER_PARALLELISM) * L
    batches = math.ceil(cfg.connections_per_worker / sw.pool_parallel_creates)
    spawn_s = settings.proc_start_bound_s + batches * settings.login_timeout_s + L
    scale_s = batches * settings.login_timeout_s if cfg.scaling is not None else 0.0
    params = bounds(cfg, L, Q, hook_s, spawn_s, scale_s)
    if cfg.scaling is not None:  # a load mode: what the scaling checkers judge by
        params.update(header_params(cfg.scaling, sw))
    params["test_id_prefix"] = run_id
    params["health_refresh_s"] = cfg.health_refresh_s
    params["clock_eps_s"] = 0.01  # one host: processes share a monotonic clock anchored once
    params["statement_timeout_s"] = L
    params["backend"] = settings.backend
    # a Snowflake sequence (ORDER) is unique and increasing but may leave gaps; so may the
    # embedded one under faults: a NEXTVAL that timed out may have consumed its value, and
    # no read-back can tell (a sequence keeps no record of what it handed out)
    params["seq_gaps"] = settings.backend == "snowflake" or settings.faults is not None
    head = {"t": 0.0, "actor": "phaselab", "kind": "run", "run_id": run_id, "seed": None,
            "variant": variant, "switches": as_dict(sw), "world": "live", "params": params,
            "scenario": scenario or {}, "live": live or {}}
    if settings.faults is not None:  # as sim/run.py: the bounds LIVE-AFTER-HEAL judges by
        params.update(fault_bounds(cfg, params, settings.faults))
        head["faults"] = settings.faults.as_dict()
        head["live"] = {**head["live"], "fault_seed": settings.fault_seed}
    return head


def _with(spec: ConnSpec, **opts) -> ConnSpec:
    return ConnSpec(spec.backend, {**spec.options, **opts}, spec.connection_name)


def backend_spec(settings: LiveSettings, server: ServerProcess | None) -> ConnSpec:
    if settings.backend == "embedded":
        spec = embedded_spec(server.kwargs())
    elif settings.backend == "snowflake":
        try:
            spec = snowflake_spec(settings.connection_name)
        except (ConnectError, ValueError) as exc:
            raise LiveSetupError(redact(exc)) from None
    else:
        raise LiveSetupError(f"unknown backend {settings.backend!r}; allowed: "
                             f"{', '.join(BACKENDS)}")
    login = ({"login_timeout": max(1, math.ceil(settings.login_timeout_s))}
             if settings.login_timeout_given or not spec.connection_name else {})
    return _with(spec, statement_timeout_s=settings.statement_timeout_s, **login)


def create_with_fallback(admin: TaggedConnection, sql: S.SqlText, res: "LiveResult") -> S.SqlText:
    """The run's schema with hybrid control tables, or, when the account refuses them (trial
    accounts, Google Cloud, US SnowGov), standard tables: same columns and keys, said in the
    report (res.tables). Returns the SqlText the run uses."""
    try:
        create_run_schema(admin, sql)
        res.tables = "hybrid" if sql.hybrid else "standard"
        return sql
    except Exception as exc:
        if not sql.hybrid:
            raise
        why = redact(exc)
    drop_run_schema(admin, sql)
    std = dataclasses.replace(sql, hybrid=False)
    create_run_schema(admin, std)
    res.tables = f"standard (hybrid tables refused: {why[:300]})"
    return std


def _probe(tc: TaggedConnection, sql: S.SqlText, n: int) -> list[float]:
    """Benchmark lookups on the idle server: the low-load latency the report compares with."""
    out = []
    for k in range(n):
        q = sql.benchmark(1 + k % S.BENCHMARK_ROWS)
        t0 = time.perf_counter()
        tc.execute(q.text, q.params).close()
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def schema_exists(tc: TaggedConnection, sql: S.SqlText) -> bool:
    cur = tc.execute(f"SELECT COUNT(*) FROM {sql.database}.INFORMATION_SCHEMA.SCHEMATA "
                     "WHERE SCHEMA_NAME = ?", (sql.schema,))
    try:
        return int(cur.fetchone()[0]) > 0
    finally:
        cur.close()


def _final_row(tc: TaggedConnection, sql: S.SqlText, run_id: str) -> fx.RunRow | None:
    q = sql.read_run_status(fx.ReadRunStatus(run_id))
    cur = tc.execute(q.text, q.params)
    try:
        return S.run_row(cur.fetchone())
    finally:
        cur.close()


class _Actor(threading.Thread):
    """Runs one actor through the driver; keeps its result or error for the run's end."""

    def __init__(self, driver: RealDriver, program, actor: str, cancel: threading.Event):
        super().__init__(name=f"live-{actor}", daemon=True)
        self.driver, self.program, self.actor, self.cancel = driver, program, actor, cancel
        self.error: str | None = None
        self.died: str | None = None  # of a statement error it did not handle (a `crash`)

    def run(self) -> None:
        from .driver import Cancelled
        try:
            self.driver.run(self.program, self.actor, cancel=self.cancel)
        except Cancelled:
            pass
        except fx.StatementFailed as exc:  # the protocol's own way to end (the reference's
            # task dies of it): the run goes on without it, as in the simulation
            self.died = redact(f"{self.actor} died of an unhandled statement error: {exc}")
        except BaseException as exc:  # a driver or actor bug: the run ends as a crash
            self.error = redact(f"{self.actor}: {type(exc).__name__}: {exc}")


def live_run(cfg: RunConfig, sw: Switches, variant: str = "custom",
             settings: LiveSettings = LiveSettings(), scenario: dict | None = None,
             progress: Callable[[str, dict], None] | None = None) -> LiveResult:
    """Run one live run to its end, its deadline or Ctrl-C; always cleans up.

    Raises LiveSetupError before the run starts when the backend cannot be reached or set
    up (nothing is left behind then either). Ctrl-C during the run is not raised: the run
    is stopped, cleaned up and returned with reason "interrupted"."""
    say = progress or (lambda what, info: None)
    settings = settings.resolved()
    wall0 = time.monotonic()
    run_id, schema = new_ids()
    run_dir = tempfile.mkdtemp(prefix="phaselab-live-")
    server: ServerProcess | None = None
    admin: TaggedConnection | None = None
    sql: S.SqlText | None = None
    res = LiveResult(run_id, schema, settings.backend, [], None, None, "crash", 0.0, 0.0, None)
    res.settings = settings
    quiet_connector_logs()
    guard = watchdog.start(run_dir, [run_dir])  # removes run_dir if we are SIGKILLed
    try:
        if settings.backend == "embedded":
            say("server", {})
            try:
                server = ServerProcess()
            except (RuntimeError, TimeoutError, OSError) as exc:
                raise LiveSetupError(f"could not start the embedded server: {exc}") from None
            res.server_start_s = server.start_s
            watchdog.stop(guard)  # a SIGKILL from here on must also take the server's data dir
            guard = watchdog.start(run_dir, [run_dir, server.dir], resume=(server.pid,))
        spec = backend_spec(settings, server)
        say("connect", {"where": spec.where()})
        try:
            admin = watched(lambda: open_connection(
                _with(spec, statement_timeout_s=settings.setup_timeout_s)), server)
        except ConnectError as exc:
            raise LiveSetupError(str(exc)) from None
        database = spec.options.get("database") or admin.conn.database
        if not database:
            raise LiveSetupError("no database: set SNOWFLAKE_DATABASE or the connection's "
                                 "database")
        snowflake = settings.backend == "snowflake"
        try:
            sql = S.SqlText(database, schema, hybrid=snowflake, snowflake=snowflake)
        except ValueError as exc:
            raise LiveSetupError(str(exc)) from None
        say("schema", {"schema": sql.qschema})
        if settings.backend == "snowflake":  # a SIGKILL from here on must not orphan it
            watchdog.stop(guard)
            guard = watchdog.start(run_dir, [run_dir], {
                "conn": spec.to_json(), "database": sql.database, "schema": sql.schema})
        res.schema_created = True
        try:
            sql = watched(lambda: create_with_fallback(admin, sql, res), server)
            res.idle_probe_ms = watched(lambda: _probe(admin, sql, settings.idle_probe), server)
        except LiveSetupError:
            raise
        except Exception as exc:
            raise LiveSetupError(f"could not set up schema {sql.qschema} on {spec.where()}: "
                                 f"{redact(exc)}") from None
        spec = _with(spec, hybrid_session=sql.hybrid)
        res.setup_s = time.monotonic() - wall0
        _drive(cfg, sw, variant, settings, scenario, spec, sql, run_dir, res, admin, say,
               server)
    finally:
        _cleanup(res, admin, sql, server, run_dir, say)
        watchdog.stop(guard)
    res.wall_s = time.monotonic() - wall0
    return res


def _drive(cfg, sw, variant, settings, scenario, spec, sql, run_dir, res, admin, say,
           server: ServerProcess | None = None) -> None:
    """The run itself, from the header to run_end and the merged trace."""
    clock = RunClock.start()
    main_path = os.path.join(run_dir, "trace-main.jsonl")
    cancel = threading.Event()
    worker_config = {"entry": "real_backend.entry:worker", "run_id": res.run_id,
                     "control_tag": settings.control_tag, "metrics_dir": run_dir,
                     "args": {"cfg": dataclasses.asdict(cfg), "switches": as_dict(sw)}}
    if settings.faults is not None:
        worker_config["faults"] = {"spec": settings.faults.as_dict(), "seed": settings.fault_seed}
    with open(main_path, "w", encoding="utf-8") as sink:
        tw = TraceWriter(sink, keep=True)
        tw.write(header(cfg, sw, variant, settings, res.run_id, scenario, {
            "backend": settings.backend, "schema": sql.qschema,
            "statement_timeout_s": settings.statement_timeout_s,
            "login_timeout_s": settings.login_timeout_s, "server_start_s": res.server_start_s,
            "idle_probe_ms": [round(x, 3) for x in res.idle_probe_ms],
            "tables": res.tables,
            "run_config": dataclasses.asdict(cfg)}))
        driver = RealDriver(spec, sql, tw, clock, control_tag=settings.control_tag,
                            run_dir=run_dir, worker_config=worker_config,
                            metrics_dir=run_dir)
        stall = None
        if settings.faults is not None:
            driver.faults = LiveFaults(settings.faults, settings.fault_seed, None, driver.record,
                                       clock.now)
            if settings.faults.stalls and server is not None:
                stall = ServerStall(settings.faults, server, clock.now, driver.record)
        st = OrchestratorState(res.run_id, cfg, sw)
        actors = [_Actor(driver, orchestrator(st), "orchestrator", cancel)]
        if cfg.user_stop_at_s >= 0:
            actors.append(_Actor(driver, user_stop(st, cfg.user_stop_at_s), "user", cancel))
        deadline = cfg.derived_deadline_s()
        if settings.faults is not None:  # long enough to judge liveness after healing
            deadline = max(deadline, tw.records[0]["params"]["heal_deadline_s"] + 10.0)
        try:
            if stall is not None:
                stall.start()
            for a in actors:
                a.start()
            res.reason = "deadline"
            while clock.now() < deadline:
                if not actors[0].is_alive() and driver._workers.live() == 0:
                    res.reason = "finished"
                    break
                lost = server.lost() if server is not None else None
                if lost:
                    res.reason, res.error = "server_lost", f"the embedded server {lost}"
                    break
                say("running", {"t": clock.now(), "deadline": deadline,
                                "status": _last_status(tw.records),
                                "workers": driver._workers.live()})
                time.sleep(0.25)
        except KeyboardInterrupt:
            res.reason = "interrupted"
        finally:
            if stall is not None:  # never leave the server stopped, whatever ends the run
                stall.resume()
        with _no_sigint():
            cancel.set()
            say("stopping", {"reason": res.reason})
            driver.close(kill_after_s=cfg.kill_after_s)
            join_by = time.monotonic() + statement_bound_s(settings.statement_timeout_s) + 2.0
            for a in actors:
                a.join(max(0.0, join_by - time.monotonic()))
            errors = [a.error for a in actors if a.error]
            if errors and res.reason != "server_lost":
                res.reason, res.error = "crash", "; ".join(errors)
            elif any(a.died for a in actors) and res.error is None:
                res.error = "; ".join(a.died for a in actors if a.died)
            row = None
            if res.reason != "server_lost":
                row = bounded(lambda: _final_row(admin, sql, res.run_id),
                              admin_bound_s(settings))
            res.status, res.phase = (row.status, row.phase) if row else (None, None)
            tw.write({"t": clock.now(), "actor": "driver", "kind": "run_end",
                      "status": res.status, "phase": res.phase, "reason": res.reason})
    merged = os.path.join(run_dir, "trace.jsonl")
    merge_trace_files(merged, [main_path, *driver.worker_parts()])
    from protocol.trace import read_trace
    res.records = read_trace(merged).records
    if settings.backend == "snowflake":
        from .history import benchmark_counts_by_tag
        res.server_counts = bounded(
            lambda: benchmark_counts_by_tag(admin, sql, res.run_id, clock.epoch_wall), 60.0)


def _last_status(records: list[dict]) -> str:
    """STATUS/PHASE as last written: a write's `after` holds only the columns it set, so
    each one comes from the latest write that set it (not None/MEASUREMENT)."""
    status = phase = None
    for r in reversed(records):
        if r.get("kind") == "status_write" and r.get("matched") and r.get("after"):
            a = r["after"]
            status = status or a.get("status")
            phase = phase or a.get("phase")
            if status and phase:
                break
    if status is None and phase is None:
        return "—"
    return f"{status or '?'}/{phase or '∅'}"


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class _no_sigint:
    """Cleanup must not be cut short by a second Ctrl-C, SIGTERM or SIGHUP (it would orphan
    the schema or the server): they are ignored until it is done."""

    def __enter__(self):
        self.old = {}
        if threading.current_thread() is threading.main_thread():
            self.old = {sig: signal.signal(sig, signal.SIG_IGN) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc):
        for sig, old in self.old.items():
            signal.signal(sig, old)


def _log_tails(run_dir: str, n: int = 2000) -> dict:
    """What worker processes wrote to stderr (tracebacks), redacted, before the dir goes."""
    out = {}
    for name in sorted(os.listdir(run_dir)):
        if name.startswith("worker-") and name.endswith(".log"):
            with open(os.path.join(run_dir, name), "rb") as f:
                text = f.read()[-n:].decode(errors="replace").strip()
            if text:
                out[name[len("worker-"):-len(".log")]] = redact(text)
    return out


def _cleanup(res: LiveResult, admin, sql, server, run_dir, say) -> None:
    """Drop the schema (if we created it and the server can still answer), stop the server,
    remove the run directory. Each step is bounded: a dead or stalled server costs at most
    admin_bound_s, never the connector's retries."""
    with _no_sigint():
        lost = server.lost() if server is not None else None
        drop = admin is not None and sql is not None and res.schema_created and not lost
        say("cleanup", {"schema": sql.qschema if drop else None,
                        "server": None if server is None else "lost" if lost else "stop"})
        if drop:
            def _drop():
                drop_run_schema(admin, sql)
                return not schema_exists(admin, sql)
            res.schema_dropped = bool(bounded(_drop, admin_bound_s(res.settings)))
            res.schema_fate = "dropped" if res.schema_dropped else "NOT confirmed dropped"
        elif lost and res.schema_created:
            res.schema_dropped = True  # its data directory goes with the server, below
            res.schema_fate = "removed with the lost server's data directory"
        elif not res.schema_created:
            res.schema_dropped = True  # nothing was created
            res.schema_fate = "never created"
        if admin is not None:
            bounded(admin.close, 2.0)
        if server is not None:
            server.stop()
        res.worker_logs = _log_tails(run_dir)
        shutil.rmtree(run_dir, ignore_errors=True)


def watched(fn: Callable[[], object], server: ServerProcess | None):
    """fn() on a daemon thread while we watch the embedded server: if it dies or is stopped
    meanwhile, set-up fails at once (LiveSetupError) instead of waiting out the connector's
    retries (a 60 s network timeout on the admin connection). fn's own error is re-raised."""
    if server is None:
        return fn()
    out: list = []
    err: list = []

    def body():
        try:
            out.append(fn())
        except BaseException as exc:  # re-raised on the calling thread
            err.append(exc)
    t = threading.Thread(target=body, daemon=True, name="watched-setup")
    t.start()
    while t.is_alive():
        t.join(0.2)
        lost = server.lost()
        if lost and t.is_alive():
            raise LiveSetupError(f"the embedded server {lost} during set-up")
    if err:
        raise err[0]
    return out[0]


def bounded(fn: Callable[[], object], timeout_s: float) -> object | None:
    """fn() on a daemon thread, its value or None when it raised or ran past timeout_s: the
    connector retries a dead server for its whole network timeout, and clean-up must not
    wait for that (the thread is abandoned; the process exits soon after)."""
    out: list = []

    def body():
        try:
            out.append(fn())
        except Exception:
            pass
    t = threading.Thread(target=body, daemon=True, name="bounded-admin")
    t.start()
    t.join(timeout_s)
    return out[0] if out else None


def admin_bound_s(settings: "LiveSettings") -> float:
    """How long one post-run admin statement (final read, schema drop) may take."""
    return 2.0 * statement_bound_s(settings.statement_timeout_s) + 2.0


def quiet_connector_logs() -> None:
    """The connector logs each retry of a dead server with a traceback through Python's
    last-resort handler (stderr), and its statement-timeout thread (the one that sends
    abort-request) dies with a traceback when the server is gone; the run reports what failed
    itself, in one line. Exceptions of other threads still reach the original hook."""
    import logging
    if not getattr(threading.excepthook, "_phaselab", False):
        original = threading.excepthook

        def hook(args):
            if not type(args.exc_value).__module__.startswith("snowflake."):
                original(args)
        hook._phaselab = True  # type: ignore[attr-defined]
        threading.excepthook = hook
    for name in ("snowflake.connector", "snowflake", "urllib3", "botocore"):
        lg = logging.getLogger(name)
        if not any(isinstance(h, logging.NullHandler) for h in lg.handlers):
            lg.addHandler(logging.NullHandler())
        lg.propagate = False
