"""`--jobs N`: tasks in N local processes.

The processes are forked from a fork server that has already imported the task's module
(numpy, SimPy, the protocol, Hypothesis), so each starts in milliseconds instead of paying
the imports again as spawned processes do, and none is forked from the parent itself, whose
threads (the progress display's) could hold a lock at the moment of a fork. Where there is
no fork server (Windows), spawn.

With `fork_alone`, a caller whose process runs no other thread at the time (explore, which
prints its progress from the main thread) has the workers forked from itself on Linux: they
start at once with what it has imported, instead of waiting ~0.3-0.5 s for the fork server
to import it again, and a single-threaded process has no other thread's lock to copy.
"""
from __future__ import annotations

import multiprocessing
import sys
import threading
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait


def start_method(fork_alone: bool = False) -> str:
    """How the workers start: fork (only when asked, on Linux, from a single thread),
    else the fork server, else spawn."""
    methods = multiprocessing.get_all_start_methods()
    if fork_alone and sys.platform == "linux" and "fork" in methods \
            and threading.active_count() == 1:
        return "fork"
    return "forkserver" if "forkserver" in methods else "spawn"


class ProcessPool:
    def __init__(self, jobs: int, preload: tuple[str, ...] = (), fork_alone: bool = False):
        self.width = jobs
        self._preload = list(preload)
        self._fork_alone = fork_alone
        self.start_method = ""
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> "ProcessPool":
        # decided here: with fork, the executor starts every worker at its first submit,
        # before it starts a thread of its own
        self.start_method = start_method(self._fork_alone)
        ctx = multiprocessing.get_context(self.start_method)
        if self.start_method == "forkserver":
            ctx.set_forkserver_preload(self._preload)
        self._pool = ProcessPoolExecutor(self.width, mp_context=ctx)
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


def open_backend(jobs: int, preload: tuple[str, ...] = (), fork_alone: bool = False
                 ) -> ProcessPool:
    return ProcessPool(jobs, preload, fork_alone)
