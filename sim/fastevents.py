"""A SimPy timeout without SimPy's constructor: the same event, scheduled at the same key.

`env.timeout(d)` goes through BoundClass, Timeout.__init__ (a negative-delay check) and
Environment.schedule; on the hot paths of a large run (every sleep and statement wait) that
call chain costs more than the event itself. `timeouts(env)` returns a function that builds
the identical Timeout object and pushes it on the event queue with the identical
(time, priority, id) key, so the order of events, and with it every trace, does not change.
Callers pass delays >= 0 (they clamp first), as Timeout itself would insist.
"""
from __future__ import annotations

from heapq import heappop, heappush
from typing import Callable

import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, Timeout

_new = object.__new__


def timeouts(env: simpy.Environment) -> Callable[[float], Timeout]:
    queue, eid = env._queue, env._eid  # SimPy's own queue and event-id counter

    def timeout(delay: float) -> Timeout:
        t = _new(Timeout)
        t.env = env
        t.callbacks = []
        t._value = None
        t._delay = delay
        t._ok = True
        heappush(queue, (env._now + delay, NORMAL, next(eid), t))
        return t
    return timeout


def timeouts_at(env: simpy.Environment) -> Callable[[float], Timeout]:
    """Like `timeouts`, for an absolute time `at` >= now (a delay of at - now)."""
    queue, eid = env._queue, env._eid

    def timeout_at(at: float) -> Timeout:
        t = _new(Timeout)
        t.env = env
        t.callbacks = []
        t._value = None
        t._delay = at - env._now
        t._ok = True
        heappush(queue, (at, NORMAL, next(eid), t))
        return t
    return timeout_at


def run_until(env: simpy.Environment, until: simpy.Event) -> None:
    """`env.run(until=until)` with Environment.step inlined: the same events in the same
    order, callbacks and failure rules as SimPy 4's step(), minus a method call per event."""
    if until.callbacks is None:  # already processed
        return
    until.callbacks.append(StopSimulation.callback)
    queue = env._queue
    try:
        while True:
            try:
                env._now, _, _, event = heappop(queue)
            except IndexError:
                raise RuntimeError(f'No scheduled events left but "until" event was not '
                                   f'triggered: {until}') from None
            callbacks, event.callbacks = event.callbacks, None
            for callback in callbacks:
                callback(event)
            if not event._ok and not hasattr(event, "_defused"):
                exc = type(event._value)(*event._value.args)  # as step(): a fresh copy
                exc.__cause__ = event._value
                raise exc
    except StopSimulation:
        return
