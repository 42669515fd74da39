"""sim/fastevents.py must give SimPy's own events in SimPy's own order, and NumpySource's
Python-float buffer the generator's own stream: the simulator's traces depend on both."""
from __future__ import annotations

import numpy as np
import pytest
import simpy

from sim.fastevents import run_until, timeouts
from sim.latency import NumpySource


def _model(env, make_timeout, log):
    def proc(name, delays):
        for d in delays:
            yield make_timeout(d)
            log.append((env.now, name))
    for i, delays in enumerate([(0.5, 0.0, 1.0), (0.5, 0.5), (0.0, 1.5, 0.0), (1.0,)]):
        env.process(proc(f"p{i}", delays))  # equal times: order by event id, as in SimPy


def test_fast_timeouts_fire_in_the_order_simpy_timeouts_do():
    logs = []
    for fast in (False, True):
        env, log = simpy.Environment(), []
        _model(env, timeouts(env) if fast else env.timeout, log)
        env.run()
        logs.append(log)
    assert logs[0] == logs[1]
    assert len(logs[0]) == 9


def test_run_until_stops_where_env_run_stops():
    results = []
    for fast in (False, True):
        env, log = simpy.Environment(), []
        _model(env, env.timeout, log)
        stop = env.timeout(1.0)
        if fast:
            run_until(env, stop)
        else:
            env.run(until=stop)
        results.append((env.now, list(log)))
    assert results[0] == results[1]
    assert results[0][0] == 1.0


def test_run_until_raises_a_process_failure_like_env_run():
    env = simpy.Environment()

    def bad():
        yield env.timeout(1)
        raise ValueError("boom")
    env.process(bad())
    with pytest.raises(ValueError, match="boom"):
        run_until(env, env.timeout(5))


def test_run_until_with_an_empty_queue_says_so():
    env = simpy.Environment()
    with pytest.raises(RuntimeError, match="No scheduled events left"):
        run_until(env, env.event())


def test_numpy_source_draws_the_generators_stream_in_order():
    src = NumpySource(7)
    got = [src.random() for _ in range(10_000)]  # crosses two buffer refills
    want = np.random.Generator(np.random.PCG64(7)).random(10_000).tolist()
    assert got == want
    assert all(type(x) is float for x in got[:5])


def test_numpy_source_batches_interleave_with_direct_draws_as_they_always_did():
    """sim/bulk.py draws from `src.gen` directly: the first batch of 4,096 is drawn when the
    source is made, each next one when the last is used up, so a direct draw lands between
    batches exactly there."""
    src = NumpySource(3)
    early = src.gen.random(2).tolist()  # before any draw of the source's own
    head = [src.random() for _ in range(10)]
    direct = src.gen.random(5).tolist()
    rest = [src.random() for _ in range(4_096)]  # the first batch's rest, then the second
    ref = np.random.Generator(np.random.PCG64(3))
    first = ref.random(4_096).tolist()
    assert early == ref.random(2).tolist() and direct == ref.random(5).tolist()
    assert head == first[:10] and rest == first[10:] + ref.random(10).tolist()
