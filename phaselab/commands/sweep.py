"""`phaselab sweep`: what a poll interval or coordination scheme costs and buys, with numbers
one can trust: every combination of the settings, N seeded replications each, in J processes
(the numbers do not depend on J), percentiles with bootstrap intervals; the latency/cost
frontier in one sentence; tables, CSV, JSON, charts and one HTML report."""
from __future__ import annotations

import csv
import io
import json
import os
import time
from pathlib import Path

from phaselab import parallel, sweep as sw, thresholds as th
from phaselab.console import stdout_console, stderr_console
from phaselab.errors import UsageError
from phaselab.files import check_output, write_atomically
from phaselab.inputs import budget
from phaselab.inputs.numbers import COUNT, SEED

NAME = "sweep"
HELP = "simulate every combination of settings N times; latency, load, cost and the frontier"
EXAMPLE = ("phaselab sweep scenarios/baseline.toml --set status_poll_s=0.05,0.2,1.0 "
           "--case 'push: scheme=push' --per workers=4,100 --set bulk_queries=true")


def add_arguments(p) -> None:
    p.add_argument("scenario", help="scenario TOML file (docs/scenarios.md)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a setting and the values to sweep (repeat for a cross product); "
                        "one value fixes it for every run")
    p.add_argument("--case", action="append", default=[], metavar="'LABEL: K=V; K=V'",
                   help="one more combination with its own label, after the cross product "
                        "(a scheme, e.g. 'push: scheme=push')")
    p.add_argument("--per", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="repeat the whole comparison (cases too) at each value, e.g. "
                        "--per workers=4,100,1000: one line per value in the charts")
    p.add_argument("--at", action="append", default=[], metavar="'K=V: reps=N; K=V'",
                   help="for the combinations where K=V: other reps or settings, e.g. "
                        "--at 'workers=1000: reps=3; duration_s=5' to keep big runs affordable")
    p.add_argument("--reps", type=COUNT, default=20, help="replications per combination")
    p.add_argument("--jobs", type=COUNT, default=min(os.cpu_count() or 1, 64),
                   help="processes (the numbers do not depend on it); with --scheduler local, "
                        "the LocalCluster's worker processes")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="run the replications as Dask tasks: 'local' (a LocalCluster) or a "
                        "scheduler address, e.g. tcp://10.0.0.5:8786 (docs/dask.md); the "
                        "numbers do not depend on it")
    p.add_argument("--seed", type=SEED, help="sweep seed (default: the scenario's)")
    p.add_argument("--variant", help="variant for every run (default: the scenario's)")
    p.add_argument("--out", help="output folder, created if missing "
                                 "(default: out/sweep-<scenario>)")
    p.add_argument("--html", metavar="FILE",
                   help="the self-contained HTML report (default: <out>/report.html)")
    p.add_argument("--threshold", action="append", default=[], metavar="'FIGURE.STAT<N'",
                   help="a pass/fail criterion on every setting, e.g. 'detection_ms.p95<500'; "
                        f"exit {th.EXIT_FAILED} when one fails")
    p.add_argument("--no-check", action="store_true",
                   help="skip the checkers on each run (violations: not judged)")
    p.add_argument("--allow-large", action="store_true",
                   help="run a sweep above the size limits of docs/scenarios.md")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def _whole(name: str, value: int, minimum: int) -> None:
    if value is None or value < minimum:
        raise UsageError(f"{name}: must be a whole number >= {minimum}, not {value}")


def _fmt(x, digits=0) -> str:
    return "—" if x is None else f"{x:,.{digits}f}"


def _usd(x) -> str:
    return "—" if x is None else (f"{x:,.4f}" if x < 1 else f"{x:,.2f}")


def _ci(s: dict, q: str, digits=0) -> str:
    if s[q] is None:
        return "—"
    return f"{s[q]:,.{digits}f} [{s[q + '_lo']:,.{digits}f}–{s[q + '_hi']:,.{digits}f}]"


def _viol(r: dict) -> str:
    if not r.get("judged", True):
        return "not judged (--no-check)"
    return ("VIOLATED " + ", ".join(r["violations"]) + f" ({r['runs_with_violations']}/"
            f"{r['reps']} runs)") if r["violations"] else "none"


LATENCY_HEAD = ("setting", "detect p50 [95% CI]", "detect p95 [95% CI]", "p99", "max",
                "1st query p50", "p95", "skew p50", "all tagged p50", "mistagged")
LOAD_HEAD = ("setting", "workers", "reps", "barrier stmt/s (all waiting)",
             "per waiting worker", "steady stmt/s", "whole run stmt/s", "$ per run",
             "$ per run-hour", "CPU s per run", "violations")


