"""The property search the suite runs: Hypothesis chooses a scenario and its schedule.

`search(variant, budget)` looks for a run of `variant` that violates a property, within
`budget` examples, and returns the shrunk counterexample as a replay case (phaselab/replay.py)
or None. Hypothesis replays the minimal failing example last, so the case recorded last is
the shrunk one.
"""
from __future__ import annotations

import json

from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from phaselab import replay, scenario as scn
from phaselab.search_space import FULL, SMALL, Space  # noqa: F401  (re-exported)
from sim.hypothesis_source import HypothesisSource


class HypChooser:
    """Scenario choices as Hypothesis integer draws (each shrinks toward its low end)."""

    def __init__(self, data):
        self.data = data

    def integer(self, lo: int, hi: int, label: str) -> int:
        return self.data.draw(st.integers(lo, hi), label=label)


def example(data, variant: str, space: Space, only=None) -> tuple[dict, dict, replay.Outcome]:
    """One Hypothesis example: a scenario, a tape-driven run, and its violations."""
    raw = space.scenario(HypChooser(data), variant)
    src = HypothesisSource(data)
    out = replay.run_scenario(scn.from_dict(raw), 0, src, keep=True)
    if only is not None:
        out.violations = [v for v in out.violations if v.property_id in only]
    return raw, src.record(), out


class Found(Exception):
    pass


def search(variant: str, budget: int, space: Space = SMALL, only=None,
           shrink: bool = True) -> dict | None:
    """The shrunk counterexample (a replay case with `violated` ids) or None."""
    last: dict = {}
    phases = [Phase.generate, Phase.shrink] if shrink else [Phase.generate]

    @settings(max_examples=budget, derandomize=True, database=None, deadline=None,
              phases=phases, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def prop(data):
        raw, sched, out = example(data, variant, space, only)
        if out.violations:
            last.clear()
            last.update(replay.case(raw, 0, out.ids, sched,
                                    str(out.violations[0])[:300]))
            raise Found(out.ids)

    try:
        prop()
    except Found:
        return dict(last)
    return None


def describe(c: dict) -> str:
    return json.dumps(c, sort_keys=True)[:3000]


def assert_found_and_replays(preset: str, budget: int, expected: set, case, folder) -> None:
    """A bug-zoo search result: found within the budget, names the expected property, and
    its saved replay file reproduces every property it recorded."""
    assert case is not None, f"{preset}: no counterexample in {budget} examples"
    assert expected & set(case["violated"]), (preset, case["violated"], case["note"])
    path = folder / "case.json"
    replay.save(str(path), case)
    _, _, out = replay.replay(str(path))
    assert set(case["violated"]) <= set(out.ids)
