"""Pass/fail criteria on a run's or a sweep's figures, like k6's thresholds:
`--threshold 'detection_ms.p95<500'`. A failed threshold makes the command exit 99 (k6's
code for failed thresholds) unless a property was violated (1) or the input was bad (2).
A figure with no data fails its threshold as "not judged": a gate must not pass on silence."""
from __future__ import annotations

import operator
import re
from dataclasses import dataclass

import numpy as np

from phaselab.errors import UsageError

EXIT_FAILED = 99
OPS = {"<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
       "<": operator.lt, ">": operator.gt}
STATS = ("mean", "p50", "p95", "p99", "max", "n")
# The figures one run has (phaselab.metrics); a sweep has them all, summarised over its runs.
FIGURES = ("detection_ms", "start_ms", "skew_ms", "tag_ms", "mistagged", "load_per_s",
           "load_per_worker_per_s", "wait_load_per_worker_per_s", "barrier_load_per_s",
           "barrier_load_per_worker_per_s", "steady_load_per_s", "cost_usd_per_hour",
           "cost_usd_per_run", "ready_gap_ms")
_RE = re.compile(r"^\s*([a-z_]+)\.([a-z0-9]+)\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+(?:e-?\d+)?)\s*$")


@dataclass(frozen=True)
class Threshold:
    text: str
    figure: str
    stat: str
    op: str
    limit: float

    def holds(self, value) -> bool | None:
        return None if value is None else bool(OPS[self.op](value, self.limit))


def parse(text: str) -> Threshold:
    """'figure.stat OP number'; errors name the argument and what is allowed."""
    m = _RE.match(text)
    example = "e.g. --threshold 'detection_ms.p95<500'"
    if not m:
        raise UsageError(f"--threshold {text!r}: expected FIGURE.STAT OP NUMBER with OP one of "
                         f"{', '.join(OPS)}, {example}")
    fig, stat, op, num = m.groups()
    if fig not in FIGURES:
        raise UsageError(f"--threshold {text!r}: unknown figure {fig!r}; allowed: "
                         f"{', '.join(FIGURES)}")
    if stat not in STATS:
        raise UsageError(f"--threshold {text!r}: unknown statistic {stat!r}; allowed: "
                         f"{', '.join(STATS)}")
    try:
        limit = float(num)
    except ValueError:
        raise UsageError(f"--threshold {text!r}: {num!r} is not a number, {example}") from None
    return Threshold(text.strip(), fig, stat, op, limit)


def parse_all(texts: list[str]) -> list[Threshold]:
    return [parse(t) for t in texts or []]


def run_summary(m: dict) -> dict:
    """One run's figures as {figure: {stat: value}} (percentiles over its workers)."""
    out = {}
    for fig in FIGURES:
        v = m.get(fig)
        vals = [x for x in (v if isinstance(v, list) else [v]) if x is not None]
        if not vals:
            out[fig] = {s: None for s in STATS} | {"n": 0}
            continue
        a = np.asarray(vals, dtype=float)
        p50, p95, p99 = np.percentile(a, [50, 95, 99])
        out[fig] = {"mean": float(a.mean()), "p50": float(p50), "p95": float(p95),
                    "p99": float(p99), "max": float(a.max()), "n": len(vals)}
    return out


def evaluate(thresholds: list[Threshold], summaries: list[tuple[str, dict]]) -> list[dict]:
    """Each threshold on each (where, {figure: {stat: value}}): one result row each."""
    out = []
    for th in thresholds:
        for where, summ in summaries:
            value = (summ.get(th.figure) or {}).get(th.stat)
            ok = th.holds(value)
            out.append({"threshold": th.text, "where": where, "value": value,
                        "ok": bool(ok), "judged": ok is not None})
    return out


def failed(results: list[dict]) -> bool:
    return any(not r["ok"] for r in results)


def lines(results: list[dict]) -> list[str]:
    """Terminal lines, k6-style: ✓ or ✗, the threshold, where, the value."""
    out = []
    for r in results:
        mark = "✓" if r["ok"] else "✗"
        val = "no data (not judged)" if not r["judged"] else f"{r['value']:,.4g}"
        where = f" [{r['where']}]" if r["where"] else ""
        out.append(f"{mark} {r['threshold']}{where}: {val}")
    return out


def exit_code(base: int, results: list[dict]) -> int:
    """The command's exit: its own (violations, bad input, interrupt) first, else 99 when a
    threshold failed."""
    return base if base != 0 else (EXIT_FAILED if failed(results) else 0)
