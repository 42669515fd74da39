"""One simulated run: wire actors, tables, latencies and a seed together; return the trace."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import IO

import simpy

from protocol.actors.common import OrchestratorState
from protocol.actors.orchestrator import orchestrator
from protocol.actors.polling import worst_period
from protocol.actors.recovery import app_startup
from protocol.actors.tasks import ALTER_PARALLELISM
from protocol.actors.user_stop import user_stop
from protocol.actors.dashboard import dashboard
from protocol.actors.worker import worker
from protocol.bounds import bounds, fault_bounds
from protocol.config import RunConfig
from protocol.faults import FaultSpec
from protocol.variants import ERROR_PATH_SWITCHES, SCALING_SWITCHES, Switches, as_dict
from protocol.scaling import header_params as scaling_params
from protocol.trace import TraceWriter
from sim.fastevents import run_until
from sim.gcpause import no_cyclic_gc
from sim.faults import FaultLayer
from sim.interpreter import SimDriver
from sim.latency import Distribution, LatencyModel, NumpySource, RandomSource
from sim.server_queue import ServerModel, ServerQueue
from sim.warehouse import WarehouseModel
from sim.tables import Tables


@dataclass(frozen=True)
class SimSettings:
    latency: LatencyModel
    tz_offset_s: float = 0.0  # database session time zone vs UTC (§7.3)
    worker_clock_offset_s: float = 0.0  # every worker's wall clock vs the database's
    visibility_lag_s: float = 0.0  # cross-session staleness of committed rows
    strict_transitions: bool = False
    server: ServerModel | None = None  # a shared backend's queue (sim/server_queue.py)
    faults: FaultSpec | None = None  # the fault model ([faults]); None: nothing fails
    slow_latency: Distribution | None = None  # the slow tail a `slow` fault draws from
    warehouse: WarehouseModel | None = None  # the benchmark warehouse's capacity (issue 11)


@dataclass
class SimResult:
    run_id: str
    seed: int | None
    records: list[dict]
    status: str
    phase: str
    sim_time_s: float
    wall_s: float
    statements: dict[str, int] = field(default_factory=dict)
    events: int = 0  # SimPy events scheduled: the event loop's share of the work


def header(cfg: RunConfig, sw: Switches, variant: str, settings: SimSettings, seed,
           run_id: str, scenario: dict | None) -> dict:
    lat = settings.latency
    L = lat.control_bound() + settings.visibility_lag_s
    Q = lat.of("benchmark").upper() + cfg.think_time_s
    if settings.server is not None:  # every outstanding statement may be queued ahead
        queued = settings.server.wait_bound(cfg.workers * (cfg.connections_per_worker + 3) + 4)
        L, Q = L + queued, Q + queued
    alters = math.ceil(cfg.connections_per_worker / ALTER_PARALLELISM)
    hook_s = alters * lat.of("alter_tag").upper()
    batches = math.ceil(cfg.connections_per_worker / sw.pool_parallel_creates)
    spawn_s = (lat.of("proc_start").upper() + batches * lat.of("connect").upper()
               + lat.of("setup").upper())
    # bounds hold for the slowest event poll the coordination scheme may take
    worst = replace(cfg, event_poll_s=worst_period(cfg, cfg.event_poll_s))
    # a load mode's scale-up holds the main loop for its prewarm batches (§5.3, §8)
    scale_s = batches * lat.of("connect").upper() if cfg.scaling is not None else 0.0
    params = bounds(worst, L, Q, hook_s, spawn_s, scale_s,
                    wait_pause_s=worst_period(cfg, cfg.status_poll_s))
    params["test_id_prefix"] = run_id
    switches = as_dict(sw)
    if cfg.scaling is None:  # switches no CONCURRENCY run reads stay out of its header
        switches = {k: v for k, v in switches.items() if k not in SCALING_SWITCHES}
    else:
        params.update(scaling_params(cfg.scaling, sw))
        if settings.warehouse is not None:  # the true capacity a sweep compares with
            params["warehouse"] = {"slots": settings.warehouse.slots, **settings.warehouse
                                   .capacity(lat.of("benchmark").mean(), cfg.think_time_s)}
    if settings.faults is None:  # a fault-free header stays as it was before issue 9
        switches = {k: v for k, v in switches.items() if k not in ERROR_PATH_SWITCHES}
    head = {"t": 0.0, "actor": "phaselab", "kind": "run", "run_id": run_id, "seed": seed,
            "variant": variant, "switches": switches, "world": "sim", "params": params,
            "scenario": scenario or {}}
    if settings.faults is not None:  # only then: a fault-free header stays as it was
        params.update(fault_bounds(cfg, params, settings.faults))
        head["faults"] = settings.faults.as_dict()
    return head


def simulate(cfg: RunConfig, sw: Switches, settings: SimSettings, seed: int | None = 0,
             variant: str = "custom", source: RandomSource | None = None,
             sink: IO[str] | None = None, keep: bool = True,
             scenario: dict | None = None, run_id: str | None = None) -> SimResult:
    """Run one seeded simulation to its end (or the configuration's deadline)."""
    wall0 = time.perf_counter()
    run_id = run_id or f"run-{seed}"
    src = source if source is not None else NumpySource(seed or 0)
    trace = TraceWriter(sink, keep=keep)
    head = header(cfg, sw, variant, settings, seed, run_id, scenario)
    trace.write(head)
    env = simpy.Environment()
    tables = Tables(settings.tz_offset_s, settings.visibility_lag_s,
                    settings.strict_transitions)
    st = OrchestratorState(run_id, cfg, sw)

    def worker_program(worker_id: str, group: int, count: int):
        return worker(cfg, sw, run_id, worker_id, group, count)

    faults = (FaultLayer(settings.faults, src, settings.slow_latency)
              if settings.faults is not None else None)
    driver = SimDriver(env, tables, settings.latency, src, trace, worker_program,
                       lambda w: settings.worker_clock_offset_s,
                       server=ServerQueue(env, settings.server) if settings.server else None,
                       faults=faults, warehouse=settings.warehouse,
                       live=cfg.scaling is not None)
    for c in (faults.timed_crashes() if faults else ()):
        env.process(driver.timed_crash(c))
    if faults is not None and settings.faults.app_restart is not None:
        env.process(driver.app_restart(settings.faults.app_restart,
                                       lambda: app_startup(OrchestratorState(run_id, cfg, sw))))
    orch = driver.start(orchestrator(st), "orchestrator")
    # The API's stop_run request goes on after the poll loop ends (it writes CANCELLED), so
    # the run is over only when it has finished too.
    requests = ([driver.start(user_stop(st, cfg.user_stop_at_s), "user")]
                if cfg.user_stop_at_s >= 0 else [])
    dashes = [driver.start(dashboard(cfg, sw, run_id, f"dashboard-{n}"), f"dashboard-{n}")
              for n in range(cfg.dashboards)]

    def everything_done():
        yield orch
        for r in requests:
            yield r
        for d in dashes:  # a dashboard ends by its own rule (or gives up)
            yield d
        while any(not p.exited for p in driver.procs.values()):
            yield env.timeout(1.0)
        while faults is not None and (driver.restart_pending
                                      or any(p.is_alive for p in driver.restarted)):
            yield env.timeout(1.0)  # the restarted API process finishes its work too

    done = env.process(everything_done())
    deadline = cfg.derived_deadline_s()
    if faults is not None:  # long enough to judge liveness after healing
        deadline = max(deadline, head["params"]["heal_deadline_s"] + 30.0)
    with no_cyclic_gc():
        run_until(env, done | env.timeout(deadline))
    run = tables.run or {}
    reason = "finished" if done.triggered else "deadline"
    trace.write({"t": env.now, "actor": "driver", "kind": "run_end",
                 "status": run.get("STATUS"), "phase": run.get("PHASE"), "reason": reason})
    return SimResult(run_id, seed, trace.records, run.get("STATUS"), run.get("PHASE"),
                     env.now, time.perf_counter() - wall0, dict(driver.counts),
                     next(env._eid))
