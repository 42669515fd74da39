"""The sweep plot: latency percentiles against the swept setting, control-plane load on a
second axis. Matplotlib's Agg backend: no display needed, same bytes on every machine."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

SERIES = (  # figure, percentile, style, label
    ("detection_ms", "p50", "o-", "detection p50"),
    ("detection_ms", "p95", "o--", "detection p95"),
    ("detection_ms", "p99", "o:", "detection p99"),
    ("start_ms", "p50", "s-", "first query p50"),
    ("start_ms", "p95", "s--", "first query p95"),
    ("tag_ms", "p50", "^-", "all tagged p50"),
)


def sweep_plot(path: str, title: str, rows: list[dict]) -> None:
    """Write the PNG to `path` (the caller makes it atomic)."""
    xs = list(range(len(rows)))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(rows) + 3), 4.8), dpi=110)
    for fig_name, q, style, label in SERIES:
        ys = [r[fig_name][q] for r in rows]
        if all(y is None for y in ys):
            continue
        lo = [r[fig_name][f"{q}_lo"] for r in rows]
        hi = [r[fig_name][f"{q}_hi"] for r in rows]
        err = [[(y - a) if None not in (y, a) else 0 for y, a in zip(ys, lo)],
               [(b - y) if None not in (y, b) else 0 for y, b in zip(ys, hi)]]
        ys = [float("nan") if y is None else y for y in ys]
        ax.errorbar(xs, ys, yerr=err, fmt=style, capsize=3, label=label, markersize=4)
    ax.set_ylabel("ms after the orchestrator's write (95% CI bars)")
    ax.set_xticks(xs)
    ax.set_xticklabels([r["label"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.grid(True, alpha=0.3)
    ax2 = ax.twinx()
    load = [r["load_per_s"]["mean"] or 0.0 for r in rows]
    ax2.bar(xs, load, width=0.5, alpha=0.15, color="gray", label="control statements/s")
    waiting = [r["wait_load_per_worker_per_s"]["mean"] for r in rows]
    if any(v is not None for v in waiting):
        ax2.plot(xs, [float("nan") if v is None else v for v in waiting], "x--", color="gray",
                 label="statements/s per waiting worker")
    ax2.set_ylabel("control-table statements per second (mean)")
    ax.set_zorder(ax2.get_zorder() + 1)
    ax.patch.set_visible(False)
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
