"""The `[faults]` table of a scenario: validated into a protocol.faults.FaultSpec.

Kept apart from phaselab/scenario.py (which only calls `parse` and `docs_markdown`), so the
fault model's keys are defined once, here, for the loader, the search and the docs.
"""
from __future__ import annotations

import math
from typing import Any

from protocol import faults as fm
from sim.latency import BadDistribution, Distribution, parse as parse_dist

# key -> (meaning, allowed); the order is the docs' order
KEYS = {
    "heal_at_s": ("faults fire only before this run-clock instant; after it the run must "
                  "finish on its own (LIVE-AFTER-HEAL). Required, > 0", "> 0"),
    "statements": ("per statement kind (or `default`): a table of per-call probabilities "
                   "`fail` (an error), `info` (a timeout whose outcome is unknown), `slow` "
                   "(latency from `slow`), `drop` (the session drops and is reopened); their "
                   "sum at most 1. Benchmark queries and notices are never hit. "
                   "`post_metrics`: a worker's 1 s metrics POST, lost when hit (never by "
                   "`default`)", "kinds of [latency], `post_metrics`"),
    "info_applied": ("chance that an `info` statement took effect (decided per call by the "
                     "seed)", "0 to 1"),
    "info_timeout_s": ("how long a client waits before an `info` (its statement timeout)",
                       "> 0"),
    "slow": ("the slow tail: a latency distribution as in [latency]; a `slow` call takes the "
             "larger of its normal latency and a draw from this (default ten times it)",
             "a distribution table"),
    "crash": ("worker processes killed (SIGKILL, exit -9): worker id -> a step ("
              + ", ".join(f"`{s}`" for s in fm.CRASH_STEPS if s != fm.AT_TIME)
              + ") or a run-clock time in seconds", "`worker-N` = step or seconds"),
    "clock_offset_s": ("worker id -> its wall clock minus the database's, in seconds "
                       "(heartbeat stamps)", "`worker-N` = number"),
    "clock_drift": ("worker id -> seconds its clock gains per second", "`worker-N` = number"),
    "stall": ("`{start_s, length_s}`: the whole backend answers nothing in that window "
              "(statements wait for its end)", "start_s >= 0, length_s > 0"),
    "throttle": ("`{start_s, length_s, factor}`: statements take `factor` times their "
                 "latency in that window (a server at reduced capacity)", "factor >= 1"),
    "app_restart": ("`{at_s, down_s}`: the API process dies at `at_s` (its poll loop, stop "
                    "requests and enrichment with it; worker processes live on) and restarts "
                    "`down_s` later, running its start-up recovery (switch `restart_recovery`)",
                    "at_s < heal_at_s, down_s > 0"),
}


class FaultSpecError(ValueError):
    """Bad `[faults]` input; the message names the key and what is allowed."""


def _num(where: str, v: Any, lo: float | None = None, strict: bool = False,
         hi: float | None = None) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise FaultSpecError(f"{where} must be a number, not {v!r}")
    if lo is not None and (v <= lo if strict else v < lo):
        raise FaultSpecError(f"{where} must be {'>' if strict else '>='} {lo:g}, not {v!r}")
    if hi is not None and v > hi:
        raise FaultSpecError(f"{where} must be <= {hi:g}, not {v!r}")
    return float(v)


def _table(where: str, v: Any) -> dict:
    if not isinstance(v, dict):
        raise FaultSpecError(f"{where} must be a table, not {v!r}")
    return v


def _keys(where: str, got: dict, allowed) -> None:
    extra = sorted(set(got) - set(allowed))
    if extra:
        raise FaultSpecError(f"unknown key {where}.{extra[0]}; allowed: "
                             f"{', '.join(sorted(allowed))}")


def _worker(where: str, k: str) -> str:
    if not (k.startswith("worker-") and k[7:].isdigit()):
        raise FaultSpecError(f"{where}: {k!r} is not a worker id (worker-0, worker-1, ...)")
    return k


def _window(where: str, v: Any, extra=()) -> dict:
    t = _table(where, v)
    _keys(where, t, ("start_s", "length_s", *extra))
    for k in ("start_s", "length_s"):
        if k not in t:
            raise FaultSpecError(f"{where}.{k} is missing")
    return t


