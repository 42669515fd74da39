"""The fault model in the property search: each example switches on a random subset of fault
kinds (swarm style) and draws their parameters, clocks and time zones included.

Every choice goes through a search_space.Chooser, so in Hypothesis each kind shrinks to "off"
and each probability toward its smallest value: a shrunk counterexample keeps only the faults
it needs.
"""
from __future__ import annotations

from phaselab.search_space import Chooser, chance, frac
from protocol import faults as fm

# Statement kinds a targeted fault may pick (the control plane's writes and reads).
TARGET_OPS = ("write_run_status", "insert_event", "alloc_seq", "read_next_seq",
              "bump_next_seq", "read_run_status", "fetch_events", "merge_heartbeat",
              "mark_heartbeats", "count_heartbeats", "write_test_result", "connect",
              "alter_tag", "setup", "enrich")
STEPS = tuple(s for s in fm.CRASH_STEPS if s != fm.AT_TIME)
TIME_ZONES = (0.0, -28800.0, -25200.0, 3600.0)  # UTC, Los Angeles winter/summer, Berlin
KIND_PCT = 50  # each fault kind is on in about half the examples


def draw(c: Chooser, run: dict) -> dict:
    """A `[faults]` table and `[sim]` clock settings for one example of `run`."""
    horizon = run["warmup_s"] + run["duration_s"] + 10.0
    faults: dict = {"heal_at_s": frac(c, 1.0, horizon, "heal_at_s")}
    default = {}
    for kind in fm.STATEMENT_FAULTS:
        if chance(c, KIND_PCT, f"fault_{kind}"):
            default[kind] = frac(c, 0.002, 0.05, f"fault_{kind}_p")
    statements = {"default": default} if default else {}
    if chance(c, 30, "fault_targeted"):
        op = TARGET_OPS[c.integer(0, len(TARGET_OPS) - 1, "fault_target_op")]
        kind = fm.STATEMENT_FAULTS[c.integer(0, len(fm.STATEMENT_FAULTS) - 1,
                                             "fault_target_kind")]
        statements[op] = {**default, kind: frac(c, 0.05, 0.5, "fault_target_p")}
    if statements:
        faults["statements"] = statements
        faults["info_applied"] = frac(c, 0.0, 1.0, "info_applied")
        faults["info_timeout_s"] = frac(c, 0.5, 5.0, "info_timeout_s")
    if chance(c, KIND_PCT, "fault_worker_crash"):
        w = f"worker-{c.integer(0, run['workers'] - 1, 'crash_worker')}"
        i = c.integer(0, len(STEPS), "crash_step")  # the last index: a random time
        faults["crash"] = {w: STEPS[i] if i < len(STEPS)
                           else frac(c, 0.0, faults["heal_at_s"], "crash_at_s")}
    if chance(c, KIND_PCT, "fault_app_restart"):
        faults["app_restart"] = {"at_s": frac(c, 0.0, faults["heal_at_s"] * 0.999, "restart_at_s"),
                                 "down_s": frac(c, 0.1, 10.0, "restart_down_s")}
    if chance(c, KIND_PCT, "fault_clock"):
        w = f"worker-{c.integer(0, run['workers'] - 1, 'clock_worker')}"
        faults["clock_offset_s"] = {w: frac(c, -90.0, 90.0, "clock_offset_s")}
        faults["clock_drift"] = {w: frac(c, -0.05, 0.05, "clock_drift")}
    if chance(c, KIND_PCT, "fault_stall"):
        faults["stall"] = {"start_s": frac(c, 0.0, faults["heal_at_s"], "stall_start_s"),
                           "length_s": frac(c, 0.5, 5.0, "stall_length_s")}
    if chance(c, KIND_PCT, "fault_throttle"):
        faults["throttle"] = {"start_s": frac(c, 0.0, faults["heal_at_s"], "throttle_start_s"),
                              "length_s": frac(c, 1.0, 20.0, "throttle_length_s"),
                              "factor": frac(c, 1.5, 10.0, "throttle_factor")}
    sim = {}
    if chance(c, 25, "fault_time_zone"):
        sim["tz_offset_s"] = TIME_ZONES[c.integer(0, len(TIME_ZONES) - 1, "tz")]
    if chance(c, 25, "fault_visibility_lag"):
        sim["visibility_lag_s"] = frac(c, 0.0, 0.5, "visibility_lag_s")
    return {"faults": faults, "sim": sim}
