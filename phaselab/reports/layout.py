"""How a sweep's rows map onto a chart: which setting is the numeric axis (the interval),
which one gives a line per value (e.g. the worker count), and which rows are schemes with no
place on the numeric axis (a --case such as push)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Axes:
    x: str | None  # the numeric setting on the horizontal axis, e.g. status_poll_s
    series: str | None  # the setting with one line per value, e.g. workers


def _num(text) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def infer(rows: list[dict], per: list[str] = ()) -> Axes:
    """x: the first swept setting whose values are all numbers; series: the first --per
    setting, else a second swept setting."""
    keys: list[str] = []
    for r in rows:
        for k in r.get("values", {}):
            if k != "case" and k not in keys:
                keys.append(k)
    series = next((k for k in per if k in keys), None)
    rest = [k for k in keys if k != series and k not in per]
    x = next((k for k in rest if all(_num(r["values"][k]) is not None
                                     for r in rows if k in r["values"])), None)
    if series is None:
        series = next((k for k in rest if k != x), None)
    return Axes(x, series)


def x_of(row: dict, ax: Axes) -> float | None:
    """The row's place on the numeric axis, None for a scheme (a --case)."""
    if ax.x is None or "case" in row["values"]:
        return None
    return _num(row["values"].get(ax.x))


def series_of(row: dict, ax: Axes) -> str:
    return str(row["values"].get(ax.series, "")) if ax.series else ""


def short(row: dict, ax: Axes) -> str:
    """The setting without the series part: '0.05' or 'push'."""
    if "case" in row["values"]:
        return row["values"]["case"]
    if ax.x and ax.x in row["values"]:
        return str(row["values"][ax.x])
    return row["label"]


def series_label(ax: Axes, value: str) -> str:
    if not ax.series:
        return "all runs"
    if ax.series == "workers":
        n = _num(value)
        return f"{n:,.0f} workers" if n is not None and n == int(n) else f"{value} workers"
    return f"{ax.series}={value}"


def ordered_series(rows: list[dict], ax: Axes) -> list[str]:
    vals = []
    for r in rows:
        v = series_of(r, ax)
        if v not in vals:
            vals.append(v)
    return sorted(vals, key=lambda v: (_num(v) is None, _num(v) or 0.0, v))
