"""A scripted interpreter for one actor generator: tests aim at one behaviour of an actor
(a loop's decision, an order of statements) without a whole simulated run.

    d = Driver(answer)          # answer(effect, driver) -> value, or raise StatementFailed
    result = d.run(generator)   # Now -> d.t, Sleep advances d.t, Note is logged
    d.notes("event_seen"), d.statements("write_run_status")
"""
from __future__ import annotations

from typing import Any, Callable

from protocol.effects import (AwaitNotice, Join, Note, Now, Parallel, Random, Sleep, Spawn,
                              Statement, StatementFailed, Touch)


class Driver:
    def __init__(self, answer: Callable[[Any, "Driver"], Any] | None = None):
        self.t = 0.0
        self.log: list = []  # (t, effect)
        self.answer = answer or (lambda e, d: None)

    def run(self, gen, max_steps: int = 20000):
        value, exc = None, None
        for _ in range(max_steps):
            try:
                eff = gen.throw(exc) if exc is not None else gen.send(value)
            except StopIteration as stop:
                return stop.value
            value, exc = None, None
            self.log.append((self.t, eff))
            if isinstance(eff, Now):
                value = self.t
            elif isinstance(eff, Sleep):
                self.t += eff.seconds
            elif isinstance(eff, AwaitNotice):  # the answer may deliver a Notice
                value = self.answer(eff, self)
                if value is None:
                    self.t += eff.timeout
            elif isinstance(eff, (Note, Touch, Spawn, Join)):
                value = True if isinstance(eff, Join) else None
            elif isinstance(eff, Random):
                value = 0.5
            elif isinstance(eff, Parallel):
                value = tuple(self.answer(e, self) for e in eff.effects)
            else:
                try:
                    value = self.answer(eff, self)
                except StatementFailed as e:
                    exc = e
        raise AssertionError(f"the actor did not finish in {max_steps} effects")

    def notes(self, kind: str) -> list[dict]:
        return [dict(e.fields) for _, e in self.log if isinstance(e, Note) and e.kind == kind]

    def statements(self, op: str | None = None) -> list:
        """Statements in order, those of a Parallel included."""
        flat = [x for _, e in self.log
                for x in (e.effects if isinstance(e, Parallel) else (e,))]
        return [e for e in flat if isinstance(e, Statement) and (op is None or e.op == op)]

    def effects(self) -> list:
        return [e for _, e in self.log if not isinstance(e, (Now, Note))]
