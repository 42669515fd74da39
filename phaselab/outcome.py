"""Whether a run happened at all, judged before its verdict is reported.

The checkers answer "was a property violated?"; on a run that never started or a trace cut
before its end their silence would read as "clean". A command asks `did_not_run` first and,
when nothing was violated, exits EXIT_DID_NOT_RUN (3) with the reason instead of 0.
"""
from __future__ import annotations

from phaselab.errors import EXIT_CLEAN, EXIT_DID_NOT_RUN, EXIT_VIOLATED
from protocol.trace import Trace


def did_not_run(trace: Trace) -> str | None:
    """Why this trace is not a run that happened, or None when it is one."""
    ends = trace.of("run_end")
    if not ends:
        return ("the trace has no run_end record: the run did not finish (crashed, killed or "
                "cut short), so its verdict covers only part of a run")
    if trace.first_write(status="RUNNING") is None:
        end = ends[-1]
        return (f"the run never started: STATUS never became RUNNING (it ended with STATUS "
                f"{end.get('status')}, PHASE {end.get('phase')}, by {end.get('reason')}), so "
                f"there was no run to judge")
    return None


def exit_code(verdict: dict, not_run: str | None) -> int:
    """Violations first (they are real even in part of a run), then a run that did not
    happen, then clean."""
    if not verdict["ok"]:
        return EXIT_VIOLATED
    return EXIT_DID_NOT_RUN if not_run else EXIT_CLEAN
