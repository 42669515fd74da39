"""One run on one page (`run --plot`, `smoke --plot`), from its trace alone: the
orchestrator's STATUS/PHASE over time; each worker's adopted phase (upper half of its row)
and the QUERY_TAG phase of its queries (lower half), with its start-up markers; and the
benchmark queries per tag over time. Time is seconds since the run started."""
from __future__ import annotations

from protocol.trace import Trace
from phaselab.timeline import phase_writes

MAX_WORKERS = 16  # rows; a bigger run shows its first workers and says so
PHASE_COLORS = {"PREPARING": "#cfcfcf", "WARMUP": "#f6c85f", "MEASUREMENT": "#6f9fd8",
                "RUNNING": "#6f9fd8", "PROCESSING": "#b07aa1", "COMPLETED": "#8cc084",
                "STOPPING": "#e8846b", "FAILED": "#d1495b", "CANCELLED": "#d1495b"}
MARKER_STYLE = {"ready": ("|", "black"), "wait_returned": ("v", "black"),
                "first_query": ("o", "#d1495b"), "first_measurement_query": ("D", "#1f4e8c")}


def _color(name: str | None) -> str:
    return PHASE_COLORS.get(name or "", "#eeeeee")


def _segments(changes: list[tuple[float, str]], end: float) -> list[tuple[float, float, str]]:
    """(t, value) changes -> (start, length, value) until `end`."""
    out = []
    for i, (t, v) in enumerate(changes):
        t1 = changes[i + 1][0] if i + 1 < len(changes) else end
        if t1 > t:
            out.append((t, t1 - t, v))
    return out


def _query_starts(trace: Trace):
    for q in trace.of("query"):
        yield q.get("worker"), q["start"], (q.get("tag") or "").rsplit(":phase=", 1)[-1]
    for b in trace.of("query_batch"):
        tag = (b.get("tag") or "").rsplit(":phase=", 1)[-1]
        for s in b.get("starts") or []:
            yield b.get("worker"), s, tag


def figure(trace: Trace, title: str, violations: list[tuple[str, float]] = ()):
    """violations: (property id, t) to mark as red lines across the worker rows."""
    from matplotlib.figure import Figure  # lazily: only when a plot is asked for
    from matplotlib.patches import Patch

    from phaselab.reports import fault_marks
    end = trace.end_t()
    workers = trace.workers()
    shown = workers[:MAX_WORKERS]
    fig = Figure(figsize=(11, 3.2 + 0.32 * len(shown)), dpi=110, layout="constrained")
    orch, rows, hist = fig.subplots(3, 1, sharex=True, height_ratios=[
        0.8, max(1.5, 0.32 * len(shown)), 1.6])

    writes = phase_writes(trace)
    for t, w, label in _segments([(p["t"], f"{p['status']}/{p['phase'] or '∅'}")
                                  for p in writes], end):
        phase = label.split("/", 1)[1]
        orch.broken_barh([(t, w)], (0, 1), color=_color(phase), gid=f"orchestrator:{label}")
        if w > 0.09 * end:  # short stays keep their colour; their names would overlap
            orch.text(t + w / 2, 0.5, label, ha="center", va="center", fontsize=7,
                      clip_on=True)
    orch.set_yticks([])
    orch.set_ylabel("orchestrator\nwrites", fontsize=8)

    states: dict[str, list] = {}
    for r in trace.of("worker_state"):
        if r.get("phase"):
            lst = states.setdefault(r["worker"], [])
            if not lst or lst[-1][1] != r["phase"]:
                lst.append((r["t"], r["phase"]))
    tags: dict[str, list] = {}
    counts: dict[str, list[float]] = {}
    last: dict[str, float] = {}
    for w, start, tag in sorted(_query_starts(trace), key=lambda x: x[1]):
        counts.setdefault(tag, []).append(start)
        last[w] = start
        lst = tags.setdefault(w, [])
        if not lst or lst[-1][1] != tag:
            lst.append((start, tag))
    marks: dict[str, dict[str, float]] = {}
    for m in trace.of("marker"):
        if m.get("name") in MARKER_STYLE:
            marks.setdefault(m.get("worker"), {}).setdefault(m["name"], m["t"])
    for i, w in enumerate(shown):
        y = len(shown) - 1 - i
        for t, width, ph in _segments(states.get(w, []), end):
            rows.broken_barh([(t, width)], (y + 0.45, 0.45), color=_color(ph),
                             gid=f"adopted:{w}:{ph}")
        for t, width, tag in _segments(tags.get(w, []), last.get(w, end)):
            rows.broken_barh([(t, width)], (y + 0.05, 0.35), color=_color(tag),
                             gid=f"tag:{w}:{tag}")
        for name, t in marks.get(w, {}).items():
            sym, col = MARKER_STYLE[name]
            rows.plot([t], [y + 0.5], sym, color=col, markersize=5, gid=f"marker:{w}:{name}")
    rows.set_yticks([len(shown) - 1 - i + 0.5 for i in range(len(shown))], shown, fontsize=7)
    rows.set_ylim(0, max(1, len(shown)))
    more = f" (first {len(shown)} of {len(workers)})" if len(workers) > len(shown) else ""
    rows.set_ylabel(f"workers{more}\nupper: adopted phase\nlower: its queries' tag",
                    fontsize=8)
    for i, (pid, t) in enumerate(violations):
        for a in (orch, rows, hist):
            a.axvline(t, color="red", linestyle="--", linewidth=1.2,
                      gid=f"violation:{pid}" if a is rows else None)
        rows.text(t, len(shown) - 0.05 - 0.35 * (i % 3), f" {pid}", color="red",
                  fontsize=7, va="top")
    legend = [Patch(color=_color(p), label=p) for p in ("PREPARING", "WARMUP", "MEASUREMENT",
                                                       "PROCESSING", "COMPLETED")]
    legend += [rows.plot([], [], MARKER_STYLE[n][0], color=MARKER_STYLE[n][1],
                         label=n.replace("_", " "))[0] for n in MARKER_STYLE]
    legend += fault_marks.draw(trace, (orch, rows, hist), rows, shown)  # deaths, stalls
    rows.legend(handles=legend, fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    width = 0.5 if end < 120 else max(1.0, round(end / 200))
    bins = [i * width for i in range(int(end / width) + 2)]
    for tag in sorted(counts):
        hist.hist(counts[tag], bins=bins, histtype="step", linewidth=1.5,
                  color="#1f4e8c" if tag == "RUNNING" else "#c98b00", label=f"tag {tag}",
                  gid=f"queries:{tag}")
    if counts:
        hist.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    hist.set_ylabel(f"queries started\nper {width:g} s", fontsize=8)
    hist.set_xlabel("seconds since the run started")
    hist.set_xlim(0, end)
    fig.suptitle(title, fontsize=9)
    return fig


def violation_marks(verdict: dict) -> list[tuple[str, float]]:
    """(property, t of its first record) for each violated property of a report.verdict."""
    out = []
    for g in verdict.get("violated", []):
        ts = [r["t"] for r in g.get("records", []) if isinstance(r, dict)
              and isinstance(r.get("t"), (int, float))]
        if ts:
            out.append((g["property"], min(ts)))
    return out


def write(trace: Trace, title: str, path: str, verdict: dict | None = None) -> None:
    from phaselab.reports.charts import save
    save(figure(trace, title, violation_marks(verdict or {})), path)
