"""`phaselab explore`: a Hypothesis search for property violations; each distinct failure is
shrunk and saved as a replay file, and the report says how much of the protocol was reached."""
from __future__ import annotations

import json
import os
import shlex
import sys

from rich.console import Console
from rich.table import Table

from phaselab import replay
from phaselab.errors import EXIT_DID_NOT_RUN, UsageError
from phaselab.files import check_output
from phaselab.inputs import budget
from phaselab.inputs.numbers import SEED, seconds
from phaselab.explore import DEFAULT_DB, SHRINK_CALLS, explore, scenario_summary, tape_summary
from phaselab.parallel import check_scheduler
from phaselab.search_space import SPACES

NAME = "explore"
HELP = "search scenarios and schedules for property violations, shrink each; exit 1 if found"


def add_arguments(p) -> None:
    p.add_argument("scenario")
    p.add_argument("--variant")
    p.add_argument("--max-examples", type=int, default=200, metavar="N",
                   help="examples to search (the budget; reproducible for a seed)")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="processes; the findings do not depend on it")
    p.add_argument("--scheduler", metavar="ADDR",
                   help="run the search shards and shrinks as Dask tasks: 'local' (a "
                        "LocalCluster of --jobs processes) or a scheduler address, e.g. "
                        "tcp://10.0.0.5:8786 (docs/dask.md); the findings do not depend on it")
    p.add_argument("--time-budget", "--budget", metavar="SECONDS", dest="time_budget",
                   type=seconds(0, strict=True, maximum=budget.limit("explore_budget_s")),
                   help="optional cap: start no shard or shrink after it (findings then "
                        "depend on the machine's speed)")
    p.add_argument("--space", choices=sorted(k for k in SPACES if not k.endswith("-faults")),
                   default="swarm",
                   help="scenario space (phaselab/search_space.py; default swarm)")
    p.add_argument("--faults", action="store_true",
                   help="draw the fault model too (docs/scenarios.md [faults])")
    p.add_argument("--shrink-calls", type=int, default=SHRINK_CALLS, metavar="N",
                   help=f"simulations each shrink may spend (default {SHRINK_CALLS}; 0: none)")
    p.add_argument("--database", metavar="DIR", default=DEFAULT_DB,
                   help=f"Hypothesis example database; past failures are tried first "
                        f"(default {DEFAULT_DB})")
    p.add_argument("--no-database", action="store_true", help="use no example database")
    p.add_argument("--save", metavar="DIR",
                   help="write each finding's replay file here (default out/explore-VARIANT)")
    p.add_argument("--plot", metavar="FILE",
                   help="write the coverage picture (PNG): reached / missed / unreachable")
    p.add_argument("--json", action="store_true")


def _validate(args) -> None:
    if args.max_examples < 1:
        raise UsageError(f"--max-examples {args.max_examples}: must be a whole number >= 1")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be a whole number >= 1")
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be a whole number >= 0")
    args.scheduler = check_scheduler(args.scheduler)
    if args.time_budget is not None and args.time_budget <= 0:
        raise UsageError(f"--time-budget {args.time_budget}: must be > 0 seconds")
    if args.shrink_calls < 0:
        raise UsageError(f"--shrink-calls {args.shrink_calls}: must be a whole number >= 0")
    if args.plot and not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
        raise UsageError(f"--plot {args.plot}: the folder does not exist")
    if args.save and os.path.exists(args.save) and not os.path.isdir(args.save):
        raise UsageError(f"--save {args.save}: exists and is not a folder")
    if not args.no_database and os.path.exists(args.database) \
            and not os.path.isdir(args.database):
        raise UsageError(f"--database {args.database}: exists and is not a folder")