def parse(raw: dict, ops: tuple[str, ...]) -> tuple[fm.FaultSpec, Distribution | None]:
    """The `[faults]` table -> (FaultSpec, slow-tail distribution or None)."""
    f = _table("faults", raw)
    _keys("faults", f, KEYS)
    if "heal_at_s" not in f:
        raise FaultSpecError("faults.heal_at_s is missing: when do the faults stop (seconds)?")
    heal = _num("faults.heal_at_s", f["heal_at_s"], 0, strict=True)
    stmts = {}
    for op, probs in _table("faults.statements", f.get("statements", {})).items():
        where = f"faults.statements.{op}"
        if op not in ops:
            raise FaultSpecError(f"unknown statement kind {where}; allowed: {', '.join(ops)}")
        p = _table(where, probs)
        _keys(where, p, fm.STATEMENT_FAULTS)
        sf = fm.StatementFaults(**{k: _num(f"{where}.{k}", v, 0, hi=1) for k, v in p.items()})
        if sf.total() > 1 + 1e-9:
            raise FaultSpecError(f"{where}: probabilities add up to {sf.total():g}, more than 1")
        stmts[op] = sf
    crashes = []
    for w, step in _table("faults.crash", f.get("crash", {})).items():
        where = f"faults.crash.{w}"
        _worker("faults.crash", w)
        if isinstance(step, str):
            if step not in fm.CRASH_STEPS or step == fm.AT_TIME:
                raise FaultSpecError(f"{where} must be a step ("
                                     + ", ".join(s for s in fm.CRASH_STEPS if s != fm.AT_TIME)
                                     + f") or seconds, not {step!r}")
            crashes.append(fm.WorkerCrash(w, step))
        else:
            crashes.append(fm.WorkerCrash(w, fm.AT_TIME, _num(where, step, 0)))
    clocks = {}
    for key in ("clock_offset_s", "clock_drift"):
        clocks[key] = {_worker(f"faults.{key}", w): _num(f"faults.{key}.{w}", v)
                       for w, v in _table(f"faults.{key}", f.get(key, {})).items()}
    stalls = ()
    if "stall" in f:
        t = _window("faults.stall", f["stall"])
        stalls = (fm.Window(_num("faults.stall.start_s", t["start_s"], 0),
                            _num("faults.stall.length_s", t["length_s"], 0, strict=True)),)
    throttle, factor = None, 1.0
    if "throttle" in f:
        t = _window("faults.throttle", f["throttle"], ("factor",))
        throttle = fm.Window(_num("faults.throttle.start_s", t["start_s"], 0),
                             _num("faults.throttle.length_s", t["length_s"], 0, strict=True))
        factor = _num("faults.throttle.factor", t.get("factor", 2.0), 1)
    restart = None
    if "app_restart" in f:
        t = _table("faults.app_restart", f["app_restart"])
        _keys("faults.app_restart", t, ("at_s", "down_s"))
        for k in ("at_s", "down_s"):
            if k not in t:
                raise FaultSpecError(f"faults.app_restart.{k} is missing")
        at = _num("faults.app_restart.at_s", t["at_s"], 0)
        if at >= heal:
            raise FaultSpecError(f"faults.app_restart.at_s must be < faults.heal_at_s "
                                 f"({heal:g}), not {at!r}")
        restart = fm.AppRestart(at, _num("faults.app_restart.down_s", t["down_s"], 0,
                                         strict=True))
    slow = None
    if "slow" in f:
        try:
            slow = parse_dist(f["slow"], "faults.slow")
        except BadDistribution as exc:
            raise FaultSpecError(str(exc)) from None
    spec = fm.FaultSpec(
        heal_at_s=heal, statements=stmts,
        info_applied=_num("faults.info_applied", f.get("info_applied", 0.5), 0, hi=1),
        info_timeout_s=_num("faults.info_timeout_s", f.get("info_timeout_s", 2.0), 0,
                            strict=True),
        crashes=tuple(crashes), clock_offset_s=clocks["clock_offset_s"],
        clock_drift=clocks["clock_drift"], stalls=stalls, throttle=throttle,
        throttle_factor=factor, app_restart=restart)
    return spec, slow


def docs_markdown() -> list[str]:
    lines = ["## `[faults]`", "",
             "The fault model (`protocol/faults.py`, decided per call by the run's seed, so a "
             "replay is byte-identical; absent: nothing fails and the trace is exactly as "
             "without it). Faults fire only before `heal_at_s`; the run must then reach a "
             "terminal status, and every worker exit, within the bound `heal_bound_s` of "
             "protocol/bounds.py (checked by LIVE-AFTER-HEAL). The database session time zone "
             "and visibility lag are `[sim]` keys; `phaselab explore --faults` draws them too.",
             "", "| key | allowed | meaning |", "|---|---|---|"]
    for k, (doc, allowed) in KEYS.items():
        lines.append(f"| `{k}` | {allowed} | {doc} |")
    lines += ["", "Example: `--set faults.heal_at_s=20 --set 'faults.statements={default="
              "{fail=0.05, info=0.02}}' --set 'faults.crash={worker-1=\"hook\"}'`.",
              "", "A live run reads the same table: `phaselab smoke --faults FILE` (or the "
              "inline form in README.md, Faults); `slow`, `throttle` and `app_restart` are "
              "simulation-only there.", ""]
    return lines
