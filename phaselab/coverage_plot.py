"""The coverage picture of an explore run: per group, how many items were reached, are
unreachable (with a reason in the report) or were missed, so a reader sees at a glance
where the search did not go. Matplotlib's Agg backend, like the sweep plot."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLOURS = {"reached": "#2e7d32", "missed": "#c62828", "unreachable": "#b0bec5"}


def coverage_plot(path: str, title: str, report: dict) -> None:
    """Write a horizontal stacked bar per coverage group to `path` (PNG)."""
    groups = list(report)
    counts = {k: [len(report[g][k]) for g in groups] for k in COLOURS}
    counts["reached"] = [len([r for r in report[g]["reached"]]) for g in groups]
    fig, ax = plt.subplots(figsize=(8.5, 0.55 * len(groups) + 1.8), dpi=110)
    left = [0] * len(groups)
    for k, colour in COLOURS.items():
        label = {"reached": "reached", "missed": "never reached (reachable)",
                 "unreachable": "never reached (unreachable, reason given)"}[k]
        ax.barh(groups, counts[k], left=left, color=colour, label=label)
        for i, n in enumerate(counts[k]):
            if n:
                ax.text(left[i] + n / 2, i, str(n), ha="center", va="center", fontsize=8,
                        color="white" if k != "unreachable" else "black")
        left = [a + b for a, b in zip(left, counts[k])]
    ax.invert_yaxis()
    ax.set_xlabel("coverage items")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=3, fontsize=8,
              frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
