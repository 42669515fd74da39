"""The `phaselab` command line. Exit codes: 0 clean, 1 property violations, 2 bad input."""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile

from rich.console import Console

from phaselab import report, scenario as scn
from phaselab.timeline import summarize
from protocol.checks import check
from protocol.trace import Trace, TraceFormatError, read_trace
from sim.run import simulate


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="phaselab", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    r = sub.add_parser("run", help="simulate one seeded run, print its timeline and verdict")
    r.add_argument("scenario")
    r.add_argument("--seed", type=int)
    r.add_argument("--variant")
    r.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    r.add_argument("--trace", metavar="FILE", help="write the JSON-lines trace here")
    r.add_argument("--json", action="store_true")

    c = sub.add_parser("check", help="run the checkers on a trace file")
    c.add_argument("trace")
    c.add_argument("--json", action="store_true")

    d = sub.add_parser("docs", help="print generated documentation")
    d.add_argument("what", choices=["scenarios"])
    return p


def replay_command(sc: scn.Scenario, sets: list[str]) -> str:
    parts = ["phaselab", "run", sc.path, "--seed", str(sc.seed), "--variant", sc.variant]
    for s in sets:
        parts += ["--set", s]
    return shlex.join(parts)


def _write_atomically(path: str, lines) -> None:
    """Write a file via a temp file in the same folder, so nothing half-written is left."""
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".phaselab-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for line in lines:
                f.write(line + "\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def cmd_run(args) -> int:
    sc = scn.load(args.scenario)
    sc = scn.with_overrides(sc, args.seed, args.variant, args.set)
    if args.trace and not os.path.isdir(os.path.dirname(os.path.abspath(args.trace))):
        raise UsageError(f"--trace {args.trace}: the folder does not exist")
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=sc.seed, variant=sc.variant,
                   scenario=sc.raw)
    if args.trace:
        from protocol.trace import dumps
        _write_atomically(args.trace, (dumps(r) for r in res.records))
    trace = Trace(res.records)
    violations = check(trace)
    summary = summarize(trace)
    verdict = report.verdict(violations)
    replay = replay_command(sc, args.set)
    if args.json:
        print(json.dumps({"scenario": sc.path, "seed": sc.seed, "variant": sc.variant,
                          "summary": summary, "verdict": _json_verdict(verdict),
                          "replay": replay, "trace": args.trace,
                          "sim_time_s": res.sim_time_s, "wall_s": res.wall_s}, default=str))
    else:
        report.render_run(Console(), f"phaselab run {sc.path} — variant {sc.variant}, "
                          f"seed {sc.seed}", summary, verdict,
                          [f"Seed {sc.seed}. Replay: {replay}",
                           f"Simulated {res.sim_time_s:.1f} s in {res.wall_s:.2f} s wall"
                           + (f"; trace in {args.trace}" if args.trace else "")])
    return 0 if verdict["ok"] else 1


def _json_verdict(verdict: dict) -> dict:
    return {"ok": verdict["ok"],
            "violated": [{k: g[k] for k in ("property", "count", "first", "records")}
                         for g in verdict["violated"]]}


def cmd_check(args) -> int:
    try:
        rr = read_trace(args.trace)
    except FileNotFoundError:
        raise UsageError(f"{args.trace}: no such trace file") from None
    except TraceFormatError as exc:
        raise UsageError(str(exc)) from None
    trace = Trace(rr.records)
    verdict = report.verdict(check(trace))
    notes = []
    if rr.truncated_line is not None:
        notes.append(f"{args.trace}: line {rr.truncated_line} is truncated (a crashed run?); "
                     f"checked the {len(rr.records)} records before it")
    if args.json:
        print(json.dumps({"trace": args.trace, "records": len(rr.records),
                          "truncated_line": rr.truncated_line,
                          "verdict": _json_verdict(verdict),
                          "summary": summarize(trace)}, default=str))
    else:
        h = trace.header
        report.render_run(Console(), f"phaselab check {args.trace} — {h.get('world')} run "
                          f"{h.get('run_id')}, variant {h.get('variant')}, seed {h.get('seed')}",
                          summarize(trace), verdict, notes)
    return 0 if verdict["ok"] else 1


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "run":
            return cmd_run(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "docs":
            print(scn.docs_markdown())
            return 0
    except (scn.ScenarioError, UsageError) as exc:
        print(f"phaselab: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("phaselab: interrupted", file=sys.stderr)
        return 130
    return 2


if __name__ == "__main__":
    sys.exit(main())
