"""Counterexample files: a failing run kept small enough to commit and replayed exactly.

A replay file is JSON: the resolved scenario dict (variant and switch overrides inside it),
the seed, and, for a schedule Hypothesis chose, the recorded tape (`sim/hypothesis_source.py`)
instead of a numpy seed. `phaselab run --replay FILE` and tests/regressions/ read it.
"""
from __future__ import annotations

import base64
import json
import zlib
from dataclasses import dataclass

from phaselab import scenario as scn
from phaselab.errors import UsageError
from phaselab.files import write_atomically
from phaselab.inputs.nesting import loads_json
from phaselab.inputs.text import read_text
from protocol.checks import Violation, check
from protocol.trace import Trace
from sim.hypothesis_source import TAPE_LIMIT, TapeSource
from sim.run import SimResult, simulate

FORMAT = "phaselab-replay/1"


@dataclass
class Outcome:
    result: SimResult
    violations: list[Violation]

    @property
    def ids(self) -> list[str]:
        return sorted({v.property_id for v in self.violations})


def run_case(raw: dict, seed: int = 0, schedule: dict | None = None,
             path: str = "<case>", keep: bool = True) -> Outcome:
    """Simulate one scenario dict with a numpy seed, or with a recorded/live tape source."""
    sc = scn.from_dict(raw, path)
    return run_scenario(sc, seed, TapeSource.from_record(schedule) if schedule else None, keep)


def run_scenario(sc: scn.Scenario, seed: int, source=None, keep: bool = True) -> Outcome:
    res = simulate(sc.cfg, sc.switches, sc.sim, seed=seed, variant=sc.variant, source=source,
                   scenario=sc.raw, keep=keep)
    return Outcome(res, check(Trace(res.records)))


def case(raw: dict, seed: int, violated: list[str], schedule: dict | None = None,
         note: str = "") -> dict:
    return {"format": FORMAT, "scenario": raw, "seed": seed, "schedule": schedule,
            "violated": violated, "note": note}


def save(path: str, c: dict) -> None:
    write_atomically(path, [json.dumps(c, indent=1, sort_keys=True)])


MAX_TAPE_BYTES = 1 << 20  # a recorded tape holds at most TAPE_LIMIT bytes; this is generous


def _whole(c: dict, key: str, where: str, default: int, low: int, high: int) -> int:
    value = c.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageError(f"{where}: \"{key}\" must be a whole number from {low} to {high}, "
                         f"not {value!r}")
    return value


def _tape(sched: dict, where: str) -> bytes:
    """The schedule's tape, decoded: base64 of zlib, at most MAX_TAPE_BYTES once unpacked."""
    text = sched.get("tape")
    if not isinstance(text, str):
        raise UsageError(f"{where}: \"schedule.tape\" must be a base64 string, not {text!r:.40}")
    try:
        packed = base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise UsageError(f"{where}: \"schedule.tape\" is not valid base64") from None
    unpack = zlib.decompressobj()
    try:
        tape = unpack.decompress(packed, MAX_TAPE_BYTES)
    except zlib.error as exc:
        raise UsageError(f"{where}: \"schedule.tape\" is not zlib data ({exc})") from None
    if unpack.unconsumed_tail:
        raise UsageError(f"{where}: \"schedule.tape\" unpacks to more than "
                         f"{MAX_TAPE_BYTES:,} bytes")
    if not unpack.eof:
        raise UsageError(f"{where}: \"schedule.tape\" is cut short (incomplete zlib data)")
    return tape


def load(path: str) -> dict:
    """Read and validate a replay file; errors name the file, the key and what is expected.
    What it returns replays without further checks: the schedule's tape decodes."""
    where = f"--replay {path}"
    try:
        c = loads_json(read_text(path, "replay file (JSON)", "--replay"), where)
    except ValueError as exc:
        raise UsageError(f"{where}: not JSON ({exc})") from None
    if not isinstance(c, dict) or c.get("format") != FORMAT:
        raise UsageError(f"{where}: not a replay file (expected \"format\": "
                         f"\"{FORMAT}\")")
    if not isinstance(c.get("scenario"), dict):
        raise UsageError(f"{where}: \"scenario\" must be a table of scenario keys")
    _whole(c, "seed", where, 0, 0, 2 ** 63 - 1)
    sched = c.get("schedule")
    if sched is not None:
        if not isinstance(sched, dict):
            raise UsageError(f"{where}: \"schedule\" must be null or an object with a "
                             f"\"tape\"")
        _tape(sched, where)
        _whole(sched, "tail_seed", f"{where}: schedule", 0, 0, 2 ** 63 - 1)
        _whole(sched, "limit", f"{where}: schedule", TAPE_LIMIT, 0, MAX_TAPE_BYTES)
    return c


def replay(path: str, keep: bool = True) -> tuple[scn.Scenario, dict, Outcome]:
    c = load(path)
    sc = scn.from_dict(c["scenario"], path)
    src = TapeSource.from_record(c["schedule"]) if c.get("schedule") else None
    return sc, c, run_scenario(sc, c["seed"], src, keep)
