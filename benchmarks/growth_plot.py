"""The growth curve: wall time of one simulated run against workers x connections, log-log,
with a line of slope 1 through the smallest run, so "grows no faster than linearly" reads as
"the points stay on or under the line"."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(points: list[dict], large: dict | None, path: str, note: str = "") -> None:
    """`points`: large_run.py results at one connection count, workers growing; `large`: the
    100 x 100 run, drawn apart (same workers x connections as 1,000 x 10, other shape)."""
    xs = [p["workers"] * p["connections"] for p in points]
    ys = [p["wall_s"] for p in points]
    fig, ax = plt.subplots(figsize=(7, 4.6), dpi=110)
    ref = [ys[0] * x / xs[0] for x in (xs[0], xs[-1])]
    ax.plot((xs[0], xs[-1]), ref, "--", color="grey", label="linear (slope 1) from the smallest run")
    conns = points[0]["connections"]
    ax.plot(xs, ys, "o-", color="tab:blue", label=f"workers x {conns} connections")
    for p, x, y in zip(points, xs, ys):
        ax.annotate(f"{p['workers']:,} workers: {y:.2f} s\n"
                    f"({p['sim_time_s'] / p['wall_s']:.0f}x real time)", (x, y),
                    textcoords="offset points", xytext=(8, -16), ha="left", fontsize=8)
    if large is not None:
        lx, ly = large["workers"] * large["connections"], large["wall_s"]
        ax.plot([lx], [ly], "s", color="tab:orange", label="100 workers x 100 connections")
        ax.annotate(f"{ly:.2f} s ({large['sim_time_s'] / ly:.0f}x)", (lx, ly),
                    textcoords="offset points", xytext=(8, -16), ha="left", fontsize=8,
                    color="tab:orange")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("workers x connections (10 s warmup + 60 s measurement, bulk queries)")
    ax.set_ylabel("wall time of one run (s)")
    ax.set_title("Simulator cost against run size: points under the dashed line grow "
                 "slower than linearly" + (f"\n{note}" if note else ""), fontsize=9)
    ax.set_xlim(xs[0] / 1.6, xs[-1] * 4)
    tops = ys + ([large["wall_s"]] if large is not None else [])
    ax.set_ylim(min(tops) / 3, max(tops) * 2)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
