"""Control event types, scopes and payloads (reference-protocol.md §4.1)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

START, SET_PHASE, SET_WORKER_TARGET, STOP = "START", "SET_PHASE", "SET_WORKER_TARGET", "STOP"
EVENT_TYPES = (START, SET_PHASE, SET_WORKER_TARGET, STOP)

SCOPE_RUN, SCOPE_WORKER, SCOPE_GROUP = "RUN", "WORKER", "WORKER_GROUP"

# STOP reasons, and the STATUS each one announces (invariants.md RUN-STOP-ANNOUNCED).
DURATION_ELAPSED, GUARDRAIL, WORKER_FAILURE = "duration_elapsed", "guardrail", "worker_failure"
BOUNDS_LIMIT_REACHED, USER_REQUESTED = "bounds_limit_reached", "user_requested"
# fixed only: the FIND_MAX search finished (the reference writes T7 with no STOP, §3.6)
FIND_MAX_COMPLETE = "find_max_complete"
STOP_REASON_ANNOUNCES: dict[str, str] = {
    DURATION_ELAPSED: "STOPPING",
    GUARDRAIL: "FAILED",
    WORKER_FAILURE: "FAILED",
    USER_REQUESTED: "CANCELLING",
    BOUNDS_LIMIT_REACHED: "COMPLETED",
    FIND_MAX_COMPLETE: "COMPLETED",
}
# STOP reasons after which a worker exits COMPLETED rather than CANCELLED (§4.3)
STOP_REASONS_COMPLETING = (DURATION_ELAPSED, FIND_MAX_COMPLETE)


@dataclass(frozen=True)
class Event:
    seq: int
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def scope(self) -> str:
        return str(self.data.get("scope", SCOPE_RUN))

    def concerns(self, worker_id: str, group_id: int) -> bool:
        """Whether a worker should act on this event, by its scope."""
        if self.scope == SCOPE_WORKER:
            return self.data.get("worker_id") == worker_id
        if self.scope == SCOPE_GROUP:
            return self.data.get("worker_group_id") == group_id
        return True


def start(phase: str, workers_expected: int) -> dict:
    return {"scope": SCOPE_RUN, "phase": phase, "workers_expected": workers_expected}


def set_phase(phase: str, workers_ready: int | None = None) -> dict:
    data: dict[str, Any] = {"scope": SCOPE_RUN, "phase": phase}
    if workers_ready is not None:
        data["workers_ready"] = workers_ready
    return data


def stop(reason: str, detail: str = "", drain_timeout_s: float | None = None,
         initiated_by: str = "orchestrator") -> dict:
    data: dict[str, Any] = {"scope": SCOPE_RUN, "reason": reason, "detail": detail,
                            "initiated_by": initiated_by}
    if drain_timeout_s is not None:
        data["drain_timeout_seconds"] = drain_timeout_s
    return data


def set_worker_target(worker_id: str, group_id: int, target: int, ramp_s: float,
                      reason: str) -> dict:
    return {"scope": SCOPE_WORKER, "worker_id": worker_id, "worker_group_id": group_id,
            "target_connections": target, "ramp_seconds": ramp_s, "reason": reason}
