"""Random sources whose choices Hypothesis makes, so a failing schedule shrinks.

A simulated run asks its RandomSource for thousands of uniforms (statement latencies,
same-instant tie-breaks, start-up jitter). Hypothesis cannot afford one draw per uniform (its
examples hold about 8 KB), so the schedule is a *tape*: bytes drawn from Hypothesis in chunks,
one byte per uniform (k/256). Shrinking a tape byte moves it toward 0, which is the shortest
latency of its range and the first tie-break. When the tape is used up, a numpy tail seeded by
one more Hypothesis draw takes over; the tape covers start-up and the first phase changes,
where the coordination races are.

`TapeSource` replays a recorded tape byte for byte, so a counterexample Hypothesis found is
reproduced exactly by `phaselab run --replay` without Hypothesis.
"""
from __future__ import annotations

import base64
import math
import zlib

from sim.latency import NumpySource

CHUNK = 256  # bytes drawn from Hypothesis at a time (one choice each)
TAPE_LIMIT = 2048  # bytes of tape before the numpy tail takes over
# (Hypothesis examples hold about 8 KB of choices; the scenario takes a few dozen bytes.)


class TapeSource:
    """Uniforms from a byte tape, then from a seeded numpy tail; replayable exactly."""

    def __init__(self, tape: bytes = b"", tail_seed: int = 0, limit: int = TAPE_LIMIT):
        self.tape = bytearray(tape)
        self.tail_seed = tail_seed
        self.limit = limit
        self.pos = 0
        self.tail: NumpySource | None = None

    def random(self) -> float:
        if self.pos < len(self.tape):
            b = self.tape[self.pos]
            self.pos += 1
            return b / 256.0
        if self.tail is None:
            self.tail = NumpySource(self.tail_seed)
        return self.tail.random()

    def normal(self) -> float:
        # Box-Muller with u1 = 1 - u: a zero byte gives 0, the distribution's centre.
        u1 = max(1.0 - self.random(), 1e-300)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * self.random())

    def record(self) -> dict:
        """The schedule as a small JSON-able dict (the tape actually used, compressed)."""
        used = bytes(self.tape[:self.pos])
        return {"tape": base64.b64encode(zlib.compress(used, 9)).decode("ascii"),
                "tape_bytes": len(used), "tail_seed": self.tail_seed, "limit": self.limit}

    @classmethod
    def from_record(cls, rec: dict) -> "TapeSource":
        tape = zlib.decompress(base64.b64decode(rec["tape"]))
        return cls(tape, int(rec.get("tail_seed", 0)), int(rec.get("limit", TAPE_LIMIT)))


class HypothesisSource(TapeSource):
    """A TapeSource whose tape Hypothesis draws (inside a test, from `st.data()`).

    The whole tape is drawn up front, in fixed-size chunks, before the simulation starts:
    a draw inside a SimPy process could overrun Hypothesis's budget where Hypothesis cannot
    see it."""

    def __init__(self, data, limit: int = TAPE_LIMIT, chunk: int = CHUNK):
        from hypothesis import strategies as st
        seed = data.draw(st.integers(0, 2 ** 16), label="tail_seed")
        tape = b"".join(data.draw(st.binary(min_size=chunk, max_size=chunk), label="tape")
                        for _ in range(max(1, limit // chunk)))
        super().__init__(tape, seed, len(tape))
