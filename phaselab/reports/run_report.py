"""What `run`, `smoke` (and `check`) add after their verdict: the `--plot` timeline, the
`--html` report and the `--threshold` checks, in one place so that the commands stay small.

    extras = run_report.add_options(parser)          # in add_arguments
    out = run_report.finish(args, trace, title, summary, verdict)   # after the verdict
    out["lines"]: what to print; out["json"]: what to add to --json; exit via out["exit"](code)
"""
from __future__ import annotations

import os
import tempfile

from phaselab import metrics, thresholds as th
from phaselab.errors import UsageError
from phaselab.timeline import MARKERS


def add_options(p) -> None:
    p.add_argument("--plot", metavar="PNG", help="draw the run's timeline (phases, adopted "
                   "phase and tag per worker, queries per tag, start-up markers) into this PNG")
    p.add_argument("--html", metavar="FILE", help="one self-contained HTML report of the run "
                   "(tables and the timeline picture), viewable offline")
    p.add_argument("--threshold", action="append", default=[], metavar="'FIGURE.STAT<N'",
                   help="a pass/fail criterion, e.g. 'detection_ms.p95<500' (percentiles over "
                        f"the workers); exit {th.EXIT_FAILED} when one fails")


def check_options(args) -> list:
    """Before anything runs: thresholds parse, output folders exist (exit 2 otherwise)."""
    for flag in ("plot", "html"):
        path = getattr(args, flag, None)
        if path and not os.path.isdir(os.path.dirname(os.path.abspath(path))):
            raise UsageError(f"--{flag} {path}: the folder does not exist")
    return th.parse_all(getattr(args, "threshold", []))


def _rows_timeline(summary: dict) -> tuple[list, list]:
    adopted = summary["adopted"]
    workers = sorted(adopted)
    head = ["STATUS / PHASE written", "at s"] + [f"{w} adopts" for w in workers]
    rows, shown = [], set()
    for p in summary["phases"]:
        new = p["phase"] not in shown
        shown.add(p["phase"])
        rows.append([f"{p['status']} / {p['phase'] or '∅'}", f"{p['t']:.3f}"]
                    + [f"{adopted[w][p['phase']]:.3f}" if new and p["phase"] in adopted.get(w, {})
                       else "" for w in workers])
    return head, rows


def html_blocks(summary: dict, verdict: dict, figures: dict, plot: str | None,
                checks: list[str], footer: list[str]) -> list[tuple]:
    from phaselab import catalogue
    blocks: list[tuple] = []
    if verdict["ok"]:
        blocks.append(("answer", "Verdict: no property violated"))
    else:
        n = len(verdict["violated"])
        blocks.append(("answer", f"Verdict: {n} propert{'y' if n == 1 else 'ies'} violated"))
        blocks.append(("table", ["property", "what it means", "count", "first"],
                       [[g["property"], catalogue.line(g["property"]), g["count"], g["first"]]
                        for g in verdict["violated"]]))
    if verdict["not_judged"]:
        blocks.append(("table", ["not judged", "why"],
                       [[n["property"], n["reason"]] for n in verdict["not_judged"]]))
    if plot:
        blocks.append(("img", plot, "run timeline"))
    head, rows = _rows_timeline(summary)
    blocks += [("h2", "Phase timeline (s since run start)"), ("table", head, rows),
               ("h2", "Start-up markers (ms after the RUNNING write)"),
               ("table", ["worker"] + [m.replace("_", " ") for m in MARKERS],
                [[w] + ["—" if v[m] is None else f"{v[m]:,.0f}" for m in MARKERS]
                 for w, v in summary["markers_ms"].items()]),
               ("h2", "Figures (percentiles over the workers)"),
               ("table", ["figure", "n", "mean", "p50", "p95", "max"],
                [[f, s["n"]] + ["—" if s[k] is None else f"{s[k]:,.4g}"
                                for k in ("mean", "p50", "p95", "max")]
                 for f, s in figures.items()])]
    if checks:
        blocks += [("h2", "Thresholds")] + [("p", c) for c in checks]
    blocks += [("p", line) for line in footer]
    return blocks


def finish(args, trace, title: str, summary: dict, verdict: dict, wanted: list,
           cost: dict | None = None, footer: list[str] = ()) -> dict:
    """Draw, write and check what the options ask; returns lines to print, JSON to add and
    the threshold results."""
    m = metrics.run_metrics(trace, cost)
    figures = th.run_summary(m)
    results = th.evaluate(wanted, [("", figures)])
    lines = th.lines(results)
    plot = getattr(args, "plot", None)
    html_path = getattr(args, "html", None)
    made = []
    if plot:
        from phaselab.reports import run_plot
        run_plot.write(trace, title, plot, verdict)
        made.append(f"Timeline picture: {plot}")
    if html_path:
        from phaselab.reports import html, run_plot
        img, tmp = plot, None
        if not img:
            fd, tmp = tempfile.mkstemp(suffix=".png", prefix=".phaselab-")
            os.close(fd)
            run_plot.write(trace, title, tmp, verdict)
            img = tmp
        try:
            html.write(html_path, title, html_blocks(summary, verdict, figures, img, lines,
                                                     list(footer)))
        finally:
            if tmp and os.path.exists(tmp):
                os.unlink(tmp)
        made.append(f"Report: {html_path}")
    return {"lines": lines + made, "thresholds": results, "figures": figures,
            "exit": lambda code: th.exit_code(code, results)}
