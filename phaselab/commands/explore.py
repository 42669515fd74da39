"""`phaselab explore`: swarm-search scenario parameters and schedules for property violations."""
from __future__ import annotations

import json
import os
import sys

from rich.console import Console
from rich.progress import Progress

from phaselab import catalogue, replay
from phaselab.errors import EXIT_DID_NOT_RUN, UsageError
from phaselab.inputs import budget
from phaselab.inputs.numbers import SEED, seconds
from phaselab.explore import explore, replay_command
from phaselab.files import check_output
from phaselab.search_space import FULL_FAULTS

NAME = "explore"
HELP = "randomized swarm search for property violations; exit 1 if any is found"


def add_arguments(p) -> None:
    p.add_argument("scenario")
    p.add_argument("--variant")
    p.add_argument("--budget", type=seconds(0, strict=True,
                                            maximum=budget.limit("explore_budget_s")),
                   default=60.0, metavar="SECONDS")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--save", metavar="DIR", help="write each finding as a replay file here")
    p.add_argument("--faults", action="store_true",
                   help="draw the fault model too (docs/scenarios.md [faults])")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    if args.budget <= 0:
        raise UsageError(f"--budget {args.budget}: must be > 0 seconds")
    if args.seed < 0:
        raise UsageError(f"--seed {args.seed}: must be a whole number >= 0")
    if args.save and os.path.exists(args.save) and not os.path.isdir(args.save):
        raise UsageError(f"--save {args.save}: exists and is not a folder")
    err = Console(stderr=True)
    from phaselab import scenario as scn
    variant = args.variant or scn.load(args.scenario).variant
    base = scn.with_overrides(scn.load(args.scenario), None, variant)  # bad variant: exit 2 now
    if args.save and os.path.isdir(args.save) \
            and os.path.samefile(args.save, os.path.dirname(os.path.abspath(args.scenario))) \
            and os.path.basename(args.scenario).startswith(f"{variant}-"):
        raise UsageError(f"--save {args.save}: holds the scenario {args.scenario}, which a "
                         f"finding's file ({variant}-PROPERTY.json) could overwrite; save "
                         f"elsewhere")
    budget.check_scenario(base, allow_large=False)
    with Progress(console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("exploring", total=args.budget)
        import time
        t0 = time.monotonic()

        def progress(n, k):
            bar.update(task, completed=time.monotonic() - t0,
                       description=f"{n} examples, {k} propert{'y' if k == 1 else 'ies'} violated")
        kw = {"space": FULL_FAULTS} if args.faults else {}
        n, found = explore(args.scenario, variant, args.budget, args.seed, progress=progress,
                           **kw)
    if not err.is_terminal:
        print(f"explored {n} examples", file=sys.stderr)
    out = []
    for pid, f in found.items():
        cmd = replay_command(args.scenario, variant, f)
        saved = None
        if args.save:
            os.makedirs(args.save, exist_ok=True)  # created like sweep --out, when needed
            saved = os.path.join(args.save, f"{variant}-{pid}.json")
            check_output(saved, "--save", [args.scenario])
            replay.save(saved, f.case)
        out.append({"property": pid, "meaning": catalogue.line(pid), "examples": f.examples,
                    "smallest_records": f.size,
                    "seed": f.seed, "sets": f.sets, "message": f.message,
                    "excerpt": f.excerpt, "replay": cmd,
                    "replay_file": saved})
    if args.json:
        print(json.dumps({"scenario": args.scenario, "variant": variant, "seed": args.seed,
                          "budget_s": args.budget, "examples": n, "findings": out}))
    else:
        from phaselab.console import stdout_console
        con = stdout_console()
        con.print(f"[bold]phaselab explore {args.scenario} — variant {variant}, seed "
                  f"{args.seed}, {n} examples in {args.budget:g} s[/bold]")
        if n == 0:
            con.print(f"[yellow]Nothing to judge: 0 examples ran in {args.budget:g} s[/yellow]")
        elif not out:
            con.print("[green]No property violated.[/green]")
        for o in out:
            con.print(f"\n[red]{o['property']}[/red] in {o['examples']} of {n} examples; "
                      f"smallest ({o['smallest_records']} records):")
            con.print(f"  {o['message']}", markup=False)
            con.print(f"  ({o['property']}: {catalogue.line(o['property'])})", markup=False,
                      style="dim")
            for line in o["excerpt"]:
                con.print(f"    {line[:240]}", markup=False)
            con.print(f"  replay: {o['replay']}", markup=False)
            if o["replay_file"]:
                con.print(f"  or: phaselab run --replay {o['replay_file']}", markup=False)
    if n == 0 and not out:
        return EXIT_DID_NOT_RUN
    return 1 if out else 0
