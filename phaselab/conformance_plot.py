"""The conformance picture: each measure's simulated range and the upstream's values, as
ratios to the simulation's median, so measures in seconds, milliseconds and rates share one
axis and a reader sees at once which lie outside and by how much."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401


def conformance_plot(path: str, title: str, rows: list[dict]) -> None:
    rows = [r for r in rows if r["sim_median"] not in (None, 0) and r["sim_range"]]
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * len(rows) + 1.6), dpi=110)
    for i, r in enumerate(reversed(rows)):
        med = r["sim_median"]
        lo, hi = r["sim_range"][0] / med, r["sim_range"][1] / med
        color = "tab:red" if r["differs"] else "tab:gray"
        ax.plot([lo, hi], [i, i], color="0.75", linewidth=7, solid_capstyle="butt",
                label="simulation range over its seeds" if i == 0 else None)
        ax.plot([1.0], [i], "|", color="0.3", markersize=12,
                label="simulation median" if i == 0 else None)
        ups = [u / med for u in r["upstream"] if u is not None]
        ax.plot(ups, [i] * len(ups), "D", color=color, markersize=6,
                label="upstream run" if i == 0 else None)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["measure"] + ("  ◀ differs" if r["differs"] else "")
                        for r in reversed(rows)], fontsize=8)
    for lab, r in zip(ax.get_yticklabels(), reversed(rows)):
        lab.set_color("tab:red" if r["differs"] else "black")
    ax.set_xscale("log")
    ticks = [t for t in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)
             if ax.get_xlim()[0] <= t <= ax.get_xlim()[1]]
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}x" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.axvline(1.0, color="0.85", linewidth=0.8, zorder=0)
    ax.set_xlabel("value / simulation median (log scale)")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09 - 0.6 / len(rows)), ncol=3,
              fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path)
    plt.close(fig)