def latency_rows(rows: list[dict]) -> list[list[str]]:
    out = []
    for r in rows:
        d, s, k, g = r["detection_ms"], r["start_ms"], r["skew_ms"], r["tag_ms"]
        out.append([r["label"], _ci(d, "p50"), _ci(d, "p95"), _fmt(d["p99"]), _fmt(d["max"]),
                    _fmt(s["p50"]), _fmt(s["p95"]), _fmt(k["p50"]), _fmt(g["p50"]),
                    _fmt(r["mistagged"]["mean"], 1)])
    return out


def load_rows(rows: list[dict], timing: list[dict]) -> list[list[str]]:
    out = []
    for r, tm in zip(rows, timing):
        b = r["barrier_load_per_s"]
        out.append([r["label"], str(r["workers"]), str(r["reps"]),
                    _ci(b, "p50") if b["p50"] is not None else "—",
                    _fmt(r["barrier_load_per_worker_per_s"]["mean"], 2),
                    _fmt(r["steady_load_per_s"]["mean"], 1), _fmt(r["load_per_s"]["mean"], 1),
                    _usd(r["cost_usd_per_run"]["mean"]), _usd(r["cost_usd_per_hour"]["mean"]),
                    f"{tm['cpu_s'] / max(1, r['reps']):,.2f}", _viol(r)])
    return out


def timing_rows(rows: list[dict], timing: list[dict], ax) -> list[list[str]]:
    """Per series value (worker count): runs, simulation wall time, CPU time, per run."""
    from phaselab.reports import layout
    out = []
    for s in layout.ordered_series(rows, ax):
        group = [(r, tm) for r, tm in zip(rows, timing) if layout.series_of(r, ax) == s]
        n = sum(r["reps"] for r, _ in group)
        sim = sum(tm["sim_wall_s"] for _, tm in group)
        tot = sum(tm["wall_s"] for _, tm in group)
        cpu = sum(tm["cpu_s"] for _, tm in group)
        out.append([layout.series_label(ax, s), str(n), f"{sim:,.1f}", f"{tot:,.1f}",
                    f"{cpu:,.1f}", f"{cpu / n:,.2f}" if n else "—"])
    return out


TIMING_HEAD = ("size", "runs", "simulating, s wall", "with metrics and checkers, s wall",
               "CPU s", "CPU s per run")


def gap_note(rows: list[dict], ax) -> str | None:
    """Where the interval is as long as the READY->RUNNING gap, detection depends on start-up
    timing, not only on the interval: say so with the numbers."""
    from phaselab.reports import layout
    hit = []
    for r in rows:
        x, gap = layout.x_of(r, ax), r["ready_gap_ms"]["p50"]
        if x is not None and gap is not None and x * 1000.0 >= gap:
            hit.append(f"{r['label']} (gap p50 {gap:,.0f} ms)")
    if not hit:
        return None
    return ("Detection depends on start-up timing where the interval is as long as the gap "
            "from the last READY to the RUNNING write (a worker's read right after READY can "
            "miss RUNNING by a whole interval, or its next read can land just after the "
            "write): " + "; ".join(hit) + ".")


def render(console, title: str, rows: list[dict], answers: list[dict], footer: list[str],
           timing: list[list[str]], checks: list[str], run_times: list[dict]) -> None:
    from rich.table import Table
    from rich.text import Text
    console.print(Text(title, style="bold"))
    for a in answers:
        console.print(Text("▶ " + a["sentence"], style="bold cyan"))
    for head, body, name in ((LATENCY_HEAD, latency_rows(rows), "Latency, ms after the "
                              "orchestrator's write"),
                             (LOAD_HEAD, load_rows(rows, run_times),
                              "Control-plane load and cost"),
                             (TIMING_HEAD, timing, "Simulation time")):
        t = Table(title=name, title_justify="left")
        for col in head:
            t.add_column(col, justify="left" if col in ("setting", "violations", "size")
                         else "right")
        for row in body:
            t.add_row(*[Text(c, style="bold red" if c.startswith("VIOLATED") else "")
                        for c in row])
        console.print(t)
    for line in checks:
        console.print(Text(line, style="red" if line.startswith("✗") else "green"))
    for line in footer:
        console.print(line, markup=False, highlight=False)


SUMMARY_FIELDS = ("detection_ms", "start_ms", "skew_ms", "tag_ms", "mistagged", "load_per_s",
                  "load_per_worker_per_s", "wait_load_per_worker_per_s", "barrier_load_per_s",
                  "barrier_load_per_worker_per_s", "steady_load_per_s", "cost_usd_per_run",
                  "cost_usd_per_hour", "ready_gap_ms")
RUN_FIELDS = ("detection_ms", "start_ms", "skew_ms", "tag_ms", "mistagged", "load_per_s",
              "load_per_worker_per_s", "wait_load_per_worker_per_s", "barrier_load_per_s",
              "barrier_load_per_worker_per_s", "steady_load_per_s", "cost_usd_per_run",
              "cost_usd_per_hour", "ready_gap_ms", "workers", "sim_wall_s", "wall_s", "cpu_s")


