"""The simulation's fault layer: protocol/faults.py's decisions, drawn from the run's source.

The interpreter asks this layer, per statement call, whether the call is hit and how; it
draws only when a fault is possible, so a run without faults takes exactly the draws (and
writes exactly the trace) it took before faults existed. Draws come from the run's own
random source, inverted (1 - u), so that Hypothesis shrinking a tape byte toward 0 shrinks
a fault away. Each fault that fires leaves a `fault` record in the trace.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from protocol import faults as fm
from sim.latency import Distribution, RandomSource


@dataclass
class WorkerMemory:
    """What a crash step needs to know about a worker: its heartbeats so far."""
    last_status: str | None = None
    ready_count: int = 0
    crashed: bool = False


@dataclass
class FaultLayer:
    spec: fm.FaultSpec
    src: RandomSource
    slow: Distribution | None = None  # the slow tail's latency distribution
    workers: dict[str, WorkerMemory] = field(default_factory=dict)
    dropped: set = field(default_factory=set)  # actors whose session must be reopened

    def u(self) -> float:
        return 1.0 - self.src.random()

    # --- statements -----------------------------------------------------------------------

    def outcome(self, op: str, now: float) -> str | None:
        if not fm.may_fault(self.spec, op, now):
            return None
        return fm.statement_outcome(self.spec, op, now, self.u())

    def info_applies(self) -> bool:
        return fm.info_took_effect(self.spec, self.u())

    def slow_latency(self, lat: float) -> float:
        return max(lat, self.slow.sample(self.src)) if self.slow is not None else lat * 10

    # --- worker crashes -------------------------------------------------------------------

    def crash_before(self, actor: str, effect) -> str | None:
        """The step at which `actor` (a worker) dies instead of performing `effect`."""
        return self._due(actor, fm.crash_step(effect, *self._memory(actor)))

    def crash_after(self, actor: str, effect) -> str | None:
        return self._due(actor, fm.crash_after(effect))

    def heartbeat_written(self, actor: str, status: str) -> None:
        m = self.workers.setdefault(actor, WorkerMemory())
        m.last_status = status
        m.ready_count += status == "READY"

    def _memory(self, actor: str):
        m = self.workers.get(actor) or WorkerMemory()
        return m.last_status, m.ready_count

    def _due(self, actor: str, step: str | None) -> str | None:
        if step is None:
            return None
        for c in self.spec.crashes:
            if c.worker == actor and c.step == step:
                m = self.workers.setdefault(actor, WorkerMemory())
                if m.crashed:
                    return None
                m.crashed = True
                return step
        return None

    def timed_crashes(self):
        return [c for c in self.spec.crashes if c.step == fm.AT_TIME]
