"""A shared backend with limited capacity: a queue in front of `slots` servers.

Without it every statement costs its own sampled latency, whatever the load, and latencies
calibrated at one load do not transfer to another. With it (scenario table [server]) a
statement first waits for a free slot, holds it for a service time drawn for its kind, and
only then pays its [latency] (the client and network part). The embedded fakesnow server
serialises statements: one slot. Bulk query bursts (QueryBurst) do not visit the queue.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping

import simpy

from sim.latency import Distribution, RandomSource


@dataclass(frozen=True)
class ServerModel:
    slots: int = 1
    service: Mapping[str, Distribution] = field(default_factory=dict)  # per statement kind
    default: Distribution | None = None  # kinds not named; None: they skip the queue

    def of(self, op: str) -> Distribution | None:
        return self.service.get(op, self.default)

    def wait_bound(self, clients: int) -> float:
        """The longest a statement can spend queued and served when at most `clients`
        statements are outstanding at once: all the others ahead of it, at the slowest."""
        dists = [*self.service.values(), *([self.default] if self.default else [])]
        slowest = max((d.upper() for d in dists), default=0.0)
        return slowest * (1 + max(0, clients - 1) / self.slots)


class ServerQueue:
    """The SimPy side of a ServerModel: a Resource with `slots` places."""

    def __init__(self, env: simpy.Environment, model: ServerModel):
        self.env, self.model = env, model
        self.resource = simpy.Resource(env, capacity=model.slots)
        self.busy_s = 0.0  # total service time given, for utilisation reports

    def visit(self, op: str, src: RandomSource, wait: Callable[[float], simpy.Event]):
        """Queue for a slot, then hold it for the kind's service time (SimPy generator)."""
        dist = self.model.of(op)
        if dist is None:
            return
        with self.resource.request() as req:
            yield req
            s = dist.sample(src)
            self.busy_s += s
            yield wait(s)