def run(args) -> int:
    _validate(args)
    from phaselab import scenario as scn
    base = scn.load(args.scenario)  # bad file: exit 2 now
    variant = args.variant or base.variant
    budget.check_scenario(scn.with_overrides(base, None, variant),  # bad variant: exit 2 now
                          allow_large=False)
    err = Console(stderr=True)

    def progress(stage: str, done: int, total: int, found: int) -> None:
        unit = "examples" if stage == "search" else "failures shrunk"
        print(f"explore: {stage} {done}/{total} {unit}, {found} distinct failure(s)",
              file=sys.stderr, flush=True)

    space = f"{args.space}-faults" if args.faults else args.space
    rep = explore(args.scenario, variant, args.max_examples, args.seed, args.jobs,
                  args.time_budget, None if args.no_database else args.database, space,
                  args.shrink_calls, progress, args.scheduler)
    save = args.save or os.path.join("out", f"explore-{variant}")
    if rep.findings:
        os.makedirs(save, exist_ok=True)
    out, per_prop = [], {}
    for f in rep.findings:
        ex = f.shrunk or f.first
        per_prop[f.property_id] = per_prop.get(f.property_id, 0) + 1
        path = os.path.join(save, f"{variant}-{f.property_id}-{per_prop[f.property_id]}.json")
        check_output(path, "--save", [args.scenario])
        replay.save(path, ex.case)
        out.append({
            "property": f.property_id, "meaning": f.meaning, "key": f.key,
            "examples": f.examples, "from_database": f.from_database,
            "shrunk": f.shrunk is not None, "shrink_calls": f.shrink_calls,
            "shrink_capped": f.capped,
            "first": {"scenario": scenario_summary(f.first.case["scenario"]),
                      "records": f.first.records, "schedule": tape_summary(f.first.case),
                      "message": f.first.message},
            "minimal": {"scenario": scenario_summary(ex.case["scenario"]),
                        "records": ex.records, "schedule": tape_summary(ex.case)},
            "message": ex.message, "excerpt": ex.excerpt, "replay_file": path,
            "replay": shlex.join(["phaselab", "run", "--replay", path])})
    cov = rep.tally.report()
    if args.plot:
        _plot(args.plot, f"explore {variant}, seed {args.seed}: coverage over "
              f"{rep.examples} examples", cov)
    if args.json:
        print(json.dumps({
            "scenario": args.scenario, "variant": variant, "seed": args.seed,
            "space": rep.space, "max_examples": args.max_examples, "examples": rep.examples,
            "shards": rep.shards, "shards_run": rep.shards_run, "jobs": args.jobs,
            "scheduler": args.scheduler,
            "replayed_from_database": rep.replayed, "time_capped": rep.time_capped,
            "wall_s": round(rep.wall_s, 2), "parallel": rep.parallel,
            "features": dict(sorted(rep.features.items())),
            "findings": out, "coverage": cov, "plot": args.plot}, default=str))
    else:
        render(Console(), args, rep, out, cov)
    if out:
        return 1
    return EXIT_DID_NOT_RUN if rep.examples == 0 else 0


def render(con: Console, args, rep, out: list, cov: dict) -> None:
    con.print(f"[bold]phaselab explore {args.scenario} — variant {rep.variant}, seed "
              f"{args.seed}, space {rep.space}: {rep.examples} examples in {rep.shards_run} of "
              f"{rep.shards} shards ("
              + (f"Dask {args.scheduler}" if args.scheduler else
                 f"{args.jobs} process{'es' if args.jobs > 1 else ''}") + ", "
              f"{rep.wall_s:.0f} s)[/bold]")
    if rep.replayed:
        con.print(f"{rep.replayed} past failure(s) replayed from the database first")
    if rep.time_capped:
        con.print("[yellow]--time-budget ran out: not every shard or shrink ran, so these "
                  "findings depend on this machine's speed.[/yellow]")
    if not out:
        con.print("[green]No property violated.[/green]")
    for o in out:
        con.print(f"\n[red]{o['property']}[/red] — {o['meaning']}", markup=True)
        con.print(f"  in {o['examples']} of {rep.examples} examples"
                  + (" (and in the database)" if o["from_database"] else ""), markup=False)
        how = (f"shrunk in {o['shrink_calls']} runs" + (" (capped)" if o["shrink_capped"] else "")
               if o["shrunk"] else "not shrunk")
        con.print(f"  first seen: {_short(o['first']['scenario'])}, "
                  f"{o['first']['schedule']}", markup=False)
        con.print(f"  {how}: {_short(o['minimal']['scenario'])}, {o['minimal']['schedule']}",
                  markup=False)
        con.print(f"  {o['message']}", markup=False)
        for line in o["excerpt"][:4]:
            con.print(f"    {line[:200]}", markup=False)
        con.print(f"  replay: {o['replay']}", markup=False)
    t = Table(title=f"Coverage over {rep.examples} examples")
    for c in ("group", "reached", "unreachable (why in --json)", "never reached"):
        t.add_column(c)
    for g, v in cov.items():
        t.add_row(g, str(len(v["reached"])), str(len(v["unreachable"])),
                  ", ".join(v["missed"]) or "-")
    con.print(t)
    feats = ", ".join(f"{k} {n}" for k, n in sorted(rep.features.items()))
    con.print(f"Swarm features (examples with each on): {feats or 'none'}", markup=False)


def _plot(path: str, title: str, cov: dict) -> None:
    """The coverage PNG via a temp file, so a failure leaves no half-written picture."""
    import tempfile
    from phaselab.coverage_plot import coverage_plot
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)),
                               prefix=".phaselab-", suffix=".png")
    os.close(fd)
    try:
        coverage_plot(tmp, title, cov)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _short(sc: dict) -> str:
    keys = ("workers", "connections_per_worker", "warmup_s", "duration_s", "user_stop_at_s",
            "dashboards", "coordination")
    return "{" + ", ".join(f"{k}={sc[k]}" for k in keys if k in sc) + "}"
