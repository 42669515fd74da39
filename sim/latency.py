"""Latency distributions per statement kind, drawn from a pluggable random source.

The source is a numpy Generator for runs and sweeps, or Hypothesis draws in tests, so a
failing schedule can shrink. Every distribution also knows an upper bound, which the trace
header passes to checkers as L and Q.
"""
from __future__ import annotations

import math
from functools import partial
from itertools import chain, repeat
from dataclasses import dataclass
from typing import Protocol

import numpy as np


class RandomSource(Protocol):
    def random(self) -> float: ...  # uniform in [0, 1)
    def normal(self) -> float: ...  # standard normal


class NumpySource:
    """The default source: one seeded numpy Generator decides every random choice of a run."""

    def __init__(self, seed: int):
        self.gen = gen = np.random.Generator(np.random.PCG64(seed))
        # Batched draws as Python floats (a scalar call per sample is slow, and so is a
        # float() per draw), served by C-level iterators: `random()` is one `next`. The
        # first batch is drawn now and each next one when the last is used up, so a burst's
        # direct draws from `gen` (sim/bulk.py) interleave with these as they always did.
        batches = chain.from_iterable(map(lambda _: gen.random(4096).tolist(), repeat(None)))
        self.random = partial(next, chain(gen.random(4096).tolist(), batches))

    def normal(self) -> float:
        # Box-Muller from the same stream keeps one sequence of draws per run.
        u1 = max(self.random(), 1e-300)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * self.random())


class Distribution:
    name = ""
    keys: tuple[str, ...] = ()

    def sample(self, src: RandomSource) -> float:
        raise NotImplementedError

    def upper(self) -> float:
        raise NotImplementedError

    def mean(self) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class Fixed(Distribution):
    value: float
    name = "fixed"
    keys = ("value",)

    def sample(self, src):
        return self.value

    def upper(self):
        return self.value

    def mean(self):
        return self.value


@dataclass(frozen=True)
class Uniform(Distribution):
    low: float
    high: float
    name = "uniform"
    keys = ("low", "high")

    def sample(self, src):
        return self.low + (self.high - self.low) * src.random()

    def upper(self):
        return self.high

    def mean(self):
        return (self.low + self.high) / 2


@dataclass(frozen=True)
class TruncNormal(Distribution):
    mean_: float
    sd: float
    low: float
    high: float
    name = "normal"
    keys = ("mean", "sd", "low", "high")

    def sample(self, src):
        for _ in range(64):
            x = self.mean_ + self.sd * src.normal()
            if self.low <= x <= self.high:
                return x
        return min(self.high, max(self.low, self.mean_))

    def upper(self):
        return self.high

    def mean(self):
        return self.mean_


@dataclass(frozen=True)
class LogNormal(Distribution):
    median: float
    sigma: float
    cap: float  # samples are truncated here so a bound exists
    name = "lognormal"
    keys = ("median", "sigma", "cap")

    def sample(self, src):
        return min(self.cap, self.median * math.exp(self.sigma * src.normal()))

    def upper(self):
        return self.cap

    def mean(self):
        if self.sigma ** 2 / 2 > 700:  # e^x past any float: the cap is the better bound
            return self.cap
        return min(self.cap, self.median * math.exp(self.sigma ** 2 / 2))


@dataclass(frozen=True)
class Empirical(Distribution):
    samples: tuple[float, ...]
    name = "empirical"
    keys = ("samples",)

    def sample(self, src):
        return self.samples[min(len(self.samples) - 1, int(src.random() * len(self.samples)))]

    def upper(self):
        return max(self.samples)

    def mean(self):
        return sum(self.samples) / len(self.samples)


class BadDistribution(ValueError):
    pass


