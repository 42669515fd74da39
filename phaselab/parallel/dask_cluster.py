"""`--scheduler ADDR`: tasks as Dask tasks, on a running cluster or on a LocalCluster
(`--scheduler local`) that lives exactly as long as the command.

Dask is imported here only, so commands that do not use it do not pay for the import. A
scheduler that does not answer within CONNECT_TIMEOUT_S is a usage error (exit 2) that
says how to start one. The LocalCluster and the client are closed on every way out,
Ctrl-C included (context managers), so no worker process outlives the command.
"""
from __future__ import annotations

import logging

from phaselab.errors import UsageError

CONNECT_TIMEOUT_S = 10.0


class DaskBackend:
    def __init__(self, address: str, jobs: int):
        self.address = address
        self.jobs = max(1, jobs)
        self.width = self.jobs
        self._cluster = None
        self._client = None

    def __enter__(self) -> "DaskBackend":
        try:
            import distributed
        except ImportError:  # pragma: no cover - it is a dependency
            raise UsageError("--scheduler: Dask is not installed in this environment; "
                             "pip install 'dask[distributed]'") from None
        self._wait = distributed.wait
        try:
            if self.address == "local":
                # processes, one thread each: a simulation holds the GIL, and a run's
                # process-wide settings (the garbage collector's) are not shared by threads
                # each worker process ignores SIGINT once it is up (worker_setup.py): a
                # terminal's Ctrl-C reaches the whole process group, and this process
                # alone handles it, by closing the cluster
                self._cluster = distributed.LocalCluster(
                    n_workers=self.jobs, threads_per_worker=1, processes=True,
                    dashboard_address=":0",  # any free port: 8787 may be another's
                    # workers log an ERROR with a traceback when the cluster is closed
                    # under them (Ctrl-C); a task's own failure comes back as its result
                    silence_logs=logging.CRITICAL,
                    preload=["phaselab.parallel.worker_setup"])
                self._client = distributed.Client(self._cluster)
            else:
                self._client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT_S)
        except (OSError, TimeoutError) as exc:
            self._close(quietly=True)
            raise UsageError(f"--scheduler {self.address}: no Dask scheduler answered within "
                             f"{CONNECT_TIMEOUT_S:g} s ({type(exc).__name__}); start one "
                             f"with `dask scheduler` and workers with `dask worker "
                             f"{self.address}` (docs/dask.md), or use --scheduler local") from None
        except BaseException:  # Ctrl-C while the cluster starts
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
            self._close(quietly=True)
            raise
        threads = sum(self._client.nthreads().values())
        self.width = max(1, threads)
        return self

    def submit(self, fn, arg):
        return self._client.submit(fn, arg, pure=False)

    def wait_any(self, futures: list) -> set:
        return self._wait(futures, return_when="FIRST_COMPLETED").done

    @staticmethod
    def result(future):
        return future.result()

    def _close(self, quietly: bool = False) -> None:
        """Client, then cluster. `quietly`: on the way out of an error or Ctrl-C, where a
        cluster still starting can fail its own close (Dask asserts on a worker in `init`)
        and that must not hide why we are leaving; its processes end with this one."""
        client, cluster = self._client, self._cluster
        self._client = self._cluster = None
        for thing in (client, cluster):
            if thing is None:
                continue
            try:
                thing.close()
            except Exception:
                if not quietly:
                    raise

    def __exit__(self, kind, exc, tb) -> None:
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            # closing a cluster under way logs each cancelled connection; the user asked
            logging.getLogger("distributed").setLevel(logging.CRITICAL)
        self._close(quietly=kind is not None)


def open_backend(address: str, jobs: int) -> DaskBackend:
    return DaskBackend(address, jobs)
