"""Percentiles with bootstrap 95% intervals for a sweep's figures.

Samples come in groups, one per replication (a run's workers share its schedule, so they
are not independent); the bootstrap resamples whole replications and pools their samples,
then takes the percentile: a percentile interval of the cluster bootstrap.
"""
from __future__ import annotations

import numpy as np

from phaselab.percentiles import row_nanpercentile

QUANTILES = {"p50": 50.0, "p95": 95.0, "p99": 99.0, "max": 100.0}
BOOTSTRAP = 1000


def _pad(groups: list) -> np.ndarray:
    """Groups as rows of a NaN-padded matrix."""
    width = max(len(g) for g in groups)
    m = np.full((len(groups), width), np.nan)
    for i, g in enumerate(groups):
        m[i, :len(g)] = g
    return m


def summarize(groups: list, rng: np.random.Generator, boot: int = BOOTSTRAP) -> dict:
    """p50/p95/p99/max of the pooled samples, each with a bootstrap 95% interval (`_lo`,
    `_hi`), plus `n` (samples) and `mean`. Missing values (None) are dropped; with no sample
    every figure is None."""
    groups = [np.asarray([x for x in g if x is not None], dtype=float) for g in groups]
    groups = [g for g in groups if len(g)]
    out: dict = {"n": int(sum(len(g) for g in groups))}
    if not groups:
        out["mean"] = None
        for k in QUANTILES:
            out[k] = out[f"{k}_lo"] = out[f"{k}_hi"] = None
        return out
    pooled = np.concatenate(groups)
    out["mean"] = float(pooled.mean())
    qs = np.array(list(QUANTILES.values()))
    point = np.percentile(pooled, qs)
    m = _pad(groups)
    idx = rng.integers(0, len(groups), size=(boot, len(groups)))
    resampled = m[idx].reshape(boot, -1)
    reps = row_nanpercentile(resampled, qs)  # (len(qs), boot), as np.nanpercentile(axis=1)
    lo, hi = np.percentile(reps, [2.5, 97.5], axis=1)
    for i, k in enumerate(QUANTILES):
        out[k], out[f"{k}_lo"], out[f"{k}_hi"] = float(point[i]), float(lo[i]), float(hi[i])
    return out


def mean_of(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None
