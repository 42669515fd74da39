"""`phaselab seed-validation`: docs/seed-validation.md, the seeds' timing claims beside what
the simulation gives under their assumptions."""
from __future__ import annotations

import json
import os
import shlex

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from phaselab import scenario as scn, seedcheck
from phaselab.errors import UsageError
from phaselab.files import write_atomically

NAME = "seed-validation"
HELP = "check the seed documents' timing claims against the simulation"
DEFAULT_SCENARIO = "scenarios/seeds.toml"
DEFAULT_REPS = 40


def add_arguments(p) -> None:
    p.add_argument("--scenario", default=DEFAULT_SCENARIO)
    p.add_argument("--reps", type=int, default=DEFAULT_REPS)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", help="write the markdown here (e.g. docs/seed-validation.md)")
    p.add_argument("--json", action="store_true")


def command_line(args) -> str:
    parts = ["phaselab", "seed-validation"]
    if args.scenario != DEFAULT_SCENARIO:
        parts += ["--scenario", args.scenario]
    if args.reps != DEFAULT_REPS:
        parts += ["--reps", str(args.reps)]
    if args.seed != 1:
        parts += ["--seed", str(args.seed)]
    if args.out:
        parts += ["--out", args.out]
    return shlex.join(parts)


def run(args) -> int:
    for name, v, lo in (("--reps", args.reps, 1), ("--jobs", args.jobs, 1), ("--seed", args.seed, 0)):
        if v < lo:
            raise UsageError(f"{name}: must be a whole number >= {lo}, not {v}")
    if args.out and not os.path.isdir(os.path.dirname(os.path.abspath(args.out))):
        raise UsageError(f"--out {args.out}: the folder does not exist")
    scn.load(args.scenario)  # bad scenario: exit 2 before anything runs
    for name, (sets, _) in seedcheck.CONFIGS.items():
        scn.load(args.scenario, list(sets))
    total = len(seedcheck.CONFIGS) * args.reps
    with Progress(TextColumn("seed-validation"), BarColumn(), MofNCompleteColumn(),
                  console=Console(stderr=True), transient=True) as prog:
        task = prog.add_task("runs", total=total)
        res = seedcheck.run(args.scenario, args.reps, args.seed, args.jobs,
                            lambda: prog.advance(task))
    text = seedcheck.report(res, args.scenario, args.reps, args.seed, command_line(args))
    if args.out:
        write_atomically(args.out, text.splitlines())
    if args.json:
        print(json.dumps({"scenario": args.scenario, "reps": args.reps, "seed": args.seed,
                          "out": args.out, "markdown": text,
                          "samples": res}))
    else:
        print(text)
    return 0
