"""The latency/cost frontier of a sweep: per value of the series setting (e.g. per worker
count), the settings no other setting beats on both detection p95 and cost per run, and one
sentence that says what moving along it buys and costs. Settings that violated a property
are never on it."""
from __future__ import annotations

from phaselab.reports import layout

LATENCY = ("detection_ms", "p95")
COST = ("cost_usd_per_run", "mean")


def _point(row: dict) -> tuple[float, float] | None:
    lat, cost = row[LATENCY[0]][LATENCY[1]], row[COST[0]][COST[1]]
    return None if lat is None or cost is None else (cost, lat)


def frontier(rows: list[dict]) -> list[dict]:
    """The rows not dominated (another clean row at most as costly and at most as slow, and
    better on one), cheapest first."""
    pts = [(r, _point(r)) for r in rows if not r["violations"]]
    pts = [(r, p) for r, p in pts if p is not None]
    out = []
    for r, (c, l) in pts:
        beaten = any(c2 <= c and l2 <= l and (c2 < c or l2 < l) for _, (c2, l2) in pts)
        if not beaten:
            out.append(r)
    return sorted(out, key=lambda r: _point(r))


def by_series(rows: list[dict], ax: layout.Axes) -> dict[str, list[dict]]:
    return {s: frontier([r for r in rows if layout.series_of(r, ax) == s])
            for s in layout.ordered_series(rows, ax)}


def _usd(x: float) -> str:
    return f"${x:,.4f}" if x < 1 else f"${x:,.2f}"


def _rate(x) -> str:
    return "—" if x is None else f"{x:,.0f}"


def sentence(rows: list[dict], front: list[dict], ax: layout.Axes, series: str) -> str:
    """One sentence: who is on the frontier and what the trade-off between its ends is."""
    where = f"At {layout.series_label(ax, series)}" if ax.series else "In this sweep"
    group = [r for r in rows if layout.series_of(r, ax) == series]
    bad = [layout.short(r, ax) for r in group if r["violations"]]
    tail = (f" ({', '.join(bad)} violated a property and {'is' if len(bad) == 1 else 'are'} "
            f"left out)" if bad else "")
    if not front:
        return f"{where} no clean setting has both a latency and a cost{tail}."
    names = ", ".join(layout.short(r, ax) for r in front)
    cheap, fast = front[0], front[-1]
    if len(front) == 1:
        c, l = _point(cheap)
        return (f"{where} {names} is best on both counts (detection p95 {l:,.0f} ms, "
                f"{_usd(c)} per run): no other setting is faster or cheaper{tail}.")
    (c0, l0), (c1, l1) = _point(cheap), _point(fast)
    b0 = cheap["barrier_load_per_s"]["mean"]
    b1 = fast["barrier_load_per_s"]["mean"]
    beaten = [layout.short(r, ax) for r in group if not r["violations"]
              and r not in front and _point(r) is not None]
    also = (f"; {', '.join(beaten)} {'is' if len(beaten) == 1 else 'are'} both slower and "
            f"dearer than a setting on it" if beaten else "")
    return (f"{where} the frontier is {names}: going from {layout.short(cheap, ax)} to "
            f"{layout.short(fast, ax)} cuts detection p95 from {l0:,.0f} to {l1:,.0f} ms and "
            f"takes the barrier load from {_rate(b0)} to {_rate(b1)} statements/s and the "
            f"cost from {_usd(c0)} to {_usd(c1)} per run{also}{tail}.")


def sentences(rows: list[dict], ax: layout.Axes) -> list[dict]:
    """Per series value: the frontier's labels and its sentence."""
    return [{"series": s, "frontier": [r["label"] for r in f],
             "sentence": sentence(rows, f, ax, s)} for s, f in by_series(rows, ax).items()]
