"""The sweep's pictures, each built as a matplotlib Figure (no pyplot state) so that tests
can read its data back, and written atomically as PNG:

- latency against cost per run, with the frontier joined (which setting to pick);
- detection latency against the interval on a log axis, one line per series value, schemes
  (push...) in their own panel (what the interval buys);
- barrier load against the worker count, one line per setting (what it costs at scale).

A setting that violated a property is ringed in red in every chart (gid 'violated')."""
from __future__ import annotations

import os

from phaselab.reports import frontier as fr, layout

VIOLATED = dict(marker="o", markersize=13, markerfacecolor="none", markeredgecolor="red",
                markeredgewidth=1.8, linestyle="none", label="violated a property",
                gid="violated", zorder=5)


def _figure(w: float, h: float):
    from matplotlib.figure import Figure  # lazily: matplotlib takes ~1 s to import
    return Figure(figsize=(w, h), dpi=110, layout="constrained")


def _colors(n: int):
    from matplotlib import colormaps
    cmap = colormaps["tab10"]
    return [cmap(i % 10) for i in range(n)]


def _v(row: dict, fig: str, q: str):
    return row[fig][q]


def _mark_violated(ax, pts: list[tuple[float, float]]) -> None:
    if pts:
        ax.plot([p[0] for p in pts], [p[1] for p in pts], **VIOLATED)


def latency_cost(rows: list[dict], ax_: layout.Axes, title: str):
    """Detection p95 (y) against cost per run (x), one panel per series value (the worker
    count: its runs may be shorter, so costs compare within a panel), the frontier joined."""
    series = layout.ordered_series(rows, ax_)
    fig = _figure(max(6.0, 3.6 * len(series)), 4.8)
    panels = fig.subplots(1, len(series), sharey=True, squeeze=False)[0]
    for ax, color, s in zip(panels, _colors(len(series)), series):
        group = [r for r in rows if layout.series_of(r, ax_) == s]
        pts = [(r, r["cost_usd_per_run"]["mean"], r["detection_ms"]["p95"]) for r in group]
        pts = [p for p in pts if p[1] is not None and p[2] is not None]
        for marker, scheme in (("o", False), ("*", True)):
            sel = [p for p in pts if (layout.x_of(p[0], ax_) is None) == scheme]
            if sel:
                ax.plot([p[1] for p in sel], [p[2] for p in sel], marker, color=color,
                        markersize=11 if scheme else 6, linestyle="none",
                        gid=f"points:{s}:{'scheme' if scheme else 'interval'}")
        front = fr.frontier(group)
        if front:
            ax.plot([r["cost_usd_per_run"]["mean"] for r in front],
                    [r["detection_ms"]["p95"] for r in front], "-", color=color, alpha=0.7,
                    gid=f"frontier:{s}", label="frontier")
        on = {id(r) for r in front}
        for r, x, y in pts:
            ax.annotate(layout.short(r, ax_), (x, y), textcoords="offset points",
                        xytext=(5, 4), fontsize=8, color=color,
                        fontweight="bold" if id(r) in on else "normal")
        _mark_violated(ax, [(x, y) for r, x, y in pts if r["violations"]])
        ax.set_title(layout.series_label(ax_, s), fontsize=9)
        ax.set_xlabel("cost per run, USD")
        ax.grid(True, alpha=0.25)
        ax.margins(x=0.25, y=0.08)
        ax.ticklabel_format(axis="x", style="plain", useOffset=False)
    panels[0].set_ylabel("detection latency p95, ms")
    handles = [panels[0].plot([], [], "o", color="gray", label="poll interval, s")[0],
               panels[0].plot([], [], "*", color="gray", markersize=11,
                              label="other scheme")[0],
               panels[0].plot([], [], "-", color="gray", label="frontier (bold labels)")[0]]
    if any(r["violations"] for r in rows):
        handles.append(panels[0].plot([], [], **{**VIOLATED, "gid": None})[0])
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), fontsize=8)
    fig.suptitle(title + "\nlatency against control-plane cost ([cost] table): lower left "
                 "is better; costs compare within a panel", fontsize=9)
    return fig


