"""`phaselab controllers`: compare controller settings over seeded replications — FIND_MAX's
found maximum against the warehouse model's true capacity (steps, time to converge), the
QPS controller's error against its target — with bootstrap intervals, a table, JSON and a
PNG (outcome per setting, and each setting's first run over time)."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from phaselab import controller_sweep as cs, sweep as sw
from phaselab.errors import UsageError
from phaselab.files import write_atomically, write_via_temp

NAME = "controllers"
HELP = "compare FIND_MAX / QPS controller settings: found max vs true capacity, QPS error"


def add_arguments(p) -> None:
    p.add_argument("scenario", help="a FIND_MAX or QPS scenario (scenarios/findmax.toml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a setting and its values (repeat for a cross product), e.g. "
                        "--set scaling.concurrency_increment=1,2,4")
    p.add_argument("--case", action="append", default=[], metavar="'LABEL: K=V; K=V'")
    p.add_argument("--reps", type=int, default=20, help="replications per setting")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="processes")
    p.add_argument("--seed", type=int, help="sweep seed (default: the scenario's)")
    p.add_argument("--out", help="output folder (default out/controllers-<scenario>)")
    p.add_argument("--json", action="store_true")


def _ci(s: dict, digits: int = 1) -> str:
    if s["mean"] is None:
        return "—"
    return f"{s['mean']:,.{digits}f} [{s['lo']:,.{digits}f}–{s['hi']:,.{digits}f}]"


def render(con: Console, title: str, rows: list[dict]) -> None:
    t = Table(title=title, title_justify="left")
    if rows and rows[0]["mode"] == "FIND_MAX":
        cols = ("setting", "found max [95% CI]", "true knee", "found − knee", "best QPS",
                "true max QPS", "steps", "converge s", "violations")
        for c in cols:
            t.add_column(c, justify="left" if c in ("setting", "violations") else "right")
        for r in rows:
            t.add_row(r["label"], _ci(r["best_concurrency"]), _ci(r["knee_concurrency"], 0),
                      _ci(r["error_vs_knee"]), _ci(r["best_qps"], 0), _ci(r["max_qps"], 0),
                      _ci(r["steps"]), _ci(r["converge_s"]), ", ".join(r["violations"]) or "none")
    else:
        for c in ("setting", "QPS error % (2nd half) [95% CI]", "first in band, s", "violations"):
            t.add_column(c, justify="left" if c in ("setting", "violations") else "right")
        for r in rows:
            t.add_row(r["label"], _ci(r["error_pct"]), _ci(r["in_band_s"]),
                      ", ".join(r["violations"]) or "none")
    con.print(t)


def run(args) -> int:
    for name, v, lo in (("--reps", args.reps, 1), ("--jobs", args.jobs, 1)):
        if v is None or v < lo:
            raise UsageError(f"{name}: must be a whole number >= {lo}, not {v}")
    axes = sw.parse_axes(args.set)
    combos = sw.combinations(axes, args.case) if (args.set or args.case) else \
        [sw.Combination(0, "scenario", ())]
    swept = [k for k, v in axes if len(v) > 1]
    if len(swept) == 1:  # name the setting on the plot's axis, not just its value
        short = swept[0].rsplit(".", 1)[-1]
        combos = [sw.Combination(c.index, f"{short}={c.label}" if "case" not in c.values
                                 else c.label, c.sets, c.values) for c in combos]
    scenarios = sw.validate(args.scenario, combos)
    modes = {s.cfg.scaling.load_mode if s.cfg.scaling else "CONCURRENCY"
             for s in scenarios.values()}
    if len(modes) != 1 or next(iter(modes)) not in ("FIND_MAX", "QPS"):
        raise UsageError(f"{args.scenario}: controllers compares FIND_MAX or QPS runs "
                         f"(scaling.load_mode); the settings give {sorted(modes)}")
    seed = args.seed if args.seed is not None else scenarios[0].seed
    out = Path(args.out or f"out/controllers-{Path(args.scenario).stem}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    wall0 = time.perf_counter()
    err = Console(stderr=True)
    with Progress(TextColumn("controllers"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True) as prog:
        task = prog.add_task("runs", total=len(combos) * args.reps)
        results = cs.run_sweep(args.scenario, combos, args.reps, seed, args.jobs,
                               lambda: prog.advance(task))
    rows = [cs.aggregate(c, results[c.index], seed) for c in combos]
    wall = time.perf_counter() - wall0
    out.mkdir(parents=True, exist_ok=True)
    title = (f"phaselab controllers {args.scenario} — {args.reps} reps x {len(combos)} "
             f"settings, seed {seed}")
    files = {"json": out / "controllers.json", "png": out / "controllers.png"}
    runs = {c.label: results[c.index] for c in combos}
    doc = {"scenario": args.scenario, "seed": seed, "reps": args.reps, "rows": rows,
           "runs": runs, "wall_s": wall, "files": {k: str(v) for k, v in files.items()}}
    write_atomically(str(files["json"]), [json.dumps(doc, indent=1, default=str)])
    write_via_temp(str(files["png"]),
                   lambda tmp: _plots().controller_plot(tmp, title, rows, runs), suffix=".png")
    if args.json:
        print(json.dumps({k: doc[k] for k in doc if k != "runs"}, default=str))
    else:
        con = Console() if Console().is_terminal else Console(width=140)
        render(con, title, rows)
        print(f"{len(combos) * args.reps} runs in {wall:.1f} s with {args.jobs} process(es). "
              f"Plot: {files['png']}; data: {files['json']}")
    return 1 if any(r["violations"] for r in rows) else 0


def _plots():
    """matplotlib takes seconds to import: only when a plot is drawn, not for --help."""
    from phaselab import controller_plots
    return controller_plots
