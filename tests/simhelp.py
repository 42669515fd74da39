"""Test helpers: the baseline scenario and a quick way to simulate it."""
from __future__ import annotations

from pathlib import Path

from phaselab import scenario as scn
from sim.run import simulate

ROOT = Path(__file__).resolve().parent.parent
BASELINE = str(ROOT / "scenarios" / "baseline.toml")


def baseline() -> scn.Scenario:
    return scn.load(BASELINE)


def run_scenario(sc: scn.Scenario, seed: int | None = None, variant: str | None = None,
                 sets: list[str] | None = None, keep: bool = True):
    sc = scn.with_overrides(sc, seed, variant, sets)
    return simulate(sc.cfg, sc.switches, sc.sim, seed=sc.seed, variant=sc.variant,
                    scenario=sc.raw, keep=keep)
