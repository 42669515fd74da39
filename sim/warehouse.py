"""The warehouse under test as a closed queueing model: what a controller has to find.

Benchmark tasks are a closed loop (a query, think time, the next query), so the load is the
number of queries in flight, N. The warehouse runs `slots` queries at full speed; beyond
that they share it, and each query takes its sampled latency times max(1, N / slots)
(processor sharing in the fluid limit). Throughput therefore rises linearly up to the knee
and then saturates, while latency climbs linearly with N — the shape FIND_MAX steps into
and the QPS controller steers on. Absent ([warehouse] not in the scenario), benchmark
latency does not depend on load, as before.

The model's true capacity is known in closed form, so a sweep can hold FIND_MAX's answer
against it (`capacity`).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WarehouseModel:
    slots: int = 8  # queries served at full speed at once
    burst_horizon_s: float = 1.0  # bulk bursts re-read the load at least this often

    def slowdown(self, in_flight: int) -> float:
        """A query's latency factor when `in_flight` queries (itself included) run."""
        return max(1.0, in_flight / self.slots)

    def throughput(self, n: int, service_s: float, think_s: float = 0.0) -> float:
        """Queries per second n closed-loop tasks get (fluid limit)."""
        if n <= 0 or service_s <= 0:
            return 0.0
        return n / (service_s * self.slowdown(n) + think_s)

    def capacity(self, service_s: float, think_s: float = 0.0) -> dict:
        """The true capacity: the saturated throughput and the concurrency at the knee (the
        least number of tasks that reaches it; with think time the throughput approaches it)."""
        return {"max_qps": self.slots / service_s,
                "knee_concurrency": self.slots * (service_s + think_s) / service_s}
