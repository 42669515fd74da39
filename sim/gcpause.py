"""No cyclic garbage collection while a simulation runs.

A run keeps its trace records (hundreds of thousands in a large run, with lists of query
start times) alive to the end and allocates millions of short-lived containers (events, heap
entries, records). Reference counting frees those; the cyclic collector only re-traverses
the survivors, and at 1,000 workers that cost about a fifth of the run (measured: 1,000 x 10,
10 s + 60 s, bulk: CPU 19.3 s and 19.0 s with the collector at (50,000, 20, 100), 16.0 s and
14.7 s without, the same 656 MB peak RSS: a run makes almost no cyclic garbage). So the
collector is off for the run and comes back as it was afterwards (enabled or not, same
thresholds); anything cyclic a run left behind is collected then in the usual way.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc():
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
