"""`phaselab run`: simulate one seeded run, print its timeline and the checkers' verdict."""
from __future__ import annotations

import json
import shlex

from phaselab import outcome, report, scenario as scn
from phaselab.console import stdout_console
from phaselab.reports import run_report
from phaselab.errors import UsageError
from phaselab.files import check_output, write_atomically
from phaselab.inputs import budget
from phaselab.inputs.numbers import SEED
from phaselab.timeline import summarize
from protocol.checks import judge
from protocol.trace import Trace, dumps
from sim.run import simulate

NAME = "run"
HELP = "simulate one seeded run, print its timeline and verdict"


def add_arguments(p) -> None:
    p.add_argument("scenario", nargs="?")
    p.add_argument("--replay", metavar="FILE",
                   help="replay a saved counterexample (explore --save, tests/regressions/)")
    p.add_argument("--seed", type=SEED)
    p.add_argument("--variant")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--trace", metavar="FILE", help="write the JSON-lines trace here")
    p.add_argument("--allow-large", action="store_true",
                   help="run a scenario above the size limits of docs/scenarios.md")
    run_report.add_options(p)
    p.add_argument("--json", action="store_true")


def replay_command(sc: scn.Scenario, sets: list[str]) -> str:
    parts = ["phaselab", "run", sc.path, "--seed", str(sc.seed), "--variant", sc.variant]
    for s in sets:
        parts += ["--set", s]
    return shlex.join(parts)


def run(args) -> int:
    if args.trace:
        check_output(args.trace, "--trace", [args.scenario, args.replay])
    wanted = run_report.check_options(args)
    if args.replay:  # the case file holds scenario, seed and schedule: nothing to combine
        if args.scenario or args.seed is not None or args.variant or args.set:
            raise UsageError("--replay FILE takes no SCENARIO, --seed, --variant or --set")
        from phaselab import replay as rp
        case = rp.load(args.replay)
        budget.check_scenario(scn.from_dict(case["scenario"], args.replay), args.allow_large)
        sc, case, out = rp.replay(args.replay)
        sc = scn.with_overrides(sc, case["seed"])
        res = out.result
    else:
        if not args.scenario:
            raise UsageError("give a SCENARIO file or --replay FILE")
        sc = scn.load(args.scenario)
        sc = scn.with_overrides(sc, args.seed, args.variant, args.set)
        budget.check_scenario(sc, args.allow_large)
        res = simulate(sc.cfg, sc.switches, sc.sim, seed=sc.seed, variant=sc.variant,
                       scenario=sc.raw)
    if args.trace:
        write_atomically(args.trace, (dumps(r) for r in res.records))
    trace = Trace(res.records)
    summary = summarize(trace)
    verdict = report.verdict(judge(trace))
    not_run = outcome.did_not_run(trace)
    replay = (shlex.join(["phaselab", "run", "--replay", args.replay]) if args.replay
              else replay_command(sc, args.set))
    title = f"phaselab run {sc.path} — variant {sc.variant}, seed {sc.seed}"
    footer = [f"Seed {sc.seed}. Replay: {replay}",
              f"Simulated {res.sim_time_s:.1f} s in {res.wall_s:.2f} s wall"
              + (f"; trace in {args.trace}" if args.trace else "")]
    extra = run_report.finish(args, trace, title, summary, verdict, wanted, sc.cost, footer)
    if args.json:
        print(json.dumps({"scenario": sc.path, "seed": sc.seed, "variant": sc.variant,
                          "summary": summary, "verdict": report.json_verdict(verdict),
                          "did_not_run": not_run, "replay": replay, "trace": args.trace,
                          "thresholds": extra["thresholds"], "plot": args.plot,
                          "html": args.html,
                          "sim_time_s": res.sim_time_s, "wall_s": res.wall_s}, default=str))
    else:
        report.render_run(stdout_console(), title, summary, verdict, footer + extra["lines"],
                          not_run)
    return extra["exit"](outcome.exit_code(verdict, not_run))
