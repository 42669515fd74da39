"""Counterexample files: a failing run kept small enough to commit and replayed exactly.

A replay file is JSON: the resolved scenario dict (variant and switch overrides inside it),
the seed, and, for a schedule Hypothesis chose, the recorded tape (`sim/hypothesis_source.py`)
instead of a numpy seed. `phaselab run --replay FILE` and tests/regressions/ read it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from phaselab import scenario as scn
from phaselab.errors import UsageError
from phaselab.files import write_atomically
from protocol.checks import Violation, check
from protocol.trace import Trace
from sim.hypothesis_source import TapeSource
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


def load(path: str) -> dict:
    """Read and validate a replay file; errors name the file and what is expected."""
    try:
        with open(path, encoding="utf-8") as f:
            c = json.load(f)
    except FileNotFoundError:
        raise UsageError(f"--replay {path}: no such file") from None
    except ValueError as exc:
        raise UsageError(f"--replay {path}: not JSON ({exc})") from None
    if not isinstance(c, dict) or c.get("format") != FORMAT:
        raise UsageError(f"--replay {path}: not a replay file (expected \"format\": "
                         f"\"{FORMAT}\")")
    if not isinstance(c.get("scenario"), dict):
        raise UsageError(f"--replay {path}: \"scenario\" must be a table of scenario keys")
    seed = c.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise UsageError(f"--replay {path}: \"seed\" must be a whole number >= 0, not {seed!r}")
    sched = c.get("schedule")
    if sched is not None and not (isinstance(sched, dict) and isinstance(sched.get("tape"), str)):
        raise UsageError(f"--replay {path}: \"schedule\" must be null or have a \"tape\"")
    return c


def replay(path: str, keep: bool = True) -> tuple[scn.Scenario, dict, Outcome]:
    c = load(path)
    sc = scn.from_dict(c["scenario"], path)
    src = TapeSource.from_record(c["schedule"]) if c.get("schedule") else None
    return sc, c, run_scenario(sc, c["seed"], src, keep)
