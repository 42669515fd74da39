"""What a run will cost, estimated before it starts, and the limits above which phaselab
refuses unless told `--allow-large`.

A simulation's cost is its number of SimPy wake-ups (benchmark queries, poll loops, sleeps)
and the trace records it keeps in memory; both follow from the scenario's numbers before
anything runs. The estimate is rough (within a factor of about 3 of the baseline's measured
counts) and errs high; it exists to stop 10^6 workers, a 1e-9 s sleep or a zero-latency query
loop before they eat the machine, not to forecast. A live run's cost is processes and
connections, which must fit the backend. The limits are in docs/scenarios.md (generated from
LIMITS below).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from phaselab.errors import UsageError
from protocol.config import RunConfig

# Measured on the baseline (benchmarks/, a 2-core machine under load): about 500 bytes per
# kept record (tracemalloc; RSS about twice that), 30,000 (loaded) to 100,000 wake-ups per second.
BYTES_PER_RECORD = 1000
EVENTS_PER_S = 30_000
BULK_QUERY_WEIGHT = 0.1  # a query inside a bulk burst costs about a tenth of one on its own
START_UP_ALLOWANCE_S = 20.0  # processes, connections and PROCESSING around warmup + duration

LIMITS = {
    "run_events": (5_000_000, "simulated wake-ups in one run (about 3 minutes of wall time)"),
    "run_memory_bytes": (1_000_000_000, "trace memory of one simulated run (1 GB)"),
    "total_events": (50_000_000, "wake-ups in one command, all runs of a sweep together"),
    "sweep_runs": (100_000, "runs in one sweep (combinations x reps)"),
    "jobs": (64, "processes of a sweep"),
    "live_workers_embedded": (8, "worker processes against the embedded server (one "
                              "fakesnow process serialises every statement)"),
    "live_connections_embedded": (64, "benchmark connections in all, embedded server"),
    "live_workers_snowflake": (64, "worker processes against Snowflake (each is a Python "
                               "process of about 40 MB)"),
    "live_connections_snowflake": (1024, "benchmark connections in all, Snowflake"),
    "live_seconds": (3600, "warmup + measurement of one live run, seconds"),
    "explore_budget_s": (86400, "explore --budget, seconds (one day)"),
}


def limit(name: str) -> float:
    return LIMITS[name][0]


@dataclass(frozen=True)
class Estimate:
    events: float  # SimPy wake-ups
    records: float  # trace records kept in memory
    biggest: str  # the term that dominates, named as the scenario key to change

    @property
    def memory_bytes(self) -> float:
        return self.records * BYTES_PER_RECORD

    @property
    def wall_s(self) -> float:
        return self.events / EVENTS_PER_S


def _rate(period: float) -> float:
    return math.inf if period <= 0 else 1.0 / period


def estimate_sim(cfg: RunConfig, benchmark_mean_s: float, bulk: bool) -> Estimate:
    """Wake-ups and records of one simulated run, from its numbers alone."""
    span = min(cfg.warmup_s + cfg.duration_s + START_UP_ALLOWANCE_S, cfg.derived_deadline_s())
    measuring = cfg.warmup_s + cfg.duration_s
    per_query = cfg.think_time_s + benchmark_mean_s
    tasks = cfg.workers * cfg.connections_per_worker
    queries = tasks * measuring * _rate(per_query) if tasks and measuring else 0.0
    if bulk:
        queries *= BULK_QUERY_WEIGHT
    w = cfg.workers
    loops = {
        "run.main_loop_sleep_s": w * span * _rate(cfg.main_loop_sleep_s),
        "run.event_poll_s": w * span * _rate(cfg.event_poll_s),
        "run.status_poll_s": w * span * _rate(cfg.status_poll_s),
        "run.heartbeat_s": w * span * _rate(cfg.heartbeat_s),
        "run.reconcile_s": w * span * _rate(cfg.reconcile_s),
        "run.orchestrator_poll_s": span * _rate(cfg.orchestrator_poll_s),
        "run.health_refresh_s": span * _rate(cfg.health_refresh_s),
        "run.enrichment_poll_s": cfg.enrichment_timeout_s * _rate(cfg.enrichment_poll_s),
        "run.dashboards": cfg.dashboards * span * 4,
        "run.workers": w * 50.0,  # start-up and shutdown statements
    }
    if cfg.coordination == "adaptive":
        loops["coordination.fast_s"] = w * span * _rate(cfg.adaptive_fast_s)
    if cfg.coordination == "push":
        loops["coordination.fallback_s"] = w * span * _rate(cfg.push_fallback_s)
    terms = {"benchmark queries (run.workers x run.connections_per_worker x "
             "(warmup_s + duration_s) / (think_time_s + latency.benchmark))": queries, **loops}
    events = sum(terms.values())
    if math.isnan(events):
        events = math.inf
    # main-loop sleeps write no record; everything else writes about one
    records = events - loops["run.main_loop_sleep_s"]
    biggest = max(terms, key=lambda k: terms[k])
    return Estimate(events, records, biggest)


def _big(x: float) -> str:
    return "infinitely many" if not math.isfinite(x) else f"about {x:,.0f}"


def check_sim(est: Estimate, where: str, allow_large: bool, runs: int = 1) -> None:
    """Refuse a simulation (or `runs` of them) above the limits, naming what drives the cost."""
    if allow_large and math.isfinite(est.events):
        return
    why = f"mostly {est.biggest}"
    if not math.isfinite(est.events):
        raise UsageError(f"{where}: this run would never end: benchmark queries with "
                         f"run.think_time_s = 0 and a latency.benchmark of 0 never let "
                         f"simulated time pass; give one of them a positive value")
    if est.events > limit("run_events"):
        raise UsageError(f"{where}: one run would take {_big(est.events)} simulated wake-ups "
                         f"(~{est.wall_s:,.0f} s wall), {why}; the limit is "
                         f"{limit('run_events'):,.0f} (docs/scenarios.md, Limits); pass "
                         f"--allow-large to run it anyway")
    if est.memory_bytes > limit("run_memory_bytes"):
        raise UsageError(f"{where}: one run would keep about {est.memory_bytes / 1e9:,.1f} GB "
                         f"of trace in memory, {why}; the limit is "
                         f"{limit('run_memory_bytes') / 1e9:g} GB (docs/scenarios.md, Limits); "
                         f"pass --allow-large to run it anyway")
    total = est.events * runs
    if runs > 1 and total > limit("total_events"):
        raise UsageError(f"{where}: {runs:,} runs would take {_big(total)} simulated wake-ups "
                         f"(~{total / EVENTS_PER_S / 3600:,.1f} hours of CPU); the limit is "
                         f"{limit('total_events'):,.0f} (docs/scenarios.md, Limits); fewer "
                         f"--reps or settings, or --allow-large")


def estimate_scenario(sc) -> Estimate:
    """estimate_sim for a phaselab.scenario.Scenario."""
    return estimate_sim(sc.cfg, sc.sim.latency.of("benchmark").mean(), sc.cfg.bulk_queries)


def check_scenario(sc, allow_large: bool, runs: int = 1, where: str | None = None) -> Estimate:
    """Refuse, before it starts, a scenario too big for this machine; `where` names it."""
    est = estimate_scenario(sc)
    check_sim(est, where or sc.path, allow_large, runs)
    return est


def check_count(option: str, value: int, name: str, allow_large: bool) -> None:
    """A count option (sweep runs, jobs) against its limit."""
    if value > limit(name) and not allow_large:
        raise UsageError(f"{option}: {value:,} is above the limit of {limit(name):,.0f} "
                         f"{LIMITS[name][1]} (docs/scenarios.md, Limits); pass --allow-large "
                         f"to go past it")


def check_live(backend: str, workers: int, connections: int, seconds: float,
               allow_large: bool) -> None:
    """A live run's size against what the backend (and this machine) can hold."""
    if allow_large:
        return
    for option, value, name in (
            ("--workers", workers, f"live_workers_{backend}"),
            ("--workers x --connections", workers * connections,
             f"live_connections_{backend}"),
            ("--warmup + --measure", seconds, "live_seconds")):
        if value > limit(name):
            shown = f"{value:,}" if isinstance(value, int) else f"{value:,.1f}"
            raise UsageError(f"{option}: {shown} is above the limit of {limit(name):,.0f} "
                             f"{LIMITS[name][1]} (docs/scenarios.md, Limits); pass "
                             f"--allow-large to go past it")


def markdown() -> list[str]:
    """The Limits section of docs/scenarios.md."""
    lines = ["## Limits", "",
             "Before a simulation or a live run starts, phaselab estimates what it will cost "
             "(`phaselab/inputs/budget.py`: simulated wake-ups from the number of workers, "
             "connections, the phase lengths, the poll periods and the benchmark query rate; "
             f"about {BYTES_PER_RECORD} bytes of memory per trace record and "
             f"{EVENTS_PER_S:,} wake-ups per second of wall time) and refuses with exit 2 "
             "above these limits, naming the key that drives the cost. `--allow-large` "
             "(`run`, `sweep`, `smoke`, `calibrate`) lifts them, except that a run which would "
             "never end (benchmark queries with zero think time and zero latency) is always "
             "refused; `explore` checks its scenario file against them and has no "
             "`--allow-large` (its --budget bounds its time).", "",
             "| limit | value | what |", "|---|---|---|"]
    for name, (value, doc) in LIMITS.items():
        lines.append(f"| `{name}` | {value:,} | {doc} |")
    return lines + [""]
