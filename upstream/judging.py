"""Honest verdicts on a recorded trace: a property is judged only on evidence it can trust.

Each property lists the evidence it reads (NEEDS). The statement map declares, per kind of
evidence, whether the recording shows it completely, partly or not at all ([coverage]). A
property whose evidence is all complete is judged as usual. With partial evidence most
properties are "not judged": a missing note would read as a violation (a swallowed event)
or as a pass. A few are safety properties over a subsequence (SOUND_ON_PARTIAL): a violation
among the records that exist is a real one, so they can fail, but their pass is still "not
judged".
"""
from __future__ import annotations

from protocol.checks import Judgement, judge
from protocol.trace import Trace

NEEDS: dict[str, tuple[str, ...]] = {
    "RUN-STATUS-EDGES": ("status_write",),
    "RUN-PHASE-ORDER": ("status_write",),
    "RUN-READY-GATE": ("status_write", "heartbeat"),
    "RUN-NO-EARLY-LOAD": ("status_write", "query"),
    "RUN-WARMUP-LENGTH": ("status_write",),
    "RUN-MEASUREMENT-LENGTH": ("status_write", "event_emit"),
    "RUN-STOP-ANNOUNCED": ("status_write", "event_emit"),
    "RUN-USER-STOP-WINS": ("status_write", "event_emit"),
    "EV-SEQ-UNIQUE": ("event_emit",),
    "EV-SEQ-PREFIX": ("event_emit",),
    "EV-ORDER": ("event_seen",),
    "EV-NO-SWALLOW": ("event_seen",),
    "EV-SCOPE": ("event_seen", "worker_state"),
    "EV-CONVERGE": ("event_emit", "worker_state", "marker"),
    "EV-STOP-DELIVERY": ("event_emit", "status_write", "query"),
    "HB-GRAMMAR": ("heartbeat",),
    "HB-READY-MEANS-READY": ("heartbeat", "conn", "query"),
    "HB-GAP": ("heartbeat",),
    "HB-NO-FALSE-DEAD": ("heartbeat", "heartbeat_marks"),
    "HB-DEAD-DETECTION": ("heartbeat", "heartbeat_marks", "status_write"),
    "LIVE-WORKER-EXIT": ("proc", "heartbeat", "event_emit"),
    "LIVE-RUN-TERMINATES": ("status_write", "proc"),
    "PH-HOOK-ONCE": ("hook", "query", "marker"),
    "PH-NO-REGRESS": ("worker_state",),
    "TAG-WARMUP": ("query", "status_write"),
    "TAG-MEASUREMENT": ("query", "hook"),
    "TAG-PROPAGATION": ("conn", "query", "hook"),
    "EPOCH-ISOLATION": ("query_epoch", "hook"),
    "EPOCH-TAG-AGREE": ("query_epoch",),
    "UI-QPS-HISTORY-GATE": ("dashboard",),
    "WS-END-RULE": ("dashboard",),
    "WS-NO-STUCK-PROCESSING": ("dashboard",),
    "UI-MONOTONE": ("dashboard",),
    "UI-ROLLUP-CONVERGE": ("proc", "status_write"),
    "RUN-START-LATENCY": ("status_write", "event_emit", "query"),
    "SC-TARGET-ARITH": ("targets",),
    "SC-WORKER-COUNT": ("proc",),
    "SC-FINDMAX-TERMINATES": ("ctrl_eval",),
    "SC-FINDMAX-RESULT": ("ctrl_eval",),
    "SC-QPS-ENVELOPE": ("ctrl_eval",),
}
# Properties whose violation on a subset of the notes is a violation of the whole run.
SOUND_ON_PARTIAL = {"EV-ORDER", "PH-NO-REGRESS"}


def lacking(pid: str, coverage: dict) -> list[tuple[str, dict]]:
    """The evidence `pid` needs that the recording does not show completely."""
    if pid not in NEEDS:  # a property added after this table: no claim without knowing
        return [("its evidence", {"level": "unknown", "why": "upstream/judging.py NEEDS does "
                                  "not list what this property reads"})]
    out = []
    for ev in NEEDS[pid]:
        c = coverage.get(ev, {"level": "absent", "why": "the statement map does not declare it"})
        if c["level"] != "complete":
            out.append((ev, c))
    return out


def _reason(missing: list[tuple[str, dict]]) -> str:
    return "; ".join(f"{ev} is {c['level']}" + (f" ({c['why']})" if c.get("why") else "")
                     for ev, c in missing)


def judge_recorded(trace: Trace, coverage: dict) -> list[Judgement]:
    """protocol.checks.judge, with each property's evidence checked against the coverage."""
    out = []
    for j in judge(trace):
        missing = lacking(j.property_id, coverage)
        if not missing or j.not_judged is not None:
            out.append(j)
            continue
        partial_only = all(c["level"] == "partial" for _, c in missing)
        if j.violations and j.property_id in SOUND_ON_PARTIAL and partial_only:
            out.append(j)  # a violation among the notes that exist is a real one
            continue
        out.append(Judgement(j.property_id, not_judged=_reason(missing)))
    return out
