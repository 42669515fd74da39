"""Fewer garbage-collector passes while a simulation runs.

A run keeps its trace records (hundreds of thousands in a large run, with lists of query
start times) alive to the end. With Python's default thresholds every 700 allocations start a
young-generation pass and every few of those rescan older containers, so the collector's
cost grows with the trace. Raising the first threshold while the run is going keeps the
collector's work proportional to real garbage; the old thresholds come back afterwards.
"""
from __future__ import annotations

import gc
from contextlib import contextmanager

RUN_THRESHOLD = (50_000, 20, 100)


@contextmanager
def fewer_collections():
    old = gc.get_threshold()
    gc.set_threshold(*RUN_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*old)
