"""The live run clock, shared by the orchestrator and its worker processes.

Choice: the orchestrator takes the run's epoch as one wall-clock reading (`time.time()`) and
passes it to every worker. Each process anchors its monotonic clock to that epoch once, at
start, and from then on reads only `time.monotonic()`. So all processes on one host put `t`
on the same scale (their traces merge by `t`), and a wall-clock step during the run cannot
make `t` jump or go backwards. Database timestamps (epoch seconds) convert with `from_wall`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RunClock:
    epoch_wall: float  # the run's t = 0 as a Unix time
    mono0: float  # time.monotonic() at t = 0, in this process

    @classmethod
    def start(cls) -> "RunClock":
        return cls(time.time(), time.monotonic())

    @classmethod
    def join(cls, epoch_wall: float) -> "RunClock":
        """In a worker: the orchestrator's epoch, anchored to this process's monotonic clock."""
        return cls(epoch_wall, time.monotonic() - (time.time() - epoch_wall))

    def now(self) -> float:
        return time.monotonic() - self.mono0

    def from_wall(self, unix_s: float) -> float:
        return unix_s - self.epoch_wall