def summary_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    stats_keys = ["n", "mean", "p50", "p50_lo", "p50_hi", "p95", "p95_lo", "p95_hi", "p99",
                  "p99_lo", "p99_hi", "max", "max_lo", "max_hi"]
    head = ["index", "label", "workers", "reps"]
    head += [f"{f}.{k}" for f in SUMMARY_FIELDS for k in stats_keys] + ["violations"]
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(head)
    for r in rows:
        w.writerow([r["index"], r["label"], r["workers"], r["reps"]]
                   + [r[f][k] for f in SUMMARY_FIELDS for k in stats_keys]
                   + [" ".join(r["violations"])])
    return buf.getvalue()


def runs_csv(combos, results) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["index", "label", "rep", "seed", *RUN_FIELDS, "violations"])
    for c in combos:
        for i, m in enumerate(results[c.index]):
            cells = [" ".join(map(str, m[f])) if isinstance(m.get(f), list) else m.get(f)
                     for f in RUN_FIELDS]
            w.writerow([c.index, c.label, i, m["seed"], *cells,
                        " ".join(m["violations"] or [])])
    return buf.getvalue()


def html_blocks(doc: dict, answers: list[dict], charts: dict, notes: list[str],
                timing: list[list[str]], checks: list[str]) -> list[tuple]:
    run_times = doc["timing"]
    rows = doc["rows"]
    blocks: list[tuple] = [("h2", "The answer")]
    blocks += [("answer", a["sentence"]) for a in answers]
    blocks += [("img", charts.get("latency_cost.png", ""), "latency against cost per run"),
               ("img", charts.get("latency_interval.png", ""), "latency against the interval"),
               ("img", charts.get("barrier_load.png", ""), "barrier load against workers"),
               ("h2", "Latency, ms after the orchestrator's write"),
               ("table", list(LATENCY_HEAD), latency_rows(rows)),
               ("h2", "Control-plane load and cost"),
               ("table", list(LOAD_HEAD), load_rows(rows, run_times)),
               ("h2", "Simulation time"), ("table", list(TIMING_HEAD), timing)]
    if checks:
        blocks += [("h2", "Thresholds")] + [("p", c) for c in checks]
    blocks += [("h2", "How to read it")] + [("p", n) for n in notes]
    return blocks


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
    scheduler = parallel.check_scheduler(args.scheduler)
    if args.seed is not None:
        _whole("--seed", args.seed, 0)
    if not args.set and not args.case:
        raise UsageError("--set: give at least one setting to sweep, e.g. "
                         "--set status_poll_s=0.1,0.2 (or a --case)")
    checks_wanted = th.parse_all(args.threshold)
    axes = sw.parse_axes(args.set)
    per = sw.parse_axes(args.per, "--per")
    at = [sw.parse_at(a) for a in args.at]
    combos = sw.combinations(axes, args.case, per, at)
    _unique_labels(combos)
    budget.check_count("--reps x settings", sum(c.reps or args.reps for c in combos),
                       "sweep_runs", args.allow_large)
    budget.check_count("--jobs", args.jobs, "jobs", args.allow_large)
    scenarios = sw.validate(args.scenario, combos, args.variant)
    total_events = 0.0  # each combination at its own reps (--at may lower them)
    for c in combos:
        reps = c.reps or args.reps
        est = budget.check_scenario(scenarios[c.index], args.allow_large, reps,
                                    f"{args.scenario} ({c.label})")
        total_events += est.events * reps
    if total_events > budget.limit("total_events") and not args.allow_large:
        raise UsageError(f"{args.scenario}: the sweep would take about {total_events:,.0f} "
                         f"simulated wake-ups; the limit is "
                         f"{budget.limit('total_events'):,.0f} (docs/scenarios.md, Limits); "
                         f"fewer --reps or settings, or --allow-large")
    seed = args.seed if args.seed is not None else scenarios[0].seed
    out = Path(args.out or f"out/sweep-{Path(args.scenario).stem}")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    html_path = Path(args.html) if args.html else out / "report.html"
    if args.html and not html_path.parent.is_dir() and html_path.parent != out:
        raise UsageError(f"--html {args.html}: the folder does not exist")
    for name in ("summary.csv", "runs.csv", "sweep.json"):
        if out.is_dir():
            check_output(str(out / name), "--out", [args.scenario])
    if html_path.parent.is_dir():
        check_output(str(html_path), "--html", [args.scenario])

    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn)
    wall0 = time.perf_counter()
    epoch0 = time.time()
    timings: list = []
    total = sum(c.reps or args.reps for c in combos)
    err = stderr_console()
    with Progress(TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=err, transient=True, disable=not err.is_terminal) as prog:
        task = prog.add_task("runs", total=total)
        done = [0]
        t_last = [time.monotonic()]

        def progress():
            prog.advance(task)
            done[0] += 1
            if not err.is_terminal and (time.monotonic() - t_last[0] > 5 or done[0] == total):
                t_last[0] = time.monotonic()
                print(f"sweep: {done[0]}/{total} runs, {time.perf_counter() - wall0:.0f} s",
                      file=err.file, flush=True)
        aggregated: dict = {}
        results = sw.run_jobs(scenarios, combos, args.reps, seed, args.jobs,
                              not args.no_check, progress, scheduler, timings,
                              lambda c, runs: aggregated.__setitem__(
                                  c.index, sw.aggregate(c, runs, seed)))
    epoch1 = time.time()
    rows = [aggregated[c.index] for c in combos]
    run_times = [sw.timing(results[c.index]) for c in combos]
    wall = time.perf_counter() - wall0

    from phaselab.reports import charts, frontier, html, layout
    ax = layout.infer(rows, [k for k, _ in per])
    answers = frontier.sentences(rows, ax)
    timing = timing_rows(rows, run_times, ax)
    results_th = th.evaluate(checks_wanted, [(r["label"], r) for r in rows])
    checks = th.lines(results_th)

    out.mkdir(parents=True, exist_ok=True)
    reps_text = (f"{args.reps} reps" if all(c.reps in (None, args.reps) for c in combos)
                 else f"{args.reps} reps (fewer where --at says)")
    title = (f"phaselab sweep {args.scenario} — {reps_text} x {len(combos)} settings, "
             f"seed {seed}" + (f", variant {args.variant}" if args.variant else ""))
    files = {"summary_csv": out / "summary.csv", "runs_csv": out / "runs.csv",
             "json": out / "sweep.json", "html": html_path}
    fixed = [f"{k}={v[0]}" for k, v in axes if len(v) == 1]
    notes = [
        "Times in ms after the orchestrator's write (detect: RUNNING write to wait-loop exit; "
        "1st query: to the worker's first query; all tagged: MEASUREMENT write to every "
        "connection querying with the measurement tag). Brackets: bootstrap 95% intervals "
        "over whole runs.",
        "Barrier load: control statements per second the wait loops put on the warehouse "
        "while all workers wait for RUNNING = the per-waiting-worker rate x the worker count. "
        "The per-worker rate leaves out each wait loop's first pass (status, events and a "
        "heartbeat at once after READY), which would inflate short waits. Steady: control "
        "statements per second during measurement. Whole run: over the run, start to end.",
        "Cost: statement-seconds priced by the scenario's [cost] table (docs/scenarios.md), "
        "per run and per run-hour; the frontier joins the clean settings that no other "
        "setting beats on both detection p95 and cost per run.",
        *([n] if (n := gap_note(rows, ax)) else []),
        *([f"Fixed settings: {', '.join(fixed)}"] if fixed else []),
        *([f"--at {a}" for a in args.at]),
    ]
    doc = {"scenario": args.scenario, "seed": seed, "reps": args.reps, "jobs": args.jobs,
           "variant": args.variant, "fixed_settings": fixed, "per": [k for k, _ in per],
           "at": args.at, "axes": {"x": ax.x, "series": ax.series}, "answers": answers,
           "thresholds": results_th, "rows": rows, "timing": run_times, "wall_s": wall,
           "runs": {c.label: results[c.index] for c in combos},
           "parallel": {"scheduler": scheduler, **parallel.accounting(timings, epoch0, epoch1)},
           "files": {k: str(v) for k, v in files.items()}}
    made = charts.write_all(str(out), rows, ax, title)
    doc["files"].update({k.replace(".png", "_png"): v for k, v in made.items()})
    write_atomically(str(files["summary_csv"]), summary_csv(rows).splitlines())
    write_atomically(str(files["runs_csv"]), runs_csv(combos, results).splitlines())
    write_atomically(str(files["json"]), [json.dumps(doc, indent=1, default=str)])
    html.write(str(html_path), title, html_blocks(doc, answers, made, notes, timing, checks))

    bad = any(r["violations"] for r in rows)
    if args.json:
        print(json.dumps({k: doc[k] for k in doc if k != "runs"}, default=str))
    else:
        render(stdout_console(), title, rows, answers, notes + [
            f"{total} runs in {wall:.1f} s wall with "
            + (f"Dask ({scheduler})." if scheduler else f"{args.jobs} process(es)."),
            f"Report: {html_path}; charts: {', '.join(made.values())}; tables: "
            f"{files['summary_csv']}, {files['runs_csv']}, {files['json']}"], timing, checks,
            run_times)
    return th.exit_code(1 if bad else 0, results_th)
