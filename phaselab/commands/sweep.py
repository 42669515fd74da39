"""`phaselab sweep`: what a poll interval or coordination scheme costs and buys, with numbers
one can trust: every combination of the settings, N seeded replications each, in J processes
(the numbers do not depend on J), percentiles with bootstrap intervals, a table, CSV, JSON
and a PNG plot."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from phaselab import sweep as sw
from phaselab.errors import UsageError
from phaselab.files import check_output, write_atomically, write_via_temp
from phaselab.inputs import budget
from phaselab.inputs.numbers import COUNT, SEED

NAME = "sweep"
HELP = "simulate every combination of settings N times; latency and load with intervals"


def add_arguments(p) -> None:
    p.add_argument("scenario")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a setting and the values to sweep (repeat for a cross product)")
    p.add_argument("--case", action="append", default=[], metavar="'LABEL: K=V; K=V'",
                   help="one more combination with its own label, after the cross product")
    p.add_argument("--reps", type=COUNT, default=20, help="replications per combination")
    p.add_argument("--jobs", type=COUNT, default=min(os.cpu_count() or 1, 64),
                   help="processes")
    p.add_argument("--seed", type=SEED, help="sweep seed (default: the scenario's)")
    p.add_argument("--out", help="output folder (default out/sweep-<scenario>)")
    p.add_argument("--no-check", action="store_true", help="skip the checkers on each run")
    p.add_argument("--allow-large", action="store_true",
                   help="run a sweep above the size limits of docs/scenarios.md")
    p.add_argument("--json", action="store_true")


def _whole(name: str, value: int, minimum: int) -> None:
    if value is None or value < minimum:
        raise UsageError(f"{name}: must be a whole number >= {minimum}, not {value}")


def _fmt(x, digits=0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _ci(s: dict, q: str) -> str:
    if s[q] is None:
        return "—"
    return f"{s[q]:,.0f} [{s[q + '_lo']:,.0f}–{s[q + '_hi']:,.0f}]"


def render(console: Console, title: str, rows: list[dict], footer: list[str],
           setting: str = "setting") -> None:
    lat = Table(title=title + " — latency, ms", title_justify="left")
    for col in (setting, "detect p50 [95% CI]", "p95", "p99", "max", "1st query p50",
                "p95", "skew p50", "all tagged p50", "max", "mistagged"):
        lat.add_column(col, justify="left" if col == setting else "right")
    load = Table(title="Control-plane load and cost", title_justify="left")
    for col in (setting, "stmt/s", "per worker", "per waiting worker", "top kind /s",
                "$ per run-hour", "violations"):
        load.add_column(col, justify="left" if col in (setting, "top kind /s",
                                                       "violations") else "right")
    for r in rows:
        d, s, k, g = r["detection_ms"], r["start_ms"], r["skew_ms"], r["tag_ms"]
        lat.add_row(r["label"], _ci(d, "p50"), _fmt(d["p95"]), _fmt(d["p99"]), _fmt(d["max"]),
                    _fmt(s["p50"]), _fmt(s["p95"]), _fmt(k["p50"]), _fmt(g["p50"]),
                    _fmt(g["max"]), _fmt(r["mistagged"]["mean"], 1))
        kinds = sorted(r["load_by_kind_per_s"].items(), key=lambda kv: -kv[1])[:1]
        load.add_row(r["label"], _fmt(r["load_per_s"]["mean"], 1),
                     _fmt(r["load_per_worker_per_s"]["mean"], 2),
                     _fmt(r["wait_load_per_worker_per_s"]["mean"], 2),
                     ", ".join(f"{k} {v:.1f}" for k, v in kinds),
                     _fmt(r["cost_usd_per_hour"]["mean"], 3),
                     ", ".join(r["violations"]) or "none")
    console.print(lat)
    console.print(load)
    for line in footer:
        console.print(line, markup=False, highlight=False)


SUMMARY_FIELDS = ("detection_ms", "start_ms", "skew_ms", "tag_ms", "mistagged", "load_per_s",
                  "load_per_worker_per_s", "wait_load_per_worker_per_s", "cost_usd_per_hour")


def summary_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    stats_keys = ["n", "mean", "p50", "p50_lo", "p50_hi", "p95", "p95_lo", "p95_hi", "p99",
                  "p99_lo", "p99_hi", "max", "max_lo", "max_hi"]
    head = ["index", "label", "reps"] + [f"{f}.{k}" for f in SUMMARY_FIELDS for k in stats_keys]
    head += ["violations"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        w.writerow([r["index"], r["label"], r["reps"]]
                   + [r[f][k] for f in SUMMARY_FIELDS for k in stats_keys]
                   + [" ".join(r["violations"])])
    return buf.getvalue()


def runs_csv(combos, results) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "label", "rep", "seed", "detection_ms", "start_ms", "skew_ms", "tag_ms",
                "mistagged", "load_per_s", "load_per_worker_per_s", "wait_load_per_worker_per_s",
                "cost_usd_per_hour", "violations"])
    for c in combos:
        for i, m in enumerate(results[c.index]):
            w.writerow([c.index, c.label, i, m["seed"], " ".join(map(str, m["detection_ms"])),
                        " ".join(map(str, m["start_ms"])), m["skew_ms"], m["tag_ms"],
                        m["mistagged"], m["load_per_s"], m["load_per_worker_per_s"],
                        m["wait_load_per_worker_per_s"], m["cost_usd_per_hour"], " ".join(m["violations"] or [])])
    return buf.getvalue()


def _write_png(path: Path, title: str, rows: list[dict]) -> None:
    from phaselab import plots  # matplotlib takes seconds to import: only when plotting
    write_via_temp(str(path), lambda tmp: plots.sweep_plot(tmp, title, rows), suffix=".png")


def _unique_labels(combos) -> None:
    """Two combinations with one label would be one row (and one key of sweep.json)."""
    seen: dict[str, str] = {}
    for c in combos:
        if c.label in seen:
            raise UsageError(f"--case {c.label!r}: the label is already used (by "
                             f"{seen[c.label]}); give every --case its own label")
        seen[c.label] = "; ".join(c.sets) or "the scenario"


def run(args) -> int:
    _whole("--reps", args.reps, 1)
    _whole("--jobs", args.jobs, 1)
    if args.seed is not None:
        _whole("--seed", args.seed, 0)
    if not args.set and not args.case:
        raise UsageError("--set: give at least one setting to sweep, e.g. "
                         "--set status_poll_s=0.1,0.2 (or a --case)")
    axes = sw.parse_axes(args.set)
    n_combos = math.prod(len(v) for _, v in axes if len(v) > 1) + len(args.case)
    budget.check_count("--reps x settings", n_combos * args.reps, "sweep_runs", args.allow_large)
    budget.check_count("--jobs", args.jobs, "jobs", args.allow_large)
    combos = sw.combinations(axes, args.case)
    _unique_labels(combos)
    scenarios = sw.validate(args.scenario, combos)
    for c in combos:
        budget.check_scenario(scenarios[c.index], args.allow_large, len(combos) * args.reps,
                              f"{args.scenario} ({c.label})")
    seed = args.seed if args.seed is not None else scenarios[0].seed
    out = Path(args.out or f"out/sweep-{Path(args.scenario).stem}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    for name in ("summary.csv", "runs.csv", "sweep.json", "sweep.png"):
        if out.is_dir():
            check_output(str(out / name), "--out", [args.scenario])

    wall0 = time.perf_counter()
    total = len(combos) * args.reps
    err = Console(stderr=True)
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True) as prog:
        task = prog.add_task("runs", total=total)
        results = sw.run_jobs(args.scenario, combos, args.reps, seed, args.jobs,
                              not args.no_check, lambda: prog.advance(task))
    rows = [sw.aggregate(c, results[c.index], seed) for c in combos]
    wall = time.perf_counter() - wall0

    out.mkdir(parents=True, exist_ok=True)
    title = (f"phaselab sweep {args.scenario} — {args.reps} reps x {len(combos)} settings, "
             f"seed {seed}")
    files = {"summary_csv": out / "summary.csv", "runs_csv": out / "runs.csv",
             "json": out / "sweep.json", "png": out / "sweep.png"}
    fixed = [f"{k}={v[0]}" for k, v in axes if len(v) == 1]
    doc = {"scenario": args.scenario, "seed": seed, "reps": args.reps, "jobs": args.jobs,
           "fixed_settings": fixed, "rows": rows, "wall_s": wall,
           "runs": {c.label: results[c.index] for c in combos},
           "files": {k: str(v) for k, v in files.items()}}
    write_atomically(str(files["summary_csv"]), summary_csv(rows).splitlines())
    write_atomically(str(files["runs_csv"]), runs_csv(combos, results).splitlines())
    write_atomically(str(files["json"]), [json.dumps(doc, indent=1, default=str)])
    _write_png(files["png"], title, rows)

    bad = any(r["violations"] for r in rows)
    if args.json:
        print(json.dumps({k: doc[k] for k in doc if k != "runs"}, default=str))
    else:
        con = Console()
        if not con.is_terminal:
            con = Console(width=130)
        swept = [k for k, v in axes if len(v) > 1]
        render(con, title, rows, [
            "Times in ms after the orchestrator's write (detect: RUNNING write to wait-loop "
            "exit; 1st query: to the worker's first query; all tagged: MEASUREMENT write to "
            "every connection querying with the measurement tag). Load: control-table "
            "statements per second over the run; cost model in docs/scenarios.md [cost].",
            *([f"Fixed settings: {', '.join(fixed)}"] if fixed else []),
            f"{total} runs in {wall:.1f} s wall with {args.jobs} process(es). "
            f"Plot: {files['png']}; tables: {files['summary_csv']}, {files['runs_csv']}, "
            f"{files['json']}"], swept[0] if len(swept) == 1 else "setting")
    return 1 if bad else 0