def latency_interval(rows: list[dict], ax_: layout.Axes, title: str):
    """Detection p50 and p95 (95% CI bars) against the interval on a log axis, one line per
    series value; the schemes in a narrow panel on the right, same y axis."""
    schemes = []
    for r in rows:
        if layout.x_of(r, ax_) is None and layout.short(r, ax_) not in schemes:
            schemes.append(layout.short(r, ax_))
    fig = _figure(9.0, 5.0)
    grid = fig.add_gridspec(1, 2, width_ratios=[5, max(1, len(schemes))] if schemes else [5, 0.01])
    ax = fig.add_subplot(grid[0])
    side = fig.add_subplot(grid[1], sharey=ax)
    series = layout.ordered_series(rows, ax_)
    bad_main, bad_side = [], []
    for color, s in zip(_colors(len(series)), series):
        group = [r for r in rows if layout.series_of(r, ax_) == s]
        line = sorted((layout.x_of(r, ax_), r) for r in group if layout.x_of(r, ax_) is not None)
        name = layout.series_label(ax_, s)
        for q, style in (("p95", "-"), ("p50", ":")):
            pts = [(x, r) for x, r in line if r["detection_ms"][q] is not None]
            if not pts:
                continue
            ys = [r["detection_ms"][q] for _, r in pts]
            err = [[y - r["detection_ms"][f"{q}_lo"] for y, (_, r) in zip(ys, pts)],
                   [r["detection_ms"][f"{q}_hi"] - y for y, (_, r) in zip(ys, pts)]]
            ax.errorbar([x for x, _ in pts], ys, yerr=err, fmt="o" + style, color=color,
                        capsize=3, markersize=4, label=f"{name} {q}", gid=f"line:{s}:{q}")
        bad_main += [(x, r["detection_ms"]["p95"]) for x, r in line if r["violations"]
                     and r["detection_ms"]["p95"] is not None]
        for r in group:
            if layout.x_of(r, ax_) is None and r["detection_ms"]["p95"] is not None:
                i = schemes.index(layout.short(r, ax_))
                off = (series.index(s) - (len(series) - 1) / 2) * 0.12
                side.errorbar([i + off], [r["detection_ms"]["p95"]],
                              yerr=[[r["detection_ms"]["p95"] - r["detection_ms"]["p95_lo"]],
                                    [r["detection_ms"]["p95_hi"] - r["detection_ms"]["p95"]]],
                              fmt="*", color=color, markersize=10, capsize=3,
                              gid=f"scheme:{layout.short(r, ax_)}:{s}")
                if r["violations"]:
                    bad_side.append((i + off, r["detection_ms"]["p95"]))
    _mark_violated(ax, bad_main)
    _mark_violated(side, bad_side)
    ax.set_xscale("log")
    xs = sorted({layout.x_of(r, ax_) for r in rows if layout.x_of(r, ax_) is not None})
    if xs:
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
        ax.minorticks_off()
    ax.set_xlabel(f"{ax_.x or 'setting'} (s, log scale)")
    ax.set_ylabel("detection latency, ms (RUNNING write to wait-loop exit)")
    ax.grid(True, alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", title="p95 solid, p50 dotted; bars: 95% CI",
              title_fontsize=7)
    side.set_xticks(range(len(schemes)), schemes)
    side.set_xlim(-0.6, len(schemes) - 0.4 if schemes else 0.6)
    side.tick_params(labelleft=False)
    side.set_title("schemes\n(p95)", fontsize=8)
    side.grid(True, axis="y", alpha=0.25)
    fig.suptitle(title + "\nwhat the wait-loop interval buys: detection latency against it "
                 "(schemes without an interval on the right)", fontsize=9)
    return fig


def barrier_load(rows: list[dict], ax_: layout.Axes, title: str):
    """Control statements per second while all workers wait at the start barrier, against the
    worker count (both log), one line per setting; the per-worker rate is in the tables."""
    fig = _figure(8.0, 5.0)
    ax = fig.add_subplot()
    names = []
    for r in rows:
        if layout.short(r, ax_) not in names:
            names.append(layout.short(r, ax_))
    from matplotlib import colormaps
    numeric = [n for n in names if layout._num(n) is not None]
    cmap = colormaps["viridis"]
    bad = []
    for n in names:
        pts = []
        for r in rows:
            y = r["barrier_load_per_s"]["mean"]
            if layout.short(r, ax_) == n and y is not None and r.get("workers"):
                pts.append((r["workers"], y, r))
        pts.sort(key=lambda p: p[0])
        if not pts:
            continue
        if n in numeric:
            color = cmap(numeric.index(n) / max(1, len(numeric) - 1) * 0.9)
            style, label = "o-", f"poll every {n} s"
        else:
            color, style, label = "black", "*--", n
        ax.plot([p[0] for p in pts], [p[1] for p in pts], style, color=color, label=label,
                markersize=9 if "*" in style else 5, gid=f"barrier:{n}")
        ax.annotate(f"{pts[-1][1]:,.0f}/s", (pts[-1][0], pts[-1][1]), textcoords="offset points",
                    xytext=(-48, 6) if "*" in style else (6, -7), fontsize=7, color=color)
        bad += [(p[0], p[1]) for p in pts if p[2]["violations"]]
    _mark_violated(ax, bad)
    ax.set_xscale("log")
    ax.set_yscale("log")
    sizes = sorted({r["workers"] for r in rows if r.get("workers")})
    if sizes:
        ax.set_xticks(sizes, [f"{w:,}" for w in sizes])
        ax.set_xlim(sizes[0] / 1.5, sizes[-1] * 2.2)  # room for the labels at the right
    ax.set_xlabel("workers waiting at the start barrier (log scale)")
    ax.set_ylabel("control statements per second, all workers waiting (log)")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(title + "\nwhat the wait loop puts on the control warehouse while workers wait",
                 fontsize=9)
    return fig


def save(fig, path: str) -> None:
    """PNG via a temp file in the same folder, renamed over `path` (never half-written)."""
    from phaselab.files import write_via_temp
    write_via_temp(path, lambda tmp: fig.savefig(tmp, format="png"), suffix=".png")


CHARTS = {"latency_cost.png": latency_cost, "latency_interval.png": latency_interval,
          "barrier_load.png": barrier_load}


def write_all(folder: str, rows: list[dict], ax_: layout.Axes, title: str) -> dict[str, str]:
    """Every chart into `folder`; returns name -> path."""
    out = {}
    for name, build in CHARTS.items():
        path = os.path.join(folder, name)
        save(build(rows, ax_, title), path)
        out[name] = path
    return out
