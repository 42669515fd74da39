"""The push channel of the `push` coordination scheme: a doorbell from orchestrator to workers.

Each `Notify` is delivered to every worker process alive at that instant after its own
latency (the scenario's `[latency] notify` distribution), into that worker's mailbox. A
worker's `AwaitNotice` takes the oldest notice at once, or sleeps until one arrives or its
timeout ends. Publishing costs the orchestrator nothing; notices are never lost here (the
fallback poll is what a lossy channel would rely on).
"""
from __future__ import annotations

from collections import deque

from protocol import effects as fx


class Channel:
    def __init__(self, env, latency, src, record):
        self.env, self.latency, self.src, self.record = env, latency, src, record
        self.boxes: dict[str, deque] = {}
        self.waiting: dict[str, object] = {}  # worker id -> SimPy event of its AwaitNotice

    def publish(self, eff: fx.Notify, workers) -> None:
        notice = fx.Notice(eff.status, eff.phase, eff.event)
        for wid in workers:
            delay = self.latency.sample("notify", self.src)
            self.env.process(self._deliver(wid, notice, delay))

    def _deliver(self, wid: str, notice: fx.Notice, delay: float):
        yield self.env.timeout(delay)
        self.boxes.setdefault(wid, deque()).append(notice)
        self.record(wid, "notice", worker=wid, status=notice.status, phase=notice.phase,
                    event=notice.event)
        ev = self.waiting.pop(wid, None)
        if ev is not None and not ev.triggered:
            ev.succeed()

    def wait(self, eff: fx.AwaitNotice, timeout_event):
        """A SimPy generator: the next notice for the worker, or None after the timeout."""
        box = self.boxes.get(eff.worker_id)
        if box:
            return box.popleft()
        ev = self.env.event()
        self.waiting[eff.worker_id] = ev
        yield ev | timeout_event
        if self.waiting.get(eff.worker_id) is ev:
            del self.waiting[eff.worker_id]
        box = self.boxes.get(eff.worker_id)
        return box.popleft() if box else None
