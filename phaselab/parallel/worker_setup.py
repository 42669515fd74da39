"""Loaded by each worker process of a `--scheduler local` cluster as it starts (a Dask
preload): the worker ignores SIGINT, since a terminal's Ctrl-C reaches the whole process
group and the phaselab process that owns the cluster closes it; without this each worker
would also print a KeyboardInterrupt traceback."""
import signal
import threading

if threading.current_thread() is threading.main_thread():
    signal.signal(signal.SIGINT, signal.SIG_IGN)
