"""The controller sweep's picture: per setting, what the controller found against the truth
(left), and each setting's first run as a trajectory over time (right)."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def _bars(ax, xs, stats, style, label, color=None):
    ys = [s["mean"] if s["mean"] is not None else float("nan") for s in stats]
    err = [[(s["mean"] - s["lo"]) if s["mean"] is not None else 0 for s in stats],
           [(s["hi"] - s["mean"]) if s["mean"] is not None else 0 for s in stats]]
    ax.errorbar(xs, ys, yerr=err, fmt=style, capsize=4, label=label, color=color, markersize=6)


def controller_plot(path: str, title: str, rows: list[dict], runs: dict) -> None:
    fig, (ax, tx) = plt.subplots(1, 2, figsize=(12.5, 4.8), dpi=110)
    xs = list(range(len(rows)))
    mode = rows[0]["mode"] if rows else None
    if mode == "FIND_MAX":
        _bars(ax, xs, [r["best_concurrency"] for r in rows], "o", "found max concurrency "
              "(mean, 95% CI)", "C0")
        knee = [r["knee_concurrency"]["mean"] for r in rows]
        ax.plot(xs, knee, "k_", markersize=30, mew=2, label="true knee (model capacity)")
        ax.set_ylabel("connections")
        ax.set_ylim(bottom=0, top=max([k or 0 for k in knee] + [
            r["best_concurrency"]["hi"] or 0 for r in rows]) * 1.35 + 1)
        ax2 = ax.twinx()
        _bars(ax2, [x + 0.15 for x in xs], [r["converge_s"] for r in rows], "s", "time to "
              "converge, s (right)", "C2")
        ax2.set_ylabel("seconds from step 1 to the finish")
        ax2.set_ylim(bottom=0, top=max(r["converge_s"]["hi"] or 0 for r in rows) * 1.35 + 1)
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper left", ncol=2)
        ax.set_title("FIND_MAX: found maximum vs the model's true capacity", fontsize=9)
    else:
        _bars(ax, xs, [r["error_pct"] for r in rows], "o", "mean |QPS - target| / target, "
              "2nd half (95% CI)", "C3")
        ax.set_ylabel("% of the target")
        ax.set_ylim(bottom=0, top=max(r["error_pct"]["hi"] or 0 for r in rows) * 1.3 + 1)
        ax.legend(fontsize=7, loc="upper left")
        ax.set_title("QPS: error against the target", fontsize=9)
    ax.set_xticks(xs)
    ax.set_xticklabels([r["label"] for r in rows], rotation=20, ha="right", fontsize=8)
    ax.grid(True, alpha=0.3)
    qx = tx.twinx() if mode == "FIND_MAX" else tx
    for i, r in enumerate(rows):  # the first replication of each setting
        traj = (runs.get(r["label"]) or [{}])[0].get("trajectory") or []
        if not traj:
            continue
        ts = [p[0] for p in traj]
        if mode == "FIND_MAX":
            tx.step(ts, [p[1] for p in traj], where="post", color=f"C{i}",
                    label=f"{r['label']}: step target")
            qx.plot(ts, [p[2] for p in traj], ".--", color=f"C{i}", alpha=0.5)
        else:
            tx.plot(ts, [p[2] for p in traj], "o-", color=f"C{i}", markersize=3,
                    label=f"{r['label']}: QPS read")
            tgt = (runs.get(r["label"]) or [{}])[0].get("target_qps")
            if tgt:
                tx.axhline(tgt, color=f"C{i}", ls=":", lw=1)
    tx.set_xlabel("run time, s")
    if mode == "FIND_MAX":
        tx.set_ylabel("step target, connections (solid)")
        qx.set_ylabel("step QPS (dashed); true max QPS (dotted)")
        for i, r in enumerate(rows):  # each setting's own capacity, in its colour
            if r["max_qps"]["mean"]:
                qx.axhline(r["max_qps"]["mean"], color=f"C{i}", ls=":", lw=1)
        qx.set_ylim(bottom=0)
        tx.set_ylim(bottom=0)
    else:
        tx.set_ylabel("QPS read by the controller (target dotted)")
    tx.set_title("first run of each setting", fontsize=9)
    tx.grid(True, alpha=0.3)
    tx.legend(fontsize=7, loc="upper left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
