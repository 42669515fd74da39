"""Where a command's independent tasks run: in this process, in a local process pool
(`--jobs N`, phaselab/parallel/process_pool.py) or on a Dask cluster (`--scheduler ADDR`,
phaselab/parallel/dask_cluster.py).

Every backend gets the tasks in the same order (the caller's cost order, biggest first, so
that no process ends the command alone on one long task) and hands the results back in the
caller's task order, so what a command computes from them cannot depend on where they ran.
Each result comes with a TaskTime (which process, when, how much CPU), which is how
benchmarks/parallel.py tells start-up, imbalance and the parent's own work apart.
"""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from phaselab.errors import UsageError


@dataclass(frozen=True)
class TaskTime:
    """One task: where it ran and when (epoch seconds), and its CPU seconds."""
    index: int
    where: str  # host:pid
    start: float
    end: float
    cpu_s: float


def timed(fn: Callable, arg) -> tuple:
    """fn(arg) with where and when it ran (runs in the worker process)."""
    t0, c0 = time.time(), time.process_time()
    out = fn(arg)
    return out, (f"{socket.gethostname()}:{os.getpid()}", t0, time.time(),
                 time.process_time() - c0)


class Timed:
    """A picklable fn wrapper for timed() (a lambda or partial of a local would not pickle)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, arg):
        return timed(self.fn, arg)


def check_scheduler(text: str | None) -> str | None:
    """--scheduler: `local` or a scheduler address; the error says which forms are allowed."""
    if text is None:
        return None
    from phaselab.parallel.addresses import parse
    return parse(text)


def run_tasks(fn: Callable, tasks: Sequence, *, jobs: int = 1, scheduler: str | None = None,
              order: Iterable[int] | None = None, deadline: float | None = None,
              on_done: Callable[[object], None] | None = None,
              timings: list | None = None) -> list:
    """fn over tasks, results in task order. `order`: the order to start them in (default:
    as given). `deadline` (time.monotonic()): tasks not started by then are skipped (None),
    except the first one started. `on_done(result)` after each task, in the order they end.
    `timings`, when given, gets one TaskTime per task that ran."""
    order = list(range(len(tasks))) if order is None else list(order)
    if sorted(order) != list(range(len(tasks))):
        raise ValueError("order must be a permutation of the task indices")
    wrapped = Timed(fn)
    if scheduler is not None:
        from phaselab.parallel import dask_cluster as backend_mod
        backend = backend_mod.open_backend(scheduler, jobs)
    elif jobs > 1 and len(tasks) > 1:
        from phaselab.parallel import process_pool as local
        backend = local.open_backend(jobs, (fn.__module__,))
    else:
        backend = None
    results: list = [None] * len(tasks)

    def keep(i: int, pair: tuple) -> None:
        out, (where, start, end, cpu) = pair
        results[i] = out
        if timings is not None:
            timings.append(TaskTime(i, where, start, end, cpu))
        if on_done:
            on_done(out)

    if backend is None:
        for n, i in enumerate(order):
            if n and deadline is not None and time.monotonic() > deadline:
                break  # the first task always runs: a cap still does something
            keep(i, wrapped(tasks[i]))
        return results
    with backend:
        pending: dict = {}
        nxt = 0
        # in flight: with a deadline one task per process (what is queued would still start
        # after it); without, two, so that no process waits for the parent to hand it the next
        window = backend.width if deadline is not None else 2 * backend.width
        while nxt < len(order) or pending:
            while nxt < len(order) and len(pending) < window and (
                    nxt == 0 or deadline is None or time.monotonic() <= deadline):
                pending[backend.submit(wrapped, tasks[order[nxt]])] = order[nxt]
                nxt += 1
            if not pending:
                break
            for f in backend.wait_any(list(pending)):
                keep(pending.pop(f), backend.result(f))
            if deadline is not None and time.monotonic() > deadline:
                nxt = len(order)
    return results


def idle_summary(timings: list[TaskTime], t0: float, t1: float) -> dict:
    """Per process: busy seconds (tasks), idle before its first task (start-up), between
    tasks and after its last one (the imbalance at the end), in the window t0..t1."""
    by: dict[str, list[TaskTime]] = {}
    for t in timings:
        by.setdefault(t.where, []).append(t)
    out = {}
    for where, ts in sorted(by.items()):
        ts.sort(key=lambda t: t.start)
        busy = sum(t.end - t.start for t in ts)
        gaps = sum(max(0.0, b.start - a.end) for a, b in zip(ts, ts[1:]))
        out[where] = {"tasks": len(ts), "busy_s": busy, "cpu_s": sum(t.cpu_s for t in ts),
                      "before_first_s": max(0.0, ts[0].start - t0), "between_s": gaps,
                      "after_last_s": max(0.0, t1 - ts[-1].end)}
    return out


def accounting(timings: list[TaskTime], t0: float, t1: float) -> dict:
    """A batch of tasks run between t0 and t1 (epoch seconds): its length and, per process,
    idle_summary's figures; what `--json` reports as `parallel` and benchmarks/parallel.py
    reads."""
    return {"runs_s": t1 - t0, "processes": idle_summary(timings, t0, t1)}
