"""A worker's benchmark connection pool, its closed-loop benchmark tasks and the tag switch.

Reference-protocol.md §6 and §8: connections are created in lock-step batches; the
measurement hook ALTERs the pool's sessions and then bumps the metrics epoch. The fixed
variant makes each task read (tag, epoch) together and re-tag its own session before a
query, so tag and epoch can never disagree.
"""
from __future__ import annotations

from dataclasses import dataclass

from protocol.actors.common import note, worker_tag
from protocol.actors.errors import RETRY_S, retrying
from protocol.effects import (BenchmarkQuery, Connect, Now, Parallel, QueryBurst,
                              SetQueryTag, Sleep, Spawn, StatementFailed, Touch)

ALTER_PARALLELISM = 16  # update_query_tag runs at most 16 ALTERs at once (§6.3)
CONNECT_ATTEMPTS = 3  # a connect is tried three times, sleeping 1 s x attempt (§8)


@dataclass
class TaskControl:
    index: int
    stop: bool = False
    handle: object = None


class BenchmarkPool:
    def __init__(self, w):
        self.w = w
        self.conns: dict[int, object] = {}  # task index -> connection handle
        self.conn_tags: dict[int, str] = {}  # what each session's QUERY_TAG was set to
        self.tasks: dict[int, TaskControl] = {}
        self.live_tasks = 0  # spawned and not yet ended, stop-signalled ones included

    def size(self) -> int:
        return len(self.conns)

    def _connect(self, indices):
        """One batch of creates; a failed create is retried up to CONNECT_ATTEMPTS times,
        sleeping 1 s x attempt (§8 "Failures"); still failing, the batch raises."""
        w = self.w
        tag = w.tag  # a creation copies the session parameters when it starts (§6.3)
        todo = list(indices)
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            handles = yield Parallel(tuple(Connect(w.worker_id, f"{w.worker_id}-c{i}", tag)
                                           for i in todo), settle=True)
            failed = []
            for i, h in zip(todo, handles):
                if isinstance(h, StatementFailed):
                    failed.append((i, h))
                else:
                    self.conns[i] = h
                    self.conn_tags[i] = tag
            if not failed:
                return
            if attempt == CONNECT_ATTEMPTS:
                raise failed[0][1]
            yield Sleep(1.0 * attempt)
            todo = [i for i, _ in failed]

    def initialize(self):
        """Create the initial connections in batches of `pool_parallel_creates`."""
        w = self.w
        size = max(1, w.current_target)
        batch = w.sw.pool_parallel_creates
        for lo in range(0, size, batch):
            yield from self._connect(range(lo, min(size, lo + batch)))

    def scale_to(self, w, target: int, source: str):
        """_scale_to: prewarm missing connections, then start or stop-signal tasks (§9.3)."""
        target = max(0, target)
        if target != w.current_target:
            w.current_target = target
            yield note("worker_state", worker=w.worker_id, phase=w.current_phase,
                       target=target, source=source)
        missing = [i for i in range(target) if i not in self.conns]
        batch = w.sw.pool_parallel_creates
        for lo in range(0, len(missing), batch):
            yield from self._connect(missing[lo:lo + batch])
        running = sorted(i for i, c in self.tasks.items() if not c.stop)
        room = self._room(w)
        for i in range(target):
            if i not in self.tasks or self.tasks[i].stop:
                if room <= 0:
                    break  # stop-signalled tasks still hold the slots (§9.3)
                room -= 1
                ctl = TaskControl(i)
                self.tasks[i] = ctl
                self.live_tasks += 1
                ctl.handle = yield Spawn(self.counted_task(ctl), f"{w.worker_id}-task{i}")
        for i in running:
            if i >= target:
                self.tasks[i].stop = True
        if any(i >= target for i in running):
            yield Touch(w.worker_id)
        yield from self._count_tasks()

    def _count_tasks(self):
        """SC-WORKER-CAP's data (load modes only, so CONCURRENCY traces stay as they were):
        running = not stop-signalled, live = not yet ended."""
        if self.w.cfg.scaling is not None:
            running = sum(not c.stop for c in self.tasks.values())
            yield note("task_count", worker=self.w.worker_id, running=running,
                       live=self.live_tasks, target=self.w.current_target)

    def _room(self, w) -> float:
        """§9.3 grow: spawn at most `per_worker_cap - live` tasks (a load mode's cap; a
        CONCURRENCY run spawns as it always did)."""
        if w.cfg.scaling is None:
            return float("inf")
        return w.cfg.scaling.max_connections - self.live_tasks

    def counted_task(self, ctl: TaskControl):
        """A benchmark task, counted live until it ends (stop-signalled tasks finish their
        current operation first, §9.3). Fixed (task_top_up) then starts the tasks a grow had
        to leave out for want of room; the reference waits for the next `_scale_to`."""
        try:
            yield from self.benchmark_task(ctl)
        finally:
            self.live_tasks -= 1
        w = self.w
        if w.stopping:
            return
        running = sum(not c.stop for c in self.tasks.values())
        if w.sw.task_top_up and running < w.current_target:
            yield from self.scale_to(w, w.current_target, "top_up")
        else:
            yield from self._count_tasks()

    def stop_all(self) -> list:
        for c in self.tasks.values():
            c.stop = True
        return [c.handle for c in self.tasks.values() if c.handle is not None]

    def measurement_hook(self, w):
        """_transition_to_measurement: switch the tag, then start the measurement epoch."""
        start = yield Now()
        w.tag = worker_tag(w.test_id, measuring=True)
        bump_first = w.sw.tag_switch == "epoch_then_alter_pool"  # bug zoo: epoch, then ALTERs
        if bump_first:
            w.epoch += 1
        if w.sw.tag_switch in ("alter_pool_then_epoch", "epoch_then_alter_pool"):
            snapshot = sorted(self.conns)
            for lo in range(0, len(snapshot), ALTER_PARALLELISM):
                idx = snapshot[lo:lo + ALTER_PARALLELISM]
                try:
                    yield Parallel(tuple(SetQueryTag(w.worker_id, self.conns[i], w.tag)
                                         for i in idx))
                except StatementFailed:
                    pass  # failures are logged and ignored upstream
                for i in idx:
                    self.conn_tags[i] = w.tag
        if not bump_first:
            w.epoch += 1  # in the fixed variant this is in the same step as the tag change
        w.measurement_active = True
        yield Touch(w.worker_id)
        end = yield Now()
        w.metrics_since = end  # the hook resets the executor's metrics (§6.2)
        yield note("hook", worker=w.worker_id, start=start, end=end, epoch=w.epoch)

    def benchmark_task(self, ctl: TaskControl):
        """A closed loop of point lookups on the task's own connection, with think time."""
        w = self.w
        atomic = w.sw.tag_switch == "per_task_atomic"
        while not ctl.stop:
            if ctl.index not in self.conns:
                try:
                    yield from self._connect([ctl.index])
                except StatementFailed:
                    if not retrying(w.sw):
                        raise  # upstream: the task dies of it
                    yield Sleep(RETRY_S)
                    continue
            conn = self.conns[ctl.index]
            epoch = w.epoch
            if atomic and self.conn_tags[ctl.index] != w.tag:
                tag = w.tag
                try:
                    yield SetQueryTag(w.worker_id, conn, tag)
                except StatementFailed:  # the session keeps (or may keep) its old tag:
                    yield Sleep(RETRY_S)  # no query on it before the ALTER succeeded
                    continue
                self.conn_tags[ctl.index] = tag
                if w.epoch != epoch:
                    continue  # the hook ran meanwhile: take (tag, epoch) afresh
            if w.cfg.bulk_queries:
                yield from self._burst(ctl, conn, epoch)
                continue
            try:
                res = yield BenchmarkQuery(w.worker_id, conn)
            except StatementFailed:
                continue
            yield note("query", worker=w.worker_id, conn=ctl.index, task=ctl.index,
                       start=res.start, finish=res.finish, tag=res.tag, epoch=epoch,
                       counted=epoch == w.epoch, ok=res.ok)
            yield from self._mark_first_queries(res.tag)
            if w.cfg.think_time_s > 0:
                yield Sleep(w.cfg.think_time_s)

    def _mark_first_queries(self, tag: str):
        """The seeds' first-query and first-measurement-query markers, once each."""
        w = self.w
        for name, due in (("first_query", True),
                          ("first_measurement_query", tag.endswith(":phase=RUNNING"))):
            if due and name not in w.markers:
                w.markers.add(name)
                yield note("marker", worker=w.worker_id, name=name)

    def _burst(self, ctl: TaskControl, conn, epoch: int):
        """The bulk form of the loop body above: queries back to back until the driver cuts
        the burst (a Touch: the hook, a stop) or its horizon, noted as one query_batch. A
        start-up marker still needs its own single query, so its time stays exact."""
        w = self.w
        first = "first_query" not in w.markers or (
            "first_measurement_query" not in w.markers and w.tag.endswith(":phase=RUNNING"))
        try:
            res = yield QueryBurst(w.worker_id, conn, w.cfg.think_time_s, 1 if first else None)
        except StatementFailed:
            return
        if not res.starts:
            return
        yield note("query_batch", worker=w.worker_id, conn=ctl.index, task=ctl.index,
                   n=len(res.starts), starts=res.starts, finish=res.finish,
                   think=w.cfg.think_time_s, tag=res.tag, epoch=epoch,
                   counted=True, last_counted=epoch == w.epoch, ok=res.ok)
        yield from self._mark_first_queries(res.tag)
        if w.cfg.think_time_s > 0:  # the think time after the burst's last query
            now = yield Now()
            yield Sleep(max(0.0, res.finish + w.cfg.think_time_s - now))
