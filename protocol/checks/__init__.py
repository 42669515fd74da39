"""Invariant checkers over one run trace (invariants.md ids 1-48, and a few of our own).

    from protocol.checks import check
    for v in check(trace):
        print(v)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

from protocol.trace import Trace

from . import control_events, liveness, run_state, tags_epochs  # noqa: F401  (registers)
from . import dashboard, scaling, startup  # noqa: F401  (registers)
from . import aggregates, clocks, faults  # noqa: F401  (registers)
from . import delivery  # noqa: F401  (registers)
from .base import REGISTRY, NotJudged, Violation, checker

# invariants.md order, then the properties it does not name.
_ORDER = (
    "RUN-STATUS-EDGES", "RUN-PHASE-ORDER", "RUN-READY-GATE", "RUN-NO-EARLY-LOAD",
    "RUN-WARMUP-LENGTH", "RUN-MEASUREMENT-LENGTH", "RUN-STOP-ANNOUNCED", "RUN-USER-STOP-WINS",
    "EV-SEQ-UNIQUE", "EV-SEQ-PREFIX", "EV-ORDER", "EV-NO-SWALLOW", "EV-SCOPE", "EV-CONVERGE",
    "EV-STOP-DELIVERY",
    "HB-GRAMMAR", "HB-READY-MEANS-READY", "HB-GAP", "HB-NO-FALSE-DEAD", "HB-DEAD-DETECTION",
    "LIVE-WORKER-EXIT", "LIVE-RUN-TERMINATES",
    "PH-HOOK-ONCE", "PH-NO-REGRESS", "TAG-WARMUP", "TAG-MEASUREMENT", "TAG-PROPAGATION",
    "EPOCH-ISOLATION", "EPOCH-TAG-AGREE", "EPOCH-AGG-MONOTONE",
    "SC-TARGET-ARITH", "SC-WORKER-CAP", "SC-RAMP-MONOTONE", "SC-WORKER-COUNT",
    "SC-FINDMAX-STEP", "SC-FINDMAX-TERMINATES", "SC-FINDMAX-RESULT", "SC-QPS-ENVELOPE",
    "UI-QPS-HISTORY-GATE", "WS-END-RULE", "WS-NO-STUCK-PROCESSING", "UI-MONOTONE",
    "UI-ROLLUP-CONVERGE", "CLK-ONE-CLOCK", "CLK-ELAPSED-SANE",
    "RUN-PHASE-ANNOUNCED", "LIVE-WAIT-EXIT", "EV-CURSOR-HANDLED",  # H. Delivery (46-48)
    "RUN-START-LATENCY",  # not in invariants.md: the start-up time RUN-READY-GATE implies
    "LIVE-AFTER-HEAL",  # not in invariants.md: liveness once a fault run heals (issue 9)
)
CHECKERS: dict[str, Callable[[Trace], Iterable[Violation]]] = {i: REGISTRY[i] for i in _ORDER}


def property_ids() -> list[str]:
    return list(CHECKERS)


@dataclass(frozen=True)
class Judgement:
    """One property's outcome on one trace: passed, failed (with violations) or not judged."""
    property_id: str
    violations: tuple[Violation, ...] = ()
    not_judged: str | None = None  # the reason, when the trace lacks the data

    @property
    def outcome(self) -> str:
        if self.not_judged is not None:
            return "not judged"
        return "failed" if self.violations else "passed"


def judge(trace: Trace, only: Iterable[str] | None = None) -> list[Judgement]:
    """Run the checkers (all, or the ids in `only`) and return one judgement each, in order."""
    ids = list(CHECKERS) if only is None else list(only)
    unknown = [i for i in ids if i not in CHECKERS]
    if unknown:
        raise KeyError(f"unknown property ids: {unknown}")
    out = []
    for i in ids:
        try:
            faults.require_fault_free(trace, i)  # timed bounds: judged only without faults
            out.append(Judgement(i, tuple(CHECKERS[i](trace))))
        except NotJudged as nj:
            out.append(Judgement(i, not_judged=nj.reason))
    return out


def check(trace: Trace, only: Iterable[str] | None = None) -> list[Violation]:
    """The violations of `judge` in order (a property not judged contributes none)."""
    return [v for j in judge(trace, only) for v in j.violations]


__all__ = ["CHECKERS", "Judgement", "NotJudged", "Violation", "check", "checker", "judge",
           "property_ids"]
