"""`--jobs N`: tasks in N local processes.

The processes are forked from a fork server that has already imported the task's module
(numpy, SimPy, the protocol, Hypothesis), so each starts in milliseconds instead of paying
the imports again as spawned processes do, and none is forked from the parent itself, whose
threads (the progress display's) could hold a lock at the moment of a fork. Where there is
no fork server (Windows), spawn.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


class ProcessPool:
    def __init__(self, jobs: int, preload: tuple[str, ...] = ()):
        self.width = jobs
        methods = multiprocessing.get_all_start_methods()
        if "forkserver" in methods:
            self._ctx = multiprocessing.get_context("forkserver")
            self._ctx.set_forkserver_preload(list(preload))
        else:  # pragma: no cover - Windows
            self._ctx = multiprocessing.get_context("spawn")
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ProcessPool":
        self._pool = ProcessPoolExecutor(self.width, mp_context=self._ctx)
        return self

    def submit(self, fn, arg):
        return self._pool.submit(fn, arg)

    @staticmethod
    def wait_any(futures: list) -> set:
        return wait(futures, return_when=FIRST_COMPLETED).done

    @staticmethod
    def result(future):
        return future.result()

    def __exit__(self, kind, exc, tb) -> None:
        if exc is None:
            self._pool.shutdown(wait=True)
            return
        # Ctrl-C or an error: drop the queue and end the processes now rather than after
        # their current (possibly long) task
        procs = list((getattr(self._pool, "_processes", None) or {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)


def open_backend(jobs: int, preload: tuple[str, ...] = ()) -> ProcessPool:
    return ProcessPool(jobs, preload)
