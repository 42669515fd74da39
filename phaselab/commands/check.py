"""`phaselab check`: the checkers on a trace file, simulated or live."""
from __future__ import annotations

import json

from phaselab.console import stdout_console

from phaselab import outcome, report
from phaselab.files import read_trace_arg
from phaselab.timeline import summarize
from protocol.checks import judge
from protocol.trace import Trace

NAME = "check"
HELP = "run the checkers on a trace file"


def add_arguments(p) -> None:
    p.add_argument("trace")
    p.add_argument("--json", action="store_true")


def run(args) -> int:
    rr = read_trace_arg(args.trace)
    trace = Trace(rr.records)
    coverage = (trace.header.get("upstream") or {}).get("coverage")
    if coverage is not None:  # a recorded upstream run: judged only on what it shows
        from upstream.judging import judge_recorded
        verdict = report.verdict(judge_recorded(trace, coverage))
    else:
        verdict = report.verdict(judge(trace))
    not_run = outcome.did_not_run(trace)
    notes = []
    if rr.truncated_line is not None:
        notes.append(f"{args.trace}: line {rr.truncated_line} is truncated (a crashed run?); "
                     f"checked the {len(rr.records)} records before it")
    if args.json:
        print(json.dumps({"trace": args.trace, "records": len(rr.records),
                          "truncated_line": rr.truncated_line,
                          "verdict": report.json_verdict(verdict), "did_not_run": not_run,
                          "summary": summarize(trace)}, default=str))
    else:
        h = trace.header
        report.render_run(stdout_console(), f"phaselab check {args.trace} — {h.get('world')} run "
                          f"{h.get('run_id')}, variant {h.get('variant')}, seed {h.get('seed')}",
                          summarize(trace), verdict, notes, not_run)
    return outcome.exit_code(verdict, not_run)
