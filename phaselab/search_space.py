"""The scenario space the property search covers, defined once for Hypothesis and numpy.

A `Space` turns a stream of choices into a scenario dict for `phaselab.scenario.from_dict`.
The choices come from a `Chooser`: Hypothesis draws in the test suite (every choice an integer
that shrinks toward the simplest scenario: fewest workers, shortest phases, fastest
statements) or a numpy Generator. Think time is raised with the load so one example stays
cheap: about `query_budget` benchmark queries per run whatever its size.

Swarm testing (`Space(swarm=True)`, what `phaselab explore` searches): each example first
draws which FEATURES it enables (each shrinks to off), so every example exercises a different
subset of user stops, dashboards, coordination schemes, start-up modes and lags. A new
feature (faults, modes) is one `Feature` appended to FEATURES.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

RES = 1000  # a fraction is a whole number of thousandths, so it shrinks to exact values

# Statement kinds that read (SELECT) and the ones that write, as the seeds time them.
READ_OPS = ("read_run_status", "fetch_events", "count_heartbeats", "read_enrichment_status",
            "read_next_seq")


class Chooser(Protocol):
    def integer(self, lo: int, hi: int, label: str) -> int: ...


def frac(c: Chooser, lo: float, hi: float, label: str) -> float:
    """A number in [lo, hi] that shrinks to lo, rounded to keep scenario files readable."""
    return round(lo + (hi - lo) * c.integer(0, RES, label) / RES, 4)


def chance(c: Chooser, pct: int, label: str) -> bool:
    """True with probability pct/100; shrinks to False."""
    return c.integer(0, 99, label) >= 100 - pct


def uniform(low: float, span: float) -> dict:
    return {"dist": "uniform", "low": low, "high": round(low + span, 4)}


@dataclass(frozen=True)
class Feature:
    """One swarm feature: `apply(chooser, space, scenario)` adds it to a drawn scenario."""
    name: str
    apply: Callable[[Chooser, "Space", dict], None]


def _user_stop(c: Chooser, space: "Space", sc: dict) -> None:
    run = sc["run"]
    run["user_stop_at_s"] = frac(c, 0.0, run["warmup_s"] + run["duration_s"] + 10.0,
                                 "user_stop_at_s")


def _dashboards(c: Chooser, space: "Space", sc: dict) -> None:
    sc["run"]["dashboards"] = c.integer(1, max(1, space.max_dashboards), "dashboards")


def _scheme(c: Chooser, space: "Space", sc: dict) -> None:
    scheme = ("jittered", "adaptive", "push")[c.integer(0, 2, "scheme")]
    sc.setdefault("coordination", {})["scheme"] = scheme


def _startup_mode(c: Chooser, space: "Space", sc: dict) -> None:
    co = sc.setdefault("coordination", {})
    co["parallel_startup"] = bool(c.integer(0, 1, "parallel_startup"))
    co["prespawn_tasks"] = bool(c.integer(0, 1, "prespawn_tasks"))


def _visibility_lag(c: Chooser, space: "Space", sc: dict) -> None:
    sc.setdefault("sim", {})["visibility_lag_s"] = frac(c, 0.0, 0.5, "visibility_lag_s")


# Each example of a swarm space enables a random subset of these; append to add one.
FEATURES: list[Feature] = [
    Feature("user_stop", _user_stop),
    Feature("dashboards", _dashboards),
    Feature("coordination_scheme", _scheme),
    Feature("startup_mode", _startup_mode),
    Feature("visibility_lag", _visibility_lag),
]


@dataclass(frozen=True)
class Space:
    max_workers: int = 8
    max_connections: int = 20
    max_warmup_s: float = 30.0
    max_duration_s: float = 60.0
    max_dashboards: int = 2
    user_stop_pct: int = 15  # share of examples with a user stop
    query_budget: int = 1500
    faults: bool = False  # draw the fault model too (phaselab/fault_space.py)
    scaling: bool = False  # draw a load mode and its settings too (phaselab/search_modes.py)
    swarm: bool = False  # draw a subset of FEATURES per example (else user stop, dashboards)

    def scenario(self, c: Chooser, variant: str) -> dict:
        on = ([f for f in FEATURES if c.integer(0, 1, f"feature {f.name}")] if self.swarm
              else None)
        workers = c.integer(1, self.max_workers, "workers")
        conns = c.integer(1, self.max_connections, "connections_per_worker")
        # Warmup 0 and very short warmups are where the phase races live: favour them.
        kind = c.integer(0, 2, "warmup_kind")
        hi = (0.0, min(3.0, self.max_warmup_s), self.max_warmup_s)[kind]
        warmup = frac(c, 0.0, hi, "warmup_s")
        duration = frac(c, 1.0, self.max_duration_s, "duration_s")
        bench = uniform(frac(c, 0.01, 0.2, "bench_low"), frac(c, 0.0, 0.3, "bench_span"))
        need = workers * conns * (warmup + duration + 5.0) / self.query_budget
        think = round(max(0.0, need - bench["low"]) + frac(c, 0.0, 1.0, "think_extra"), 4)
        run = {
            "workers": workers, "connections_per_worker": conns, "warmup_s": warmup,
            "duration_s": duration, "think_time_s": think,
            "orchestrator_poll_s": frac(c, 0.2, 2.0, "orchestrator_poll_s"),
            "status_poll_s": frac(c, 0.05, 1.0, "status_poll_s"),
            "event_poll_s": frac(c, 0.2, 2.0, "event_poll_s"),
            "heartbeat_s": frac(c, 0.2, 2.0, "heartbeat_s"),
            "reconcile_s": frac(c, 1.0, 10.0, "reconcile_s"),
            "dashboards": 0 if on is not None else c.integer(0, self.max_dashboards,
                                                             "dashboards"),
        }
        if on is None and chance(c, self.user_stop_pct, "user_stop"):
            run["user_stop_at_s"] = frac(c, 0.0, warmup + duration + 10.0, "user_stop_at_s")
        reads = uniform(frac(c, 0.005, 0.5, "read_low"), frac(c, 0.0, 1.0, "read_span"))
        writes = uniform(frac(c, 0.005, 0.3, "write_low"), frac(c, 0.0, 0.5, "write_span"))
        latency = {"default": writes, **{op: reads for op in READ_OPS}, "benchmark": bench,
                   "connect": uniform(frac(c, 0.2, 2.0, "connect_low"),
                                      frac(c, 0.0, 3.0, "connect_span")),
                   "setup": uniform(0.05, frac(c, 0.0, 0.5, "setup_span")),
                   "proc_start": uniform(0.2, frac(c, 0.0, 1.0, "proc_span")),
                   "enrich": uniform(frac(c, 0.5, 5.0, "enrich_low"), 1.0)}
        sc = {"run": run, "variant": {"name": variant}, "latency": latency}
        for f in on or ():
            f.apply(c, self, sc)
        if self.faults:
            from phaselab import fault_space
            sc.update(fault_space.draw(c, run))
        if self.scaling:  # drawn last, so the draws above stay what they were
            from phaselab.search_modes import scaling_draw
            sc["scaling"] = scaling_draw(c, frac)
        return sc

    @staticmethod
    def features_of(sc: dict) -> list[str]:
        """The swarm features a drawn scenario has on (for reports)."""
        run, co = sc.get("run", {}), sc.get("coordination", {})
        out = []
        if run.get("user_stop_at_s", -1) >= 0:
            out.append("user_stop")
        if run.get("dashboards"):
            out.append("dashboards")
        if co.get("scheme"):
            out.append(f"scheme={co['scheme']}")
        if co.get("parallel_startup") or co.get("prespawn_tasks"):
            out.append("startup_mode")
        if sc.get("sim", {}).get("visibility_lag_s"):
            out.append("visibility_lag")
        if sc.get("faults"):
            out.append("faults")
        if sc.get("scaling"):
            out.append(f"mode={sc['scaling'].get('load_mode', 'CONCURRENCY')}")
        return out


FULL = Space()
# Small runs for the bug-zoo searches: each example costs a few milliseconds.
SMALL = Space(max_workers=3, max_connections=4, max_warmup_s=6.0, max_duration_s=6.0,
              query_budget=400)
# The same spaces with the fault model drawn too (explore --faults, the fault bug zoo).
FULL_FAULTS = Space(faults=True)
SMALL_FAULTS = Space(max_workers=3, max_connections=4, max_warmup_s=6.0, max_duration_s=6.0,
                     query_budget=400, faults=True)
# `phaselab explore`: SMALL's sizes (races need few workers; an example costs milliseconds
# so shrinking stays affordable) with swarm features.
SWARM = Space(max_workers=4, max_connections=4, max_warmup_s=8.0, max_duration_s=8.0,
              query_budget=400, swarm=True)
SPACES = {"swarm": SWARM, "small": SMALL, "full": FULL,
          "full-swarm": Space(swarm=True),
          # explore --faults: the same, with the fault model drawn too
          "swarm-faults": Space(max_workers=4, max_connections=4, max_warmup_s=8.0,
                                max_duration_s=8.0, query_budget=400, swarm=True, faults=True),
          "small-faults": SMALL_FAULTS, "full-faults": FULL_FAULTS,
          "full-swarm-faults": Space(swarm=True, faults=True)}


class HypChooser:
    """Choices as Hypothesis integer draws from `st.data()` (each shrinks to its low end)."""

    def __init__(self, data):
        self.data = data

    def integer(self, lo: int, hi: int, label: str) -> int:
        from hypothesis import strategies as st
        return self.data.draw(st.integers(lo, hi), label=label)


class NumpyChooser:
    """Choices from a numpy Generator."""

    def __init__(self, rng):
        self.rng = rng

    def integer(self, lo: int, hi: int, label: str) -> int:
        return int(self.rng.integers(lo, hi + 1))