def _num(spec: dict, key: str, where: str, minimum: float = 0.0) -> float:
    if key not in spec:
        raise BadDistribution(f"{where}: missing key {key!r}")
    v = spec[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadDistribution(f"{where}.{key}: must be a number, not {v!r}")
    if v < minimum:
        raise BadDistribution(f"{where}.{key}: must be >= {minimum}, not {v!r}")
    return float(v)


def parse(spec: dict, where: str) -> Distribution:
    """A distribution from its scenario table, e.g. {dist = "uniform", low = 0.1, high = 0.2}.

    Errors name `where` (the scenario key) and what is allowed.
    """
    kinds = ("fixed", "uniform", "normal", "lognormal", "empirical")
    if not isinstance(spec, dict) or "dist" not in spec:
        raise BadDistribution(f"{where}: a table with 'dist' = one of {', '.join(kinds)}")
    kind = spec["dist"]
    if not isinstance(kind, str):
        raise BadDistribution(f"{where}.dist: must be one of {', '.join(kinds)}, not {kind!r}")
    allowed = {"fixed": {"value"}, "uniform": {"low", "high"},
               "normal": {"mean", "sd", "low", "high"}, "lognormal": {"median", "sigma", "cap"},
               "empirical": {"samples"}}
    if kind not in allowed:
        raise BadDistribution(f"{where}.dist: unknown distribution {kind!r}; "
                              f"allowed: {', '.join(kinds)}")
    extra = set(spec) - allowed[kind] - {"dist"}
    if extra:
        raise BadDistribution(f"{where}: unknown key(s) {sorted(extra)} for dist {kind!r}; "
                              f"allowed: {sorted(allowed[kind])}")
    if kind == "fixed":
        return Fixed(_num(spec, "value", where))
    if kind == "uniform":
        lo, hi = _num(spec, "low", where), _num(spec, "high", where)
        if hi < lo:
            raise BadDistribution(f"{where}: high ({hi}) must be >= low ({lo})")
        return Uniform(lo, hi)
    if kind == "normal":
        m, sd = _num(spec, "mean", where), _num(spec, "sd", where)
        lo = _num(spec, "low", where) if "low" in spec else 0.0
        hi = _num(spec, "high", where) if "high" in spec else m + 4 * sd
        if not math.isfinite(hi):
            raise BadDistribution(f"{where}: mean + 4 sd overflows; give a finite 'high'")
        if hi < lo:
            raise BadDistribution(f"{where}: high ({hi}) must be >= low ({lo})")
        return TruncNormal(m, sd, lo, hi)
    if kind == "lognormal":
        med, sig = _num(spec, "median", where), _num(spec, "sigma", where)
        if "cap" in spec:
            cap = _num(spec, "cap", where)
        else:  # median·e^(4σ), unless that is past any float: then a cap must be given
            cap = med * math.exp(4 * sig) if 4 * sig < 700 else math.inf
            if not math.isfinite(cap):
                raise BadDistribution(f"{where}: sigma {sig} makes the default cap "
                                      f"(median·e^(4σ)) infinite; give a finite 'cap'")
        if cap < med:
            raise BadDistribution(f"{where}: cap ({cap}) must be >= median ({med})")
        return LogNormal(med, sig, cap)
    samples = spec.get("samples")
    if not isinstance(samples, list) or not samples:
        raise BadDistribution(f"{where}.samples: a non-empty list of seconds")
    vals = tuple(_num({"s": s}, "s", f"{where}.samples") for s in samples)
    return Empirical(vals)


def to_spec(d: Distribution) -> dict:
    """The scenario table for a distribution (used by `calibrate` and reports)."""
    if isinstance(d, Fixed):
        return {"dist": "fixed", "value": d.value}
    if isinstance(d, Uniform):
        return {"dist": "uniform", "low": d.low, "high": d.high}
    if isinstance(d, TruncNormal):
        return {"dist": "normal", "mean": d.mean_, "sd": d.sd, "low": d.low, "high": d.high}
    if isinstance(d, LogNormal):
        return {"dist": "lognormal", "median": d.median, "sigma": d.sigma, "cap": d.cap}
    return {"dist": "empirical", "samples": list(d.samples)}


class LatencyModel:
    """Statement kind -> distribution, with a `default` for kinds not named."""

    def __init__(self, by_op: dict[str, Distribution], default: Distribution):
        self.by_op = dict(by_op)
        self.default = default

    def of(self, op: str) -> Distribution:
        return self.by_op.get(op, self.default)

    def sample(self, op: str, src: RandomSource) -> float:
        return self.by_op.get(op, self.default).sample(src)

    def control_bound(self) -> float:
        skip = {"benchmark", "connect", "setup", "enrich", "proc_start"}
        ops = [d for o, d in self.by_op.items() if o not in skip]
        return max([self.default.upper(), *(d.upper() for d in ops)])
