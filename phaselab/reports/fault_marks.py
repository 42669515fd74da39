"""Faults on the run picture (run_plot.py): where a worker process died and when the backend
was stalled, so a killed worker does not look like one that measured to the end."""
from __future__ import annotations

from protocol.trace import Trace

DEATH = ("X", "#b00020")
STALL_COLOR = "#7f7f7f"


def deaths(trace: Trace) -> dict[str, float]:
    """worker -> when its process died unasked: a worker_crash fault, or (live) an exit
    nobody requested with a non-zero code."""
    out: dict[str, float] = {}
    for r in trace.of("fault"):
        if r.get("fault") == "worker_crash" and r.get("worker"):
            out.setdefault(r["worker"], r["t"])
    for r in trace.of("proc"):
        if r.get("action") == "exit" and r.get("requested") is False and r.get("code"):
            out.setdefault(r.get("worker"), r["t"])
    return out


def stalls(trace: Trace) -> list[tuple[float, float]]:
    """(start, end) of each backend stall: live start/end records, or the simulation's
    per-statement stall records (`until`)."""
    spans, start = [], None
    for r in trace.of("fault"):
        if r.get("fault") != "stall":
            continue
        if r.get("action") == "start":
            start = r["t"]
        elif r.get("action") == "end" and start is not None:
            spans.append((start, r["t"]))
            start = None
        elif r.get("action") is None and isinstance(r.get("until"), (int, float)):
            spans.append((r["t"], r["until"]))
    if start is not None:
        spans.append((start, trace.end_t()))
    merged: list[tuple[float, float]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def draw(trace: Trace, axes, rows, shown: list[str]) -> list:
    """Marks deaths on the worker rows and stalls across `axes`; returns legend handles."""
    handles = []
    dead = deaths(trace)
    for i, w in enumerate(shown):
        if w in dead:
            y = len(shown) - 1 - i
            rows.plot([dead[w]], [y + 0.5], DEATH[0], color=DEATH[1], markersize=9,
                      markeredgewidth=2, gid=f"death:{w}")
    if any(w in dead for w in shown):
        handles.append(rows.plot([], [], DEATH[0], color=DEATH[1], label="process died")[0])
    spans = stalls(trace)
    for a, b in spans:
        for ax in axes:
            ax.axvspan(a, b, color=STALL_COLOR, alpha=0.25, hatch="//", linewidth=0,
                       gid="stall" if ax is rows else None)
    if spans:
        from matplotlib.patches import Patch
        handles.append(Patch(facecolor=STALL_COLOR, alpha=0.25, hatch="//",
                             label="backend stalled"))
    return handles
